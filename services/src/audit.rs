//! Tamper evidence: the checkpointer that signs the feed head, and the verifier that
//! recomputes every chain and checkpoint and names the first bad case and event.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::limits::WORKER_PAGE;
use crate::merkle::{Frontier, leaf_of};
use crate::mirror::Mirror;
use crate::store::chain::{CHAIN_VERSION_KEY, Chained, GENESIS, feed_hash, stored_event_hash};
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

    fn sign(&self, position: Cursor, event_count: i64, feed_hash: String, tree: &Frontier) -> AuditCheckpoint {
        let mut c = AuditCheckpoint {
            position,
            event_count,
            feed_hash,
            signed_at: Store::now_text(),
            public_key: self.public_hex(),
            signature: String::new(),
            tree_root: Some(hex::encode(tree.root())),
            tree_frontier: Some(tree.to_text()),
        };
        c.signature = hex::encode(self.0.sign(c.signed_message().as_bytes()).to_bytes());
        c
    }
}

/// A signed checkpoint as it leaves the database: in the API, in the mirror file (one JSON
/// line each), on NATS, and inside a saved proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// The feed position covered (opaque).
    pub position: String,
    /// Events up to there.
    pub event_count: i64,
    /// The running hash over their chain hashes.
    pub feed_hash: String,
    /// When it was signed.
    pub signed_at: String,
    /// The ed25519 public key (hex).
    pub public_key: String,
    /// The signature (hex) over `brobyg-checkpoint-v2|position|event_count|feed_hash|tree_root|signed_at`
    /// (`brobyg-checkpoint-v1|position|event_count|feed_hash|signed_at` for checkpoints without a
    /// tree root).
    pub signature: String,
    /// The RFC 6962 Merkle tree root over the first `event_count` chain hashes (hex); the tree
    /// size is `event_count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_root: Option<String>,
}

impl From<&AuditCheckpoint> for CheckpointView {
    fn from(c: &AuditCheckpoint) -> Self {
        Self {
            position: c.position.stored_text(),
            event_count: c.event_count,
            feed_hash: c.feed_hash.clone(),
            signed_at: c.signed_at.clone(),
            public_key: c.public_key.clone(),
            signature: c.signature.clone(),
            tree_root: c.tree_root.clone(),
        }
    }
}

impl CheckpointView {
    /// The checkpoint it shows; `None` if its position is not one this service writes.
    #[must_use]
    pub fn checkpoint(&self) -> Option<AuditCheckpoint> {
        Some(AuditCheckpoint {
            position: self.position.parse().ok()?,
            event_count: self.event_count,
            feed_hash: self.feed_hash.clone(),
            signed_at: self.signed_at.clone(),
            public_key: self.public_key.clone(),
            signature: self.signature.clone(),
            tree_root: self.tree_root.clone(),
            tree_frontier: None,
        })
    }
}

/// The public keys whose signatures on checkpoints are trusted: the configured signing key and
/// older keys listed for rotation — never a key found in the database.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys(Vec<VerifyingKey>);

impl TrustedKeys {
    /// The signing key's public key and the hex public keys in `older` (comma-separated).
    pub fn new(key: &AuditKey, older: Option<&str>) -> Result<Self, String> {
        let mut keys = vec![key.0.verifying_key()];
        keys.extend(
            parse_public_keys(older.unwrap_or_default()).map_err(|e| format!("BROBYG_AUDIT_PUBLIC_KEYS: {e}"))?,
        );
        Ok(Self(keys))
    }

    /// Only the hex public keys in `keys` (comma-separated): what an auditor holds offline.
    pub fn from_hex(keys: &str) -> Result<Self, String> {
        let keys = parse_public_keys(keys)?;
        if keys.is_empty() {
            return Err("no public key given".into());
        }
        Ok(Self(keys))
    }

    fn find(&self, public_hex: &str) -> Option<&VerifyingKey> {
        self.0.iter().find(|k| hex::encode(k.to_bytes()) == public_hex)
    }
}

/// Ed25519 public keys as comma-separated hex.
fn parse_public_keys(list: &str) -> Result<Vec<VerifyingKey>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|hex_key| {
            let bytes: [u8; 32] = hex::decode(hex_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("{hex_key:?} is not 64 hex digits"))?;
            VerifyingKey::from_bytes(&bytes).map_err(|_| format!("{hex_key:?} is not an ed25519 key"))
        })
        .collect()
}

