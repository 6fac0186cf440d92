//! The signed checkpoints table.

use super::sql::{Statement, time_text};
use super::{Cursor, Store, StoreError};

/// One signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The last feed position covered.
    pub position: Cursor,
    /// Events in the feed up to and including `position`.
    pub event_count: i64,
    /// The running hash over their chain hashes.
    pub feed_hash: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
    /// The root of the RFC 6962 Merkle tree over the first `event_count` chain hashes, hex
    /// (signed; absent on checkpoints signed before trees existed).
    pub tree_root: Option<String>,
    /// The tree's frontier at this size, to continue from (not signed: the next root shows it).
    pub tree_frontier: Option<String>,
}

impl AuditCheckpoint {
    /// The bytes that are signed: version 2 with a tree root, version 1 without.
    #[must_use]
    pub fn signed_message(&self) -> String {
        let (position, count, feed, at) =
            (self.position.stored_text(), self.event_count, &self.feed_hash, &self.signed_at);
        match &self.tree_root {
            Some(root) => format!("brobyg-checkpoint-v2|{position}|{count}|{feed}|{root}|{at}"),
            None => format!("brobyg-checkpoint-v1|{position}|{count}|{feed}|{at}"),
        }
    }
}

impl Store {
    /// Stores a checkpoint.
    pub async fn add_checkpoint(&self, c: &AuditCheckpoint) -> Result<(), StoreError> {
        self.run_statements(&[Statement {
            sql: "INSERT INTO audit_checkpoints (position, event_count, feed_hash, signed_at, public_key, signature, \
                  tree_root, tree_frontier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params: vec![
                c.position.stored_text().into(),
                c.event_count.into(),
                c.feed_hash.as_str().into(),
                c.signed_at.as_str().into(),
                c.public_key.as_str().into(),
                c.signature.as_str().into(),
                c.tree_root.clone().into(),
                c.tree_frontier.clone().into(),
            ],
        }])
        .await
        .map(drop)
    }

    /// Every checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT position, event_count, feed_hash, signed_at, public_key, signature, tree_root, tree_frontier \
                   FROM audit_checkpoints ORDER BY id",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditCheckpoint {
                    position: r.text(0)?.parse().map_err(|_| StoreError::Corrupt("checkpoint position".into()))?,
                    event_count: r.int(1)?,
                    feed_hash: r.text(2)?,
                    signed_at: r.text(3)?,
                    public_key: r.text(4)?,
                    signature: r.text(5)?,
                    tree_root: r.opt_text(6)?,
                    tree_frontier: r.opt_text(7)?,
                })
            })
            .collect()
    }

    /// A time as stored text.
    #[must_use]
    pub fn time_text_of(t: chrono::DateTime<chrono::Utc>) -> String {
        time_text(t)
    }

    /// Now, as stored text.
    #[must_use]
    pub fn now_text() -> String {
        time_text(chrono::Utc::now())
    }
}
