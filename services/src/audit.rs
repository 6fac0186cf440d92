//! Tamper evidence: the checkpointer that signs the feed head, and the verifier that
//! recomputes every chain and checkpoint and names the first bad case and event.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::limits::WORKER_PAGE;
use crate::store::chain::{GENESIS, event_hash, feed_hash};
use crate::store::{AuditCheckpoint, Cursor, Store, StoreError};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// The key that signs checkpoints.
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.public_hex())
    }
}

impl AuditKey {
    /// Reads the key (64 hex digits, the ed25519 seed) from `path`, generating it if missing.
    pub fn load_or_generate(path: &Path) -> std::io::Result<Self> {
        if let Ok(text) = std::fs::read_to_string(path) {
            let seed = Zeroizing::new(hex::decode(text.trim()).map_err(|_| std::io::Error::other("not hex"))?);
            let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| std::io::Error::other("not 32 bytes"))?;
            return Ok(Self(SigningKey::from_bytes(&seed)));
        }
        let seed = Zeroizing::new(rand::random::<[u8; 32]>());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        std::io::Write::write_all(&mut file, hex::encode(*seed).as_bytes())?;
        tracing::info!(path = %path.display(), "generated a checkpoint signing key");
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The public key, hex.
    #[must_use]
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    fn sign(&self, position: Cursor, event_count: i64, feed_hash: String) -> AuditCheckpoint {
        let signed_at = Store::now_text();
        let message = AuditCheckpoint::message(&position, event_count, &feed_hash, &signed_at);
        let signature = hex::encode(self.0.sign(message.as_bytes()).to_bytes());
        AuditCheckpoint { position, event_count, feed_hash, signed_at, public_key: self.public_hex(), signature }
    }
}

/// The checkpointer as a [`Worker`]: signs what is new, then rests.
struct Checkpointer {
    store: Store,
    key: AuditKey,
    every_events: i64,
}

impl Worker for Checkpointer {
    fn name(&self) -> &'static str {
        "checkpointer"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        checkpoint_once(&self.store, &self.key, self.every_events).await?;
        Ok(Outcome::Idle)
    }
}

/// Signs checkpoints every `every` (and every `every_events` events) until `stop` turns true.
pub fn spawn_checkpointer(
    store: Store,
    key: AuditKey,
    every_events: i64,
    every: Duration,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    worker::spawn(Checkpointer { store, key, every_events }, Pacing::idle(every), Wake::never(), stop)
}

/// Follows the feed from the last checkpoint and signs checkpoints every `every_events` events
/// and at the head. Returns how many it signed.
pub async fn checkpoint_once(store: &Store, key: &AuditKey, every_events: i64) -> Result<usize, StoreError> {
    let last = store.checkpoints().await?.pop();
    let (mut cursor, mut count, mut running) = match last {
        Some(c) => (c.position, c.event_count, c.feed_hash),
        None => (Cursor::START, 0, GENESIS.to_owned()),
    };
    let mut signed = 0;
    let mut since = 0;
    loop {
        let page = store.read_feed(cursor, WORKER_PAGE).await?;
        if page.events.is_empty() {
            break;
        }
        for e in &page.events {
            let hash = e.metadata["hash"].as_str().unwrap_or(GENESIS);
            running = feed_hash(&running, hash);
            count += 1;
            since += 1;
            cursor = e.cursor;
            if since >= every_events {
                store.add_checkpoint(&key.sign(cursor, count, running.clone())).await?;
                signed += 1;
                since = 0;
            }
        }
    }
    if since > 0 {
        store.add_checkpoint(&key.sign(cursor, count, running)).await?;
        signed += 1;
    }
    Ok(signed)
}

/// One finding of the verifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// The aggregate type, when an event is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_type: Option<String>,
    /// The case (or other aggregate) id, when an event is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_id: Option<String>,
    /// The event's sequence in its aggregate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// What is wrong.
    pub problem: String,
}

/// What the verifier found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Whether every chain and checkpoint holds.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// Aggregates (chains) checked.
    pub chains: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The first problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<Finding>,
    /// Every problem found (at most 100).
    pub problems: Vec<Finding>,
}

impl VerifyReport {
    fn add(&mut self, finding: Finding) {
        if self.first_problem.is_none() {
            self.first_problem = Some(finding.clone());
        }
        if self.problems.len() < 100 {
            self.problems.push(finding);
        }
    }
}

fn check_signature(c: &AuditCheckpoint) -> bool {
    let Ok(key_bytes) = hex::decode(&c.public_key) else { return false };
    let Ok(sig_bytes) = hex::decode(&c.signature) else { return false };
    let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key_bytes.as_slice()), <[u8; 64]>::try_from(sig_bytes.as_slice()))
    else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else { return false };
    let message = AuditCheckpoint::message(&c.position, c.event_count, &c.feed_hash, &c.signed_at);
    key.verify(message.as_bytes(), &Signature::from_bytes(&sig)).is_ok()
}

