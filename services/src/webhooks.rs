//! Webhook delivery per the Standard Webhooks specification: `webhook-id` (the event's stable
//! id), `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//! with the subscription's `whsec_` secret. Each subscription follows the feed with its own
//! cursor; the event at the cursor is retried with exponential backoff and jitter for about
//! three days, then the subscription is disabled with a reason the integrator reads on its
//! deliveries, and can be enabled again. At least once, in order. Each subscription is served
//! by its own task under a lease, so replicas never deliver the same subscription at once and
//! one slow receiver holds up only its own deliveries.

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

/// Requests to receivers in flight at once, over every subscription of this replica.
pub const PARALLEL_REQUESTS: usize = 16;
/// How long one receiver has to answer.
pub const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a replica without a subscription's lease looks whether it lapsed.
const LEASE_RETRY: Duration = Duration::from_secs(5);

/// The delivery worker: keeps one task per enabled subscription running in this replica. Each
/// task delivers under the subscription's lease (`webhook:<id>`), so two replicas never deliver
/// the same subscription, and a slow or failing receiver delays only its own subscription.
struct Deliverer {
    store: Store,
    client: reqwest::Client,
    settings: WorkerSettings,
    replica: worker::Replica,
    commits: watch::Receiver<u64>,
    requests: std::sync::Arc<tokio::sync::Semaphore>,
    running: std::collections::HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

impl Worker for Deliverer {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        self.running.retain(|_, task| !task.is_finished());
        for s in self.store.subscriptions().await?.into_iter().filter(|s| s.disabled_at.is_none()) {
            if self.running.contains_key(&s.id) {
                continue;
            }
            let follower = Follower {
                store: self.store.clone(),
                client: self.client.clone(),
                settings: self.settings,
                holder: self.replica.holder.clone(),
                requests: self.requests.clone(),
                id: s.id.clone(),
            };
            let task = tokio::spawn(follower.run(self.replica.stop.clone(), self.commits.clone()));
            self.running.insert(s.id, task);
        }
        Ok(Outcome::Idle)
    }
}

/// One subscription's deliveries in this replica.
struct Follower {
    store: Store,
    client: reqwest::Client,
    settings: WorkerSettings,
    holder: String,
    requests: std::sync::Arc<tokio::sync::Semaphore>,
    id: String,
}

impl Follower {
    async fn run(self, mut stop: watch::Receiver<bool>, mut commits: watch::Receiver<u64>) {
        let lease = format!("webhook:{}", self.id);
        loop {
            if *stop.borrow() {
                break;
            }
            let pause = match self.store.hold_lease(&lease, &self.holder, worker::LEASE_TTL, Utc::now()).await {
                Ok(false) => LEASE_RETRY,
                Ok(true) => match self.once().await {
                    Ok(Step::Delivered) => Duration::ZERO,
                    Ok(Step::Idle) => FOLLOWER_IDLE,
                    Ok(Step::Gone) => break,
                    Err(e) => {
                        tracing::warn!(subscription.id = %self.id, error = %e, "webhook delivery step failed");
                        Duration::from_secs(1)
                    }
                },
                Err(e) => {
                    tracing::warn!(subscription.id = %self.id, error = %e, "webhook lease could not be renewed");
                    Duration::from_secs(1)
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = commits.changed() => {}
                    _ = stop.changed() => {}
                }
            }
        }
        let _ = self.store.release_lease(&lease, &self.holder).await;
    }

    /// Delivers the next due event of the subscription, if any.
    async fn once(&self) -> Result<Step, crate::store::StoreError> {
        let Some(s) = self.store.subscription(&self.id).await? else {
            return Ok(Step::Gone);
        };
        if s.disabled_at.is_some() {
            return Ok(Step::Gone);
        }
        deliver_next(&self.store, &self.client, &s, self.settings, &self.requests).await
    }
}

/// What one delivery step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// An attempt was made (or events skipped): there may be more at once.
    Delivered,
    /// Nothing due now.
    Idle,
    /// The subscription was deleted or disabled.
    Gone,
}

