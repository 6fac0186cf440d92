//! Tamper evidence: each event's metadata carries `hash = SHA-256(prev_hash ‖ canonical bytes of
//! the sealed event)`, chained per aggregate. The ciphertext is hashed, never the plaintext, so
//! erasure (destroying keys) does not break verification.

use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// The hash before the first event of an aggregate.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON: object keys sorted, no whitespace, numbers and strings as serde_json writes
/// them. Independent of how the backend stored the text.
pub fn canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                out.push(b':');
                canonical(&map[*k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// The chain hash of one sealed event.
#[must_use]
pub fn event_hash(
    prev: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
) -> String {
    let mut bytes = Vec::with_capacity(256);
    canonical(
        &serde_json::json!({
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "sequence": sequence,
            "event_type": event_type,
            "event_version": event_version,
            "payload": payload,
        }),
        &mut bytes,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(&bytes);
    hex::encode(hasher.finalize())
}

/// The running hash over the feed: `H(previous ‖ event hash)`.
#[must_use]
pub fn feed_hash(previous: &str, event_hash: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(event_hash.as_bytes());
    hex::encode(hasher.finalize())
}

impl Store {
    /// The chain hash stored with one event.
    pub(crate) async fn stored_hash(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Option<String>, StoreError> {
        let seq = i64::try_from(sequence).unwrap_or(i64::MAX);
        let row = self
            .fetch_row(
                "SELECT metadata FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                vec![aggregate_type.into(), aggregate_id.into(), seq.into()],
            )
            .await?;
        Ok(match row {
            Some(r) => r.json(0)?["hash"].as_str().map(str::to_owned),
            None => None,
        })
    }

    /// Chains each of `events` (sealed, of one aggregate, in order) to the one before it: the
    /// hash goes into the event's metadata.
    pub(crate) async fn chain(&self, events: &mut [SerializedEvent]) -> Result<(), StoreError> {
        let Some(first) = events.first() else { return Ok(()) };
        let mut prev = if first.sequence <= 1 {
            GENESIS.to_owned()
        } else {
            self.stored_hash(&first.aggregate_type, &first.aggregate_id, first.sequence - 1)
                .await?
                .unwrap_or_else(|| GENESIS.to_owned())
        };
        for e in events.iter_mut() {
            let hash = event_hash(
                &prev,
                &e.aggregate_type,
                &e.aggregate_id,
                e.sequence as u64,
                &e.event_type,
                &e.event_version,
                &e.payload,
            );
            if let Value::Object(meta) = &mut e.metadata {
                meta.insert("hash".into(), Value::String(hash.clone()));
            }
            prev = hash;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":2,"y":3}],"c":"x"}}"#).expect("json");
        let mut out = Vec::new();
        canonical(&a, &mut out);
        assert_eq!(String::from_utf8(out).expect("utf8"), r#"{"a":{"c":"x","d":[1,{"y":3,"z":2}]},"b":1}"#);
    }

    #[test]
    fn a_changed_byte_or_place_changes_the_hash() {
        let p: Value = serde_json::json!({"x": {"$sealed": "v1:k:AAAA"}});
        let h = event_hash(GENESIS, "case", "1", 1, "item_added", "1", &p);
        let q: Value = serde_json::json!({"x": {"$sealed": "v1:k:AAAB"}});
        assert_ne!(h, event_hash(GENESIS, "case", "1", 1, "item_added", "1", &q));
        assert_ne!(h, event_hash(GENESIS, "case", "1", 2, "item_added", "1", &p));
        assert_ne!(h, event_hash(&h, "case", "1", 1, "item_added", "1", &p));
    }
}
