//! The brobyg service: start-up, the HTTP surface, the event store adapters and the dev keys.
//!
//! [`Application::build`] binds first and reports its port, so tests run the real application
//! on port 0; [`Application::run_until`] serves until the shutdown future resolves, then drains.

pub mod access_log;
pub mod api;
pub mod audit;
pub mod auth;
pub mod console;
pub mod demo;
pub mod devkeys;
pub mod egress;
pub mod feed;
pub mod http;
pub mod limits;
pub mod merkle;
pub mod mirror;
pub mod nats;
pub mod retention;
pub mod serve;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod webhooks;
pub mod worker;

use std::future::Future;
use std::net::SocketAddr;

use brobyg_domain::calendar::WorkCalendar;
use jsonwebtoken::jwk::JwkSet;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{AuthError, KeySource, Verifier};
use crate::devkeys::{DevKey, DevKeyError};
use crate::settings::Settings;
use crate::store::{Store, StoreError};
use crate::views::ViewsHandle;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder could not be created.
    #[error("data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The dev key could not be had.
    #[error(transparent)]
    DevKey(#[from] DevKeyError),
    /// The key set that verifies tokens could not be loaded.
    #[error("cannot load the key set for tokens: {0}")]
    Keys(#[from] AuthError),
    /// The key-encryption key could not be had.
    #[error(transparent)]
    Kek(#[from] crate::store::KekError),
    /// The console's sign-in settings do not hold together.
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    /// A deployment (PostgreSQL) without a key set for tokens.
    #[error(
        "set BROBYG_JWKS to the identity provider's key set: the local dev key only verifies tokens on the embedded default, or where BROBYG_DEV_TOKENS=true says so"
    )]
    NoJwks,
    /// PostgreSQL without a key-encryption key.
    #[error(
        "set BROBYG_KEK_FILE: personal data is sealed at rest and the key-encryption key is not kept in the database"
    )]
    NoKek,
    /// The key-encryption key does not open this database.
    #[error(
        "the key-encryption key does not match the one this database was sealed with; refusing to start rather than serve garbage (check BROBYG_KEK_FILE)"
    )]
    WrongKek,
    /// The trusted checkpoint keys are malformed.
    #[error("{0}")]
    AuditKeys(String),
    /// The checkpoint mirror could not be opened.
    #[error(transparent)]
    Mirror(#[from] mirror::MirrorError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// What request handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The event store.
    pub store: Store,
    /// Verifies bearer tokens.
    pub verifier: Verifier,
    /// Where the list views stand.
    pub views: ViewsHandle,
    /// How working days are counted for concern deadlines.
    pub calendar: WorkCalendar,
    /// The access-log writer.
    pub access_log: access_log::AccessLog,
    /// Days the municipality keeps a record after the case ended.
    pub municipal_retention_days: u32,
    /// Bumped after every commit, to wake feed readers.
    pub commits: std::sync::Arc<watch::Sender<u64>>,
    /// Webhook delivery settings.
    pub webhooks: webhooks::WorkerSettings,
    /// The views' lag above which the service is not ready.
    pub ready_max_lag_events: i64,
    /// How long an answer to an `Idempotency-Key` is kept.
    pub idempotency_ttl: chrono::TimeDelta,
    /// The keys whose checkpoint signatures the verifier trusts.
    pub audit_keys: audit::TrustedKeys,
    /// The checkpoint mirror outside the database, if configured.
    pub checkpoint_mirror: Option<mirror::Mirror>,
    /// Raised while signed checkpoints are missing from the store.
    pub checkpoint_alarm: audit::CheckpointAlarm,
    /// Long polls and streams open per organisation.
    pub streams: limits::OrgSlots,
    /// How long a request may take before it is answered 503 (a stream's body is not bounded).
    pub request_timeout: std::time::Duration,
    /// How the console signs people in.
    pub console: console::Console,
}

/// The service, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// This replica's holder id in the leases.
    replica: String,
    limits: serve::ServeLimits,
    state: AppState,
    stop_workers: watch::Sender<bool>,
    workers: worker::Workers,
}

