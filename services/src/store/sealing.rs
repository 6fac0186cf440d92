//! Personal data sealed at rest: a wrapper around the cqrs-es event repositories that encrypts
//! every marked personal value (`{"$pii": …}`) with AES-256-GCM under a data key of the
//! aggregate and the organisation that wrote it, and decrypts on the way back. Keys are wrapped
//! by the key-encryption key (KEK) from configuration. Destroying a key erases every value sealed
//! under it (crypto-shredding): the events stay, the values read as `{"$erased": true}`.
//!
//! The sealed form names its key: `{"$sealed": "v2:<key id>:<base64 nonce‖ciphertext>"}`. The
//! AEAD's associated data binds the value to its place: the key id (which names the aggregate
//! type, the aggregate and the organisation), the event's sequence in the aggregate and the
//! field's JSON pointer in the payload ([`Place`]). A ciphertext copied to another field, event
//! or case does not open there, even under the same key.
//!
//! Values sealed before the place was bound (`v1:`, associated data only the key id) still open,
//! but only in events written before: every event written now says `seal_version: "2"` in its
//! metadata, which the chain hash covers, and a `v1` value in such an event is refused. A `v1`
//! value moved within the old events changes their payload and fails `brobyg audit verify`.

mod text;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, Nonce, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use brobyg_domain::personal::{ERASED_MARK, PII_MARK, SEALED_MARK};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::sql::{AppendError, Statement, time_text};
use super::{Held, Store, StoreError};

/// The key-encryption key. Never printed, zeroed when dropped.
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(‹secret›)")
    }
}

/// Why a key-encryption key could not be had or used.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The file could not be read or written.
    #[error("key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not hold 32 bytes as 64 hex digits.
    #[error("key-encryption key file {0} must hold 64 hex digits (32 bytes)")]
    Malformed(String),
}

const KEK_CHECK_PLAINTEXT: &[u8] = b"brobyg key-encryption key check v1";

impl Kek {
    /// Reads a KEK from a file of 64 hex digits.
    pub fn from_file(path: &Path) -> Result<Self, KekError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| KekError::Io { path: path.display().to_string(), source })?,
        );
        let bytes =
            Zeroizing::new(hex::decode(text.trim()).map_err(|_| KekError::Malformed(path.display().to_string()))?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KekError::Malformed(path.display().to_string()))?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// Reads the KEK at `path`, generating it (mode 0600) if the file does not exist.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), KekError> {
        if path.exists() {
            return Ok((Self::from_file(path)?, false));
        }
        let key = Zeroizing::new(rand::random::<[u8; 32]>());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let io = |source| KekError::Io { path: path.display().to_string(), source };
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, hex::encode(*key).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok((Self(key), true))
    }

    /// A KEK from raw bytes (tests).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        // 32 bytes is the AES-256 key length: this cannot fail.
        Aes256Gcm::new_from_slice(&self.0[..]).unwrap_or_else(|_| unreachable!("a 32-byte key"))
    }
}

/// AES-256-GCM with a random 96-bit nonce; output `nonce ‖ ciphertext+tag`.
fn seal_bytes(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes: [u8; 12] = rand::random();
    let nonce = Nonce::<Aes256Gcm>::from(nonce_bytes);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .unwrap_or_else(|_| unreachable!("plaintext under 64 GiB"));
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

fn open_bytes(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let nonce_bytes: [u8; 12] = sealed[..12].try_into().ok()?;
    cipher.decrypt(&Nonce::<Aes256Gcm>::from(nonce_bytes), Payload { msg: &sealed[12..], aad }).ok()
}

/// Seals bytes directly with the KEK (for small secrets such as webhook signing secrets).
pub(crate) fn seal_with_kek(kek: &Kek, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_bytes(&kek.cipher(), aad, plaintext)
}

/// Opens bytes sealed by [`seal_with_kek`].
pub(crate) fn open_with_kek(kek: &Kek, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    open_bytes(&kek.cipher(), aad, sealed)
}

/// A data key as loaded: usable, or destroyed.
#[derive(Clone)]
pub(crate) enum DataKey {
    Live(Arc<Aes256Gcm>),
    Destroyed,
}

const KEY_CACHE_MAX: usize = 10_000;
/// A folded aggregate of some type (a `Held<A>`).
type HeldFold = Arc<dyn std::any::Any + Send + Sync>;

/// The events folded into the aggregates held, at most: a fold weighs as many events as it
/// folded (a 200-event case folds to some tens of kilobytes; the events themselves are not
/// held), so this bounds the cache's memory to some tens of megabytes whatever the cases' sizes.
const FOLD_CACHE_EVENTS: usize = 250_000;

/// Removes the entries of `map` first kept longest ago until at most `keep` weigh `weight`
/// (the least recently *first* loaded go first: a fold's or key's lifetime counts from then).
fn evict_oldest<V>(
    map: &mut HashMap<String, V>,
    kept_at: impl Fn(&V) -> Instant,
    weight: impl Fn(&V) -> usize,
    keep: usize,
) -> usize {
    let mut total: usize = map.values().map(&weight).sum();
    if total <= keep {
        return total;
    }
    let mut by_age: Vec<(Instant, String)> = map.iter().map(|(k, v)| (kept_at(v), k.clone())).collect();
    by_age.sort_unstable();
    for (_, k) in by_age {
        if total <= keep {
            break;
        }
        if let Some(v) = map.remove(&k) {
            total -= weight(&v);
        }
    }
    total
}

/// The folds held: each with when it was first loaded and its weight (events folded).
#[derive(Default)]
struct Folds {
    held: HashMap<String, (HeldFold, Instant, usize)>,
    /// The sum of the weights.
    events: usize,
}

impl Folds {
    fn insert(&mut self, record: String, fold: HeldFold, at: Instant, weight: usize, ttl: Duration) {
        // A fold of more than a quarter of the budget would push out most others: not held.
        if weight > FOLD_CACHE_EVENTS / 4 {
            self.remove(&record);
            return;
        }
        if let Some((_, _, old)) = self.held.insert(record, (fold, at, weight)) {
            self.events -= old;
        }
        self.events += weight;
        if self.events > FOLD_CACHE_EVENTS {
            self.held.retain(|_, (_, at, _)| at.elapsed() < ttl);
            self.events = evict_oldest(&mut self.held, |(_, at, _)| *at, |(_, _, w)| *w, FOLD_CACHE_EVENTS / 4 * 3);
        }
    }

    fn remove(&mut self, record: &str) {
        if let Some((_, _, weight)) = self.held.remove(record) {
            self.events -= weight;
        }
    }

    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.held.retain(|record, _| keep(record));
        self.events = self.held.values().map(|(_, _, w)| *w).sum();
    }
}