/// The checkpointer as a [`Worker`]: signs what is new, mirrors it, then rests. It never starts
/// over: when the store holds fewer checkpoints than it (or the mirror) knows were signed, it
/// raises the alarm and signs nothing.
struct Checkpointer {
    store: Store,
    key: AuditKey,
    every_events: i64,
    mirror: Option<Mirror>,
    nats: Option<crate::nats::CheckpointPublisher>,
    /// The last checkpoint this process knows was signed: (events covered, signature).
    known: Option<(i64, String)>,
    alarm: Arc<AtomicBool>,
}

/// Raised while signed checkpoints are missing from the store (shown by `/readyz`).
pub type CheckpointAlarm = Arc<AtomicBool>;

impl Worker for Checkpointer {
    fn name(&self) -> &'static str {
        "checkpointer"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let stored = self.store.checkpoints().await?;
        let mirrored = match &self.mirror {
            Some(m) => m.read()?,
            None => Vec::new(),
        };
        let expected = [self.known.clone(), mirrored.last().map(|c| (c.event_count, c.signature.clone()))]
            .into_iter()
            .flatten()
            .max_by_key(|(count, _)| *count);
        if let Some((count, signature)) = &expected
            && !stored.iter().any(|c| &c.signature == signature)
        {
            self.alarm.store(true, Ordering::SeqCst);
            metrics::gauge!("audit_checkpoints_missing").set(1.0);
            return Err(format!(
                "the store lacks the signed checkpoint over {count} events: checkpoints were removed; \
                 nothing is signed until an operator has verified the store"
            )
            .into());
        }
        // Catch the mirror up with what the store holds (a mirror write that failed earlier).
        if let Some(mirror) = &self.mirror {
            let mirrored_count = mirrored.last().map_or(0, |c| c.event_count);
            for c in stored.iter().filter(|c| c.event_count > mirrored_count) {
                mirror.append(c)?;
            }
        }
        for c in checkpoint_once(&self.store, &self.key, self.every_events).await? {
            if let Some(mirror) = &self.mirror {
                mirror.append(&c)?;
            }
            // The mirror and the store hold it; NATS is a further copy, tried again with the next one.
            if let Some(nats) = &mut self.nats
                && let Err(e) = nats.publish(&CheckpointView::from(&c), &c.signature).await
            {
                tracing::warn!(error = %e, "could not publish a checkpoint to NATS");
            }
            self.known = Some((c.event_count, c.signature));
        }
        if self.known.is_none() {
            self.known = stored.last().map(|c| (c.event_count, c.signature.clone()));
        }
        self.alarm.store(false, Ordering::SeqCst);
        metrics::gauge!("audit_checkpoints_missing").set(0.0);
        Ok(Outcome::Idle)
    }
}

/// Signs checkpoints every `every` (and every `every_events` events), appending each to the
/// mirror and publishing it to NATS when configured (`copies`), until `stop` turns true; raises
/// `alarm` while signed checkpoints are missing from the store.
pub fn spawn_checkpointer(
    store: Store,
    key: AuditKey,
    every_events: i64,
    every: Duration,
    copies: (Option<Mirror>, Option<crate::nats::NatsSettings>),
    alarm: CheckpointAlarm,
    replica: worker::Replica,
) -> tokio::task::JoinHandle<()> {
    let (mirror, nats) = copies;
    let nats = nats.map(crate::nats::CheckpointPublisher::new);
    let lease_store = store.clone();
    let checkpointer = Checkpointer { store, key, every_events, mirror, nats, known: None, alarm };
    let checkpointer = worker::Leased::new(checkpointer, lease_store, &replica.holder);
    worker::spawn(checkpointer, Pacing::idle(every), Wake::never(), replica.stop)
}