/// Starts the delivery worker; it stops when the replica stops. `None` if no HTTP client could
/// be built (logged).
pub fn spawn(
    store: Store,
    settings: WorkerSettings,
    commits: watch::Receiver<u64>,
    replica: worker::Replica,
) -> Option<tokio::task::JoinHandle<()>> {
    let client = match crate::egress::webhook_client(settings.allow_private, RECEIVER_TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker cannot start");
            return None;
        }
    };
    let stop = replica.stop.clone();
    let deliverer = Deliverer {
        store,
        client,
        settings,
        replica,
        commits: commits.clone(),
        requests: std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL_REQUESTS)),
        running: std::collections::HashMap::new(),
    };
    // It looks for subscriptions to start followers for every FOLLOWER_IDLE, not on every
    // commit: a query per command for a list that changes only through the subscriptions API
    // (each follower is woken by the commits it delivers).
    Some(worker::spawn(deliverer, Pacing::idle(FOLLOWER_IDLE), Wake::never(), stop))
}

/// Attempts the next due event of one subscription: one event per step, so the subscription's
/// lease is renewed between attempts.
async fn deliver_next(
    store: &Store,
    client: &reqwest::Client,
    s: &Subscription,
    settings: WorkerSettings,
    requests: &tokio::sync::Semaphore,
) -> Result<Step, crate::store::StoreError> {
    if let Some(at) = &s.next_attempt_at
        && at.as_str() > crate::store::Store::now_text().as_str()
    {
        return Ok(Step::Idle);
    }
    let org: brobyg_domain::Org =
        s.org.parse().map_err(|_| crate::store::StoreError::Corrupt("subscription org".into()))?;
    let (events, scanned_to) = page_for(store, &org, s.cursor, 1, Utc::now()).await?;
    let Some(shaped) = events.into_iter().next() else {
        if scanned_to != s.cursor {
            store.skip_to(&s.id, scanned_to).await?;
        }
        return Ok(Step::Idle);
    };
    if !(s.event_types.is_empty() || s.event_types.contains(&shaped.event.kind)) {
        store.skip_to(&s.id, scanned_to).await?;
        return Ok(Step::Delivered);
    }
    let secret = String::from_utf8(store.open_secret(SECRET_PURPOSE, &s.secret_sealed)?).unwrap_or_default();
    let endpoint = format!("webhook {}", s.id);
    let to = Recipient { org: &org, reader: format!("subscription:{}", s.id), endpoint: &endpoint };
    // Each attempt carries the data out again: it is in the access log before it leaves.
    let entries = delivery_entries(std::slice::from_ref(&shaped), &to, Utc::now());
    if !entries.is_empty() {
        store.append_access_log(&entries).await?;
    }
    let event = shaped.event;
    let body = serde_json::to_vec(&event).unwrap_or_default();
    let timestamp = Utc::now().timestamp();
    let signature = sign(&secret, &event.id, timestamp, &body);
    let attempt = s.attempts + 1;
    let mut request = client.post(&s.url);
    if let Some(tp) = &event.traceparent {
        request = request.header("traceparent", tp);
    }
    let outcome = match check_target(&s.url, settings.allow_private).await {
        Err(e) => Err((None, e.to_string())),
        Ok(()) => {
            let _permit = requests.acquire().await;
            match request
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
            }
        }
    };
    let cursor: crate::store::Cursor =
        event.brobygcursor.parse().map_err(|_| crate::store::StoreError::Corrupt("event cursor".into()))?;
    metrics::counter!("webhook_deliveries_total", "outcome" => if outcome.is_ok() { "delivered" } else { "failed" })
        .increment(1);
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
            Ok(Step::Delivered)
        }
        Err((status, error)) => {
            let d = Delivery {
                event_id: event.id.clone(),
                attempt,
                attempted_at: Store::now_text(),
                status_code: status.map(i64::from),
                outcome: "failed".into(),
                error: Some(error.clone()),
            };
            let index = usize::try_from(s.attempts).unwrap_or(usize::MAX);
            match BACKOFF.get(index) {
                Some(pause) => {
                    let jitter = 0.8 + rand::random::<f64>() * 0.4;
                    let wait = pause.mul_f64(settings.retry_scale.max(0.0) * jitter);
                    let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                    store.record_delivery(&s.id, &d, None, Some(crate::store::Store::time_text_of(at)), None).await?;
                    Ok(Step::Idle)
                }
                None => {
                    tracing::warn!(subscription.id = %s.id, "disabling a webhook subscription after persistent failure");
                    let reason = format!(
                        "disabled after {attempt} failed attempts over about three days at event {}; last: {error}. \
                         Fix the receiver, then POST /v1/subscriptions/{}/enable",
                        event.id, s.id
                    );
                    store.record_delivery(&s.id, &d, None, None, Some(&reason)).await?;
                    Ok(Step::Gone)
                }
            }
        }
    }
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