/// How long the background workers get to finish after the server stopped.
pub const WORKERS_STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl Application {
    /// Opens the store (creating and migrating the SQLite file on the embedded default),
    /// prepares the dev signing key, and binds the listen address.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        if settings.jwks.is_none() && !settings.is_embedded() && !settings.dev_tokens {
            return Err(StartError::NoJwks);
        }
        let store = open_sealed_store(settings).await?;
        telemetry::prometheus();
        let source = match &settings.jwks {
            Some(jwks) => KeySource::from_setting(jwks),
            None => {
                let key = DevKey::load_or_create(&settings.data_dir)?;
                let set: JwkSet = serde_json::from_value(key.jwks()).map_err(|e| AuthError::KeySet(e.to_string()))?;
                KeySource::Fixed(set)
            }
        };
        let rules = auth::TokenRules { issuer: settings.jwt_issuer.clone(), audience: settings.jwt_audience.clone() };
        let verifier = Verifier::new(source).await?.with_rules(rules);
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        let (stop_workers, stopped) = watch::channel(false);
        let mut workers = worker::Workers::default();
        // This process's name in the leases: duties that run in one replica at a time.
        let replica = worker::Replica {
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            stop: stop_workers.subscribe(),
        };
        let (views, views_task) = views::spawn(
            store.clone(),
            std::time::Duration::from_millis(settings.views_gather_ms.min(10_000)),
            stopped,
        );
        workers.add("views", views_task);
        let calendar = WorkCalendar { customary_days_off: settings.customary_days_off };
        let access_log = access_log::AccessLog::spawn(store.clone());
        let commits = std::sync::Arc::new(watch::channel(0u64).0);
        let webhook_settings = webhooks::WorkerSettings {
            allow_private: settings.webhook_allow_private,
            retry_scale: settings.webhook_retry_scale,
        };
        if let Some(task) = webhooks::spawn(store.clone(), webhook_settings, commits.subscribe(), replica.clone()) {
            workers.add("webhooks", task);
        }
        if let Some(nats) = settings.nats() {
            workers.add("nats", nats::spawn(store.clone(), nats, commits.subscribe(), replica.clone()));
        }
        workers.add("retention", retention::spawn(store.clone(), settings.retention_interval_minutes, replica.clone()));
        let idempotency_ttl =
            chrono::TimeDelta::hours(i64::try_from(settings.idempotency_ttl_hours.clamp(1, 24 * 365)).unwrap_or(24));
        workers.add(
            "idempotency-expiry",
            retention::spawn_answer_expiry(store.clone(), idempotency_ttl, stop_workers.subscribe()),
        );
        let audit_key = load_audit_key(settings)?;
        let audit_keys = audit::TrustedKeys::new(&audit_key, settings.audit_public_keys.as_deref())
            .map_err(StartError::AuditKeys)?;
        let checkpoint_mirror = open_mirror(settings)?;
        if checkpoint_mirror.is_none() && !settings.is_embedded() {
            tracing::warn!("no BROBYG_CHECKPOINT_MIRROR: signed checkpoints stay in the database only");
        }
        let checkpoint_alarm = audit::CheckpointAlarm::default();
        let console = console::Console::from_settings(settings)?;
        workers.add(
            "checkpointer",
            audit::spawn_checkpointer(
                store.clone(),
                audit_key,
                settings.checkpoint_every_events.max(1),
                std::time::Duration::from_secs(settings.checkpoint_every_seconds.max(1)),
                (checkpoint_mirror.clone(), settings.nats()),
                checkpoint_alarm.clone(),
                replica.clone(),
            ),
        );
        Ok(Self {
            listener,
            replica: replica.holder.clone(),
            limits: serve::ServeLimits {
                max_connections: settings.max_http_connections,
                header_read_timeout: std::time::Duration::from_secs(settings.header_read_timeout_seconds.max(1)),
                shutdown_deadline: std::time::Duration::from_secs(settings.shutdown_deadline_seconds),
            },
            state: AppState {
                store,
                verifier,
                views,
                calendar,
                access_log,
                municipal_retention_days: settings.municipal_retention_days,
                commits,
                webhooks: webhook_settings,
                ready_max_lag_events: settings.ready_max_lag_events,
                idempotency_ttl,
                audit_keys,
                checkpoint_mirror,
                checkpoint_alarm,
                streams: limits::OrgSlots::new(settings.max_streams_per_org),
                request_timeout: std::time::Duration::from_secs(settings.request_timeout_seconds.max(1)),
                console,
            },
            stop_workers,
            workers,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (store, verifier, views).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The store the application uses.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the store.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let store = self.state.store.clone();
        let router = http::router(self.state);
        let served = serve::serve(self.listener, router, self.limits, shutdown).await;
        self.stop_workers.send_replace(true);
        self.workers.join(WORKERS_STOP_DEADLINE).await;
        if let Err(e) = store.release_leases_of(&self.replica).await {
            tracing::warn!(error = %e, "could not give up this replica's leases; they expire by themselves");
        }
        store.close().await;
        served
    }
}

