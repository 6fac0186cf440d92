//! Webhook subscriptions and their delivery log.

use super::sql::{Param, Statement, time_text};
use super::{Cursor, Store, StoreError};

/// A subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Id.
    pub id: String,
    /// The integrator's organisation.
    pub org: String,
    /// Who created it.
    pub created_by: String,
    /// Where events go.
    pub url: String,
    /// Event types (CloudEvents `type`), empty for all.
    pub event_types: Vec<String>,
    /// The secret, sealed.
    pub secret_sealed: Vec<u8>,
    /// The last event delivered (or skipped).
    pub cursor: Cursor,
    /// Failed attempts at the current event.
    pub attempts: i64,
    /// Not before this time (RFC 3339), when retrying.
    pub next_attempt_at: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<String>,
    /// Why.
    pub disabled_reason: Option<String>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event (CloudEvents id, also `webhook-id`).
    pub event_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// When.
    pub attempted_at: String,
    /// The receiver's HTTP status.
    pub status_code: Option<i64>,
    /// `delivered` or `failed`.
    pub outcome: String,
    /// What went wrong.
    pub error: Option<String>,
}

const COLUMNS: &str = "id, org, created_by, url, event_types, secret_sealed, cursor, attempts, next_attempt_at, \
                       disabled_at, disabled_reason";

impl Store {
    /// Stores a new subscription.
    pub async fn add_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        self.run_statements(&[Statement {
            sql: "INSERT INTO webhook_subscriptions (id, org, created_by, url, event_types, secret_sealed, cursor, \
                  created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params: vec![
                s.id.as_str().into(),
                s.org.as_str().into(),
                s.created_by.as_str().into(),
                s.url.as_str().into(),
                s.event_types.join(",").into(),
                Param::Bytes(Some(s.secret_sealed.clone())),
                s.cursor.stored_text().into(),
                time_text(chrono::Utc::now()).into(),
            ],
        }])
        .await
        .map(drop)
    }

    /// Deletes the subscription `id` of `org` with its delivery log; `false` if there is none.
    pub async fn delete_subscription(&self, id: &str, org: &str) -> Result<bool, StoreError> {
        let deleted = self
            .run_statements(&[
                Statement::new(
                    "DELETE FROM webhook_deliveries WHERE subscription_id IN \
                     (SELECT id FROM webhook_subscriptions WHERE id = $1 AND org = $2)",
                    vec![id.into(), org.into()],
                ),
                Statement::new(
                    "DELETE FROM webhook_subscriptions WHERE id = $1 AND org = $2",
                    vec![id.into(), org.into()],
                ),
            ])
            .await?;
        Ok(deleted > 0)
    }

    /// Every subscription (all organisations), for the delivery worker.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let rows = self
            .fetch_rows(&format!("SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"), vec![])
            .await?;
        rows.iter().map(subscription_of).collect()
    }

    /// The subscription `id`, if there is one.
    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let rows = self
            .fetch_rows(&format!("SELECT {COLUMNS} FROM webhook_subscriptions WHERE id = $1"), vec![id.into()])
            .await?;
        rows.first().map(subscription_of).transpose()
    }

    /// Records an attempt and moves the subscription on: after a delivery, past the event; after
    /// a failure, to a later attempt or (`disable`) to disabled.
    pub async fn record_delivery(
        &self,
        subscription: &str,
        delivery: &Delivery,
        advance_to: Option<Cursor>,
        retry_at: Option<String>,
        disable: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![Statement {
            sql: "INSERT INTO webhook_deliveries (subscription_id, event_id, attempt, attempted_at, status_code, outcome, \
                  error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params: vec![
                subscription.into(),
                delivery.event_id.as_str().into(),
                delivery.attempt.into(),
                delivery.attempted_at.as_str().into(),
                Param::Int(delivery.status_code),
                delivery.outcome.as_str().into(),
                delivery.error.clone().into(),
            ],
        }];
        statements.push(match (advance_to, disable) {
            (Some(cursor), _) => Statement {
                sql: "UPDATE webhook_subscriptions SET cursor = $2, attempts = 0, next_attempt_at = NULL WHERE id = $1",
                params: vec![subscription.into(), cursor.stored_text().into()],
            },
            (None, Some(reason)) => Statement {
                sql: "UPDATE webhook_subscriptions SET attempts = attempts + 1, disabled_at = $2, disabled_reason = $3 \
                      WHERE id = $1",
                params: vec![subscription.into(), time_text(chrono::Utc::now()).into(), reason.into()],
            },
            (None, None) => Statement {
                sql: "UPDATE webhook_subscriptions SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1",
                params: vec![subscription.into(), retry_at.into()],
            },
        });
        self.run_statements(&statements).await.map(drop)
    }

    /// Enables the subscription `id` of `org` again after it was disabled: the next attempt is at
    /// once, from where it stopped; `false` if there is no such subscription.
    pub async fn enable_subscription(&self, id: &str, org: &str) -> Result<bool, StoreError> {
        let changed = self
            .run_one(Statement::new(
                "UPDATE webhook_subscriptions SET disabled_at = NULL, disabled_reason = NULL, attempts = 0, \
                 next_attempt_at = NULL WHERE id = $1 AND org = $2",
                vec![id.into(), org.into()],
            ))
            .await?;
        Ok(changed > 0)
    }

    /// Moves a subscription's cursor past events it does not want.
    pub async fn skip_to(&self, subscription: &str, cursor: Cursor) -> Result<(), StoreError> {
        self.run_statements(&[Statement {
            sql: "UPDATE webhook_subscriptions SET cursor = $2 WHERE id = $1",
            params: vec![subscription.into(), cursor.stored_text().into()],
        }])
        .await
        .map(drop)
    }

    /// The delivery log of a subscription, oldest first.
    pub async fn deliveries(&self, subscription: &str) -> Result<Vec<Delivery>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT event_id, attempt, attempted_at, status_code, outcome, error FROM webhook_deliveries \
                  WHERE subscription_id = $1 ORDER BY id",
                vec![subscription.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    event_id: r.text(0)?,
                    attempt: r.int(1)?,
                    attempted_at: r.text(2)?,
                    status_code: r.opt_int(3)?,
                    outcome: r.text(4)?,
                    error: r.opt_text(5)?,
                })
            })
            .collect()
    }

    /// Seals a secret with the key-encryption key.
    pub fn seal_secret(&self, purpose: &str, secret: &[u8]) -> Result<Vec<u8>, StoreError> {
        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
        Ok(super::sealing::seal_with_kek(kek, purpose.as_bytes(), secret))
    }

    /// Opens a secret sealed with [`Store::seal_secret`].
    pub fn open_secret(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let kek = self.kek.as_ref().ok_or(StoreError::NoKek)?;
        super::sealing::open_with_kek(kek, purpose.as_bytes(), sealed)
            .ok_or_else(|| StoreError::Corrupt("sealed secret".into()))
    }
}

/// A subscription from a row of [`COLUMNS`].
fn subscription_of(r: &super::sql::Row) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: r.text(0)?,
        org: r.text(1)?,
        created_by: r.text(2)?,
        url: r.text(3)?,
        event_types: r.text(4)?.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        secret_sealed: r.opt_bytes(5)?.unwrap_or_default(),
        cursor: r.text(6)?.parse().map_err(|_| StoreError::Corrupt("subscription cursor".into()))?,
        attempts: r.int(7)?,
        next_attempt_at: r.opt_text(8)?,
        disabled_at: r.opt_text(9)?,
        disabled_reason: r.opt_text(10)?,
    })
}
