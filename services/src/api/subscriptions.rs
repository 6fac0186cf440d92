//! Webhook subscriptions of integrators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brobyg_domain::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, Body, json_response};
use crate::AppState;
use crate::api::Problem;
use crate::store::Subscription;
use crate::webhooks::{SECRET_PURPOSE, check_target, new_secret};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .routes(routes!(delete_subscription))
        .routes(routes!(deliveries))
        .routes(routes!(enable_subscription))
}

/// The subscription `id` of the caller's organisation: 404 if there is none (another
/// organisation's is none to this caller), then 403 unless the caller is an integrator.
async fn own_subscription(state: &AppState, caller: &crate::auth::Caller, id: &str) -> Result<Subscription, Problem> {
    let sub = state
        .store
        .subscription(id)
        .await?
        .filter(|s| s.org == caller.org.as_str())
        .ok_or_else(|| Problem::not_found("subscription"))?;
    if !caller.has(Role::Integrator) {
        return Err(Problem::forbidden("subscriptions are for integrators (role integrator)"));
    }
    Ok(sub)
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where to POST events (public http(s) address).
    pub url: String,
    /// CloudEvents types to receive, e.g. `dk.brobyg.case.referral_submitted.v1`; all if empty.
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// A subscription; the secret is shown only in the answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Id.
    pub id: String,
    /// Target.
    pub url: String,
    /// Event types (empty: all).
    pub event_types: Vec<String>,
    /// The Standard Webhooks signing secret (`whsec_…`); shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Subscribe to the organisation's events (integrators). Deliveries start with events after now.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "feed", request_body = NewSubscription,
    responses((status = 201, body = SubscriptionView), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn subscribe(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(body): Body<NewSubscription>,
) -> Result<Response, Problem> {
    if !caller.has(Role::Integrator) {
        return Err(Problem::forbidden("subscriptions are for integrators (role integrator)"));
    }
    if let Some(bad) = body.event_types.iter().find(|t| !t.starts_with("dk.brobyg.")) {
        return Err(Problem::invalid_field(format!("event_types: {bad:?} is not a brobyg event type")));
    }
    check_target(&body.url, state.webhooks.allow_private)
        .await
        .map_err(|e| Problem::invalid_field(format!("url: {e}")))?;
    let secret = new_secret();
    let cursor = state.store.feed_head().await?;
    let subscription = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        org: caller.org.to_string(),
        created_by: caller.user.to_string(),
        url: body.url,
        event_types: body.event_types,
        secret_sealed: state.store.seal_secret(SECRET_PURPOSE, secret.as_bytes())?,
        cursor,
        attempts: 0,
        next_attempt_at: None,
        disabled_at: None,
        disabled_reason: None,
    };
    state.store.add_subscription(&subscription).await?;
    let view = SubscriptionView {
        id: subscription.id,
        url: subscription.url,
        event_types: subscription.event_types,
        secret: Some(secret),
    };
    Ok(json_response(StatusCode::CREATED, Default::default(), &view))
}

/// Delete a subscription of the caller's organisation (integrators): no more deliveries; its
/// delivery log goes with it.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "feed",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 204, description = "deleted"), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn delete_subscription(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    own_subscription(&state, &caller, &id).await?;
    if state.store.delete_subscription(&id, caller.org.as_str()).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found("subscription"))
    }
}

/// Where a subscription stands after it was enabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enabled {
    /// The subscription.
    pub subscription: String,
    /// Always `enabled`: the next attempt is at once, from the event it stopped at.
    pub status: String,
}

/// Enable a subscription of the caller's organisation again after it was disabled (integrators):
/// deliveries go on from the event where they stopped, nothing is skipped. Enabling one that is
/// enabled changes nothing.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/enable", tag = "feed",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = Enabled), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn enable_subscription(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    own_subscription(&state, &caller, &id).await?;
    if !state.store.enable_subscription(&id, caller.org.as_str()).await? {
        return Err(Problem::not_found("subscription"));
    }
    // The delivery worker starts a follower for the subscription within its pause
    // (FOLLOWER_IDLE, a quarter of a second).
    Ok(json_response(StatusCode::OK, Default::default(), &Enabled { subscription: id, status: "enabled".into() }))
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event id (also `webhook-id`).
    pub event_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// When.
    pub attempted_at: String,
    /// The receiver's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    /// `delivered` or `failed`.
    pub outcome: String,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    /// The subscription.
    pub subscription: String,
    /// Whether it was disabled, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// Attempts, oldest first.
    pub deliveries: Vec<DeliveryView>,
}

/// Every delivery attempt of a subscription of the caller's organisation.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/deliveries", tag = "feed",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = DeliveryLog), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let sub = own_subscription(&state, &caller, &id).await?;
    let log = state.store.deliveries(&id).await?;
    let body = DeliveryLog {
        subscription: id,
        disabled: sub.disabled_reason,
        deliveries: log
            .into_iter()
            .map(|d| DeliveryView {
                event_id: d.event_id,
                attempt: d.attempt,
                attempted_at: d.attempted_at,
                status_code: d.status_code,
                outcome: d.outcome,
                error: d.error,
            })
            .collect(),
    };
    Ok(json_response(StatusCode::OK, Default::default(), &body))
}
