//! Retention: after a case has ended and the agreement's retention period has passed, the NGO
//! side's personal data of the case is erased (its data key destroyed). The municipality's
//! record, and what the NGO disclosed to it, stay. `brobyg retention run` does it now; `serve`
//! does it every `BROBYG_RETENTION_INTERVAL_MINUTES`.

use std::time::Duration;

use brobyg_domain::agreement::Agreement;
use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::Case;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::store::{Store, StoreError};

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
        let due = copenhagen_date(ended) + TimeDelta::days(i64::from(terms.retention_days_after_closing));
        if copenhagen_date(now) < due {
            continue;
        }
        let key_id = format!("case:{id}:{}", referral.ngo);
        let reason = format!("retention: {} days after the case ended", terms.retention_days_after_closing);
        if store.destroy_key(&key_id, &reason).await? > 0 {
            tracing::info!(case.id = %id, "erased the NGO side's personal data after its retention period");
            report.erased += 1;
        }
    }
    Ok(report)
}

/// Runs retention every `interval_minutes` until `stop` turns true.
pub fn spawn(store: Store, interval_minutes: u64, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let interval = Duration::from_secs(interval_minutes.max(1) * 60);
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {},
                _ = stop.changed() => {},
            }
            if *stop.borrow() {
                break;
            }
            if let Err(e) = run_once(&store, Utc::now()).await {
                tracing::error!(error = %e, "retention run failed");
            }
        }
    });
}
