//! `Idempotency-Key` on writes: a retry with the same key and the same request gets the first
//! response again; the same key with another request is refused with 422; a retry while the
//! first is still running gets 409.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::extract::{MAX_BODY, too_large};
use crate::AppState;
use crate::api::Problem;
use crate::auth::Caller;
use crate::store::{KeyState, StoredResponse};

const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotency-replayed";
const KEPT_HEADERS: [&str; 4] = ["content-type", "etag", "location", super::POSITION_HEADER];

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(KEY).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return next.run(request).await;
    };
    if key.is_empty() || key.len() > 255 {
        return Problem::invalid_request("Idempotency-Key must be 1 to 255 characters").into_response();
    }
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return too_large().into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hex::encode(hasher.finalize());
    let (org, sub) = (caller.org.to_string(), caller.user.to_string());
    let expired_before = chrono::Utc::now() - state.idempotency_ttl;
    match state.store.claim_idempotency_key(&org, &sub, &key, &hash, expired_before).await {
        Err(e) => Problem::from(e).into_response(),
        Ok(KeyState::Mismatch) => Problem::idempotency_key_reused().into_response(),
        Ok(KeyState::InProgress) => {
            Problem::conflict("a request with this Idempotency-Key is still being processed").into_response()
        }
        Ok(KeyState::Replay(stored)) => replay(stored),
        Ok(KeyState::Claimed) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (parts, body) = response.into_parts();
            let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
                let _ = state.store.release_idempotency_key(&org, &sub, &key).await;
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            if parts.status.is_server_error() {
                // Worth retrying: let the next attempt run.
                let _ = state.store.release_idempotency_key(&org, &sub, &key).await;
            } else {
                let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
                    .iter()
                    .filter_map(|h| {
                        parts.headers.get(*h).and_then(|v| v.to_str().ok()).map(|v| ((*h).to_owned(), v.into()))
                    })
                    .collect();
                let stored = StoredResponse {
                    status: parts.status.as_u16(),
                    headers: serde_json::Value::Object(kept).to_string(),
                    body: body.to_vec(),
                };
                if let Err(e) = state.store.finish_idempotency_key(&org, &sub, &key, &stored).await {
                    tracing::error!(error = %e, "could not store an idempotent response");
                }
            }
            Response::from_parts(parts, Body::from(body))
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&stored.headers) {
        for (name, value) in map {
            if let (Ok(n), Some(Ok(v))) =
                (HeaderName::try_from(name.as_str()), value.as_str().map(HeaderValue::from_str))
            {
                headers.insert(n, v);
            }
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    (status, headers, stored.body).into_response()
}
