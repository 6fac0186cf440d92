//! The one typed configuration of the service, loaded once in `main`.
//!
//! Sources, later ones winning: built-in defaults, an optional TOML file (`--config` or
//! `BROBYG_CONFIG`), `BROBYG_*` environment variables, and `DATABASE_URL`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// The service's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where `serve` listens (`BROBYG_LISTEN`).
    pub listen: SocketAddr,
    /// The local data folder: the SQLite file, the dev signing key (`BROBYG_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `postgres://…` switches from the embedded SQLite file to PostgreSQL (`DATABASE_URL`).
    #[serde(default)]
    pub database_url: Option<SecretString>,
    /// Database connections at most (on PostgreSQL, half for commands and half for the rest).
    pub max_connections: u32,
    /// JWKS URL or file that verifies bearer tokens (`BROBYG_JWKS`); unset: the dev key, which
    /// only the embedded default uses unless `dev_tokens` says otherwise.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Tokens must carry this `iss` (`BROBYG_JWT_ISSUER`), when set; `brobyg token` writes it.
    #[serde(default)]
    pub jwt_issuer: Option<String>,
    /// Tokens must carry this `aud` (`BROBYG_JWT_AUDIENCE`), when set; `brobyg token` writes it.
    #[serde(default)]
    pub jwt_audience: Option<String>,
    /// Verify tokens with the local dev key outside the embedded default, e.g. a development
    /// PostgreSQL (`BROBYG_DEV_TOKENS`; default false: a deployment must name its JWKS).
    #[serde(default)]
    pub dev_tokens: bool,
    /// The console's OpenID Connect client id (`BROBYG_OIDC_CLIENT_ID`); set, the console signs
    /// in with the authorization code flow and PKCE at `BROBYG_JWT_ISSUER`. Unset: on the
    /// embedded default the console offers a development sign-in; elsewhere none.
    #[serde(default)]
    pub oidc_client_id: Option<String>,
    /// The client secret, for identity providers that want one for a confidential client
    /// (`BROBYG_OIDC_CLIENT_SECRET`).
    #[serde(default)]
    pub oidc_client_secret: Option<SecretString>,
    /// Where browsers reach this service (`BROBYG_PUBLIC_URL`, e.g. `https://brobyg.example.dk`):
    /// the console's OIDC redirect is `<public_url>/console/callback`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Hours a stored answer to an `Idempotency-Key` is kept (`BROBYG_IDEMPOTENCY_TTL_HOURS`,
    /// default 24); a key older than that may be used again.
    pub idempotency_ttl_hours: u64,
    /// `BROBYG_*` variables ignored because they are the service links Kubernetes injects for a
    /// Service named `brobyg` (logged at start).
    #[serde(skip)]
    pub ignored_variables: Vec<String>,
    /// Log format (`BROBYG_LOG_FORMAT`: `text` or `json`).
    pub log_format: LogFormat,
    /// Count 5 June, 24 and 31 December as days off for concern deadlines
    /// (`BROBYG_CUSTOMARY_DAYS_OFF`; default false: they are not public holidays).
    #[serde(default)]
    pub customary_days_off: bool,
    /// File with the key-encryption key, 64 hex digits (`BROBYG_KEK_FILE`). Required with
    /// PostgreSQL; on the embedded default one is generated in the data folder.
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    /// Days the municipality must keep a case record after it ended before the subject may be
    /// erased (`BROBYG_MUNICIPAL_RETENTION_DAYS`, default 1825: five years).
    pub municipal_retention_days: u32,
    /// Minutes between retention runs in `serve` (`BROBYG_RETENTION_INTERVAL_MINUTES`).
    pub retention_interval_minutes: u64,
    /// File with the ed25519 seed (64 hex digits) that signs checkpoints
    /// (`BROBYG_AUDIT_KEY_FILE`); unset: generated in the data folder.
    #[serde(default)]
    pub audit_key_file: Option<PathBuf>,
    /// Older checkpoint public keys still trusted after a rotation, hex, comma-separated
    /// (`BROBYG_AUDIT_PUBLIC_KEYS`); the current key's public key is always trusted.
    #[serde(default)]
    pub audit_public_keys: Option<String>,
    /// A directory outside the database where every signed checkpoint is appended
    /// (`BROBYG_CHECKPOINT_MIRROR`), read back by `brobyg audit verify`.
    #[serde(default)]
    pub checkpoint_mirror: Option<PathBuf>,
    /// Sign a checkpoint every this many events (`BROBYG_CHECKPOINT_EVERY_EVENTS`)…
    pub checkpoint_every_events: i64,
    /// …or every this many seconds when fewer arrived (`BROBYG_CHECKPOINT_EVERY_SECONDS`).
    pub checkpoint_every_seconds: u64,
    /// Let webhooks go to private and loopback addresses (`BROBYG_WEBHOOK_ALLOW_PRIVATE`;
    /// default false: only public addresses).
    #[serde(default)]
    pub webhook_allow_private: bool,
    /// Multiplies the webhook retry pauses (`BROBYG_WEBHOOK_RETRY_SCALE`, default 1.0).
    pub webhook_retry_scale: f64,
    /// NATS server for the JetStream publisher (`BROBYG_NATS_URL`); unset: no publishing.
    #[serde(default)]
    pub nats_url: Option<String>,
    /// First subject token and stream prefix (`BROBYG_NATS_SUBJECT_PREFIX`, default `brobyg`).
    pub nats_subject_prefix: String,
    /// Whether NATS messages carry the redacted data (`BROBYG_NATS_DATA`, default false: thin
    /// events without data; decision 0007).
    #[serde(default)]
    pub nats_data: bool,
    /// Days a NATS stream keeps a message (`BROBYG_NATS_MAX_AGE_DAYS`, default 7).
    pub nats_max_age_days: u64,
    /// OTLP/HTTP endpoint for traces (`OTEL_EXPORTER_OTLP_ENDPOINT`); unset: no export.
    #[serde(default)]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `/readyz` is unready while a view is more than this many events behind the feed
    /// (`BROBYG_READY_MAX_LAG_EVENTS`).
    pub ready_max_lag_events: i64,
    /// Connections served at once (`BROBYG_MAX_HTTP_CONNECTIONS`, default 1024); beyond it new
    /// connections wait in the listen backlog.
    pub max_http_connections: usize,
    /// Seconds a client may take to send a request's headers (`BROBYG_HEADER_READ_TIMEOUT_SECONDS`,
    /// default 10).
    pub header_read_timeout_seconds: u64,
    /// Seconds a request may take before it is answered 503 (`BROBYG_REQUEST_TIMEOUT_SECONDS`,
    /// default 60; long polls wait at most 30).
    pub request_timeout_seconds: u64,
    /// Seconds open connections get to finish after a shutdown signal
    /// (`BROBYG_SHUTDOWN_DEADLINE_SECONDS`, default 20).
    pub shutdown_deadline_seconds: u64,
    /// Long polls and streams one organisation may hold open at once
    /// (`BROBYG_MAX_STREAMS_PER_ORG`, default 16); more are refused with 429 and `Retry-After`.
    pub max_streams_per_org: usize,
    /// Seconds an unwrapped data key stays in memory (`BROBYG_KEY_CACHE_SECONDS`, default 5;
    /// 0: no cache). An erasure clears this process's cache at once; another process (a second
    /// replica, `brobyg retention run`) shows it after at most this long (decision 0003).
    pub key_cache_seconds: u64,
    /// Milliseconds the list views let commits gather before writing them, once woken by one
    /// (`BROBYG_VIEWS_GATHER_MS`, default 5, at most 10 000): one view transaction for the
    /// commands of that moment. A reader that asks for its own write (`?min_position=`) does not wait for it.
    pub views_gather_ms: u64,
}

