//! The local development signing key: generated on first use in the data folder, it signs the
//! tokens `brobyg token` mints and, when no JWKS is configured, verifies them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the 48-byte form jsonwebtoken reads.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const FILE_NAME: &str = "dev-signing-key.pem";

/// Why the dev key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    /// Reading or writing the key file failed.
    #[error("dev signing key at {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not an Ed25519 PKCS#8 key.
    #[error("dev signing key at {0} is not an Ed25519 PKCS#8 PEM key")]
    Malformed(PathBuf),
    /// Signing failed.
    #[error("could not sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// The claims of a brobyg token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The organisation, e.g. `municipality:0746`.
    pub org: String,
    /// Roles, e.g. `caseworker`.
    pub roles: Vec<String>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience, when the service requires one (`BROBYG_JWT_AUDIENCE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The dev signing key.
pub struct DevKey {
    signing: SigningKey,
    kid: String,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The issuer named in dev tokens.
pub const DEV_ISSUER: &str = "brobyg-dev";

impl DevKey {
    /// Loads the key from `data_dir`, generating it there (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, DevKeyError> {
        let path = data_dir.join(FILE_NAME);
        let io_err = |source| DevKeyError::Io { path: path.clone(), source };
        fs::create_dir_all(data_dir).map_err(io_err)?;
        match fs::read_to_string(&path) {
            Ok(pem) => Self::from_pem(&pem).ok_or_else(|| DevKeyError::Malformed(path.clone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = Self::from_seed(rand::random());
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut file) => {
                        file.write_all(key.to_pem().as_bytes()).and_then(|()| file.sync_all()).map_err(io_err)?;
                        tracing::info!(path = %path.display(), "generated a local development signing key");
                        Ok(key)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load_or_create(data_dir),
                    Err(e) => Err(io_err(e)),
                }
            }
            Err(e) => Err(io_err(e)),
        }
    }

    fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let kid = format!("dev-{}", URL_SAFE_NO_PAD.encode(&signing.verifying_key().to_bytes()[..9]));
        Self { signing, kid }
    }

    fn der(&self) -> Vec<u8> {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.signing.to_bytes());
        der
    }

    fn to_pem(&self) -> String {
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(self.der()))
    }

    fn from_pem(pem: &str) -> Option<Self> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).ok()?;
        let seed = der.strip_prefix(&PKCS8_ED25519_PREFIX[..])?;
        Some(Self::from_seed(seed.try_into().ok()?))
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK Set (RFC 8037 OKP key).
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes()),
            }]
        })
    }

    /// Signs `claims` as an EdDSA JWT.
    pub fn mint(&self, claims: &impl Serialize) -> Result<String, DevKeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.der()))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn the_key_is_created_once_and_its_tokens_verify_against_its_jwks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = DevKey::load_or_create(dir.path()).expect("created");
        let again = DevKey::load_or_create(dir.path()).expect("loaded");
        assert_eq!(key.kid(), again.kid());
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "u1".into(),
            org: "ngo:kfum-sa".into(),
            roles: vec!["coordinator".into()],
            iat: now,
            exp: now + 60,
            iss: DEV_ISSUER.into(),
            aud: None,
        };
        let token = again.mint(&claims).expect("minted");
        let jwks = key.jwks();
        let x = jwks["keys"][0]["x"].as_str().expect("x");
        let decoded = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_ed_components(x).expect("key"),
            &Validation::new(Algorithm::EdDSA),
        )
        .expect("verifies");
        assert_eq!(decoded.claims, claims);
    }
}
