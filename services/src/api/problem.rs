//! RFC 9457 problems: the one error type every handler answers with, its OpenAPI body, and the
//! conversions that let `?` map the service's own errors to it.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::access_log::AccessLogError;
use crate::store::StoreError;

/// An RFC 9457 problem.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status` with a stable `slug` (its type is `/problems/<slug>`).
    #[must_use]
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, slug, title, detail: detail.into(), retry_after: None }
    }

    /// The same problem with `detail` before its own detail (e.g. which record it is about).
    #[must_use]
    pub fn prefixed(mut self, detail: &str) -> Self {
        self.detail = format!("{detail}: {}", self.detail);
        self
    }

    /// The same problem, telling the caller to try again after `seconds` (`Retry-After`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 503: a dependency (named, never its address) does not answer; retry shortly.
    #[must_use]
    pub fn dependency_unavailable(what: &'static str, error: &dyn std::error::Error) -> Self {
        tracing::warn!(dependency = what, error = %error, "a dependency does not answer");
        metrics::counter!("dependency_unavailable_total", "dependency" => what).increment(1);
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "A dependency does not answer",
            format!("{what} does not answer; retry shortly (a command with the same Idempotency-Key)"),
        )
        .retry_after(2)
    }

    /// 503: the request took longer than the service allows.
    #[must_use]
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request-timeout",
            "Request took too long",
            format!("the request was not answered within {} s and was abandoned; retry it", limit.as_secs()),
        )
        .retry_after(1)
    }

    /// 429: the organisation holds as many long polls and streams open as it may.
    #[must_use]
    pub fn too_many_streams(max: usize, retry_after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-streams",
            "Too many open long polls and streams",
            format!(
                "your organisation holds {max} long polls and streams open, the most it may; close one or retry later"
            ),
        )
        .retry_after(retry_after.as_secs().max(1))
    }
}

impl Problem {
    /// 404: the thing does not exist, or the caller may not know that it does.
    #[must_use]
    pub fn not_found(what: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", format!("no such {what}"))
    }

    /// 409: a concurrent change won.
    #[must_use]
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "version-conflict", "Version conflict", detail)
    }

    /// 412: `If-Match` named another version.
    #[must_use]
    pub fn precondition_failed(expected: usize, actual: usize) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            format!("If-Match names version {expected}, the current version is {actual}"),
        )
    }

    /// 400: the body is not what the endpoint takes.
    #[must_use]
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-body", "Invalid request body", detail)
    }

    /// 400: a query parameter or header is malformed.
    #[must_use]
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", "Invalid request", detail)
    }

    /// 401.
    #[must_use]
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Unauthenticated", detail)
    }

    /// 403.
    #[must_use]
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 422 for a field the domain never sees (parsed at the edge).
    #[must_use]
    pub fn invalid_field(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "Invalid field", detail)
    }

    /// 500: logged once here; the body says nothing about the cause.
    #[must_use]
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "the request could not be completed")
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.slug, self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("/problems/{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response =
            (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl Problem {
    /// 409: the subject's personal data was erased, so nothing personal can be added.
    #[must_use]
    pub fn erased() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "erased",
            "Personal data erased",
            "the subject's personal data was erased; nothing personal can be added to this record",
        )
    }

    /// 409: the step is not allowed in the record's current state.
    #[must_use]
    pub fn wrong_state(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "wrong-state", "Not allowed in the case's state", detail)
    }

    /// 422: the body names something of another organisation, or nothing at all (`what` is the
    /// slug's noun, e.g. `agreement` gives `/problems/unknown-agreement`).
    #[must_use]
    pub fn unknown(slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, slug, title, detail)
    }

    /// 415: the body is not JSON.
    #[must_use]
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    /// 413: the body is larger than `max` bytes.
    #[must_use]
    pub fn payload_too_large(max: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the body exceeds {max} bytes"),
        )
    }

    /// 422: an `Idempotency-Key` came back with another request.
    #[must_use]
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used for a different request",
        )
    }

    /// 503: tokens cannot be verified because no key set could be had.
    #[must_use]
    pub fn keys_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "keys-unavailable",
            "Keys unavailable",
            "tokens cannot be verified now",
        )
    }

    /// 503: the service is not ready, and why.
    #[must_use]
    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready", detail)
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Erased(_) => Self::erased(),
            e if e.is_unavailable() => Self::dependency_unavailable("the event store", &e),
            other => Self::internal(&other),
        }
    }
}

impl From<AccessLogError> for Problem {
    fn from(error: AccessLogError) -> Self {
        match error {
            // Nothing is shown whose read could not be logged: the store is the likely cause.
            AccessLogError::Commit => Self::dependency_unavailable("the access log", &error),
            AccessLogError::Stopped => Self::internal(&error),
        }
    }
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// `/problems/<slug>`, a stable identifier of the rule or error.
    #[schema(example = "/problems/consent-missing")]
    pub r#type: String,
    /// A short summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly was wrong.
    pub detail: String,
}