/// Unwrapped data keys, kept briefly so that a command or a feed page does not query and unwrap
/// the same key once per load. An erasure clears this process's cache at once; another process
/// that opened the key may keep using it for at most the time to live (decision 0003). Ciphers
/// zero their key schedule when the last reference drops.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (DataKey, Instant)>>,
    /// Aggregates folded from events opened with these keys, by their key prefix
    /// ([`data_key_prefix`]): a later load reads only the events after the folded version. Held
    /// no longer than the keys that opened them (the time to live counts from the first full
    /// load, not from the last refresh) and forgotten with them.
    folds: Mutex<Folds>,
    /// Counts erasures; a key read before one is not cached after it.
    erasures: AtomicU64,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map_or(0, |e| e.len());
        write!(f, "KeyCache({n} keys)")
    }
}

impl KeyCache {
    /// A cache keeping keys for `ttl` (zero: keeps nothing).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default(), folds: Mutex::default(), erasures: AtomicU64::new(0) }
    }

    /// The folded aggregate `A` of `id` as last loaded, and when it was first loaded, if held:
    /// shared, not copied (a feed page or a policy check only reads it).
    pub(crate) fn fold<A: Aggregate + Send + Sync + 'static>(&self, id: &str) -> Option<(Arc<Held<A>>, Instant)> {
        if self.ttl.is_zero() {
            return None;
        }
        let folds = self.folds.lock().ok()?;
        let (any, at, _) = folds.held.get(&data_key_prefix(A::TYPE, id))?;
        if at.elapsed() >= self.ttl {
            return None;
        }
        Arc::clone(any).downcast::<Held<A>>().ok().map(|h| (h, *at))
    }

    /// Keeps a folded aggregate first loaded at `at`, unless an erasure happened since
    /// `generation` was read.
    pub(crate) fn keep_fold<A: Aggregate + Send + Sync + Clone + 'static>(
        &self,
        id: &str,
        held: Arc<Held<A>>,
        at: Instant,
        generation: u64,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut folds) = self.folds.lock() else { return };
        if self.erasures.load(Ordering::SeqCst) != generation {
            return;
        }
        let record = data_key_prefix(A::TYPE, id);
        // Two commands of this process may keep their folds in either order: the newer stays.
        let newer_held = folds
            .held
            .get(&record)
            .and_then(|(any, _, _)| Arc::clone(any).downcast::<Held<A>>().ok())
            .is_some_and(|kept| kept.version > held.version);
        if newer_held {
            return;
        }
        let weight = held.version.max(1);
        folds.insert(record, held, at, weight, self.ttl);
    }

    /// Drops the held fold of `id` if it still is `held` (not a newer one kept meanwhile).
    pub(crate) fn let_go_of_fold<A: Aggregate + Send + Sync + 'static>(&self, id: &str, held: &Arc<Held<A>>) {
        let Ok(mut folds) = self.folds.lock() else { return };
        let record = data_key_prefix(A::TYPE, id);
        let same =
            folds.held.get(&record).is_some_and(|(any, _, _)| std::ptr::addr_eq(Arc::as_ptr(any), Arc::as_ptr(held)));
        if same {
            folds.remove(&record);
        }
    }

    fn get(&self, key_id: &str) -> Option<DataKey> {
        let entries = self.entries.lock().ok()?;
        entries.get(key_id).filter(|(_, at)| at.elapsed() < self.ttl).map(|(k, _)| k.clone())
    }

    pub(crate) fn generation(&self) -> u64 {
        self.erasures.load(Ordering::SeqCst)
    }

    /// Keeps `key` unless an erasure happened since `generation` was read.
    fn put(&self, key_id: &str, key: DataKey, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if self.erasures.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= KEY_CACHE_MAX {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            evict_oldest(&mut entries, |(_, at)| *at, |_| 1, KEY_CACHE_MAX / 4 * 3);
        }
        entries.insert(key_id.to_owned(), (key, Instant::now()));
    }

    /// Drops every cached key whose id starts with `prefix`; keys being read now are not kept.
    fn forget(&self, prefix: &str) {
        self.erasures.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|id, _| !id.starts_with(prefix));
        }
        // A record's folds go with any of its keys (a key id starts with the record's prefix).
        if let Ok(mut folds) = self.folds.lock() {
            folds.retain(|record| !record.starts_with(prefix) && !prefix.starts_with(record));
        }
    }
}

fn persistence(e: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::UnknownError(e.to_string().into())
}

