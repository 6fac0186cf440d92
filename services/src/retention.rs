//! Retention: after a case has ended and the agreement's retention period has passed, the NGO
//! side's personal data of the case is erased (its data key destroyed). The municipality's
//! record, and what the NGO disclosed to it, stay. `brobyg retention run` does it now; `serve`
//! does it every `BROBYG_RETENTION_INTERVAL_MINUTES`.

use std::time::Duration;

use brobyg_domain::agreement::Agreement;
use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::Case;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use tokio::sync::watch;

use crate::store::{Store, StoreError, data_key_id};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Ended cases looked at.
    pub examined: usize,
    /// Cases whose NGO data was erased now.
    pub erased: usize,
}

/// Erases the NGO side's personal data of every case whose retention period ended by `now`.
pub async fn run_once(store: &Store, now: DateTime<Utc>) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    for id in store.ended_cases().await? {
        report.examined += 1;
        let case = store.load::<Case>(&id).await?.aggregate;
        let (Some(ended), Some(referral)) = (case.ended_at, case.referral.as_ref()) else { continue };
        let agreement = store.load::<Agreement>(&referral.agreement.to_string()).await?.aggregate;
        let Some(terms) = agreement.in_force.as_ref().map(|(_, t)| t).or(agreement.terms.as_ref()) else { continue };
        let Some(due) = terms.ngo_retention_due(copenhagen_date(ended)) else { continue };
        if copenhagen_date(now) < due {
            continue;
        }
        let key_id = data_key_id(Case::TYPE, &id, referral.ngo.as_str());
        let reason = format!("retention: {} days after the case ended", terms.retention_days_after_closing);
        if store.destroy_key(&key_id, &reason).await? > 0 {
            tracing::info!(case.id = %id, "erased the NGO side's personal data after its retention period");
            report.erased += 1;
        }
    }
    Ok(report)
}

/// Retention as a [`Worker`]: one run per step, then a rest of the interval.
struct Retention {
    store: Store,
}

impl Worker for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        run_once(&self.store, Utc::now()).await?;
        Ok(Outcome::Idle)
    }
}

/// Runs retention every `interval_minutes` (the first run one interval after start) until
/// `stop` turns true.
pub fn spawn(store: Store, interval_minutes: u64, replica: worker::Replica) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(interval_minutes.clamp(1, 7 * 24 * 60) * 60);
    let retention = worker::Leased::new(Retention { store: store.clone() }, store, &replica.holder);
    worker::spawn(retention, Pacing::idle(interval).starting_after(interval), Wake::never(), replica.stop)
}

/// Deletes stored answers to idempotency keys once they are older than their time to live.
struct AnswerExpiry {
    store: Store,
    ttl: chrono::TimeDelta,
}

impl Worker for AnswerExpiry {
    fn name(&self) -> &'static str {
        "idempotency-expiry"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let purged = self.store.purge_idempotency_keys(Utc::now() - self.ttl).await?;
        if purged > 0 {
            tracing::info!(answers = purged, "purged expired idempotency answers");
        }
        Ok(Outcome::Idle)
    }
}

/// Purges expired idempotency answers at start and then every hour until `stop` turns true.
pub fn spawn_answer_expiry(
    store: Store,
    ttl: chrono::TimeDelta,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    worker::spawn(AnswerExpiry { store, ttl }, Pacing::idle(Duration::from_secs(3600)), Wake::never(), stop)
}
