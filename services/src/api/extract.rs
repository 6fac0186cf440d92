//! Extractors that parse at the edge and answer with problems.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api::Problem;
use crate::auth::Caller;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// The authenticated caller (set by the authentication middleware).
#[derive(Clone, Debug)]
pub struct Auth(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| Problem::unauthenticated("a bearer token is required"))
    }
}

/// The request id (`x-request-id`, set by the middleware if the client sent none).
#[derive(Clone, Debug, Default)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect(),
        ))
    }
}

/// `If-Match: "<version>"`, if given.
#[derive(Clone, Copy, Debug, Default)]
pub struct IfMatch(pub Option<usize>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else { return Ok(Self(None)) };
        let text = value.to_str().map_err(|_| Problem::invalid_request("If-Match is not text"))?;
        let trimmed = text.trim().trim_start_matches("W/").trim_matches('"');
        trimmed
            .parse()
            .map(|v| Self(Some(v)))
            .map_err(|_| Problem::invalid_request("If-Match must be the ETag of the case, e.g. \"3\""))
    }
}

/// A JSON body of `T`: `application/json`, at most 1 MiB, no unknown fields (the types say
/// `deny_unknown_fields`), or a 400/413/415 problem naming what is wrong.
#[derive(Clone, Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
                ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| too_large())?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json).map_err(|e| Problem::invalid_body(body_error(&e)))?;
        json.end().map_err(|e| Problem::invalid_body(e.to_string()))?;
        Ok(Body(value))
    }
}

/// What is wrong with a request body, naming the field and what to type there (never echoing
/// the value: it may be a personal detail).
pub fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner();
    if path == "." || inner.is_syntax() || inner.is_eof() {
        return inner.to_string();
    }
    let message = inner.to_string();
    // serde_json appends the position; the field's name says more.
    let message = message.split(" at line ").next().unwrap_or(&message);
    if is_chrono_parse_error(message) {
        let last = path.rsplit('.').next().unwrap_or(&path);
        let expected = if path.contains("availability") {
            "a time as HH:MM (e.g. 17:30)"
        } else if last.ends_with("_at") || last == "as_of" {
            "an instant as RFC 3339 (e.g. 2026-03-14T09:30:00Z)"
        } else {
            "a date as YYYY-MM-DD (e.g. 2012-03-14)"
        };
        return format!("{path}: expected {expected}");
    }
    format!("{path}: {message}")
}

/// Whether `message` is one of chrono's parse errors (what a date, time or instant field says).
fn is_chrono_parse_error(message: &str) -> bool {
    [
        "input contains invalid characters",
        "trailing input",
        "premature end of input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
        "bad or unsupported format string",
    ]
    .iter()
    .any(|m| message.starts_with(m))
}

/// 413.
pub fn too_large() -> Problem {
    Problem::payload_too_large(MAX_BODY)
}

/// Query parameters of `T` (`deny_unknown_fields`), or a 400 problem naming what is wrong.
#[derive(Clone, Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // A NUL character is no text PostgreSQL stores or compares: refused here, by name, on
        // both backends alike. A URI carries it only as `%00`, so other queries parse once.
        if query.contains("%00")
            && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            && let Some((name, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            let name = if name.contains('\0') { "a parameter name" } else { name.as_str() };
            return Err(Problem::invalid_field(format!("query: {name} holds a NUL character (%00)")));
        }
        serde_urlencoded::from_str(query).map(Params).map_err(|e| Problem::invalid_request(format!("query: {e}")))
    }
}

/// Why personal data is read: the `X-Purpose` header, or the endpoint's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purpose(pub Option<String>);

/// The purposes a read may name.
pub const READ_PURPOSES: [&str; 8] = [
    "case_work",
    "referral",
    "course_planning",
    "matching",
    "closing_evaluation",
    "statistics",
    "audit",
    "subject_access",
];

/// The `X-Purpose` header's values, for the OpenAPI document (the same list as [`READ_PURPOSES`]).
#[derive(Clone, Copy, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "named in the OpenAPI document; the header is checked against READ_PURPOSES")]
pub enum ReadPurpose {
    /// Working the case.
    CaseWork,
    /// Referral.
    Referral,
    /// Planning the course.
    CoursePlanning,
    /// Matching a volunteer.
    Matching,
    /// The closing evaluation.
    ClosingEvaluation,
    /// Statistics.
    Statistics,
    /// Audit.
    Audit,
    /// The subject's own access request.
    SubjectAccess,
}

impl Purpose {
    /// The purpose given, or `default`.
    #[must_use]
    pub fn or(&self, default: &str) -> String {
        self.0.clone().unwrap_or_else(|| default.to_owned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Purpose {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("x-purpose") else { return Ok(Self(None)) };
        let text = value.to_str().unwrap_or_default().trim().to_ascii_lowercase();
        if READ_PURPOSES.contains(&text.as_str()) {
            Ok(Self(Some(text)))
        } else {
            Err(Problem::invalid_request(format!("X-Purpose must be one of {}", READ_PURPOSES.join(", "))))
        }
    }
}

/// A whole number in a JSON body, also when written with a zero fraction (`183.0` is an integer
/// in JSON Schema, and clients generated from the document may send it so).
pub mod whole {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};

    /// Deserialises a `u32` from `183` or `183.0`.
    pub fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let n = serde_json::Number::deserialize(deserializer)?;
        if let Some(v) = n.as_u64() {
            return u32::try_from(v).map_err(|_| D::Error::custom(format!("{v} is out of range")));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u32),
            _ => Err(D::Error::custom(format!("expected a whole number from 0 to {}, got {n}", u32::MAX))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_purposes_are_the_accepted_ones() {
        let schema = serde_json::to_value(<ReadPurpose as utoipa::PartialSchema>::schema()).expect("schema");
        let documented: Vec<&str> =
            schema["enum"].as_array().expect("an enum").iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(documented, READ_PURPOSES.to_vec());
    }
}