impl Store {
    /// Checks the KEK against the database (recording it on first use). `Ok(false)`: the
    /// database was sealed with another key.
    pub async fn check_kek(&self) -> Result<bool, StoreError> {
        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
        let rows = self.fetch_rows("SELECT sealed FROM kek_check WHERE id = 1", vec![]).await?;
        match rows.first() {
            Some(row) => {
                let sealed = row.opt_bytes(0)?.unwrap_or_default();
                Ok(open_bytes(&kek.cipher(), b"kek-check", &sealed).is_some_and(|p| p == KEK_CHECK_PLAINTEXT))
            }
            None => {
                let sealed = seal_bytes(&kek.cipher(), b"kek-check", KEK_CHECK_PLAINTEXT);
                self.run_one(Statement::new(
                    "INSERT INTO kek_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                    vec![sealed.into()],
                ))
                .await?;
                Box::pin(self.check_kek()).await
            }
        }
    }

    async fn data_key(&self, key_id: &str, create: bool) -> Result<Option<DataKey>, StoreError> {
        if let Some(key) = self.keys.get(key_id) {
            return Ok(Some(key));
        }
        let generation = self.keys.generation();
        let key = self.read_data_key(key_id, create).await?;
        if let Some(key) = &key {
            self.keys.put(key_id, key.clone(), generation);
        }
        Ok(key)
    }

    async fn read_data_key(&self, key_id: &str, create: bool) -> Result<Option<DataKey>, StoreError> {
        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
        let select = || self.fetch_rows("SELECT wrapped_key FROM data_keys WHERE key_id = $1", vec![key_id.into()]);
        let mut rows = select().await?;
        if rows.is_empty() && create {
            let key = Zeroizing::new(rand::random::<[u8; 32]>());
            let wrapped = seal_bytes(&kek.cipher(), key_id.as_bytes(), &key[..]);
            self.run_one(Statement::new(
                "INSERT INTO data_keys (key_id, wrapped_key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id) DO NOTHING",
                vec![key_id.into(), wrapped.into(), time_text(chrono::Utc::now()).into()],
            ))
            .await?;
            rows = select().await?;
        }
        let Some(row) = rows.first() else { return Ok(None) };
        match row.opt_bytes(0)? {
            None => Ok(Some(DataKey::Destroyed)),
            Some(wrapped) => {
                let key =
                    Zeroizing::new(open_bytes(&kek.cipher(), key_id.as_bytes(), &wrapped).ok_or_else(|| {
                        StoreError::Corrupt(format!("data key {key_id} does not open with this KEK"))
                    })?);
                let cipher =
                    Aes256Gcm::new_from_slice(&key[..]).map_err(|_| StoreError::Corrupt("data key length".into()))?;
                Ok(Some(DataKey::Live(Arc::new(cipher))))
            }
        }
    }

    /// Destroys every data key whose id starts with `prefix`; returns how many. Irreversible.
    pub async fn destroy_keys(&self, prefix: &str, reason: &str) -> Result<u64, StoreError> {
        let pattern = format!("{}%", prefix.replace('%', "").replace('_', "\\_"));
        let statement = Statement {
            sql: "UPDATE data_keys SET wrapped_key = NULL, destroyed_at = $2, destroyed_reason = $3 \
                  WHERE key_id LIKE $1 ESCAPE '\\' AND wrapped_key IS NOT NULL",
            params: vec![pattern.into(), time_text(chrono::Utc::now()).into(), reason.into()],
        };
        let n = self.run_destroy(statement).await;
        self.keys.forget(prefix);
        n
    }

    /// Destroys exactly the data key `key_id`; returns 1 if it was live, else 0. Irreversible.
    pub async fn destroy_key(&self, key_id: &str, reason: &str) -> Result<u64, StoreError> {
        let statement = Statement {
            sql: "UPDATE data_keys SET wrapped_key = NULL, destroyed_at = $2, destroyed_reason = $3 \
                  WHERE key_id = $1 AND wrapped_key IS NOT NULL",
            params: vec![key_id.into(), time_text(chrono::Utc::now()).into(), reason.into()],
        };
        let n = self.run_destroy(statement).await;
        self.keys.forget(key_id);
        n
    }

    async fn run_destroy(&self, statement: Statement) -> Result<u64, StoreError> {
        let n = self.run_one(statement).await?;
        self.reclaim("data_keys").await?;
        Ok(n)
    }

    /// Seals the personal values of one serialised event in place, under the key of
    /// `key_holder` (or, without one, of the organisation that wrote the event), each bound to
    /// its place; marks the event's metadata `seal_version: "2"`.
    pub(crate) async fn seal_event(
        &self,
        event: &mut SerializedEvent,
        key_holder: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Value::Object(meta) = &mut event.metadata {
            meta.insert(SEAL_VERSION_KEY.into(), Value::String(SEAL_VERSION.into()));
        }
        if !contains_mark(&event.payload) {
            return Ok(());
        }
        let org = key_holder.or_else(|| event.metadata["org"].as_str()).unwrap_or("_");
        let key_id = data_key_id(&event.aggregate_type, &event.aggregate_id, org);
        let cipher = match self.data_key(&key_id, true).await? {
            Some(DataKey::Live(c)) => c,
            Some(DataKey::Destroyed) | None => return Err(StoreError::Erased(key_id)),
        };
        let mut path = String::new();
        seal_value(&mut event.payload, &cipher, &key_id, event.sequence as u64, &mut path);
        Ok(())
    }

    /// Opens the sealed values of one serialised event in place; values whose key was destroyed
    /// become `{"$erased": true}`.
    pub(crate) async fn unseal_event(&self, event: &mut SerializedEvent) -> Result<(), StoreError> {
        self.unseal_stored(event, &mut HashMap::new()).await
    }

