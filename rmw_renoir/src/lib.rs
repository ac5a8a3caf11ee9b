//! rmw_renoir: the ROS 2 rmw C ABI over renoir_core shared memory.
//!
//! Entry points (`extern "C" fn rmw_*`) live next to the safe types they
//! delegate to; each is a thin wrapper: null and implementation-identifier
//! checks, a `catch_unwind` at the boundary ([`ffi::ret`] / [`ffi::ptr`]),
//! and errors mapped to `rmw_ret_t` with the rmw error message set.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)]

pub mod sys;

pub mod attach;
pub mod client;
pub mod event;
pub mod ffi;
pub mod filter;
pub mod graph;
pub mod guard;
pub mod init;
pub mod listener;
pub mod loan;
pub mod log;
pub mod misc;
pub mod node;
pub mod publisher;
pub mod qos;
mod rpc;
pub mod schema_link;
pub mod serialize;
pub mod service;
pub mod subscription;
pub mod transport;
pub mod typesupport;
pub mod wait;
