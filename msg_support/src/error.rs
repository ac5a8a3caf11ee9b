//! Error types (one flat enum per operation, never a panic).

use thiserror::Error;

/// Failure to resolve a type support handle into a [`crate::MessageLayout`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The handle pointer was null.
    #[error("type support handle is null")]
    NullHandle,
    /// Neither introspection_c nor introspection_cpp type support could be found
    /// (is `lib<pkg>__rosidl_typesupport_introspection_c.so` on the library path?).
    #[error("no introspection type support for handle with identifier {identifier:?}")]
    NoIntrospection {
        /// The identifier of the handle that was passed in.
        identifier: String,
    },
    /// The introspection data is inconsistent (null members, unknown type id, ...).
    #[error("invalid introspection data: {0}")]
    Invalid(String),
}

/// Failure to serialize a message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SerializeError {
    /// The output buffer is smaller than the serialized size.
    #[error("output buffer too small: need more than {capacity} bytes")]
    BufferTooSmall {
        /// The capacity that was provided.
        capacity: usize,
    },
    /// A bounded string or sequence holds more than its bound.
    #[error("field {field}: length {len} exceeds bound {bound}")]
    BoundExceeded {
        /// Field name.
        field: String,
        /// Actual length.
        len: usize,
        /// Declared bound.
        bound: usize,
    },
    /// A length does not fit the CDR uint32 length prefix.
    #[error("field {field}: length {len} does not fit in uint32")]
    TooLong {
        /// Field name.
        field: String,
        /// Actual length.
        len: usize,
    },
    /// The message memory is inconsistent (null data with non-zero size, missing accessor).
    #[error("field {field}: {reason}")]
    InvalidMessage {
        /// Field name.
        field: String,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Failure to deserialize CDR bytes (which may be untrusted) into a message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeserializeError {
    /// Input shorter than the 4-byte encapsulation header.
    #[error("input shorter than the encapsulation header")]
    NoHeader,
    /// The input is being written while it is read (a streamed sample) and
    /// its writer gave up before the bytes needed here were written.
    #[error("input incomplete at byte {offset}: {reason}")]
    Incomplete {
        /// Offset in the whole input (header included).
        offset: usize,
        /// Why the rest will not come.
        reason: String,
    },
    /// Encapsulation is not CDR little-endian (00 01).
    #[error("unsupported encapsulation {0:#06x} (only CDR_LE 0x0001)")]
    UnsupportedEncapsulation(u16),
    /// Ran out of input.
    #[error("truncated input at offset {offset} (needed {needed} more bytes)")]
    Truncated {
        /// Offset inside the CDR body.
        offset: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid bool byte {value} at offset {offset}")]
    InvalidBool {
        /// Offset inside the CDR body.
        offset: usize,
        /// The byte read.
        value: u8,
    },
    /// A string whose last byte is not NUL.
    #[error("field {field}: string not NUL-terminated")]
    StringNotTerminated {
        /// Field name.
        field: String,
    },
    /// A wide character that does not fit in UTF-16 code unit.
    #[error("field {field}: wide char {value:#x} out of range")]
    InvalidWChar {
        /// Field name.
        field: String,
        /// The value read.
        value: u32,
    },
    /// A string or sequence longer than its bound (or than the input could hold).
    #[error("field {field}: length {len} exceeds bound {bound}")]
    BoundExceeded {
        /// Field name.
        field: String,
        /// Length read from the input.
        len: usize,
        /// Bound.
        bound: usize,
    },
    /// Allocation / resize of a string or sequence in the message failed.
    #[error("field {field}: could not resize to {len}")]
    ResizeFailed {
        /// Field name.
        field: String,
        /// Requested length.
        len: usize,
    },
    /// The message layout lacks a function needed to write this field.
    #[error("field {field}: {reason}")]
    InvalidMessage {
        /// Field name.
        field: String,
        /// What was wrong.
        reason: &'static str,
    },
}
