//! The NATS JetStream publisher: when `BROBYG_NATS_URL` is set, every organisation's events
//! are published to `<prefix>.<org>.<aggregate type>.<aggregate id>.<event type>` (prefix
//! `brobyg`) on a stream per organisation, with `Nats-Msg-Id` set to the event id. The
//! publisher keeps its cursor in `feed_checkpoints` and advances it only after JetStream
//! acknowledged a page, so a restart neither loses events nor floods: what it re-publishes after
//! a crash JetStream drops as duplicates within the stream's duplicate window.
//!
//! Messages are thin by default: the CloudEvent without `data` (ids, type, time, cursor), so no
//! personal value ever rests in a stream; an integrator reads the data from the feed at the
//! event's cursor, through the policy and the access log. With `BROBYG_NATS_DATA=true` they carry
//! the redacted data; then each page's deliveries are in the access log before it is published,
//! the streams keep messages at most `BROBYG_NATS_MAX_AGE_DAYS`, and when the feed reaches a
//! case's `personal_data_erased` the case's subjects are purged from every stream
//! (decision 0007).

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use tokio::sync::watch;

use crate::feed::{Recipient, Shaped, delivery_entries, page_all};
use crate::limits::{NATS_IDLE, NATS_PAGE};
use crate::store::{Cursor, Store};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// Publisher settings.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// `nats://127.0.0.1:4222` (credentials as `nats://user:password@host:4222`).
    pub url: String,
    /// The first subject token (and stream name prefix).
    pub prefix: String,
    /// Whether messages carry the redacted data (default: thin, without it).
    pub data: bool,
    /// How long a stream keeps a message.
    pub max_age: Duration,
}

/// The stream of an organisation: names allow letters, digits, `-` and `_`.
#[must_use]
pub fn stream_name(prefix: &str, org: &str) -> String {
    format!("{prefix}_{org}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect::<String>()
        .to_uppercase()
}

/// The subject of an event for `org`: `<prefix>.<org>.<aggregate type>.<aggregate id>.<event
/// type>`, so one case's messages can be purged by `<prefix>.<org>.case.<id>.>`.
#[must_use]
pub fn subject(prefix: &str, org: &str, event: &crate::feed::CloudEvent) -> String {
    // `dk.brobyg.<aggregate type>.<event type>.v<version>`
    let mut parts = event.kind.split('.').skip(2);
    let (aggregate, name) = (parts.next().unwrap_or("unknown"), parts.next().unwrap_or("unknown"));
    format!("{prefix}.{org}.{aggregate}.{}.{name}", event.subject)
}

/// The message body: the CloudEvent, without its data unless data is configured.
fn body(shaped: &Shaped, data: bool) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(&shaped.event)?;
    if !data && let serde_json::Value::Object(map) = &mut value {
        map.remove("data");
        map.remove("datacontenttype");
    }
    serde_json::to_vec(&value)
}