/// Follows the feed from the last checkpoint and signs checkpoints every `every_events` events
/// and at the head. Returns the checkpoints it signed.
pub async fn checkpoint_once(
    store: &Store,
    key: &AuditKey,
    every_events: i64,
) -> Result<Vec<AuditCheckpoint>, StoreError> {
    let last = store.checkpoints().await?.pop();
    let mut tree = match &last {
        Some(c) => match c.tree_frontier.as_deref().and_then(Frontier::from_text) {
            Some(f) if i64::try_from(f.size()).ok() == Some(c.event_count) => f,
            // A checkpoint from before trees, or a frontier that does not fit: rebuild it once.
            _ => frontier_at(store, c.position).await?,
        },
        None => Frontier::default(),
    };
    let (mut cursor, mut count, mut running) = match last {
        Some(c) => (c.position, c.event_count, c.feed_hash),
        None => (Cursor::START, 0, GENESIS.to_owned()),
    };
    let mut signed = Vec::new();
    let mut since = 0;
    loop {
        let page = store.read_feed(cursor, WORKER_PAGE).await?;
        if page.events.is_empty() {
            break;
        }
        for e in &page.events {
            let hash = e.metadata["hash"].as_str().unwrap_or(GENESIS);
            running = feed_hash(&running, hash);
            tree.push(&leaf_of(hash));
            count += 1;
            since += 1;
            cursor = e.cursor;
            if since >= every_events {
                let c = key.sign(cursor, count, running.clone(), &tree);
                store.add_checkpoint(&c).await?;
                signed.push(c);
                since = 0;
            }
        }
    }
    if since > 0 {
        let c = key.sign(cursor, count, running, &tree);
        store.add_checkpoint(&c).await?;
        signed.push(c);
    }
    Ok(signed)
}

/// The tree over the feed up to and including `position`, rebuilt from the feed.
async fn frontier_at(store: &Store, position: Cursor) -> Result<Frontier, StoreError> {
    let mut tree = Frontier::default();
    let mut cursor = Cursor::START;
    'pages: loop {
        let page = store.read_feed(cursor, WORKER_PAGE).await?;
        if page.events.is_empty() {
            break;
        }
        for e in &page.events {
            if e.cursor > position {
                break 'pages;
            }
            tree.push(&leaf_of(e.metadata["hash"].as_str().unwrap_or(GENESIS)));
        }
        cursor = page.next;
    }
    Ok(tree)
}

/// The leaves of the tree over the first `size` events of the feed, in order, with the
/// cursor of each (for proofs: the whole prefix is read).
pub async fn leaves(store: &Store, size: i64) -> Result<Vec<(Cursor, String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = Cursor::START;
    while (out.len() as i64) < size {
        let page = store.read_feed(cursor, WORKER_PAGE).await?;
        if page.events.is_empty() {
            break;
        }
        for e in page.events.iter().take(usize::try_from(size).unwrap_or(0).saturating_sub(out.len())) {
            let id = format!("{}:{}:{}", e.aggregate_type, e.aggregate_id, e.sequence);
            out.push((e.cursor, id, leaf_of(e.metadata["hash"].as_str().unwrap_or(GENESIS))));
        }
        cursor = page.next;
    }
    Ok(out)
}

/// Checks a saved proof offline — an inclusion or a consistency proof as
/// `/v1/audit/proofs/…` answers it — with nothing but the trusted public keys: the signatures of
/// its checkpoints, then the proof against their signed tree roots. Says what it proved.
pub fn verify_proof(proof: &serde_json::Value, trusted: &TrustedKeys) -> Result<String, String> {
    fn checkpoint(v: &serde_json::Value, trusted: &TrustedKeys) -> Result<(u64, [u8; 32]), String> {
        let view: CheckpointView = serde_json::from_value(v.clone()).map_err(|e| format!("checkpoint: {e}"))?;
        let c = view.checkpoint().ok_or("checkpoint position is malformed")?;
        let root = hex32(c.tree_root.as_deref().ok_or("the checkpoint names no tree root")?)?;
        check_signature(&c, trusted).map_err(|why| format!("the checkpoint over {} events {why}", c.event_count))?;
        Ok((u64::try_from(c.event_count).map_err(|_| "negative size")?, root))
    }
    fn hex32(s: &str) -> Result<[u8; 32], String> {
        hex::decode(s).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| format!("{s:?} is not a 32-byte hash"))
    }
    fn path(v: &serde_json::Value) -> Result<Vec<[u8; 32]>, String> {
        v.as_array().ok_or("the proof lacks its hashes")?.iter().map(|h| hex32(h.as_str().unwrap_or(""))).collect()
    }
    if proof.get("audit_path").is_some() {
        let (size, root) = checkpoint(&proof["checkpoint"], trusted)?;
        let leaf = hex::decode(proof["event_hash"].as_str().ok_or("the proof lacks event_hash")?)
            .map_err(|_| "event_hash is not hex")?;
        let index = proof["leaf_index"].as_u64().ok_or("the proof lacks leaf_index")?;
        if !crate::merkle::verify_inclusion(&leaf, index, size, &path(&proof["audit_path"])?, &root) {
            return Err("the audit path does not lead to the signed tree root".into());
        }
        Ok(format!(
            "{} (leaf {index}) is in the log at the signed checkpoint over {size} events",
            proof["event"].as_str().unwrap_or("the event")
        ))
    } else if proof.get("proof").is_some() {
        let (from, from_root) = checkpoint(&proof["from"], trusted)?;
        let (to, to_root) = checkpoint(&proof["to"], trusted)?;
        if !crate::merkle::verify_consistency(from, &from_root, to, &to_root, &path(&proof["proof"])?) {
            return Err(format!("the log of {to} events does not extend the log of {from} events"));
        }
        Ok(format!("the signed log of {to} events extends the signed log of {from} events"))
    } else {
        Err("neither an inclusion nor a consistency proof".into())
    }
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