/// Which records a verification reports on.
#[derive(Clone, Debug)]
pub enum Scope {
    /// The whole store (the operator's `brobyg audit verify`).
    Everything,
    /// The cases with these ids (an auditor's organisation's cases): other records are checked
    /// too, since the feed hash runs over all of them, but neither counted nor named.
    Cases(HashSet<String>),
}

impl Scope {
    fn covers(&self, aggregate_type: &str, aggregate_id: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::Cases(ids) => aggregate_type == "case" && ids.contains(aggregate_id),
        }
    }
}

/// Recomputes every chain and checkpoint. `progress` is told how many events were checked.
pub async fn verify(store: &Store, progress: impl FnMut(u64)) -> Result<VerifyReport, StoreError> {
    verify_in(store, &Scope::Everything, progress).await
}

/// Recomputes every chain and checkpoint, reporting on the records in `scope`.
pub async fn verify_in(
    store: &Store,
    scope: &Scope,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let checkpoints = store.checkpoints().await?;
    for c in &checkpoints {
        if !check_signature(c) {
            report.add(Finding {
                aggregate_type: None,
                aggregate_id: None,
                sequence: None,
                problem: format!("checkpoint at {} has a bad signature", c.position),
            });
        }
    }
    let mut pending = checkpoints.iter().peekable();
    let mut last: HashMap<(String, String), (i64, String)> = HashMap::new();
    let mut running = GENESIS.to_owned();
    let mut count: i64 = 0;
    let mut cursor = Cursor::START;
    loop {
        let page = store.read_feed(cursor, WORKER_PAGE).await?;
        if page.events.is_empty() {
            break;
        }
        for e in &page.events {
            // A checkpoint whose position was passed without its event: that event is gone.
            while let Some(c) = pending.peek()
                && c.position < e.cursor
            {
                report.checkpoints += 1;
                report.add(Finding {
                    aggregate_type: None,
                    aggregate_id: None,
                    sequence: None,
                    problem: format!("the event at checkpoint position {} is missing (deleted)", c.position),
                });
                pending.next();
            }
            let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
            let in_scope = scope.covers(&e.aggregate_type, &e.aggregate_id);
            let (last_sequence, prev) = last.get(&key).cloned().unwrap_or((0, GENESIS.to_owned()));
            let named = |problem: String| Finding {
                aggregate_type: Some(e.aggregate_type.clone()),
                aggregate_id: Some(e.aggregate_id.clone()),
                sequence: Some(e.sequence),
                problem,
            };
            let mut found = Vec::new();
            if e.sequence != last_sequence + 1 {
                found
                    .push(named(format!("sequence jumps from {last_sequence} to {}: an event is missing", e.sequence)));
            }
            let actual = event_hash(
                &prev,
                &e.aggregate_type,
                &e.aggregate_id,
                u64::try_from(e.sequence).unwrap_or(0),
                &e.event_type,
                &e.event_version,
                &e.payload,
            );
            match e.metadata["hash"].as_str() {
                None => found.push(named("the event carries no chain hash".into())),
                Some(stored) if stored != actual => {
                    found.push(named("the chain hash does not match: the event was changed or moved".into()));
                }
                Some(_) => {}
            }
            if in_scope {
                found.into_iter().for_each(|f| report.add(f));
                report.events += 1;
            } else if !found.is_empty() {
                // Outside the caller's scope: the store is not intact, and nothing more is said.
                report.add(Finding {
                    aggregate_type: None,
                    aggregate_id: None,
                    sequence: None,
                    problem: "a record outside your organisation's cases does not verify".into(),
                });
            }
            // Continue the chain from what is stored, so one bad event is reported once.
            let carried = e.metadata["hash"].as_str().map_or(actual.clone(), str::to_owned);
            last.insert(key, (e.sequence, carried));
            running = feed_hash(&running, &actual);
            count += 1;
            cursor = e.cursor;
            if let Some(c) = pending.peek()
                && c.position == e.cursor
            {
                report.checkpoints += 1;
                if c.event_count != count || c.feed_hash != running {
                    report.add(Finding {
                        aggregate_type: None,
                        aggregate_id: None,
                        sequence: None,
                        problem: format!(
                            "checkpoint at {} signed {} events and another feed hash; found {count}",
                            c.position, c.event_count
                        ),
                    });
                }
                pending.next();
            }
        }
        progress(report.events);
    }
    for c in pending {
        report.checkpoints += 1;
        report.add(Finding {
            aggregate_type: None,
            aggregate_id: None,
            sequence: None,
            problem: format!("the feed ends before the checkpoint at {}: events were removed", c.position),
        });
    }
    report.chains = last.keys().filter(|(t, id)| scope.covers(t, id)).count() as u64;
    report.ok = report.problems.is_empty();
    Ok(report)
}