    /// Opens the sealed values of one stored event, reusing the keys already in `keys`.
    pub(crate) async fn unseal_stored(
        &self,
        event: &mut SerializedEvent,
        keys: &mut HashMap<String, Option<DataKey>>,
    ) -> Result<(), StoreError> {
        let binds_place = event.metadata[SEAL_VERSION_KEY].as_str() == Some(SEAL_VERSION);
        self.unseal_payload(&mut event.payload, event.sequence as u64, binds_place, keys).await
    }

    /// Opens the sealed values of the payload of the stored event `sequence` in place, reusing
    /// the keys already in `keys`; `binds_place`: the event's metadata says its values are
    /// bound to their places ([`SEAL_VERSION`]).
    async fn unseal_payload(
        &self,
        payload: &mut Value,
        sequence: u64,
        binds_place: bool,
        keys: &mut HashMap<String, Option<DataKey>>,
    ) -> Result<(), StoreError> {
        let mut sealed = Vec::new();
        collect_sealed(payload, &mut sealed);
        if sealed.is_empty() {
            return Ok(());
        }
        for text in sealed {
            let key_id = sealed_key_id(text).ok_or_else(|| StoreError::Corrupt("malformed sealed value".into()))?;
            if !keys.contains_key(key_id) {
                let key = self.data_key(key_id, false).await?;
                keys.insert(key_id.to_owned(), key);
            }
        }
        let place = Opening { sequence, legacy_allowed: !binds_place };
        let mut path = String::new();
        open_all(payload, keys, &place, &mut path)
    }

    /// The payload of the stored event `sequence`, given as its stored text, with its sealed
    /// values opened (`{"$pii": …}`, or `{"$erased": true}` when the key is gone) — the text as
    /// stored when it holds none. What [`Store::unseal_payload`] does to a tree, done to the text:
    /// the reader decodes the result straight into its event. A sealed value beside other
    /// fields of its object fails here (a payload the service wrote never has one).
    pub(crate) async fn open_payload_text<'t>(
        &self,
        payload: &'t str,
        sequence: u64,
        binds_place: bool,
        keys: &mut HashMap<String, Option<DataKey>>,
    ) -> Result<Cow<'t, str>, StoreError> {
        let found = text::find_sealed(payload)?;
        if found.is_empty() {
            return Ok(Cow::Borrowed(payload));
        }
        for f in &found {
            let key_id =
                sealed_key_id(&f.sealed).ok_or_else(|| StoreError::Corrupt("malformed sealed value".into()))?;
            if !keys.contains_key(key_id) {
                let key = self.data_key(key_id, false).await?;
                keys.insert(key_id.to_owned(), key);
            }
        }
        let place = Opening { sequence, legacy_allowed: !binds_place };
        open_found(payload, &found, keys, &place).map(Cow::Owned)
    }
}

/// The payload text with the sealed values `found` in it opened, their keys in `keys`.
fn open_found(
    payload: &str,
    found: &[text::Found<'_>],
    keys: &HashMap<String, Option<DataKey>>,
    place: &Opening,
) -> Result<String, StoreError> {
    let mut out = String::with_capacity(payload.len());
    let mut copied = 0;
    for f in found {
        out.push_str(&payload[copied..f.span.start]);
        match open_one(&f.sealed, keys, place, &f.path)? {
            Some(plaintext) => {
                // One whole JSON value, so that what is put in its place is one value.
                let inner = std::str::from_utf8(&plaintext)
                    .ok()
                    .and_then(|t| serde_json::from_str::<&serde_json::value::RawValue>(t).ok())
                    .ok_or_else(|| StoreError::Corrupt("sealed value content".into()))?;
                out.push_str("{\"");
                out.push_str(PII_MARK);
                out.push_str("\":");
                out.push_str(inner.get());
                out.push('}');
            }
            None => {
                out.push_str("{\"");
                out.push_str(ERASED_MARK);
                out.push_str("\":true}");
            }
        }
        copied = f.span.end;
    }
    out.push_str(&payload[copied..]);
    Ok(out)
}

/// The metadata key saying how an event's personal values are sealed.
pub const SEAL_VERSION_KEY: &str = "seal_version";
/// Values bound to their place (aggregate, event, field).
pub const SEAL_VERSION: &str = "2";

/// The associated data of a value sealed at `path` (a JSON pointer into the payload) of the
/// event `sequence` of the aggregate the key id names.
fn place_aad(key_id: &str, sequence: u64, path: &str) -> Vec<u8> {
    // `brobyg-seal-v2\0{key_id}\0{sequence}\0{path}`, written without `format!` (once per value
    // sealed or opened).
    let mut digits = itoa::Buffer::new();
    let parts: [&[u8]; 6] =
        [b"brobyg-seal-v2\0", key_id.as_bytes(), b"\0", digits.format(sequence).as_bytes(), b"\0", path.as_bytes()];
    parts.concat()
}

/// How the values of one stored event are opened.
struct Opening {
    /// The event's sequence.
    sequence: u64,
    /// Whether `v1` values (bound to the key only) may open: events written before places were
    /// bound.
    legacy_allowed: bool,
}

/// Appends one JSON-pointer step to `path` (escaping `~` and `/`), returning the length to cut back to.
fn push_step(path: &mut String, step: &str) -> usize {
    let len = path.len();
    path.push('/');
    if !step.contains(['~', '/']) {
        path.push_str(step);
        return len;
    }
    for c in step.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
    len
}

/// The id of the data key that seals what `org` holds of one record (an aggregate).
#[must_use]
pub fn data_key_id(aggregate_type: &str, aggregate_id: &str, org: &str) -> String {
    format!("{}{org}", data_key_prefix(aggregate_type, aggregate_id))
}

/// The prefix shared by the ids of every data key of one record: destroying every key with it
/// erases the record's personal data for every organisation.
#[must_use]
pub fn data_key_prefix(aggregate_type: &str, aggregate_id: &str) -> String {
    format!("{aggregate_type}:{aggregate_id}:")
}

fn contains_mark(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key(PII_MARK) || map.values().any(contains_mark),
        Value::Array(items) => items.iter().any(contains_mark),
        _ => false,
    }
}

