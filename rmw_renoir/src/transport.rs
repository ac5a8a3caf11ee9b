//! The transport seam: the only module of rmw_renoir that names renoir_core's
//! registry and topic types. Everything above speaks these names.
//!
//! renoir_core gives one [`Domain`] per process and domain id (its registry
//! slot and doorbell), nodes, publishers that loan a shared-memory slot and
//! publish it, subscribers that take read-only samples, and the live graph.

pub use renoir_core::registry::{
    Domain, EndpointInfo, Graph, JoinError, NodeError, NodeHandle, NodeInfo, RegisterError,
};
pub use renoir_core::topic::{
    qos_compatible, CreatePublisherError, CreateSubscriberError, Durability, EndpointKind, History,
    Liveliness, PublishError, Publisher, Qos, Reliability, Sample, SampleInfo, SampleMut,
    Subscriber, TakeError, TopicSpec,
};

use crate::ffi::RmwError;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in nanoseconds since the epoch (the rmw time base).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Whether samples of a publisher offering `offered` reach a subscriber
/// requesting `requested` (the core's matching rule).
pub fn delivers(offered: &Qos, requested: &Qos) -> bool {
    qos_compatible(offered, requested)
}

macro_rules! transport_error {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl From<$t> for RmwError {
            fn from(e: $t) -> Self {
                RmwError::error(format!(concat!($what, ": {}"), e))
            }
        }
    )*};
}

transport_error! {
    JoinError => "cannot join the renoir domain",
    NodeError => "cannot register the node",
    RegisterError => "cannot register the endpoint",
    CreatePublisherError => "cannot create the publisher",
    CreateSubscriberError => "cannot create the subscription",
    PublishError => "publish failed",
    TakeError => "take failed",
}
