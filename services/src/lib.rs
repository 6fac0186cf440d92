//! The brobyg service: start-up, the HTTP surface, the event store adapters and the dev keys.
//!
//! [`Application::build`] binds first and reports its port, so tests run the real application
//! on port 0; [`Application::run_until`] serves until the shutdown future resolves, then drains.

pub mod devkeys;
pub mod http;
pub mod settings;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::devkeys::{DevKey, DevKeyError};
use crate::settings::Settings;
use crate::store::{Store, StoreError};

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
}

/// The service, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the store (creating and migrating the SQLite file on the embedded default),
    /// prepares the dev signing key, and binds the listen address.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let store = open_store(settings).await?;
        if settings.jwks.is_none() {
            DevKey::load_or_create(&settings.data_dir)?;
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        Ok(Self { listener, state: AppState { store } })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
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
        axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await?;
        store.close().await;
        Ok(())
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
