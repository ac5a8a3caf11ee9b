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
    qos_compatible, CreatePublisherError, CreateSubscriberError, Durability, EndpointKind,
    HashFilter, History, Liveliness, PublishError, Publisher, Qos, Reliability, Sample, SampleInfo,
    SampleMut, Subscriber, TakeError, TopicSpec,
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

/// rcl may use one rmw object from several threads (multi-threaded
/// executors): everything we hold from the core must be Send + Sync.
#[allow(dead_code)]
fn _assert_thread_safe() {
    fn f<T: Send + Sync>() {}
    f::<Domain>();
    f::<NodeHandle>();
    f::<Publisher>();
    f::<Subscriber>();
    f::<Sample>();
}

/// A received sample kept by rmw_renoir until it is taken: still in shared
/// memory (holding the publisher's slot), or copied out so that a queue of
/// them does not pin the publisher's pool.
pub enum Held {
    Shm(Sample),
    Owned(Box<[u8]>, SampleInfo),
}

impl Held {
    /// Copy a sample out of shared memory (frees its slot).
    pub fn owned(s: Sample) -> Held {
        let info = *s.info();
        Held::Owned(s.to_vec().into_boxed_slice(), info)
    }

    /// This sample, copied out of shared memory if it is still there.
    pub fn into_owned(self) -> Held {
        match self {
            Held::Shm(s) => Held::owned(s),
            owned => owned,
        }
    }

    pub fn info(&self) -> &SampleInfo {
        match self {
            Held::Shm(s) => s.info(),
            Held::Owned(_, i) => i,
        }
    }
}

impl std::ops::Deref for Held {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Held::Shm(s) => s,
            Held::Owned(b, _) => b,
        }
    }
}