#[derive(Serialize)]
struct Defaults {
    listen: SocketAddr,
    data_dir: PathBuf,
    max_connections: u32,
    log_format: LogFormat,
    municipal_retention_days: u32,
    retention_interval_minutes: u64,
    checkpoint_every_events: i64,
    checkpoint_every_seconds: u64,
    webhook_retry_scale: f64,
    nats_subject_prefix: String,
    nats_max_age_days: u64,
    ready_max_lag_events: i64,
    key_cache_seconds: u64,
    idempotency_ttl_hours: u64,
    max_streams_per_org: usize,
    max_http_connections: usize,
    header_read_timeout_seconds: u64,
    request_timeout_seconds: u64,
    shutdown_deadline_seconds: u64,
    views_gather_ms: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            max_connections: 10,
            log_format: LogFormat::Text,
            municipal_retention_days: 1825,
            retention_interval_minutes: 60,
            checkpoint_every_events: 1000,
            checkpoint_every_seconds: 60,
            webhook_retry_scale: 1.0,
            nats_subject_prefix: "brobyg".to_owned(),
            nats_max_age_days: 7,
            ready_max_lag_events: 10_000,
            key_cache_seconds: 5,
            idempotency_ttl_hours: 24,
            max_streams_per_org: crate::limits::STREAMS_PER_ORG_DEFAULT,
            max_http_connections: 1024,
            header_read_timeout_seconds: 10,
            request_timeout_seconds: 60,
            shutdown_deadline_seconds: 20,
            views_gather_ms: 5,
        }
    }
}

