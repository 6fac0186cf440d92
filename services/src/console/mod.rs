//! The console: server-rendered HTML at `/console` for auditors and coordinators, served from
//! this binary with its assets embedded (no CDN, works offline).
//!
//! The console holds no rule of its own: every page is assembled from the `/v1` API, called
//! in-process with the signed-in user's bearer token, so it answers with the same policy, the
//! same refusals and the same access-log entries as any other client. Sign-in is OpenID Connect
//! (authorization code with PKCE, `oidc.rs`) where configured; on the embedded default a
//! development sign-in mints a dev token for a chosen organisation and role, and every page
//! says so. Cookies and CSRF are in `session.rs`, the words in `i18n.rs`, the pages in
//! `pages.rs`.

pub mod i18n;
pub mod oidc;
mod pages;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::AppState;
use crate::auth::Caller;
use crate::devkeys::DevKey;
use crate::settings::Settings;
use i18n::{Lang, Words};

/// How people sign in to the console.
#[derive(Debug)]
pub enum SignIn {
    /// Development sign-in: the service mints a dev token (embedded default, loopback only).
    Dev {
        /// The dev signing key.
        key: DevKey,
        /// `iss` of the minted tokens.
        issuer: String,
        /// `aud` of the minted tokens.
        audience: Option<String>,
    },
    /// OpenID Connect against the configured issuer.
    Oidc(oidc::Client),
    /// Neither: the console explains what to configure.
    Unavailable,
}

/// The console's configuration, shared by its handlers.
#[derive(Clone, Debug)]
pub struct Console {
    sign_in: Arc<SignIn>,
}

/// Why the console's settings do not hold together.
#[derive(Debug, thiserror::Error)]
#[error("console sign-in: {0}")]
pub struct ConsoleError(String);

impl Console {
    /// From the settings: OIDC when a client id is set (it needs `BROBYG_JWT_ISSUER` and
    /// `BROBYG_PUBLIC_URL`); else the development sign-in when tokens are verified with the dev
    /// key and the service listens on loopback only; else none.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConsoleError> {
        let sign_in = if let Some(client_id) = &settings.oidc_client_id {
            let issuer = settings.jwt_issuer.clone().ok_or_else(|| {
                ConsoleError("BROBYG_OIDC_CLIENT_ID needs BROBYG_JWT_ISSUER (the identity provider)".into())
            })?;
            let public_url = settings.public_url.as_deref().ok_or_else(|| {
                ConsoleError("BROBYG_OIDC_CLIENT_ID needs BROBYG_PUBLIC_URL (where browsers reach the service)".into())
            })?;
            if !(public_url.starts_with("https://")
                || public_url.starts_with("http://127.0.0.1")
                || public_url.starts_with("http://localhost"))
            {
                return Err(ConsoleError("BROBYG_PUBLIC_URL must be https:// (or loopback for development)".into()));
            }
            SignIn::Oidc(oidc::Client::new(issuer, client_id.clone(), settings.oidc_client_secret.clone(), public_url))
        } else if settings.jwks.is_none() && settings.listen.ip().is_loopback() {
            let key = DevKey::load_or_create(&settings.data_dir).map_err(|e| ConsoleError(e.to_string()))?;
            SignIn::Dev {
                key,
                issuer: settings.jwt_issuer.clone().unwrap_or_else(|| crate::devkeys::DEV_ISSUER.to_owned()),
                audience: settings.jwt_audience.clone(),
            }
        } else {
            SignIn::Unavailable
        };
        Ok(Self { sign_in: Arc::new(sign_in) })
    }

    /// Whether sign-in mints development tokens.
    #[must_use]
    pub fn is_dev(&self) -> bool {
        matches!(*self.sign_in, SignIn::Dev { .. })
    }
}

/// What the console's handlers share: the service's state and the API router they call.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    app: AppState,
    api: Router,
}