fn seal_value(value: &mut Value, cipher: &Aes256Gcm, key_id: &str, sequence: u64, path: &mut String) {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(PII_MARK) => {
            let plaintext = Zeroizing::new(serde_json::to_vec(&map[PII_MARK]).unwrap_or_default());
            let sealed = seal_bytes(cipher, &place_aad(key_id, sequence, path), &plaintext);
            *value = json!({ SEALED_MARK: format!("v2:{key_id}:{}", STANDARD.encode(sealed)) });
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = push_step(path, k);
                seal_value(v, cipher, key_id, sequence, path);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let len = push_step(path, itoa::Buffer::new().format(i));
                seal_value(v, cipher, key_id, sequence, path);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn collect_sealed<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(SEALED_MARK) => {
            if let Some(s) = map[SEALED_MARK].as_str() {
                out.push(s);
            }
        }
        Value::Object(map) => map.values().for_each(|v| collect_sealed(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_sealed(v, out)),
        _ => {}
    }
}

/// The form of a sealed text: `v1` (bound to its key) or `v2` (bound to its place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    KeyBound,
    PlaceBound,
}

/// The form and key id of a sealed text `v2:<key id>:<base64>` (the key id holds colons itself).
fn sealed_parts(text: &str) -> Option<(Form, &str)> {
    let (form, rest) = if let Some(rest) = text.strip_prefix("v2:") {
        (Form::PlaceBound, rest)
    } else {
        (Form::KeyBound, text.strip_prefix("v1:")?)
    };
    rest.rsplit_once(':').map(|(key_id, _)| (form, key_id))
}

/// The key id of a sealed text.
fn sealed_key_id(text: &str) -> Option<&str> {
    sealed_parts(text).map(|(_, key_id)| key_id)
}

/// Opens one sealed text found at `path` of an event: its plaintext (the value's JSON), or
/// `None` when its key was destroyed or never created (the value is erased).
fn open_one(
    text: &str,
    keys: &HashMap<String, Option<DataKey>>,
    place: &Opening,
    path: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let (form, key_id) = sealed_parts(text).ok_or_else(|| StoreError::Corrupt("malformed sealed value".into()))?;
    let aad = match form {
        Form::PlaceBound => place_aad(key_id, place.sequence, path),
        Form::KeyBound if place.legacy_allowed => key_id.as_bytes().to_vec(),
        Form::KeyBound => {
            return Err(StoreError::Corrupt(format!(
                "a value sealed in the old form (bound to its key only) at {path} of an event written in the new \
                 one: it was moved there"
            )));
        }
    };
    match keys.get(key_id) {
        Some(Some(DataKey::Live(cipher))) => {
            let b64 = text.rsplit_once(':').map(|(_, b)| b).unwrap_or_default();
            let bytes = STANDARD.decode(b64).map_err(|_| StoreError::Corrupt("sealed value encoding".into()))?;
            let plaintext = open_bytes(cipher, &aad, &bytes).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the value at {path} of event {} does not open under {key_id}: it was changed or moved",
                    place.sequence
                ))
            })?;
            Ok(Some(Zeroizing::new(plaintext)))
        }
        // Destroyed, or never created: the value is gone.
        Some(Some(DataKey::Destroyed)) | Some(None) | None => Ok(None),
    }
}

