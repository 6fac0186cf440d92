//! The console's OpenID Connect sign-in: the authorization code flow with PKCE (RFC 7636, S256)
//! against the issuer the API already trusts (`BROBYG_JWT_ISSUER`).
//!
//! Written on `reqwest` and the API's own token verifier rather than an OIDC client crate: the
//! flow is three requests (discovery, the redirect, the code exchange), and the tokens it
//! yields must pass the very checks every API call makes (key set, issuer, audience, roles) —
//! a second JWT stack would be a second place to get them wrong. The ID token is checked for
//! signature, issuer, audience (the client id) and the nonce this sign-in sent; the access token
//! becomes the session and is verified like any bearer token.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// What discovery tells about the identity provider.
#[derive(Clone, Debug, Deserialize)]
pub struct Provider {
    /// The issuer; must equal the configured one.
    pub issuer: String,
    /// Where the browser signs in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
}

/// The tokens the code exchange returns.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    /// The bearer token for the API: the session.
    pub access_token: String,
    /// The ID token, checked for the nonce.
    pub id_token: String,
}

/// The console's OIDC client.
#[derive(Debug)]
pub struct Client {
    /// The issuer (`BROBYG_JWT_ISSUER`).
    pub issuer: String,
    /// The client id (`BROBYG_OIDC_CLIENT_ID`).
    pub client_id: String,
    secret: Option<SecretString>,
    /// `<BROBYG_PUBLIC_URL>/console/callback`.
    pub redirect_uri: String,
    http: reqwest::Client,
    provider: OnceCell<Provider>,
}

/// Why a sign-in failed (shown to the user; never holds a token).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery failed.
    #[error("the identity provider's discovery document at {0} could not be read: {1}")]
    Discovery(String, String),
    /// The discovery document names another issuer.
    #[error("the identity provider calls itself {found}, not {expected}")]
    WrongIssuer {
        /// Configured.
        expected: String,
        /// Found.
        found: String,
    },
    /// The code exchange failed.
    #[error("the identity provider did not exchange the code: {0}")]
    Exchange(String),
}

impl Client {
    /// A client for `issuer`, redirecting to `public_url`'s callback.
    #[must_use]
    pub fn new(issuer: String, client_id: String, secret: Option<SecretString>, public_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            issuer,
            client_id,
            secret,
            redirect_uri: format!("{}/console/callback", public_url.trim_end_matches('/')),
            http,
            provider: OnceCell::new(),
        }
    }

    /// The provider's endpoints, discovered once (a failure is tried again on the next sign-in).
    pub async fn provider(&self) -> Result<&Provider, OidcError> {
        self.provider
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
                let fail = |e: String| OidcError::Discovery(url.clone(), e);
                let response = self.http.get(&url).send().await.map_err(|e| fail(e.to_string()))?;
                if !response.status().is_success() {
                    return Err(fail(format!("status {}", response.status())));
                }
                let provider: Provider = response.json().await.map_err(|e| fail(e.to_string()))?;
                if provider.issuer != self.issuer {
                    return Err(OidcError::WrongIssuer { expected: self.issuer.clone(), found: provider.issuer });
                }
                Ok(provider)
            })
            .await
    }

    /// Where to send the browser: the authorization request with `state`, `nonce` and the
    /// PKCE challenge of `verifier`.
    #[must_use]
    pub fn authorization_url(&self, provider: &Provider, state: &str, nonce: &str, verifier: &str) -> String {
        let challenge = super::session::pkce_challenge(verifier);
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .unwrap_or_default();
        let joiner = if provider.authorization_endpoint.contains('?') { '&' } else { '?' };
        format!("{}{joiner}{query}", provider.authorization_endpoint)
    }

    /// Exchanges `code` with the PKCE `verifier` for tokens.
    pub async fn exchange(&self, provider: &Provider, code: &str, verifier: &str) -> Result<Tokens, OidcError> {
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", verifier),
        ])
        .map_err(|e| OidcError::Exchange(e.to_string()))?;
        let mut request = self
            .http
            .post(&provider.token_endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form);
        if let Some(secret) = &self.secret {
            request = request.basic_auth(&self.client_id, Some(secret.expose_secret()));
        }
        let response = request.send().await.map_err(|e| OidcError::Exchange(e.to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Exchange(format!("status {}", response.status())));
        }
        response.json().await.map_err(|e| OidcError::Exchange(format!("unexpected answer: {e}")))
    }
}