/// The console's routes; `api` is the documented `/v1` router the pages are assembled from.
pub fn router(app: AppState, api: Router) -> Router {
    pages::routes().with_state(Ctx { app, api }).layer(axum::middleware::map_response(security_headers))
}

/// The Content-Security-Policy of every console response: only this service's own scripts,
/// styles and forms; never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages hold personal data: never kept by the browser or a proxy.
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The frame of every page: words, language, who is signed in, the CSRF value for forms.
#[derive(Debug)]
pub(crate) struct Chrome {
    pub w: &'static Words,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub lang_href: String,
    pub dev: bool,
    pub signed_in: bool,
    pub user: String,
    pub csrf: String,
    pub title: String,
    pub auditor: bool,
    pub coordinator: bool,
    pub caseworker: bool,
}

/// A request's view of the browser: language, CSRF value (and whether it is new), session.
#[derive(Debug)]
pub(crate) struct Visit {
    pub lang: Lang,
    pub csrf: String,
    new_csrf: bool,
    pub here: String,
}

impl Visit {
    pub fn of(headers: &HeaderMap, here: &str) -> Self {
        let lang = Lang::choose(
            session::read(headers, session::LANG).as_deref(),
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
        );
        let (csrf, new_csrf) = match session::read(headers, session::CSRF) {
            Some(v) if v.len() >= 32 => (v, false),
            _ => (session::random_token(), true),
        };
        Self { lang, csrf, new_csrf, here: here.to_owned() }
    }

    pub fn chrome(&self, console: &Console, caller: Option<&Caller>, title: impl Into<String>) -> Chrome {
        use brobyg_domain::Role;
        let back = serde_urlencoded::to_string([("to", self.lang.other().code()), ("back", self.here.as_str())])
            .unwrap_or_default();
        Chrome {
            w: self.lang.words(),
            lang: self.lang.code(),
            other_lang: self.lang.other().code(),
            lang_href: format!("/console/lang?{back}"),
            dev: console.is_dev(),
            signed_in: caller.is_some(),
            user: caller
                .map(|c| format!("{} · {} · {}", c.user.0, c.acting_role().as_str(), c.org.as_str()))
                .unwrap_or_default(),
            csrf: self.csrf.clone(),
            title: title.into(),
            auditor: caller.is_some_and(|c| c.has(Role::Auditor)),
            coordinator: caller.is_some_and(|c| c.has(Role::Coordinator)),
            caseworker: caller.is_some_and(|c| c.has(Role::Caseworker)),
        }
    }

    /// An HTML response, setting the CSRF cookie when this visit made a new one.
    pub fn html(&self, status: StatusCode, body: Result<String, askama::Error>) -> Response {
        let mut response = match body {
            Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a console template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn").into_response()
            }
        };
        if self.new_csrf {
            response.headers_mut().append(
                header::SET_COOKIE,
                session::set(session::CSRF, &self.csrf, session::PATH, cookie::SameSite::Strict, 12 * 3600),
            );
        }
        response
    }
}

/// An answer of the API that was not a success: its status and problem detail.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub detail: String,
}

/// Calls `GET path` on the API as the holder of `token`, for `purpose` (`X-Purpose`): the same authentication, policy and
/// access log as a client's call.
pub(crate) async fn api_get<T: DeserializeOwned>(
    ctx: &Ctx,
    token: &str,
    purpose: &str,
    path: &str,
) -> Result<T, ApiFailure> {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-purpose", purpose)
        .body(Body::empty())
        .map_err(|e| ApiFailure { status: StatusCode::BAD_REQUEST, detail: e.to_string() })?;
    let response = match ctx.api.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(|e| ApiFailure { status: StatusCode::BAD_GATEWAY, detail: e.to_string() })?;
    if status.is_success() {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiFailure { status: StatusCode::BAD_GATEWAY, detail: e.to_string() })
    } else {
        let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        Err(ApiFailure { status, detail })
    }
}
