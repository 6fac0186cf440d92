//! Who is calling: bearer JWTs verified against a JWK Set.
//!
//! The JWKS comes from `BROBYG_JWKS` (an `http(s)://` URL or a file) or, when unset, from the
//! local dev key that `brobyg token` signs with. Keys are cached; a token whose `kid` is unknown
//! triggers a refresh, at most one per interval (30 s) whatever its outcome, fetched by one
//! request while the others wait for its result; a token whose `kid` is known never waits for a
//! fetch. Only asymmetric algorithms are accepted (ES256, RS256, EdDSA); the algorithm is taken
//! from the matching key, never from the token alone, so `alg: HS256` or `none` never verifies.
//!
//! A token must name at least one role this service knows; with `BROBYG_JWT_ISSUER` and
//! `BROBYG_JWT_AUDIENCE` set, its `iss` and `aud` must match them. `exp` and `nbf` are checked
//! with a leeway of one minute for clocks that drift.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use brobyg_domain::{Org, Role, UserId};

/// The authenticated caller: always at least one role the service knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user (`sub`).
    pub user: UserId,
    /// The organisation (`org`).
    pub org: Org,
    /// The roles (`roles`) this service knows, in the token's order; never empty.
    roles: Vec<Role>,
}

impl Caller {
    /// A caller with `roles`; `None` without a role (a token without one is refused).
    #[must_use]
    pub fn new(user: UserId, org: Org, roles: Vec<Role>) -> Option<Self> {
        (!roles.is_empty()).then_some(Self { user, org, roles })
    }

    /// Whether the caller has `role`.
    #[must_use]
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller's roles, in the token's order (never empty).
    #[must_use]
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The caller acting in `role`, if they have it (an admin who is also a caseworker acts as
    /// admin on agreements); else the caller as they are.
    #[must_use]
    pub fn acting_as(&self, role: Role) -> Self {
        if self.has(role) {
            Self { user: self.user.clone(), org: self.org.clone(), roles: vec![role] }
        } else {
            self.clone()
        }
    }

    /// The role the caller acts in: the organisation's working role (caseworker in a
    /// municipality, coordinator in an NGO) if the caller has it, else the first role they have.
    #[must_use]
    pub fn acting_role(&self) -> Role {
        let working = brobyg_domain::Side::of(&self.org).working_role();
        if self.has(working) { working } else { self.roles[0] }
    }
}

/// What a token must carry besides a valid signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRules {
    /// `iss` must equal this (`BROBYG_JWT_ISSUER`), when set.
    pub issuer: Option<String>,
    /// `aud` must contain this (`BROBYG_JWT_AUDIENCE`), when set.
    pub audience: Option<String>,
}

/// The clock leeway for `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

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
    /// The token verifies but names no role this service knows.
    #[error("the token names no role this service knows (caseworker, coordinator, auditor, integrator, admin)")]
    NoKnownRole,
}

#[derive(Debug, Deserialize)]
struct TokenClaims {
    exp: u64,
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

/// How long a verified token is remembered at most, whatever its expiry: a key removed from
/// the key set stops admitting its tokens within this time.
pub const TOKEN_CACHE_SECONDS: u64 = 60;
const TOKEN_CACHE_MAX: usize = 10_000;

/// Tokens that verified, by the SHA-256 of their text, each until its `exp` (with the leeway)
/// or [`TOKEN_CACHE_SECONDS`] after it verified, whichever is first: a request with a token
/// seen before costs a hash instead of a signature check. Only successes are kept.
#[derive(Debug, Default)]
struct TokenCache {
    entries: Mutex<std::collections::HashMap<[u8; 32], (Caller, u64)>>,
}

impl TokenCache {
    fn digest(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// The caller of a token verified before, if it is still valid at `now` (Unix seconds).
    fn get(&self, digest: &[u8; 32], now: u64) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        entries.get(digest).filter(|(_, until)| now <= *until).map(|(caller, _)| caller.clone())
    }

    /// Remembers a token that verified at `now`, expiring at `exp`.
    fn put(&self, digest: [u8; 32], caller: Caller, exp: u64, now: u64) {
        let until = exp.saturating_add(LEEWAY_SECONDS).min(now.saturating_add(TOKEN_CACHE_SECONDS));
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.retain(|_, (_, u)| now <= *u);
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(digest, (caller, until));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How often an unknown `kid` may trigger a refresh of the key set, by default.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Verifies tokens against a cached JWK Set.
#[derive(Clone, Debug)]
pub struct Verifier {
    source: KeySource,
    client: reqwest::Client,
    rules: TokenRules,
    keys: Arc<RwLock<Arc<JwkSet>>>,
    /// When the last refresh was tried, whatever its outcome.
    last_refresh: Arc<Mutex<Option<Instant>>>,
    /// Held by the one request that fetches; others with unknown kids wait for its result.
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// Counts finished fetches, so that a request that waited for one uses its result.
    fetches: Arc<std::sync::atomic::AtomicU64>,
    min_refresh_interval: Duration,
    tokens: Arc<TokenCache>,
}

impl Verifier {
    /// A verifier over `source`; loads the keys now so a bad configuration fails at start.
    pub async fn new(source: KeySource) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::KeySet(e.to_string()))?;
        let keys = Self::fetch_from(&source, &client).await?;
        Ok(Self {
            source,
            client,
            rules: TokenRules::default(),
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            last_refresh: Arc::new(Mutex::new(Some(Instant::now()))),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
            fetches: Arc::default(),
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            tokens: Arc::default(),
        })
    }

