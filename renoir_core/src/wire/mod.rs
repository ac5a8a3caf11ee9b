//! Wire layouts of a few well-known ROS 2 messages, for native producers.
//!
//! renoir_core never sees a ROS type, but the CDR encoding of a handful of
//! bulk sensor messages is simple and stable enough to write by hand. This
//! module owns that knowledge: it lets a Rust program (a camera or lidar
//! driver) loan a sample of the exact serialized size from a core
//! [`Publisher`](crate::topic::Publisher), have every non-bulk field written
//! for it, and write the bulk array (pixels, points, ranges) straight into
//! shared memory. The published bytes are exactly what rmw_renoir's
//! serializer (and rmw_fastrtps_cpp) produce for the same message, so rclpy
//! and rclcpp subscribers on rmw_renoir receive a normal message, and the
//! frame is never copied on the producer side.
//!
//! - [`cdr`]: the XCDR1 little-endian writer (sizing and writing share one
//!   walker, so they cannot disagree).
//! - [`sensor_msgs`]: `sensor_msgs/msg/{Image, PointCloud2, LaserScan}`
//!   descriptions, their loans, and the [`TopicSpec`](crate::topic::TopicSpec)
//!   that makes rmw_renoir subscriptions match a native publisher.
//!
//! Byte identity with msg_support (and through it rmw_fastrtps_cpp) is
//! checked in `msg_support/tests/native_wire.rs`.

pub mod cdr;
#[cfg(not(loom))]
pub mod sensor_msgs;