impl Settings {
    /// The NATS publisher's settings, when a server is configured.
    #[must_use]
    pub fn nats(&self) -> Option<crate::nats::NatsSettings> {
        self.nats_url.as_ref().map(|url| crate::nats::NatsSettings {
            url: url.clone(),
            prefix: self.nats_subject_prefix.clone(),
            data: self.nats_data,
            max_age: std::time::Duration::from_secs(self.nats_max_age_days.clamp(1, 3650) * 24 * 3600),
        })
    }

    /// Loads the settings from defaults, `file` (if given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let ignored: Vec<String> = std::env::vars()
            .filter_map(|(k, _)| k.strip_prefix("BROBYG_").map(str::to_owned))
            .filter(|k| is_service_link(k))
            .map(|k| format!("BROBYG_{k}"))
            .collect();
        let mut settings = Self::from_figment(
            Self::figment(file)
                .merge(Env::prefixed("BROBYG_").ignore(&["CONFIG"]).filter(|k| !is_service_link(k.as_str())))
                .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into())),
        )?;
        settings.ignored_variables = ignored;
        Ok(settings)
    }

    /// Settings for a data folder with everything else at its default (tests, tools).
    #[must_use]
    pub fn for_data_dir(data_dir: &Path) -> Self {
        let d = Defaults::default();
        Self {
            listen: d.listen,
            data_dir: data_dir.to_owned(),
            database_url: None,
            max_connections: d.max_connections,
            jwks: None,
            jwt_issuer: None,
            jwt_audience: None,
            dev_tokens: false,
            oidc_client_id: None,
            oidc_client_secret: None,
            public_url: None,
            idempotency_ttl_hours: d.idempotency_ttl_hours,
            ignored_variables: Vec::new(),
            log_format: d.log_format,
            customary_days_off: false,
            kek_file: None,
            municipal_retention_days: d.municipal_retention_days,
            retention_interval_minutes: d.retention_interval_minutes,
            audit_key_file: None,
            audit_public_keys: None,
            checkpoint_mirror: None,
            checkpoint_every_events: d.checkpoint_every_events,
            checkpoint_every_seconds: d.checkpoint_every_seconds,
            webhook_allow_private: false,
            webhook_retry_scale: d.webhook_retry_scale,
            nats_url: None,
            nats_subject_prefix: d.nats_subject_prefix,
            nats_data: false,
            nats_max_age_days: d.nats_max_age_days,
            otel_exporter_otlp_endpoint: None,
            ready_max_lag_events: d.ready_max_lag_events,
            key_cache_seconds: d.key_cache_seconds,
            views_gather_ms: d.views_gather_ms,
            max_streams_per_org: d.max_streams_per_org,
            max_http_connections: d.max_http_connections,
            header_read_timeout_seconds: d.header_read_timeout_seconds,
            request_timeout_seconds: d.request_timeout_seconds,
            shutdown_deadline_seconds: d.shutdown_deadline_seconds,
        }
    }

    fn figment(file: Option<&Path>) -> Figment {
        let base = Figment::from(Serialized::defaults(Defaults::default()));
        match file {
            Some(path) => base.merge(Toml::file_exact(path)),
            None => base,
        }
    }

    fn from_figment(figment: Figment) -> Result<Self, Box<figment::Error>> {
        figment.extract().map_err(Box::new)
    }

    /// The database URL to connect to: `DATABASE_URL`, or the SQLite file in the data folder.
    #[must_use]
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => crate::store::Store::sqlite_url_in(&self.data_dir),
        }
    }

    /// Whether the service runs on its embedded default (SQLite in the data folder).
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.database_url.as_ref().is_none_or(|u| u.expose_secret().starts_with("sqlite:"))
    }
}

