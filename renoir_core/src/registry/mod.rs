//! Per-domain daemonless registry: processes, nodes, endpoints (the graph).
//!
//! One shared segment per (prefix, domain id), `<prefix>_<domain>_registry`,
//! created by whichever process comes first (`O_EXCL`; losers open it and
//! wait for its ready word). It holds three fixed tables of records claimed
//! with the [`slot`] protocol. Every change bumps the graph version and
//! rings the doorbell of every member process. Dead members (pid + start
//! time) are reaped by whoever notices: a joining process, a periodic check
//! in [`Domain::graph`] / [`Domain::wait`], or `renoir clean`
//! ([`crate::cleanup`]).
//!
//! Byte layout and the crash-recovery argument: docs/data-path.md.

pub mod slot;

#[cfg(not(loom))]
mod domain;
#[cfg(not(loom))]
pub mod layout;
#[cfg(not(loom))]
pub use domain::*;
