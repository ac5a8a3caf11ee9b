//! Topics: publishers, subscribers, QoS; the publish and take paths.
