//! bindgen output over the ROS 2 rmw / rcutils / rosidl headers (generated at
//! build time into OUT_DIR; never committed).
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::all,
    clippy::pedantic,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes
)]
include!(concat!(env!("OUT_DIR"), "/rmw_bindings.rs"));
