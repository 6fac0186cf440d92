//! The NATS JetStream publisher: when `BROBYG_NATS_URL` is set, every organisation's redacted
//! events are published to `<prefix>.<org>.<type>` (prefix `brobyg`) on a stream per
//! organisation, with `Nats-Msg-Id` set to the event id. The publisher keeps its cursor in
//! `feed_checkpoints` and advances it only after JetStream acknowledged a page, so a restart
//! neither loses events nor floods: what it re-publishes after a crash JetStream drops as
//! duplicates within the stream's duplicate window.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use tokio::sync::watch;

use crate::feed::page_all;
use crate::limits::{NATS_IDLE, NATS_PAGE};
use crate::store::{Cursor, Store};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// Publisher settings.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// `nats://127.0.0.1:4222`.
    pub url: String,
    /// The first subject token (and stream name prefix).
    pub prefix: String,
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
}

/// Publishes what is new after the stored cursor; returns how many messages were acknowledged.
pub async fn publish_pending(
    store: &Store,
    js: &jetstream::Context,
    prefix: &str,
    streams: &mut HashSet<String>,
) -> Result<usize, NatsError> {
    let consumer = format!("nats:{prefix}");
    let mut cursor = store.consumer_cursor(&consumer).await?.unwrap_or(Cursor::START);
    let mut published = 0;
    loop {
        let (events, next) = page_all(store, cursor, NATS_PAGE, Utc::now()).await?;
        if next == cursor {
            return Ok(published);
        }
        let mut acks = Vec::with_capacity(events.len());
        for (org, event) in events {
            let stream = stream_name(prefix, org.as_str());
            if !streams.contains(&stream) {
                js.get_or_create_stream(jetstream::stream::Config {
                    name: stream.clone(),
                    subjects: vec![format!("{prefix}.{}.>", org.as_str())],
                    duplicate_window: Duration::from_secs(24 * 3600),
                    ..Default::default()
                })
                .await?;
                streams.insert(stream);
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.as_str());
            headers.insert("Content-Type", "application/cloudevents+json");
            let subject = format!("{prefix}.{}.{}", org.as_str(), event.kind);
            let payload = serde_json::to_vec(&event)?;
            acks.push(js.publish_with_headers(subject, headers, payload.into()).await?);
        }
        for ack in acks {
            ack.await?;
            published += 1;
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
        match publish_pending(&self.store, js, &self.settings.prefix, &mut self.streams).await {
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

/// Starts the publisher; it stops when `stop` turns true.
pub fn spawn(
    store: Store,
    settings: NatsSettings,
    commits: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let publisher = Publisher { store, settings, connection: None, streams: HashSet::new() };
    worker::spawn(publisher, Pacing::idle(NATS_IDLE), Wake::on_commit(commits), stop)
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