/// Whether `c` carries a valid signature by one of the `trusted` keys (the key named in the row
/// only selects which; it is never trusted for being there).
fn check_signature(c: &AuditCheckpoint, trusted: &TrustedKeys) -> Result<(), &'static str> {
    let key = trusted.find(&c.public_key).ok_or("is not signed by a configured key")?;
    let sig: [u8; 64] =
        hex::decode(&c.signature).ok().and_then(|b| b.try_into().ok()).ok_or("has a malformed signature")?;
    key.verify(c.signed_message().as_bytes(), &Signature::from_bytes(&sig)).map_err(|_| "has a bad signature")
}

/// What a verification checks against.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The records reported on.
    pub scope: Scope,
    /// The keys whose checkpoint signatures count.
    pub trusted: TrustedKeys,
    /// The checkpoints mirrored outside the database, if any.
    pub mirrored: Vec<AuditCheckpoint>,
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

/// Recomputes every chain and checkpoint — those in the store and those mirrored outside it —
/// in one pass over the feed, holding only the chain heads and the checkpoints in memory;
/// `progress` is told how many events were checked.
pub async fn verify(
    store: &Store,
    options: &VerifyOptions,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let scope = &options.scope;
    let mut report = VerifyReport::default();
    let stored = store.checkpoints().await?;
    for c in options.mirrored.iter().filter(|m| !stored.iter().any(|s| s.signature == m.signature)) {
        report.add(Finding {
            aggregate_type: None,
            aggregate_id: None,
            sequence: None,
            problem: format!(
                "the signed checkpoint over {} events (at {}) in the mirror is missing from the store",
                c.event_count, c.position
            ),
        });
    }
    let only_mirrored: Vec<AuditCheckpoint> =
        options.mirrored.iter().filter(|m| !stored.iter().any(|s| s.signature == m.signature)).cloned().collect();
    let mut checkpoints = stored;
    checkpoints.extend(only_mirrored);
    checkpoints.sort_by_key(|c| (c.event_count, c.position));
    for c in &checkpoints {
        if let Err(why) = check_signature(c, &options.trusted) {
            report.add(Finding {
                aggregate_type: None,
                aggregate_id: None,
                sequence: None,
                problem: format!("the checkpoint at {} {why}", c.position),
            });
        }
    }
    let mut pending = checkpoints.iter().peekable();
    let mut last: HashMap<(String, String), (i64, String)> = HashMap::new();
    let mut upgraded: HashSet<(String, String)> = HashSet::new();
    let mut running = GENESIS.to_owned();
    let mut tree = Frontier::default();
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
            let actual = stored_event_hash(
                &prev,
                Chained {
                    aggregate_type: &e.aggregate_type,
                    aggregate_id: &e.aggregate_id,
                    sequence: u64::try_from(e.sequence).unwrap_or(0),
                    event_type: &e.event_type,
                    event_version: &e.event_version,
                    payload: &e.payload,
                    metadata: &e.metadata,
                },
            );
            let versioned = e.metadata[CHAIN_VERSION_KEY].is_string();
            if versioned {
                upgraded.insert(key.clone());
            } else if upgraded.contains(&key) {
                found.push(named("the event lacks the metadata hash its chain had before: a downgrade".into()));
            }
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
            tree.push(&leaf_of(&actual));
            count += 1;
            cursor = e.cursor;
            if let Some(c) = pending.peek()
                && c.position == e.cursor
            {
                report.checkpoints += 1;
                let root_differs = c.tree_root.as_ref().is_some_and(|r| *r != hex::encode(tree.root()));
                if c.event_count != count || c.feed_hash != running || root_differs {
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
