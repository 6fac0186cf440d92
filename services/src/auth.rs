//! Who is calling: bearer JWTs verified against a JWK Set.
//!
//! The JWKS comes from `BROBYG_JWKS` (an `http(s)://` URL or a file) or, when unset, from the
//! local dev key that `brobyg token` signs with. Keys are cached; a token whose `kid` is unknown
//! triggers one refresh (at most every 30 seconds), so a rotated key is picked up. Only
//! asymmetric algorithms are accepted (ES256, RS256, EdDSA); the algorithm is taken from the
//! matching key, never from the token alone, so `alg: HS256` or `none` never verifies.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use brobyg_domain::{Org, Role, UserId};

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user (`sub`).
    pub user: UserId,
    /// The organisation (`org`).
    pub org: Org,
    /// The roles (`roles`).
    pub roles: Vec<Role>,
}

impl Caller {
    /// Whether the caller has `role`.
    #[must_use]
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Why a token was not accepted. Never echoes the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// The token does not verify, is expired, or its claims are malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set could not be loaded.
    #[error("key set unavailable: {0}")]
    KeySet(String),
}

#[derive(Debug, Deserialize)]
struct TokenClaims {
    sub: String,
    org: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Where keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A fixed set (the dev key).
    Fixed(JwkSet),
    /// A file, re-read on refresh.
    File(PathBuf),
    /// A URL, fetched on refresh.
    Url(String),
}

impl KeySource {
    /// `BROBYG_JWKS`: a URL if it starts with `http://` or `https://`, else a file path.
    #[must_use]
    pub fn from_setting(value: &str) -> Self {
        if value.starts_with("http://") || value.starts_with("https://") {
            Self::Url(value.to_owned())
        } else {
            Self::File(PathBuf::from(value))
        }
    }
}

/// How often an unknown `kid` may trigger a refresh of the key set, by default.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Verifies tokens against a cached JWK Set.
#[derive(Clone, Debug)]
pub struct Verifier {
    source: KeySource,
    client: reqwest::Client,
    cache: Arc<RwLock<(JwkSet, Option<Instant>)>>,
    min_refresh_interval: Duration,
}

impl Verifier {
    /// A verifier over `source`; loads the keys now so a bad configuration fails at start.
    pub async fn new(source: KeySource) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::KeySet(e.to_string()))?;
        let verifier = Self {
            source,
            client,
            cache: Arc::new(RwLock::new((JwkSet { keys: vec![] }, None))),
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
        };
        let keys = verifier.fetch().await?;
        *verifier.cache.write().await = (keys, Some(Instant::now()));
        Ok(verifier)
    }

    /// Sets how often an unknown `kid` may trigger a refresh.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        match &self.source {
            KeySource::Fixed(set) => Ok(set.clone()),
            KeySource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| AuthError::KeySet(format!("{}: {e}", path.display())))?;
                serde_json::from_str(&text).map_err(|e| AuthError::KeySet(format!("{}: {e}", path.display())))
            }
            KeySource::Url(url) => {
                let response = self.client.get(url).send().await.map_err(|e| AuthError::KeySet(e.to_string()))?;
                let response = response.error_for_status().map_err(|e| AuthError::KeySet(e.to_string()))?;
                response.json().await.map_err(|e| AuthError::KeySet(e.to_string()))
            }
        }
    }

    async fn key_for(&self, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if let Some(key) = find(&self.cache.read().await.0) {
            return Some(key);
        }
        if matches!(self.source, KeySource::Fixed(_)) {
            return None;
        }
        let mut cache = self.cache.write().await;
        if let Some(key) = find(&cache.0) {
            return Some(key); // refreshed by another request meanwhile
        }
        if cache.1.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
            return None; // unknown kids must not hammer the key server
        }
        match self.fetch().await {
            Ok(keys) => *cache = (keys, Some(Instant::now())),
            Err(e) => tracing::warn!(error = %e, "could not refresh the key set"),
        }
        find(&cache.0)
    }

    /// Verifies a bearer token and returns the caller.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256 | Algorithm::EdDSA) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let jwk = self
            .key_for(header.kid.as_deref())
            .await
            .ok_or_else(|| AuthError::Invalid("no key with that kid".to_owned()))?;
        let alg = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            _ => return Err(AuthError::Invalid("only EC, RSA and OKP keys are accepted".to_owned())),
        };
        if alg != header.alg {
            return Err(AuthError::Invalid("token algorithm does not match the key".to_owned()));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(alg);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<TokenClaims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let org: Org = claims.org.parse().map_err(|e: brobyg_domain::InvalidOrg| AuthError::Invalid(e.to_string()))?;
        let roles =
            claims.roles.iter().filter_map(|r| Role::ALL.iter().copied().find(|known| known.as_str() == r)).collect();
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty sub".to_owned()));
        }
        Ok(Caller { user: UserId(claims.sub), org, roles })
    }
}
