//! plugflow as a service: `plugflow serve`.
//!
//! * **Workflows** are read from a directory once and compiled once
//!   ([`catalog`]); a workflow that declares a `tenantId` is that tenant's
//!   alone, one that declares none is shared and runs as the caller's
//!   tenant.
//! * **Callers** authenticate with `Authorization: Bearer <key>`; each
//!   key acts as one tenant ([`ApiKeys`]). A tenant gets `404` for another
//!   tenant's workflows and executions, as for ones that do not exist.
//! * **Routes**: webhooks at `/webhook<path>` of `webhook-trigger` nodes,
//!   the JSON API under `/v1`, `/health/live`, `/health/ready`, `/metrics`.
//! * **Executions** are recorded in an [`ExecutionStore`] (the embedded
//!   [`SqliteStore`] by default, whose concurrent writes share commits)
//!   when accepted, node by node as they run, and when finished; without
//!   progress recording a synchronous run is recorded once, at its end.
//!   `store = ":memory:"` keeps them in memory only (not durable; each
//!   tenant's newest [`ServeConfig::keep_executions`] kept).
//! * **Scale-out**: with a PostgreSQL URL ([`ServeConfig::database_url`])
//!   executions go through a shared queue ([`queue::ExecutionQueue`]) that
//!   any number of processes enqueue into and claim from (`plugflow serve`
//!   with `workers = 0` only enqueues; `plugflow worker` only runs), with
//!   leases renewed by heartbeats, fenced writes, and `LISTEN/NOTIFY`
//!   wake-ups; a worker that dies loses its leases and another resumes its
//!   executions from their recorded nodes.
//! * **Durability** (with a store on disk): an execution accepted is
//!   never lost. After a crash (even `kill -9`) the next start resumes
//!   every execution still `running`: nodes whose outcome was recorded
//!   are replayed, not run; a node that was in flight runs again only when
//!   its node type is `pure` (cheap CPU work, no I/O) or declares itself
//!   `idempotent`; otherwise it fails with `EXECUTION_ERROR` saying so,
//!   rather than risk doing its side effect twice.
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use plugflow_serve::{Server, ServeConfig};
//! use registry_core::Registry;
//!
//! let config = ServeConfig { listen: "127.0.0.1:8080".into(), ..ServeConfig::default() };
//! let server = Server::bind(Arc::new(Registry::new()), config).await?;
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod auth;
pub mod catalog;
mod config;
mod counters;
mod fingerprint;
mod http;
mod postgres;
pub mod queue;
mod recorder;
mod recovery;
mod server;
mod service;
mod shared_queue;
mod sqlite;
mod store;
mod worker;

pub use auth::ApiKeys;
pub use config::{ApiKeyConfig, KeySource, ServeConfig};
pub use counters::Counters;
pub use server::{Reloader, Server, StartError};
pub use service::{PluginReloader, Service};
pub use sqlite::SqliteStore;
pub use store::{Ending, ExecutionRecord, ExecutionStore, ListFilter, StoreError};
