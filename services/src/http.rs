//! The HTTP surface: routes, middleware and the problem+json error body.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::api::Problem;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router with every route and the shared middleware.
pub fn router(state: AppState) -> Router {
    let (router, mut openapi) = api_router(state.clone()).split_for_parts();
    crate::api::openapi::complete(&mut openapi);
    let console = crate::console::router(state.clone(), router.clone());
    router
        .merge(console)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .route("/asyncapi.json", axum::routing::get(asyncapi))
        .route("/metrics", axum::routing::get(metrics_endpoint).with_state(state.clone()))
        .fallback(|| async { Problem::not_found("resource") })
        .layer(from_fn_with_state(state.request_timeout, request_deadline))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    // The path holds ids, never personal data; the query string is left out.
                    let request_id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("", |m| m.as_str());
                    let span = tracing::info_span!(
                        "request",
                        http.method = %req.method(),
                        http.route = %route,
                        http.path = %req.uri().path(),
                        request.id = %request_id,
                        caller.org = tracing::field::Empty,
                    );
                    crate::telemetry::adopt_remote_parent(&span, req.headers());
                    span
                }))
                .layer(axum::middleware::from_fn(record_request))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// The documented routes: `/v1` behind authentication and idempotency, and the probes.
pub fn api_router(state: AppState) -> OpenApiRouter {
    let v1 = OpenApiRouter::new()
        .merge(crate::api::agreements::router())
        .merge(crate::api::volunteers::router())
        .merge(crate::api::cases::router())
        .merge(crate::api::concerns::router())
        .merge(crate::api::statistics::router())
        .merge(crate::api::audit::router())
        .merge(crate::api::proofs::router())
        .merge(crate::api::subjects::router())
        .merge(crate::api::feed::router())
        .merge(crate::api::subscriptions::router())
        .layer(from_fn_with_state(state.clone(), crate::api::idempotency))
        .layer(from_fn_with_state(state.clone(), authenticate));
    OpenApiRouter::with_openapi(crate::api::openapi::ApiDoc::openapi())
        .merge(v1)
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .with_state(state)
}

/// Verifies the bearer token and puts the caller into the request.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .map(str::to_owned);
    let Some(token) = token else {
        return with_challenge(Problem::unauthenticated("send Authorization: Bearer <token>"));
    };
    match state.verifier.verify(&token).await {
        Ok(caller) => {
            tracing::Span::current().record("caller.org", caller.org.as_str());
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(crate::auth::AuthError::KeySet(e)) => {
            tracing::error!(error = %e, "no key set to verify tokens with");
            Problem::keys_unavailable().into_response()
        }
        Err(e @ crate::auth::AuthError::NoKnownRole) => Problem::forbidden(e.to_string()).into_response(),
        Err(e) => with_challenge(Problem::unauthenticated(e.to_string())),
    }
}

fn with_challenge(problem: Problem) -> Response {
    let mut response = problem.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Answers 503 with `Retry-After` when a request takes longer than the limit (the handler is
/// dropped; retry a command with the same Idempotency-Key). A stream's body is not bounded.
async fn request_deadline(State(limit): State<std::time::Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("http_request_timeouts_total").increment(1);
            Problem::request_timeout(limit).into_response()
        }
    }
}

/// Counts requests by route and status and observes their latency.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus metrics, with the store's gauges read now.
async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    let (size, idle) = state.store.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    if let Ok(lags) = state.store.consumer_lags().await {
        for (consumer, lag) in lags {
            metrics::gauge!("feed_consumer_lag_events", "consumer" => consumer).set(lag as f64);
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::prometheus().render()).into_response()
}

/// The AsyncAPI 3.0 document of the feed, webhook and NATS payloads.
async fn asyncapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../assets/asyncapi.json")).into_response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers, its migrations are current and the views keep up (503 names
/// what is wrong). Ready answers list the background workers: `degraded` while one keeps
/// failing (its failures, restarts and last failure), which does not stop the API.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready or degraded, with the workers' states", body = Object),
              (status = 503, body = crate::api::problem::ProblemBody)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let checks = async {
        state.store.ping().await?;
        let current = state.store.migrations_current().await?;
        let lag = state
            .store
            .consumer_lags()
            .await?
            .into_iter()
            .find(|(c, _)| c == crate::store::VIEWS_CONSUMER)
            .map_or(0, |(_, l)| l);
        Ok::<_, crate::store::StoreError>((current, lag))
    };
    if state.checkpoint_alarm.load(std::sync::atomic::Ordering::SeqCst) {
        return Problem::not_ready(
            "signed checkpoints are missing from the store: verify it (brobyg audit verify) before anything is signed again",
        )
        .into_response();
    }
    match checks.await {
        Ok((true, lag)) if lag > state.ready_max_lag_events => {
            Problem::not_ready(format!("the list views are {lag} events behind the feed")).into_response()
        }
        Ok((true, lag)) => {
            // Ready to serve; a background duty that keeps failing (NATS down, say) does not
            // stop the API, but is named here with its failures and restarts.
            let workers = crate::worker::health::snapshot();
            let failing: Vec<&str> = workers.iter().filter(|(_, w)| w.state == "failing").map(|(n, _)| *n).collect();
            let status = if failing.is_empty() { "ready" } else { "degraded" };
            axum::Json(json!({ "status": status, "failing": failing, "views_lag_events": lag, "workers": workers }))
                .into_response()
        }
        Ok((false, _)) => {
            Problem::not_ready("database migrations are not current: run `brobyg migrate`").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Problem::not_ready("the event store does not answer").into_response()
        }
    }
}
