//! Starting the service: open the store, read the keys and workflows,
//! bind, serve until told to stop.

use std::future::Future;
use std::sync::Arc;

use registry_core::Registry;
use tokio::net::TcpListener;

use crate::auth::ApiKeys;
use crate::catalog::{Catalog, LoadProblem};
use crate::config::ServeConfig;
use crate::service::Service;
use crate::store::SqliteStore;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is not usable.
    #[error("serve configuration: {0}")]
    Config(String),
    /// The execution store cannot be opened.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A service ready to serve: bound, with its workflows loaded.
pub struct Server {
    service: Arc<Service>,
    listener: TcpListener,
    problems: Vec<LoadProblem>,
}

impl Server {
    /// Opens the store, reads the API keys and the workflows directory,
    /// and binds `config.listen`.
    ///
    /// # Errors
    ///
    /// A [`StartError`] saying what is missing or refused.
    pub async fn bind(registry: Arc<Registry>, config: ServeConfig) -> Result<Self, StartError> {
        let keys = ApiKeys::load(&config.api_keys).map_err(StartError::Config)?;
        if keys.is_empty() {
            tracing::warn!(
                component = "serve",
                "no API keys are configured: every request but health and metrics is refused"
            );
        }
        let (catalog, problems) = match &config.workflows {
            Some(dir) => Catalog::load(dir),
            None => (Catalog::default(), Vec::new()),
        };
        for problem in &problems {
            tracing::warn!(component = "serve", file = %problem.file, "workflow not served: {}", problem.message);
        }
        let store = SqliteStore::open(&config.store)?;
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    address: config.listen.clone(),
                    source,
                })?;
        let service = Arc::new(Service::new(
            registry,
            catalog,
            Arc::new(store),
            keys,
            config,
        ));
        Ok(Self {
            service,
            listener,
            problems,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Workflow files that were not loaded, and why.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    /// Resumes the executions a previous run left unfinished, then serves
    /// until `shutdown` completes, stops accepting and lets in-flight
    /// requests finish. Executions still running stay `running` in the
    /// store and resume at the next start.
    ///
    /// # Errors
    ///
    /// An I/O error of the listener.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let address = self.listener.local_addr()?;
        match self.service.recover().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                component = "serve",
                resumed = n,
                "resumed interrupted executions"
            ),
            Err(e) => tracing::error!(
                component = "serve",
                "could not resume interrupted executions: {e}"
            ),
        }
        tracing::info!(component = "serve", %address, workflows = self.service.catalog.len(), "serving");
        axum::serve(self.listener, crate::http::router(self.service))
            .with_graceful_shutdown(shutdown)
            .await
    }
}