    /// Requires the claims `rules` names.
    #[must_use]
    pub fn with_rules(mut self, rules: TokenRules) -> Self {
        self.rules = rules;
        self.tokens = Arc::default();
        self
    }

    /// Sets how often an unknown `kid` may trigger a refresh.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    async fn fetch_from(source: &KeySource, client: &reqwest::Client) -> Result<JwkSet, AuthError> {
        match source {
            KeySource::Fixed(set) => Ok(set.clone()),
            KeySource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| AuthError::KeySet(format!("{}: {e}", path.display())))?;
                serde_json::from_str(&text).map_err(|e| AuthError::KeySet(format!("{}: {e}", path.display())))
            }
            KeySource::Url(url) => {
                let response = client.get(url).send().await.map_err(|e| AuthError::KeySet(e.to_string()))?;
                let response = response.error_for_status().map_err(|e| AuthError::KeySet(e.to_string()))?;
                response.json().await.map_err(|e| AuthError::KeySet(e.to_string()))
            }
        }
    }

    fn cached(&self) -> Arc<JwkSet> {
        self.keys.read().map_or_else(|p| p.into_inner().clone(), |k| k.clone())
    }

    async fn key_for(&self, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if let Some(key) = find(&self.cached()) {
            return Some(key);
        }
        if matches!(self.source, KeySource::Fixed(_)) {
            return None;
        }
        // One fetch at a time; the others wait here for its result instead of fetching too.
        let seen = self.fetches.load(std::sync::atomic::Ordering::SeqCst);
        let _one = self.refreshing.lock().await;
        if self.fetches.load(std::sync::atomic::Ordering::SeqCst) != seen {
            return find(&self.cached()); // a fetch finished while this request waited: its answer
        }
        {
            let Ok(mut last) = self.last_refresh.lock() else { return None };
            if last.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
                return None; // unknown kids must not hammer the key server, whatever the last outcome
            }
            *last = Some(Instant::now());
        }
        let fetched = Self::fetch_from(&self.source, &self.client).await;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut cache) = self.keys.write() {
                    *cache = keys.clone();
                }
                find(&keys)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh the key set");
                None
            }
        }
    }

    /// Verifies a bearer token and returns the caller.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let digest = TokenCache::digest(token);
        if let Some(caller) = self.tokens.get(&digest, unix_now()) {
            return Ok(caller);
        }
        let (caller, exp) = self.verify_signed(token).await?;
        self.tokens.put(digest, caller.clone(), exp, unix_now());
        Ok(caller)
    }

    /// The key that verifies `token` and its algorithm: only asymmetric ones, taken from the key.
    async fn key_of(&self, token: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
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
        Ok((key, alg))
    }

    /// Checks an OpenID Connect ID token from the console's sign-in: signed by a key of the set,
    /// unexpired, issued by `issuer` for `client_id`, and carrying the `nonce` the sign-in sent.
    pub async fn verify_id_token(
        &self,
        token: &str,
        issuer: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<(), AuthError> {
        #[derive(Deserialize)]
        struct IdClaims {
            #[serde(default)]
            nonce: Option<String>,
        }
        let (key, alg) = self.key_of(token).await?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_audience(&[client_id]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        let data = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(format!("ID token: {e}")))?;
        if data.claims.nonce.as_deref() != Some(nonce) {
            return Err(AuthError::Invalid("ID token: the nonce is not the one this sign-in sent".to_owned()));
        }
        Ok(())
    }

    /// Checks a token's signature and claims: the caller and the token's expiry.
    async fn verify_signed(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let (key, alg) = self.key_of(token).await?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.rules.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.rules.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<TokenClaims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let org: Org = claims.org.parse().map_err(|e: brobyg_domain::InvalidOrg| AuthError::Invalid(e.to_string()))?;
        let mut roles: Vec<Role> = Vec::new();
        for role in claims.roles.iter().filter_map(|r| Role::ALL.iter().copied().find(|known| known.as_str() == r)) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty sub".to_owned()));
        }
        let caller = Caller::new(UserId(claims.sub), org, roles).ok_or(AuthError::NoKnownRole)?;
        Ok((caller, claims.exp))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    #[test]
    fn a_remembered_token_lapses_at_its_expiry_or_after_a_minute() {
        let cache = TokenCache::default();
        let caller = Caller::new(UserId("u".into()), "municipality:0746".parse().expect("org"), vec![Role::Caseworker])
            .expect("caller");
        let (short, long) = (TokenCache::digest("a.b.c"), TokenCache::digest("d.e.f"));
        assert_ne!(short, long);
        // Expired 40 s ago, within the leeway: kept until its expiry plus the leeway, not a second longer.
        cache.put(short, caller.clone(), 1_000_000 - 40, 1_000_000);
        assert_eq!(cache.get(&short, 1_000_000 - 40 + LEEWAY_SECONDS), Some(caller.clone()));
        assert_eq!(cache.get(&short, 1_000_000 - 39 + LEEWAY_SECONDS), None);
        // Expires in a day: kept a minute.
        cache.put(long, caller.clone(), 1_086_400, 1_000_000);
        assert!(cache.get(&long, 1_000_000 + TOKEN_CACHE_SECONDS).is_some());
        assert!(cache.get(&long, 1_000_001 + TOKEN_CACHE_SECONDS).is_none());
        // A token never seen is not there.
        assert!(cache.get(&TokenCache::digest("x.y.z"), 1_000_000).is_none());
    }

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;
    use crate::devkeys::DevKey;

    #[derive(Clone)]
    struct KeyServer {
        jwks: serde_json::Value,
        hits: Arc<AtomicUsize>,
        delay_ms: Arc<AtomicU64>,
        fail: Arc<AtomicBool>,
    }

    async fn serve_jwks(State(s): State<KeyServer>) -> axum::response::Response {
        s.hits.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(s.delay_ms.load(Ordering::SeqCst))).await;
        if s.fail.load(Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        axum::Json(s.jwks.clone()).into_response()
    }

    /// A slow identity provider on a loopback port; returns its JWKS URL and its controls.
    async fn key_server(key: &DevKey) -> (String, KeyServer) {
        let server =
            KeyServer { jwks: key.jwks(), hits: Arc::default(), delay_ms: Arc::default(), fail: Arc::default() };
        let app = axum::Router::new().route("/jwks", axum::routing::get(serve_jwks)).with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/jwks"), server)
    }

    fn token(key: &DevKey) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({ "sub": "u", "org": "municipality:0746", "roles": ["caseworker"],
                                         "iat": now, "exp": now + 300 });
        key.mint(&claims).expect("mint")
    }

    fn keys() -> (DevKey, DevKey, tempfile::TempDir, tempfile::TempDir) {
        let (a, b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        (DevKey::load_or_create(a.path()).expect("key"), DevKey::load_or_create(b.path()).expect("key"), a, b)
    }

    #[tokio::test]
    async fn unknown_kids_fetch_once_per_interval_and_known_kids_never_wait() {
        let (known, unknown, _a, _b) = keys();
        let (url, server) = key_server(&known).await;
        let verifier =
            Verifier::new(KeySource::Url(url)).await.expect("keys").with_min_refresh_interval(Duration::ZERO);
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        server.delay_ms.store(1500, Ordering::SeqCst);
        // A storm of tokens with a kid the provider does not know, against a slow provider.
        let storm: Vec<_> = (0..20)
            .map(|_| {
                let (v, t) = (verifier.clone(), token(&unknown));
                tokio::spawn(async move { v.verify(&t).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A known kid is answered from the cache while the fetch hangs.
        let started = Instant::now();
        verifier.verify(&token(&known)).await.expect("known kid");
        assert!(started.elapsed() < Duration::from_millis(500), "waited {:?}", started.elapsed());
        for task in storm {
            assert!(task.await.expect("join").is_err());
        }
        // Twenty requests, one fetch: the others waited for its answer.
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_also_waits_for_the_interval() {
        let (known, unknown, _a, _b) = keys();
        let (url, server) = key_server(&known).await;
        let verifier =
            Verifier::new(KeySource::Url(url)).await.expect("keys").with_min_refresh_interval(Duration::from_secs(60));
        // Within the interval after the start-up fetch, an unknown kid fetches nothing.
        assert!(verifier.verify(&token(&unknown)).await.is_err());
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        let verifier = verifier.with_min_refresh_interval(Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(250)).await;
        server.fail.store(true, Ordering::SeqCst);
        assert!(verifier.verify(&token(&unknown)).await.is_err());
        assert_eq!(server.hits.load(Ordering::SeqCst), 2, "one refresh after the interval");
        for _ in 0..5 {
            assert!(verifier.verify(&token(&unknown)).await.is_err());
        }
        assert_eq!(server.hits.load(Ordering::SeqCst), 2, "a failed fetch moves the refresh time too");
        verifier.verify(&token(&known)).await.expect("known kids still verify");
    }

    #[tokio::test]
    async fn a_token_without_a_known_role_is_refused() {
        let (key, _, _a, _b) = keys();
        let set: JwkSet = serde_json::from_value(key.jwks()).expect("jwks");
        let verifier = Verifier::new(KeySource::Fixed(set)).await.expect("keys");
        let now = chrono::Utc::now().timestamp();
        for roles in [serde_json::json!([]), serde_json::json!(["volunteer"]), serde_json::Value::Null] {
            let mut claims = serde_json::json!({ "sub": "u", "org": "municipality:0746", "exp": now + 300 });
            if !roles.is_null() {
                claims["roles"] = roles;
            }
            let token = key.mint(&claims).expect("mint");
            assert!(matches!(verifier.verify(&token).await, Err(AuthError::NoKnownRole)), "{claims}");
        }
    }
}