/// Why a publication step failed.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The store could not be read or the cursor saved.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A stream could not be declared.
    #[error("declaring a stream: {0}")]
    Stream(#[from] jetstream::context::CreateStreamError),
    /// A message was not published or not acknowledged.
    #[error("publishing: {0}")]
    Publish(#[from] jetstream::context::PublishError),
    /// An event could not be encoded.
    #[error("encoding an event: {0}")]
    Encode(#[from] serde_json::Error),
    /// The server could not be reached.
    #[error("connecting: {0}")]
    Connect(String),
    /// An erased case's messages could not be purged.
    #[error("purging an erased case's messages: {0}")]
    Purge(String),
}

/// Publishes what is new after the stored cursor; returns how many messages were acknowledged.
pub async fn publish_pending(
    store: &Store,
    js: &jetstream::Context,
    settings: &NatsSettings,
    streams: &mut HashSet<String>,
) -> Result<usize, NatsError> {
    let prefix = settings.prefix.as_str();
    let consumer = format!("nats:{prefix}");
    let mut cursor = store.consumer_cursor(&consumer).await?.unwrap_or(Cursor::START);
    let mut published = 0;
    loop {
        let (events, next) = page_all(store, cursor, NATS_PAGE, Utc::now()).await?;
        if next == cursor {
            return Ok(published);
        }
        if settings.data {
            // What leaves with data is in the access log first, one entry per case and stream.
            let mut entries = Vec::new();
            let now = Utc::now();
            for (org, shaped) in &events {
                let stream = stream_name(prefix, org.as_str());
                let to = Recipient { org, reader: format!("nats:{stream}"), endpoint: "nats" };
                entries.extend(delivery_entries(std::slice::from_ref(shaped), &to, now));
            }
            if !entries.is_empty() {
                store.append_access_log(&entries).await?;
            }
        }
        let mut acks = Vec::with_capacity(events.len());
        let mut erased = Vec::new();
        for (org, shaped) in &events {
            let stream = stream_name(prefix, org.as_str());
            if !streams.contains(&stream) {
                js.get_or_create_stream(jetstream::stream::Config {
                    name: stream.clone(),
                    subjects: vec![format!("{prefix}.{}.>", org.as_str())],
                    duplicate_window: Duration::from_secs(24 * 3600).min(settings.max_age),
                    max_age: settings.max_age,
                    ..Default::default()
                })
                .await?;
                streams.insert(stream.clone());
            }
            let event = &shaped.event;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.as_str());
            headers.insert("Content-Type", "application/cloudevents+json");
            let subject = subject(prefix, org.as_str(), event);
            acks.push(js.publish_with_headers(subject, headers, body(shaped, settings.data)?.into()).await?);
            if settings.data && event.kind.starts_with("dk.brobyg.case.personal_data_erased.") {
                erased.push((stream, format!("{prefix}.{}.case.{}.>", org.as_str(), event.subject)));
            }
        }
        for ack in acks {
            ack.await?;
            published += 1;
        }
        // After an erasure no plaintext of the subject stays in a stream: purge the case's
        // messages (the erasure notice included) before the cursor moves past it.
        for (stream, filter) in erased {
            let stream = js.get_stream(&stream).await.map_err(|e| NatsError::Purge(e.to_string()))?;
            stream.purge().filter(filter).await.map_err(|e| NatsError::Purge(e.to_string()))?;
        }
        store.save_consumer_cursor(&consumer, &next).await?;
        cursor = next;
    }
}

/// The publisher: connects when it has no connection, then publishes what is pending.
struct Publisher {
    store: Store,
    settings: NatsSettings,
    connection: Option<jetstream::Context>,
    streams: HashSet<String>,
}

impl Worker for Publisher {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let js = match &self.connection {
            Some(js) => js,
            None => self.connection.insert(jetstream::new(async_nats::connect(&self.settings.url).await?)),
        };
        match publish_pending(&self.store, js, &self.settings, &mut self.streams).await {
            Ok(0) => Ok(Outcome::Idle),
            Ok(_) => Ok(Outcome::Worked),
            Err(e) => {
                // Streams may have been removed with the server's state: declare them again.
                self.streams.clear();
                Err(e.into())
            }
        }
    }
}

/// Starts the publisher, run by one replica at a time; it stops when the replica stops.
pub fn spawn(
    store: Store,
    settings: NatsSettings,
    commits: watch::Receiver<u64>,
    replica: worker::Replica,
) -> tokio::task::JoinHandle<()> {
    let publisher = Publisher { store: store.clone(), settings, connection: None, streams: HashSet::new() };
    let publisher = worker::Leased::new(publisher, store, &replica.holder);
    worker::spawn(publisher, Pacing::idle(NATS_IDLE), Wake::on_commit(commits), replica.stop)
}

/// The stream that keeps signed checkpoints: `<PREFIX>_AUDIT`, subject `<prefix>.audit.checkpoints`.
#[must_use]
pub fn checkpoint_stream(prefix: &str) -> String {
    stream_name(prefix, "audit")
}

/// Publishes signed checkpoints to NATS JetStream as they are signed (a second copy outside the
/// database, beside the mirror file), deduplicated by their signature.
#[derive(Debug)]
pub struct CheckpointPublisher {
    settings: NatsSettings,
    connection: Option<jetstream::Context>,
}

impl CheckpointPublisher {
    /// A publisher that connects on first use.
    #[must_use]
    pub fn new(settings: NatsSettings) -> Self {
        Self { settings, connection: None }
    }

    /// Publishes one checkpoint (as JSON) and waits for JetStream's acknowledgement.
    pub async fn publish(
        &mut self,
        checkpoint: &crate::audit::CheckpointView,
        signature: &str,
    ) -> Result<(), NatsError> {
        let js = match &self.connection {
            Some(js) => js.clone(),
            None => {
                let client =
                    async_nats::connect(&self.settings.url).await.map_err(|e| NatsError::Connect(e.to_string()))?;
                let js = jetstream::new(client);
                js.get_or_create_stream(jetstream::stream::Config {
                    name: checkpoint_stream(&self.settings.prefix),
                    subjects: vec![format!("{}.audit.checkpoints", self.settings.prefix)],
                    duplicate_window: Duration::from_secs(24 * 3600),
                    ..Default::default()
                })
                .await?;
                self.connection = Some(js.clone());
                js
            }
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", signature);
        let subject = format!("{}.audit.checkpoints", self.settings.prefix);
        let ack = js.publish_with_headers(subject, headers, serde_json::to_vec(checkpoint)?.into()).await;
        match ack {
            Ok(ack) => {
                ack.await?;
                Ok(())
            }
            Err(e) => {
                self.connection = None;
                Err(e.into())
            }
        }
    }
}