/// Whether `key` (after `BROBYG_`, any case) is one of the variables Kubernetes injects into
/// every pod of a namespace with a Service named `brobyg`: `BROBYG_SERVICE_HOST`,
/// `BROBYG_SERVICE_PORT[_<name>]`, `BROBYG_PORT` and `BROBYG_PORT_<n>_<proto>[_PROTO|_PORT|_ADDR]`.
/// None of them is a setting; a typo of a real one is still refused.
#[must_use]
pub fn is_service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    if key == "SERVICE_HOST" || key == "SERVICE_PORT" || key.starts_with("SERVICE_PORT_") || key == "PORT" {
        return true;
    }
    let Some(rest) = key.strip_prefix("PORT_") else { return false };
    let mut parts = rest.split('_');
    let port_ok = parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let proto_ok = parts.next().is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
    let tail_ok = matches!((parts.next(), parts.next()), (None, _) | (Some("PROTO" | "PORT" | "ADDR"), None));
    port_ok && proto_ok && tail_ok
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment::Jail's closure type is figment's, not ours")]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_environment_layer_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("brobyg.toml", "listen = \"127.0.0.1:9000\"\nmax_connections = 3\n")?;
            jail.set_env("BROBYG_MAX_CONNECTIONS", "7");
            jail.set_env("DATABASE_URL", "postgres://u:hunter2-db@127.0.0.1/db");
            let s = Settings::load(Some(Path::new("brobyg.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
            assert_eq!(s.max_connections, 7);
            assert_eq!(s.data_dir, PathBuf::from("./data"));
            assert!(!s.is_embedded());
            assert!(!format!("{s:?}").contains("hunter2-db"), "the database password never prints");
            Ok(())
        });
    }

    #[test]
    fn kubernetes_service_links_are_ignored_and_typos_still_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BROBYG_SERVICE_HOST", "10.0.0.7");
            jail.set_env("BROBYG_SERVICE_PORT", "8080");
            jail.set_env("BROBYG_SERVICE_PORT_HTTP", "8080");
            jail.set_env("BROBYG_PORT", "tcp://10.0.0.7:8080");
            jail.set_env("BROBYG_PORT_8080_TCP", "tcp://10.0.0.7:8080");
            jail.set_env("BROBYG_PORT_8080_TCP_PROTO", "tcp");
            jail.set_env("BROBYG_PORT_8080_TCP_PORT", "8080");
            jail.set_env("BROBYG_PORT_8080_TCP_ADDR", "10.0.0.7");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.ignored_variables.len(), 8, "{:?}", s.ignored_variables);
            jail.set_env("BROBYG_LISTENN", "127.0.0.1:9000");
            assert!(Settings::load(None).is_err(), "a typo of a real setting is refused");
            Ok(())
        });
        assert!(!is_service_link("PORT_8080_TCP_HOST"));
        assert!(!is_service_link("PORTS"));
        assert!(!is_service_link("LISTEN"));
    }

    #[test]
    fn unknown_settings_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("brobyg.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            assert!(Settings::load(Some(Path::new("brobyg.toml"))).is_err());
            Ok(())
        });
    }
}
