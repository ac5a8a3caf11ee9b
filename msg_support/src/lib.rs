//! rosidl type support <-> CDR (XCDR1, little-endian) for rmw_renoir.
//!
//! # API (what rmw_renoir uses)
//!
//! ```ignore
//! // once per publisher / subscription (cached per handle):
//! let ts = unsafe { MessageTypeSupport::resolve(type_support as *const c_void) }?;
//! ts.type_name();          // "sensor_msgs/msg/Image"
//! ts.type_hash();          // Some(TypeHash) -> .to_rihs_string() "RIHS01_..."
//! // publish: exact size first, then serialize into a loaned slot of that size
//! let n = unsafe { ts.serialized_size(ros_message) }?;
//! let written = unsafe { ts.serialize(ros_message, &mut slot[..n]) }?;   // == n
//! // take: bytes from shared memory are untrusted; errors, never panics
//! unsafe { ts.deserialize(&sample[..], ros_message_out) }?;
//! // or, without touching a message: validate, or find Image.data inside the sample
//! let len = ts.validate(&sample[..])?;
//! let range = ts.primitive_field_range(&sample[..], "data")?;   // Some(start..end)
//! // services
//! let srv = unsafe { ServiceTypeSupport::resolve(service_type_support as *const c_void) }?;
//! srv.request.serialize(..); srv.response.deserialize(..);
//! ```
//!
//! * Handles: `MessageTypeSupport::resolve` takes whatever `rosidl_message_type_support_t*`
//!   rcl passes (rosidl_typesupport_c / _cpp dispatcher or an introspection handle) and
//!   finds the `rosidl_typesupport_introspection_c` (C handles) or `_cpp` (C++ handles)
//!   type support behind it. The libraries must be on the loader path (LD_LIBRARY_PATH),
//!   as for any rmw.
//! * Both in-memory representations are supported ([`Flavor::C`], [`Flavor::Cpp`]).
//! * The output is byte-identical to `rmw_serialize` of rmw_fastrtps_cpp (encapsulation
//!   `00 01 00 00`, XCDR1 alignment relative to the body, zero padding), see docs/cdr.md.
//! * Errors are flat enums: [`ResolveError`], [`SerializeError`], [`DeserializeError`].
//!
//! All `unsafe` code lives in the `ffi` module.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cdr;
mod error;
mod ffi;
mod layout;
pub mod schema;
mod validate;

pub use error::{DeserializeError, ResolveError, SerializeError};
pub use ffi::typesupport::{
    deserialize, serialize, serialized_size, Borrowed, MessageTypeSupport, ServiceTypeSupport,
    TypeHash,
};
pub use layout::{Arity, Field, FieldType, Flavor, MessageLayout, Primitive};
pub use validate::{primitive_field_range, validate};