/// Opens the configured store; on the embedded default creates the data folder and applies
/// migrations, since nobody else will.
pub async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    if settings.is_embedded() {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|source| StartError::DataDir { path: settings.data_dir.clone(), source })?;
    }
    let store = Store::connect(&settings.effective_database_url(), settings.max_connections).await?;
    if settings.is_embedded() {
        store.migrate().await?;
    }
    Ok(store)
}

/// The key-encryption key: `BROBYG_KEK_FILE`, or on the embedded default a key generated in the
/// data folder (said at start: production keeps it outside the data).
pub fn load_kek(settings: &Settings) -> Result<crate::store::Kek, StartError> {
    match &settings.kek_file {
        Some(path) => Ok(crate::store::Kek::from_file(path)?),
        None if settings.is_embedded() => {
            let path = settings.data_dir.join("dev-kek.hex");
            std::fs::create_dir_all(&settings.data_dir)
                .map_err(|source| StartError::DataDir { path: settings.data_dir.clone(), source })?;
            let (kek, generated) = crate::store::Kek::load_or_generate(&path)?;
            if generated {
                tracing::warn!(path = %path.display(), "generated a development key-encryption key; set BROBYG_KEK_FILE in production");
            } else {
                tracing::info!(path = %path.display(), "using the development key-encryption key");
            }
            Ok(kek)
        }
        None => Err(StartError::NoKek),
    }
}

/// The store with its key-encryption key, checked against the database.
pub async fn open_sealed_store(settings: &Settings) -> Result<Store, StartError> {
    let store = open_store(settings)
        .await?
        .with_kek(load_kek(settings)?)
        .with_key_cache(std::time::Duration::from_secs(settings.key_cache_seconds));
    if store.migrations_current().await.unwrap_or(false) {
        if !store.check_kek().await? {
            return Err(StartError::WrongKek);
        }
    } else {
        tracing::warn!("database migrations are not current: run `brobyg migrate`");
    }
    Ok(store)
}

/// The checkpoint mirror, when `BROBYG_CHECKPOINT_MIRROR` names one.
pub fn open_mirror(settings: &Settings) -> Result<Option<mirror::Mirror>, StartError> {
    Ok(settings.checkpoint_mirror.as_deref().map(mirror::Mirror::open).transpose()?)
}

/// What `brobyg audit verify` and `GET /v1/audit/verify` check against: the configured keys and
/// the mirror (or the mirror file `checkpoints`, when given).
pub fn verify_options(
    settings: &Settings,
    scope: audit::Scope,
    checkpoints: Option<&std::path::Path>,
) -> Result<audit::VerifyOptions, StartError> {
    let key = load_audit_key(settings)?;
    let trusted =
        audit::TrustedKeys::new(&key, settings.audit_public_keys.as_deref()).map_err(StartError::AuditKeys)?;
    let mirror = match checkpoints {
        Some(path) => Some(mirror::Mirror::open(path)?),
        None => open_mirror(settings)?,
    };
    let mirrored = match mirror {
        Some(m) => m.read()?,
        None => Vec::new(),
    };
    Ok(audit::VerifyOptions { scope, trusted, mirrored })
}

/// The checkpoint signing key: `BROBYG_AUDIT_KEY_FILE`, or generated in the data folder.
pub fn load_audit_key(settings: &Settings) -> Result<audit::AuditKey, StartError> {
    let path = settings.audit_key_file.clone().unwrap_or_else(|| settings.data_dir.join("audit-signing-key.hex"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir { path: dir.to_owned(), source })?;
    }
    audit::AuditKey::load_or_generate(&path).map_err(|source| StartError::DataDir { path, source })
}
