//! The console's cookies: the session (the bearer token the API verifies, never readable by
//! scripts), the CSRF value every form carries back, the language, and the short-lived state of
//! an OpenID Connect sign-in.
//!
//! The session cookie is `HttpOnly; Secure; SameSite=Strict` on `/console`: no script reads it,
//! it never travels over plain HTTP to another host (browsers treat loopback as secure), and no
//! other site can make the browser send it. A form is accepted only with the CSRF value of its
//! own cookie (double submit, compared in constant time) and a `Sec-Fetch-Site` that is not
//! `cross-site`.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session: the caller's bearer token.
pub const SESSION: &str = "brobyg_session";
/// The CSRF value forms echo.
pub const CSRF: &str = "brobyg_csrf";
/// The chosen language.
pub const LANG: &str = "brobyg_lang";
/// state, nonce and PKCE verifier of a sign-in under way.
pub const OIDC: &str = "brobyg_oidc";

/// The console's path: every cookie is scoped to it.
pub const PATH: &str = "/console";

/// The value of cookie `name` in a request.
#[must_use]
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: `HttpOnly; Secure`, on `path`, with `same_site`, for `max_age`
/// seconds (`0` removes it).
#[must_use]
pub fn set(name: &str, value: &str, path: &str, same_site: SameSite, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .http_only(true)
        .secure(true)
        .same_site(same_site)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 32 random bytes, base64url: CSRF values, OIDC state, nonce and PKCE verifier.
#[must_use]
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636).
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether two secrets are equal, compared as digests so the time taken says nothing about them.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Whether a form's CSRF value matches the request's cookie and the request did not come from
/// another site.
#[must_use]
pub fn form_allowed(headers: &HeaderMap, submitted: &str) -> bool {
    let cross_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site");
    let Some(expected) = read(headers, CSRF) else { return false };
    !cross_site && !submitted.is_empty() && same(&expected, submitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn a_form_needs_the_value_of_its_own_cookie_and_not_another_site() {
        let headers = with_cookie("brobyg_lang=en; brobyg_csrf=abc123");
        assert!(form_allowed(&headers, "abc123"));
        assert!(!form_allowed(&headers, "abc124"));
        assert!(!form_allowed(&headers, ""));
        assert!(!form_allowed(&HeaderMap::new(), "abc123"), "no cookie, no form");
        let mut cross = headers.clone();
        cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!form_allowed(&cross, "abc123"));
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_strict() {
        let value = set(SESSION, "t", PATH, SameSite::Strict, 60);
        let text = value.to_str().expect("ascii");
        for part in ["brobyg_session=t", "HttpOnly", "Secure", "SameSite=Strict", "Path=/console", "Max-Age=60"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
