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
use crate::store::{Cursor, Store};

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
#[error("{0}")]
pub struct NatsError(String);

/// Publishes what is new after the stored cursor; returns how many messages were acknowledged.
pub async fn publish_pending(
    store: &Store,
    js: &jetstream::Context,
    prefix: &str,
    streams: &mut HashSet<String>,
) -> Result<usize, NatsError> {
    let consumer = format!("nats:{prefix}");
    let err = |e: &dyn std::fmt::Display| NatsError(e.to_string());
    let mut cursor = store.checkpoint(&consumer).await.map_err(|e| err(&e))?.unwrap_or(Cursor::START);
    let mut published = 0;
    loop {
        let (events, next) = page_all(store, cursor, 200, Utc::now()).await.map_err(|e| err(&e))?;
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
                .await
                .map_err(|e| err(&e))?;
                streams.insert(stream);
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.as_str());
            headers.insert("Content-Type", "application/cloudevents+json");
            let subject = format!("{prefix}.{}.{}", org.as_str(), event.kind);
            let payload = serde_json::to_vec(&event).map_err(|e| err(&e))?;
            acks.push(js.publish_with_headers(subject, headers, payload.into()).await.map_err(|e| err(&e))?);
        }
        for ack in acks {
            ack.await.map_err(|e| err(&e))?;
            published += 1;
        }
        store.save_checkpoint(&consumer, &next).await.map_err(|e| err(&e))?;
        cursor = next;
    }
}

/// Starts the publisher; it stops when `stop` turns true.
pub fn spawn(store: Store, settings: NatsSettings, mut commits: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut connection: Option<jetstream::Context> = None;
        let mut streams = HashSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            if connection.is_none() {
                match async_nats::connect(&settings.url).await {
                    Ok(client) => connection = Some(jetstream::new(client)),
                    Err(e) => tracing::warn!(error = %e, "cannot reach NATS; retrying"),
                }
            }
            if let Some(js) = &connection
                && let Err(e) = publish_pending(&store, js, &settings.prefix, &mut streams).await
            {
                tracing::warn!(error = %e, "NATS publication failed; retrying");
                streams.clear();
            }
            tokio::select! {
                _ = commits.changed() => {},
                () = tokio::time::sleep(Duration::from_secs(1)) => {},
                _ = stop.changed() => {},
            }
        }
    });
}
