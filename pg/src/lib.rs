//! plugflow on PostgreSQL: the pieces the execution store, the queue and
//! the dbal share.
//!
//! * [`Pool`]: connections on threads of their own, so a synchronous
//!   caller — even one inside an async runtime, like the engine's progress
//!   observer — never blocks a runtime on a client that runs its own. A
//!   call that fails because the connection dropped, the server restarted,
//!   or a serialisable transaction lost a race is run again on a fresh
//!   connection, for up to [`PoolConfig::retry_for`].
//! * [`migrate`]: versioned migrations, applied at start-up under an
//!   advisory lock, so any number of processes can start at once.
//! * [`Listener`]: `LISTEN` on a connection of its own that reconnects and
//!   says so (notifications sent while it was away are lost; a listener
//!   checks the state it cares about after [`Notice::Reconnected`]).
//!
//! ```no_run
//! use plugflow_pg::{Pool, PoolConfig};
//!
//! let pool = Pool::open(PoolConfig::new("postgres://postgres@127.0.0.1/test"))?;
//! let n: i32 = pool.run(|client| client.query_one("SELECT 1 + 1", &[])?.try_get(0))?;
//! assert_eq!(n, 2);
//! # Ok::<(), plugflow_pg::PgError>(())
//! ```
#![warn(missing_docs)]

mod error;
mod listen;
mod migrate;
mod pool;

pub use error::{PgError, PgErrorKind};
pub use listen::{Listener, Notice};
pub use migrate::{migrate, Migration};
pub use pool::{redact, Pool, PoolConfig, PoolStats, Statements};
pub use postgres;