fn open_all(
    value: &mut Value,
    keys: &HashMap<String, Option<DataKey>>,
    place: &Opening,
    path: &mut String,
) -> Result<(), StoreError> {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(SEALED_MARK) => {
            // The sealed text is taken out (the mark is replaced by what it opens to).
            let text = match map.remove(SEALED_MARK) {
                Some(Value::String(text)) => text,
                _ => String::new(),
            };
            match open_one(&text, keys, place, path)? {
                Some(plaintext) => {
                    let inner: Value = serde_json::from_slice(&plaintext)
                        .map_err(|_| StoreError::Corrupt("sealed value content".into()))?;
                    map.insert(PII_MARK.to_owned(), inner);
                }
                None => {
                    map.insert(ERASED_MARK.to_owned(), Value::Bool(true));
                }
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = push_step(path, k);
                open_all(v, keys, place, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let len = push_step(path, itoa::Buffer::new().format(i));
                open_all(v, keys, place, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What one command's load saw and its commit wrote, shared by the two repositories of a
/// command: the chain hash of the last event loaded (so the commit chains to it without asking
/// the database again) and the feed position of the last event appended.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The sequence and chain hash of the last event the command's load read; after the
    /// commit, of the last event it wrote.
    pub(crate) last: Option<(usize, String)>,
    /// The feed position of the last event the commit wrote.
    pub(crate) position: Option<super::Cursor>,
}

/// A cqrs-es repository that seals on the way in and opens on the way out. Reads go through
/// the backend's cqrs-es repository; appends are the store's own single statement
/// ([`Store::append_events`]).
pub struct Sealed<R> {
    pub(crate) inner: R,
    pub(crate) store: Store,
    /// For each event of the batch being persisted, the organisation whose key seals it when
    /// it is not the writer ([`brobyg_domain::personal::KeyHolder`]).
    pub(crate) key_holders: Vec<Option<String>>,
    /// Shared with the other repository of the same command.
    pub(crate) tail: Arc<Mutex<Tail>>,
}

impl<R: PersistedEventRepository> PersistedEventRepository for Sealed<R> {
    async fn get_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self.inner.get_events::<A>(aggregate_id).await?;
        let mut keys = HashMap::new();
        for e in &mut events {
            self.store.unseal_stored(e, &mut keys).await.map_err(persistence)?;
        }
        Ok(events)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self.inner.get_last_events::<A>(aggregate_id, last_sequence).await?;
        for e in &mut events {
            self.store.unseal_event(e).await.map_err(persistence)?;
        }
        Ok(events)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        // Snapshots would hold plaintext state; this store never writes them (decision 0001).
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(persistence("snapshots would store personal data unsealed; use the plain event store"));
        }
        let mut sealed = events.to_vec();
        for (i, e) in sealed.iter_mut().enumerate() {
            let holder = self.key_holders.get(i).and_then(Option::as_deref);
            self.store.seal_event(e, holder).await.map_err(|err| match err {
                StoreError::Erased(_) => PersistenceError::UnknownError(Box::new(err)),
                other => persistence(other),
            })?;
        }
        let known = self.tail.lock().ok().and_then(|t| t.last.clone());
        self.store.chain(&mut sealed, known).await.map_err(persistence)?;
        // The chain ends at the last event, once it is written.
        let last = sealed.last().and_then(|e| Some((e.sequence, e.metadata.get("hash")?.as_str()?.to_owned())));
        match self.store.append_events(sealed).await {
            Ok(position) => {
                if let Ok(mut tail) = self.tail.lock() {
                    tail.position = position;
                    tail.last = last;
                }
                Ok(())
            }
            Err(AppendError::Conflict) => Err(PersistenceError::OptimisticLockError),
            Err(AppendError::Store(e)) => Err(PersistenceError::UnknownError(Box::new(e))),
        }
    }

    async fn stream_events<A: Aggregate>(&self, _aggregate_id: &str) -> Result<ReplayStream, PersistenceError> {
        Err(persistence("streaming replays are not used; read the global feed"))
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(persistence("streaming replays are not used; read the global feed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_cache_forgets_on_erasure_and_keeps_nothing_read_before_it() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let live = || DataKey::Live(Arc::new(Aes256Gcm::new_from_slice(&[1u8; 32]).expect("key")));
        let before = cache.generation();
        cache.put("case:1:municipality:0746", live(), before);
        assert!(cache.get("case:1:municipality:0746").is_some());
        // A load that read the key before an erasure finishes after it: its copy is not kept.
        let reading = cache.generation();
        cache.forget("case:1:");
        assert!(cache.get("case:1:municipality:0746").is_none());
        cache.put("case:1:municipality:0746", live(), reading);
        assert!(cache.get("case:1:municipality:0746").is_none());
        // Other subjects' keys are unaffected; a zero lifetime keeps nothing.
        cache.put("case:2:municipality:0746", live(), cache.generation());
        assert!(cache.get("case:2:municipality:0746").is_some());
        let off = KeyCache::new(Duration::ZERO);
        off.put("case:3:municipality:0746", live(), off.generation());
        assert!(off.get("case:3:municipality:0746").is_none());
    }

    #[test]
    fn a_held_fold_goes_with_any_key_of_its_record_and_expires_with_the_keys() {
        use brobyg_domain::case::Case;
        let cache = KeyCache::new(Duration::from_secs(60));
        let fold = || Arc::new(Held { aggregate: Case::default(), version: 3, last_hash: None });
        let (at, g) = (Instant::now(), cache.generation());
        cache.keep_fold::<Case>("1", fold(), at, g);
        cache.keep_fold::<Case>("2", fold(), at, g);
        assert_eq!(cache.fold::<Case>("1").map(|(l, _)| l.version), Some(3));
        // One organisation's key of case 1 destroyed (retention): case 1's fold goes, case 2's stays.
        cache.forget(&data_key_id("case", "1", "ngo:kfum-sa"));
        assert!(cache.fold::<Case>("1").is_none());
        assert!(cache.fold::<Case>("2").is_some());
        // A fold read before an erasure is not kept after it.
        let before = cache.generation();
        cache.forget(&data_key_prefix("case", "2"));
        assert!(cache.fold::<Case>("2").is_none());
        cache.keep_fold::<Case>("2", fold(), at, before);
        assert!(cache.fold::<Case>("2").is_none());
        // Expiry counts from the first full load, and a zero lifetime keeps nothing.
        cache.keep_fold::<Case>("3", fold(), Instant::now() - Duration::from_secs(61), cache.generation());
        assert!(cache.fold::<Case>("3").is_none());
        let off = KeyCache::new(Duration::ZERO);
        off.keep_fold::<Case>("1", fold(), Instant::now(), off.generation());
        assert!(off.fold::<Case>("1").is_none());
    }

    #[test]
    fn a_full_fold_cache_lets_go_of_the_oldest_folds_by_their_weight_not_of_all() {
        use brobyg_domain::case::Case;
        let cache = KeyCache::new(Duration::from_secs(600));
        let fold = |version| Arc::new(Held { aggregate: Case::default(), version, last_hash: None });
        let start = Instant::now();
        let events = || cache.folds.lock().expect("folds").events;
        // A fold kept again (brought up to date) weighs once, by its new version.
        cache.keep_fold::<Case>("again", fold(40), start, cache.generation());
        cache.keep_fold::<Case>("again", fold(100), start, cache.generation());
        assert_eq!(events(), 100);
        // Twice the budget in folds of 100 events, each first loaded after the one before.
        let n = 2 * FOLD_CACHE_EVENTS / 100;
        for i in 0..n {
            cache.keep_fold::<Case>(
                &i.to_string(),
                fold(100),
                start + Duration::from_millis(i as u64),
                cache.generation(),
            );
            assert!(events() <= FOLD_CACHE_EVENTS, "over budget after {i}: {}", events());
        }
        // The newest are held (a scan over more cases than fit does not empty the cache), the
        // oldest went first, and the count matches what is held.
        assert!(cache.fold::<Case>(&(n - 1).to_string()).is_some());
        assert!(cache.fold::<Case>(&(n - FOLD_CACHE_EVENTS / 200).to_string()).is_some());
        assert!(cache.fold::<Case>("0").is_none() && cache.fold::<Case>("again").is_none());
        let held = cache.folds.lock().expect("folds").held.len();
        assert_eq!(events(), held * 100);
        assert!(events() >= FOLD_CACHE_EVENTS / 2, "kept {}", events());
        // A case heavier than a quarter of the budget is not held (it would push out most
        // others), and an older fold of it goes.
        let latest = start + Duration::from_secs(3600);
        cache.keep_fold::<Case>("large", fold(100), latest, cache.generation());
        cache.keep_fold::<Case>("large", fold(FOLD_CACHE_EVENTS / 4 + 1), latest, cache.generation());
        assert!(cache.fold::<Case>("large").is_none());
        assert_eq!(cache.folds.lock().expect("folds").held.len(), held);
        assert_eq!(events(), held * 100);
    }

    #[test]
    fn letting_go_of_a_fold_leaves_it_unshared_and_a_newer_one_kept() {
        use brobyg_domain::case::Case;
        let cache = KeyCache::new(Duration::from_secs(60));
        let fold = |version| Arc::new(Held { aggregate: Case::default(), version, last_hash: None });
        cache.keep_fold::<Case>("1", fold(3), Instant::now(), cache.generation());
        let (held, _) = cache.fold::<Case>("1").expect("held");
        assert_eq!(Arc::strong_count(&held), 2, "the cache and the loader");
        cache.let_go_of_fold::<Case>("1", &held);
        assert_eq!(Arc::strong_count(&held), 1, "brought up to date in place, not copied");
        assert!(cache.fold::<Case>("1").is_none());
        // Another writer kept a newer fold meanwhile: it stays.
        cache.keep_fold::<Case>("1", fold(4), Instant::now(), cache.generation());
        cache.let_go_of_fold::<Case>("1", &held);
        assert_eq!(cache.fold::<Case>("1").map(|(h, _)| h.version), Some(4));
        // A command that decided on an older fold keeps its result after a newer one: not kept.
        cache.keep_fold::<Case>("1", fold(3), Instant::now(), cache.generation());
        assert_eq!(cache.fold::<Case>("1").map(|(h, _)| h.version), Some(4));
    }

    fn open(
        v: &Value,
        keys: &HashMap<String, Option<DataKey>>,
        sequence: u64,
        legacy: bool,
    ) -> Result<Value, StoreError> {
        let mut opened = v.clone();
        open_all(&mut opened, keys, &Opening { sequence, legacy_allowed: legacy }, &mut String::new())?;
        Ok(opened)
    }

    fn seal(v: &mut Value, cipher: &Aes256Gcm, key_id: &str, sequence: u64) {
        seal_value(v, cipher, key_id, sequence, &mut String::new());
    }

    const KEY: &str = "case:1:municipality:0746";

    fn live(byte: u8) -> Option<DataKey> {
        Some(DataKey::Live(Arc::new(Aes256Gcm::new_from_slice(&[byte; 32]).expect("key"))))
    }

    /// A place is a JSON pointer: each step escaped as RFC 6901 says (`~` as `~0`, `/` as `~1`).
    #[test]
    fn a_places_steps_are_escaped_as_json_pointers_are() {
        let mut path = String::new();
        for step in ["items", "a/b~c", "0", "~/", "Søren"] {
            push_step(&mut path, step);
        }
        assert_eq!(path, "/items/a~1b~0c/0/~0~1/Søren");
        let cut = push_step(&mut path, "more");
        path.truncate(cut);
        assert_eq!(path, "/items/a~1b~0c/0/~0~1/Søren");
    }

    /// The associated data binding a value to its place is the text values were sealed with
    /// (stores of every earlier version hold values bound to it).
    #[test]
    fn a_places_associated_data_is_the_text_values_were_sealed_with() {
        for (key_id, sequence, path) in
            [("case:c-1:municipality:0746", 1, "/ItemAdded/item/content"), ("k", 0, ""), ("", u64::MAX, "/a~1b/0")]
        {
            assert_eq!(
                place_aad(key_id, sequence, path),
                format!("brobyg-seal-v2\0{key_id}\0{sequence}\0{path}").into_bytes()
            );
        }
    }

    #[test]
    fn sealed_values_name_their_key_and_open_only_with_it() {
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        let mut v = json!({ "a": { "$pii": "Mikkel" }, "b": [ { "$pii": "2012-03-14" } ], "c": 1 });
        seal(&mut v, &cipher, KEY, 3);
        let text = v.to_string();
        assert!(!text.contains("Mikkel") && !text.contains("2012-03-14"), "{text}");
        let mut found = Vec::new();
        collect_sealed(&v, &mut found);
        assert_eq!(found.len(), 2);
        assert_eq!(sealed_parts(found[0]), Some((Form::PlaceBound, KEY)));
        let mut keys = HashMap::new();
        keys.insert(KEY.to_owned(), live(7));
        let plain = json!({ "a": { "$pii": "Mikkel" }, "b": [ { "$pii": "2012-03-14" } ], "c": 1 });
        assert_eq!(open(&v, &keys, 3, false).expect("opens"), plain);
        keys.insert(KEY.to_owned(), Some(DataKey::Destroyed));
        let erased = open(&v, &keys, 3, false).expect("erased");
        assert_eq!(erased, json!({ "a": { "$erased": true }, "b": [ { "$erased": true } ], "c": 1 }));
        // Moved under another key id, a value does not open.
        let moved = found[0].replace("case:1:", "case:2:");
        let mut keys2 = HashMap::new();
        keys2.insert("case:2:municipality:0746".to_owned(), live(7));
        assert!(open(&json!({ "a": { "$sealed": moved } }), &keys2, 3, false).is_err());
    }

    #[test]
    fn a_value_moved_to_another_field_or_event_of_the_same_key_does_not_open() {
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        let mut v = json!({ "item_added": { "item": { "content": { "$pii": "ADHD" }, "note": { "$pii": "x" } } } });
        seal(&mut v, &cipher, KEY, 4);
        let mut keys = HashMap::new();
        keys.insert(KEY.to_owned(), live(7));
        assert!(open(&v, &keys, 4, false).is_ok());
        // The same ciphertext in another field of the same event.
        let mut swapped = v.clone();
        swapped["item_added"]["item"]["note"] = v["item_added"]["item"]["content"].clone();
        let err = open(&swapped, &keys, 4, false).expect_err("moved field");
        assert!(err.to_string().contains("/item_added/item/note"), "{err}");
        // The same payload in another event of the same case.
        assert!(open(&v, &keys, 5, false).is_err(), "moved event");
    }

    /// Opens `v` as stored text, the way a reader of stored text does.
    fn open_text(
        text: &str,
        keys: &HashMap<String, Option<DataKey>>,
        sequence: u64,
        legacy: bool,
    ) -> Result<Value, StoreError> {
        let found = text::find_sealed(text)?;
        let opened = open_found(text, &found, keys, &Opening { sequence, legacy_allowed: legacy })?;
        Ok(serde_json::from_str(&opened).expect("opened text is JSON"))
    }

    /// A payload of objects, arrays and scalars with personal values marked here and there,
    /// keys among them that need escaping in a JSON text or a JSON pointer.
    fn payloads() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-zA-Zæøå \"\\\\/~$\u{1}-\u{1f}]{0,12}".prop_map(Value::String),
            Just(json!("$sealed")),
        ];
        scalar.prop_recursive(4, 48, 5, |inner| {
            let key = "[a-z~/\"$\u{7}]{1,6}";
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner.clone(), 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                inner.prop_map(|v| json!({ PII_MARK: v })),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2_000))]

        /// Opening the stored text gives what opening the tree gives, for payloads written
        /// compactly (SQLite) or with spaces (PostgreSQL's `jsonb` as text), with the key live
        /// or destroyed, in the event the values were sealed in or in another one.
        #[test]
        fn opening_the_text_opens_what_opening_the_tree_opens(
            payload in payloads(),
            pretty in proptest::bool::ANY,
            destroyed in proptest::bool::ANY,
            moved in proptest::bool::ANY,
        ) {
            let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
            let mut sealed = payload.clone();
            seal(&mut sealed, &cipher, KEY, 9);
            let text = if pretty {
                serde_json::to_string_pretty(&sealed).expect("text")
            } else {
                sealed.to_string()
            };
            let mut keys = HashMap::new();
            keys.insert(KEY.to_owned(), if destroyed { Some(DataKey::Destroyed) } else { live(7) });
            let sequence = if moved { 10 } else { 9 };
            let tree = open(&sealed, &keys, sequence, false);
            let from_text = open_text(&text, &keys, sequence, false);
            match (tree, from_text) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => proptest::prop_assert!(false, "tree {a:?}, text {b:?}"),
            }
            if !destroyed && !moved {
                proptest::prop_assert_eq!(open_text(&text, &keys, sequence, false).expect("opens"), payload);
            }
        }
    }

    #[test]
    fn a_value_moved_in_the_text_does_not_open_there_and_an_old_one_only_in_old_events() {
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        let mut v = json!({ "item_added": { "item": { "content": { "$pii": "ADHD" }, "note": { "$pii": "x" } } } });
        seal(&mut v, &cipher, KEY, 4);
        let mut keys = HashMap::new();
        keys.insert(KEY.to_owned(), live(7));
        let mut swapped = v.clone();
        swapped["item_added"]["item"]["note"] = v["item_added"]["item"]["content"].clone();
        let err = open_text(&swapped.to_string(), &keys, 4, false).expect_err("moved field");
        assert!(err.to_string().contains("/item_added/item/note"), "{err}");
        let sealed = seal_bytes(&cipher, KEY.as_bytes(), br#""Mikkel""#);
        let old = json!({ "a": { "$sealed": format!("v1:{KEY}:{}", STANDARD.encode(sealed)) } }).to_string();
        assert_eq!(open_text(&old, &keys, 2, true).expect("legacy opens"), json!({ "a": { "$pii": "Mikkel" } }));
        assert!(open_text(&old, &keys, 2, false).expect_err("not in a new event").to_string().contains("old form"));
    }

    #[test]
    fn old_values_open_only_in_events_written_before_places_were_bound() {
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        // A value as an earlier version sealed it: associated data the key id only.
        let sealed = seal_bytes(&cipher, KEY.as_bytes(), br#""Mikkel""#);
        let old = json!({ "a": { "$sealed": format!("v1:{KEY}:{}", STANDARD.encode(sealed)) } });
        let mut keys = HashMap::new();
        keys.insert(KEY.to_owned(), live(7));
        assert_eq!(open(&old, &keys, 2, true).expect("legacy opens"), json!({ "a": { "$pii": "Mikkel" } }));
        let err = open(&old, &keys, 2, false).expect_err("not in a new event");
        assert!(err.to_string().contains("old form"), "{err}");
    }
}
