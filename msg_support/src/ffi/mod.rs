//! Everything `unsafe` in msg_support: the bindgen bindings, reading rosidl
//! introspection data, and walking message memory for CDR.

pub(crate) mod bindings;
pub(crate) mod handle_cache;
pub(crate) mod introspect;
pub mod typesupport;
pub(crate) mod walk;
