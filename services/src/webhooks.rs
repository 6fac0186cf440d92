//! Webhook delivery per the Standard Webhooks specification: `webhook-id` (the event's stable
//! id), `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//! with the subscription's `whsec_` secret. Each subscription follows the feed with its own
//! cursor; the event at the cursor is retried with exponential backoff and jitter for about
//! three days, then the subscription is disabled. At least once, in order.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::feed::{Recipient, delivery_entries, page_for};
use crate::limits::FOLLOWER_IDLE;
use crate::store::{Delivery, Store, Subscription};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// Pause before attempt n+1 after n failures: about three days in all.
pub const BACKOFF: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The purpose the secret is sealed under.
pub const SECRET_PURPOSE: &str = "webhook-secret";

/// `v1,<signature>` for one message.
#[must_use]
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).unwrap_or_default();
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A new `whsec_` secret (24 random bytes).
#[must_use]
pub fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 24]>()))
}

pub use crate::egress::{TargetError, check_target};

/// Worker settings.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSettings {
    /// Allow private and loopback targets (tests, on-premises receivers).
    pub allow_private: bool,
    /// Multiplies every backoff pause (1.0 in production; small in tests).
    pub retry_scale: f64,
}

/// The delivery worker: one pass over the subscriptions per step.
struct Deliverer {
    store: Store,
    client: reqwest::Client,
    settings: WorkerSettings,
}

impl Worker for Deliverer {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        for s in self.store.subscriptions().await?.into_iter().filter(|s| s.disabled_at.is_none()) {
            if let Err(e) = deliver_next(&self.store, &self.client, &s, self.settings).await {
                tracing::warn!(subscription.id = %s.id, error = %e, "webhook delivery step failed");
            }
        }
        Ok(Outcome::Idle)
    }
}

/// Starts the delivery worker; it stops when `stop` turns true. `None` if no HTTP client could
/// be built (logged).
pub fn spawn(
    store: Store,
    settings: WorkerSettings,
    commits: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let client = match crate::egress::webhook_client(settings.allow_private, Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker cannot start");
            return None;
        }
    };
    Some(worker::spawn(
        Deliverer { store, client, settings },
        Pacing::idle(FOLLOWER_IDLE),
        Wake::on_commit(commits),
        stop,
    ))
}

/// Delivers what is due for one subscription: events in order until one fails.
async fn deliver_next(
    store: &Store,
    client: &reqwest::Client,
    s: &Subscription,
    settings: WorkerSettings,
) -> Result<(), crate::store::StoreError> {
    if let Some(at) = &s.next_attempt_at
        && at.as_str() > crate::store::Store::now_text().as_str()
    {
        return Ok(());
    }
    let org: brobyg_domain::Org =
        s.org.parse().map_err(|_| crate::store::StoreError::Corrupt("subscription org".into()))?;
    let secret = String::from_utf8(store.open_secret(SECRET_PURPOSE, &s.secret_sealed)?).unwrap_or_default();
    let mut attempts = s.attempts;
    let (events, scanned_to) = page_for(store, &org, s.cursor, 50, Utc::now()).await?;
    let wanted: Vec<_> =
        events.into_iter().filter(|e| s.event_types.is_empty() || s.event_types.contains(&e.event.kind)).collect();
    if wanted.is_empty() {
        if scanned_to != s.cursor {
            store.skip_to(&s.id, scanned_to).await?;
        }
        return Ok(());
    }
    let endpoint = format!("webhook {}", s.id);
    let to = Recipient { org: &org, reader: format!("subscription:{}", s.id), endpoint: &endpoint };
    for shaped in wanted {
        // Each attempt carries the data out again: it is in the access log before it leaves.
        let entries = delivery_entries(std::slice::from_ref(&shaped), &to, Utc::now());
        if !entries.is_empty() {
            store.append_access_log(&entries).await?;
        }
        let event = shaped.event;
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let timestamp = Utc::now().timestamp();
        let signature = sign(&secret, &event.id, timestamp, &body);
        let attempt = attempts + 1;
        let mut request = client.post(&s.url);
        if let Some(tp) = &event.traceparent {
            request = request.header("traceparent", tp);
        }
        let outcome = match check_target(&s.url, settings.allow_private).await {
            Err(e) => Err((None, e.to_string())),
            Ok(()) => match request
                .header("content-type", "application/cloudevents+json")
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
                Ok(r) => Err((Some(r.status().as_u16()), format!("receiver answered {}", r.status()))),
                Err(e) => Err((None, if e.is_timeout() { "timed out".into() } else { "connection failed".into() })),
            },
        };
        let cursor: crate::store::Cursor =
            event.brobygcursor.parse().map_err(|_| crate::store::StoreError::Corrupt("event cursor".into()))?;
        metrics::counter!("webhook_deliveries_total", "outcome" => if outcome.is_ok() { "delivered" } else { "failed" }).increment(1);
        match outcome {
            Ok(status) => {
                let d = Delivery {
                    event_id: event.id.clone(),
                    attempt,
                    attempted_at: Store::now_text(),
                    status_code: Some(i64::from(status)),
                    outcome: "delivered".into(),
                    error: None,
                };
                store.record_delivery(&s.id, &d, Some(cursor), None, None).await?;
                attempts = 0;
            }
            Err((status, error)) => {
                let d = Delivery {
                    event_id: event.id.clone(),
                    attempt,
                    attempted_at: Store::now_text(),
                    status_code: status.map(i64::from),
                    outcome: "failed".into(),
                    error: Some(error),
                };
                let index = usize::try_from(attempts).unwrap_or(usize::MAX);
                match BACKOFF.get(index) {
                    Some(pause) => {
                        let jitter = 0.8 + rand::random::<f64>() * 0.4;
                        let wait = pause.mul_f64(settings.retry_scale.max(0.0) * jitter);
                        let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                        store
                            .record_delivery(&s.id, &d, None, Some(crate::store::Store::time_text_of(at)), None)
                            .await?;
                    }
                    None => {
                        tracing::warn!(subscription.id = %s.id, "disabling a webhook subscription after persistent failure");
                        store.record_delivery(&s.id, &d, None, None, Some("persistent delivery failure")).await?;
                    }
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_retries_span_about_three_days() {
        let total: Duration = BACKOFF.iter().sum();
        assert!(total > Duration::from_secs(72 * 3600) && total < Duration::from_secs(84 * 3600), "{total:?}");
    }
}
