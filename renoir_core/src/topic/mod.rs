//! Topics: publishers, subscribers, QoS; the publish and take paths.
//!
//! Where a sample goes when you publish (details in docs/data-path.md):
//! 1. [`Publisher::loan`] picks a free slot of the publisher's own pool (an
//!    inline slot in its data segment, or a dedicated blob segment for
//!    samples larger than the inline slot) and lends it as [`SampleMut`].
//! 2. The caller writes the payload once, straight into shared memory.
//! 3. [`Publisher::publish`] stamps the next descriptor-ring entry (slot,
//!    length, timestamps; seqlock stamp = sequence number), advances `head`
//!    and rings the doorbell of every matched reader's process.
//! 4. Each [`Subscriber`] follows every matched publisher's ring with its
//!    own cursor, sets its holder bit on the slot, re-validates the stamp,
//!    and hands out a read-only [`Sample`] that points into the mapping.
//!    Fan-out to N readers never copies the payload.

//!
//! Under `--cfg loom` only [`qos`] is compiled (the shared-memory parts sit
//! on `region`, which loom cannot model); the protocols are modelled in
//! `tests/loom_registry.rs`.

#[cfg(not(loom))]
pub mod layout;
#[cfg(not(loom))]
mod publisher;
pub mod qos;
#[cfg(not(loom))]
mod subscriber;

#[cfg(not(loom))]
pub use publisher::{
    ChunkStats, CreatePublisherError, Progress, PublishError, Publisher, SampleMut, StreamingSample,
};
pub use qos::{
    qos_compatible, Durability, EndpointKind, HashFilter, History, Liveliness, Qos, Reliability,
    TopicSpec,
};
#[cfg(not(loom))]
pub use subscriber::{
    CreateSubscriberError, Sample, SampleInfo, StreamError, Subscriber, TakeError,
    STREAM_STALL_TIMEOUT,
};

#[cfg(not(loom))]
use crate::registry::{Domain, NodeHandle};
#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(not(loom))]
impl Domain {
    /// Create a publisher on `spec.name` for `node`.
    pub fn create_publisher(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: TopicSpec,
    ) -> Result<Publisher, CreatePublisherError> {
        // Large-payload settings from the environment / RENOIR_CONFIG
        // (context level); a bad configuration falls back to the defaults.
        let cfg = crate::config::ConfigSet::load()
            .map(|c| c.context().clone())
            .unwrap_or_default();
        Publisher::create(self, node, spec, cfg)
    }

    /// Create a publisher with a resolved large-payload configuration
    /// (`ConfigSet::for_publisher(namespace, node, topic)`): chunk store
    /// geometry, `max_slot_size`, reclaim policy, checksums.
    pub fn create_publisher_with(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: TopicSpec,
        cfg: crate::config::BlobConfig,
    ) -> Result<Publisher, CreatePublisherError> {
        Publisher::create(self, node, spec, cfg)
    }

    /// Create a subscriber on `spec.name` for `node`.
    pub fn create_subscriber(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: TopicSpec,
    ) -> Result<Subscriber, CreateSubscriberError> {
        Subscriber::create(self, node, spec)
    }
}
