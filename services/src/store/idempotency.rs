//! Idempotency keys: the first response to a caller's key is kept and replayed, sealed with
//! the key-encryption key (an answer may hold personal data or a webhook secret), and only for
//! the store's time to live: an expired key is free again, and expired answers are purged.

use chrono::{DateTime, Utc};

use super::sql::{Param, Statement, time_text};
use super::{Store, StoreError};

/// A stored response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers worth replaying, as JSON object text.
    pub headers: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What the store says about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// New: the caller now holds it and must finish or release it.
    Claimed,
    /// Finished before with the same request: replay this.
    Replay(StoredResponse),
    /// Used before with another request.
    Mismatch,
    /// The same request is still being processed.
    InProgress,
}

/// The mark in front of a sealed stored body; bodies stored before sealing have none.
const SEALED_BODY: &[u8] = b"brobyg-sealed-v1:";

fn body_aad(org: &str, sub: &str, key: &str) -> Vec<u8> {
    format!("idempotency|{org}|{sub}|{key}").into_bytes()
}

impl Store {
    /// Claims `(org, sub, key)` for a request with `hash`, or says why not. A key whose answer
    /// was stored before `expired_before` is free again.
    pub async fn claim_idempotency_key(
        &self,
        org: &str,
        sub: &str,
        key: &str,
        hash: &str,
        expired_before: DateTime<Utc>,
    ) -> Result<KeyState, StoreError> {
        self.run_one(Statement::new(
            "DELETE FROM idempotency_keys WHERE org = $1 AND sub = $2 AND key = $3 AND created_at < $4",
            vec![org.into(), sub.into(), key.into(), time_text(expired_before).into()],
        ))
        .await?;
        let insert = Statement {
            sql: "INSERT INTO idempotency_keys (org, sub, key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
                  ON CONFLICT (org, sub, key) DO NOTHING",
            params: vec![org.into(), sub.into(), key.into(), hash.into(), time_text(Utc::now()).into()],
        };
        let claimed = self.run_one(insert).await? == 1;
        if claimed {
            return Ok(KeyState::Claimed);
        }
        let rows = self
            .fetch_rows(
                "SELECT request_hash, status, headers, body FROM idempotency_keys WHERE org = $1 AND sub = $2 AND key = $3",
                vec![org.into(), sub.into(), key.into()],
            )
            .await?;
        let Some(row) = rows.first() else {
            // Released between our insert and our read: the caller may try again.
            return Ok(KeyState::InProgress);
        };
        if row.text(0)? != hash {
            return Ok(KeyState::Mismatch);
        }
        match row.opt_int(1)? {
            None => Ok(KeyState::InProgress),
            Some(status) => {
                let stored = row.opt_bytes(3)?.unwrap_or_default();
                let body = match stored.strip_prefix(SEALED_BODY) {
                    Some(sealed) => {
                        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
                        super::sealing::open_with_kek(kek, &body_aad(org, sub, key), sealed)
                            .ok_or_else(|| StoreError::Corrupt("a stored answer does not open".into()))?
                    }
                    None => stored,
                };
                Ok(KeyState::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    headers: row.opt_text(2)?.unwrap_or_else(|| "{}".to_owned()),
                    body,
                }))
            }
        }
    }

    /// Stores the response of a claimed key.
    pub async fn finish_idempotency_key(
        &self,
        org: &str,
        sub: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
        let mut body = SEALED_BODY.to_vec();
        body.extend(super::sealing::seal_with_kek(kek, &body_aad(org, sub, key), &response.body));
        let update = Statement {
            sql: "UPDATE idempotency_keys SET status = $4, headers = $5, body = $6 WHERE org = $1 AND sub = $2 AND key = $3",
            params: vec![
                org.into(),
                sub.into(),
                key.into(),
                i64::from(response.status).into(),
                response.headers.clone().into(),
                Param::Bytes(Some(body)),
            ],
        };
        self.run_one(update).await.map(drop)
    }

    /// Releases a claimed key whose request failed in a way worth retrying.
    pub async fn release_idempotency_key(&self, org: &str, sub: &str, key: &str) -> Result<(), StoreError> {
        let delete = Statement {
            sql: "DELETE FROM idempotency_keys WHERE org = $1 AND sub = $2 AND key = $3 AND status IS NULL",
            params: vec![org.into(), sub.into(), key.into()],
        };
        self.run_one(delete).await.map(drop)
    }

    /// Deletes every stored answer older than `before`; returns how many.
    pub async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run_one(Statement::new(
            "DELETE FROM idempotency_keys WHERE created_at < $1",
            vec![time_text(before).into()],
        ))
        .await
    }
}
