//! rmw_renoir: the ROS 2 rmw C ABI over renoir_core shared memory.
#![deny(unsafe_op_in_unsafe_fn)]
pub mod sys;
