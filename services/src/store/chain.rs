//! Tamper evidence: each event's metadata carries `hash = SHA-256(prev_hash ‖ canonical bytes of
//! the sealed event)`, chained per aggregate. The ciphertext is hashed, never the plaintext, so
//! erasure (destroying keys) does not break verification.
//!
//! Two versions of the canonical bytes exist, named by the metadata's `chain_version`:
//! - `1` (events written before it existed, which carry no `chain_version`): aggregate, sequence,
//!   event type and version, and the sealed payload;
//! - `2` (every event written now): the same and the whole metadata except the hash itself —
//!   actor, organisation, role, correlation, causation and command ids, trace context — so a
//!   rewritten organisation or role no longer verifies.
//!
//! Events already stored keep verifying under their version; once an aggregate has a version-2
//! event, a later one without it is a finding (a downgrade).

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

/// The metadata key naming the canonical encoding an event's hash covers.
pub const CHAIN_VERSION_KEY: &str = "chain_version";
/// The encoding new events are hashed with.
pub const CHAIN_VERSION: &str = "2";

/// What a chain hash covers of one stored event.
#[derive(Clone, Copy, Debug)]
pub struct Chained<'a> {
    /// The aggregate type.
    pub aggregate_type: &'a str,
    /// The aggregate id.
    pub aggregate_id: &'a str,
    /// The sequence in the aggregate.
    pub sequence: u64,
    /// The event type.
    pub event_type: &'a str,
    /// The payload version.
    pub event_version: &'a str,
    /// The sealed payload.
    pub payload: &'a Value,
    /// The metadata (its `hash` is left out).
    pub metadata: &'a Value,
}

/// The chain hash of one sealed event, under the encoding its metadata names.
#[must_use]
pub fn stored_event_hash(prev: &str, e: Chained<'_>) -> String {
    let Chained { aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata } = e;
    match metadata[CHAIN_VERSION_KEY].as_str() {
        None => event_hash(prev, aggregate_type, aggregate_id, sequence, event_type, event_version, payload),
        Some(_) => {
            let mut covered = metadata.clone();
            if let Value::Object(map) = &mut covered {
                map.remove("hash");
            }
            chained_hash(
                prev,
                &serde_json::json!({
                    "aggregate_type": aggregate_type,
                    "aggregate_id": aggregate_id,
                    "sequence": sequence,
                    "event_type": event_type,
                    "event_version": event_version,
                    "payload": payload,
                    "metadata": covered,
                }),
            )
        }
    }
}

/// `SHA-256(prev ‖ canonical(value))`, hex.
fn chained_hash(prev: &str, value: &Value) -> String {
    let mut bytes = Vec::with_capacity(512);
    canonical(value, &mut bytes);
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(&bytes);
    hex::encode(hasher.finalize())
}

/// The chain hash of one sealed event under encoding 1 (payload only).
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
    chained_hash(
        prev,
        &serde_json::json!({
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "sequence": sequence,
            "event_type": event_type,
            "event_version": event_version,
            "payload": payload,
        }),
    )
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
    /// hash goes into the event's metadata. `known` is the sequence and hash of an event the
    /// caller has just read; if it is the one before, the database is not asked again (were it
    /// no longer the last, the append conflicts and writes nothing).
    pub(crate) async fn chain(
        &self,
        events: &mut [SerializedEvent],
        known: Option<(usize, String)>,
    ) -> Result<(), StoreError> {
        let Some(first) = events.first() else { return Ok(()) };
        let mut prev = if first.sequence <= 1 {
            GENESIS.to_owned()
        } else if let Some((_, hash)) = known.filter(|(sequence, _)| *sequence + 1 == first.sequence) {
            hash
        } else {
            self.stored_hash(&first.aggregate_type, &first.aggregate_id, first.sequence - 1)
                .await?
                .unwrap_or_else(|| GENESIS.to_owned())
        };
        for e in events.iter_mut() {
            if let Value::Object(meta) = &mut e.metadata {
                meta.remove("hash");
                meta.insert(CHAIN_VERSION_KEY.into(), Value::String(CHAIN_VERSION.into()));
            }
            let hash = stored_event_hash(
                &prev,
                Chained {
                    aggregate_type: &e.aggregate_type,
                    aggregate_id: &e.aggregate_id,
                    sequence: e.sequence as u64,
                    event_type: &e.event_type,
                    event_version: &e.event_version,
                    payload: &e.payload,
                    metadata: &e.metadata,
                },
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
    fn version_two_covers_the_metadata_and_version_one_still_verifies() {
        let p: Value = serde_json::json!({"x": {"$sealed": "v1:k:AAAA"}});
        let chained = |metadata| Chained {
            aggregate_type: "case",
            aggregate_id: "1",
            sequence: 1,
            event_type: "item_added",
            event_version: "1",
            payload: &p,
            metadata,
        };
        let v1 = serde_json::json!({"org": "municipality:0746", "role": "caseworker"});
        let legacy = stored_event_hash(GENESIS, chained(&v1));
        assert_eq!(legacy, event_hash(GENESIS, "case", "1", 1, "item_added", "1", &p), "unversioned is version 1");
        let meta = serde_json::json!({"org": "municipality:0746", "role": "caseworker", "chain_version": "2"});
        let h = stored_event_hash(GENESIS, chained(&meta));
        let forged = serde_json::json!({"org": "ngo:kfum-sa", "role": "coordinator", "chain_version": "2"});
        assert_ne!(h, stored_event_hash(GENESIS, chained(&forged)));
        let mut with_hash = meta.clone();
        with_hash["hash"] = Value::String(h.clone());
        assert_eq!(h, stored_event_hash(GENESIS, chained(&with_hash)), "the hash itself is not covered");
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
