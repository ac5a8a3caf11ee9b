//! Raw bindgen output (generated at build time into OUT_DIR from the ROS 2
//! headers found by build.rs). Nothing here is used outside `crate::ffi`.

/// rosidl_runtime_c, rosidl_typesupport_introspection_c.
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    unused_imports,
    clippy::all,
    clippy::pedantic,
    unsafe_op_in_unsafe_fn
)]
pub mod c {
    include!(concat!(env!("OUT_DIR"), "/rosidl_c.rs"));
}

/// The C-compatible structs of rosidl_typesupport_introspection_cpp.
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    unused_imports,
    clippy::all,
    clippy::pedantic,
    unsafe_op_in_unsafe_fn
)]
pub mod cpp {
    use super::c::*;
    include!(concat!(env!("OUT_DIR"), "/rosidl_cpp.rs"));
}
