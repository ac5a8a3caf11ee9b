//! A safe, cached description of a ROS message's in-memory layout, built once
//! per type from rosidl introspection data (see [`crate::MessageTypeSupport`]).

use std::sync::Arc;

use crate::ffi::introspect::MemberFns;

/// Which in-memory representation a layout describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// rosidl_generator_c structs (`rosidl_runtime_c__String`, `{data,size,capacity}` sequences).
    C,
    /// rosidl_generator_cpp classes (`std::string`, `std::vector`), accessed only through
    /// the introspection_cpp member functions (and a small C++ shim for strings).
    Cpp,
}

/// A primitive ROS field type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `bool`: 1 byte in memory and in CDR (0 or 1).
    Bool,
    /// `char`: 1 byte.
    Char,
    /// `byte` / `octet`: 1 byte.
    Octet,
    /// `uint8`
    U8,
    /// `int8`
    I8,
    /// `uint16`
    U16,
    /// `int16`
    I16,
    /// `uint32`
    U32,
    /// `int32`
    I32,
    /// `uint64`
    U64,
    /// `int64`
    I64,
    /// `float32`
    F32,
    /// `float64`
    F64,
    /// IDL `long double`: 16 bytes, copied raw (x86_64 / aarch64 `long double` is 16 bytes).
    LongDouble,
    /// IDL `wchar`: `char16_t` in memory, 2 bytes in CDR.
    WChar,
}

impl Primitive {
    /// Bytes of one value in CDR (and in memory: the two coincide for every primitive).
    pub const fn size(self) -> usize {
        match self {
            Primitive::Bool
            | Primitive::Char
            | Primitive::Octet
            | Primitive::U8
            | Primitive::I8 => 1,
            Primitive::U16 | Primitive::I16 | Primitive::WChar => 2,
            Primitive::U32 | Primitive::I32 | Primitive::F32 => 4,
            Primitive::U64 | Primitive::I64 | Primitive::F64 => 8,
            Primitive::LongDouble => 16,
        }
    }

    /// CDR alignment (XCDR1: the size, capped at 8).
    pub const fn align(self) -> usize {
        let s = self.size();
        if s > 8 {
            8
        } else {
            s
        }
    }
}

/// The element type of a field.
#[derive(Clone, Debug)]
pub enum FieldType {
    /// A primitive.
    Primitive(Primitive),
    /// `string` / `string<=N>` (`bound` in bytes, without the NUL).
    String {
        /// Upper bound, if any.
        bound: Option<usize>,
    },
    /// `wstring` / `wstring<=N>` (`bound` in UTF-16 code units).
    WString {
        /// Upper bound, if any.
        bound: Option<usize>,
    },
    /// A nested message.
    Message(Arc<MessageLayout>),
}

/// Whether a field is one value, a fixed array or a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// One value.
    Single,
    /// `T[N]`: N values inline in memory, no length in CDR.
    Array(usize),
    /// `T[]` or `T[<=N]`: a length (uint32) then the values in CDR.
    Sequence {
        /// Upper bound, if any.
        bound: Option<usize>,
    },
}

/// One field of a message.
#[derive(Clone, Debug)]
pub struct Field {
    /// Field name as in the .msg file.
    pub name: String,
    /// Element type.
    pub ty: FieldType,
    /// One value, array or sequence.
    pub arity: Arity,
    /// Byte offset of the field inside the message struct.
    pub offset: usize,
    pub(crate) fns: MemberFns,
}

/// The layout of one message type in one [`Flavor`].
#[derive(Debug)]
pub struct MessageLayout {
    /// Package name, e.g. `sensor_msgs`.
    pub package: String,
    /// Interface kind folder, e.g. `msg` (or `srv` for request/response).
    pub subfolder: String,
    /// Message name, e.g. `Image`.
    pub name: String,
    /// In-memory representation.
    pub flavor: Flavor,
    /// `sizeof` the message struct.
    pub size_of: usize,
    /// Fields in declaration (= CDR) order.
    pub fields: Vec<Field>,
    /// A lower bound on the CDR size of one value of this type (no padding counted);
    /// used to reject absurd sequence lengths before allocating.
    pub min_cdr_size: usize,
    /// `Some(a)` when one value's CDR bytes equal its in-memory bytes whenever it
    /// starts at a CDR position aligned to `a` (only non-bool primitives, fixed
    /// arrays of them and such nested messages, no padding bytes at all in
    /// memory, so no uninitialized byte is ever copied). Arrays/sequences of such messages are then copied
    /// with one memcpy (little-endian hosts).
    pub plain_align: Option<usize>,
    /// CDR alignment of the first primitive of a plain type (where CDR puts
    /// the padding before one value); 1 when not plain.
    pub plain_first_align: usize,
    pub(crate) init_fn: crate::ffi::introspect::InitFn,
}

impl MessageLayout {
    /// `pkg/msg/Name`.
    pub fn type_name(&self) -> String {
        format!("{}/{}/{}", self.package, self.subfolder, self.name)
    }

    /// The DDS type name rmw_fastrtps uses: `pkg::msg::dds_::Name_`.
    pub fn dds_type_name(&self) -> String {
        format!("{}::{}::dds_::{}_", self.package, self.subfolder, self.name)
    }
}

/// Computes ([`MessageLayout::plain_align`], [`MessageLayout::plain_first_align`])
/// for a field list.
pub(crate) fn plain_align(fields: &[Field], size_of: usize) -> Option<(usize, usize)> {
    let mut cdr = 0usize;
    let mut max_align = 1usize;
    let mut first_align = None;
    for f in fields {
        let count = match f.arity {
            Arity::Single => 1,
            Arity::Array(n) => n,
            Arity::Sequence { .. } => return None,
        };
        let (align, first, size) = match &f.ty {
            FieldType::Primitive(Primitive::Bool | Primitive::LongDouble) => return None,
            FieldType::Primitive(p) => (p.align(), p.align(), p.size()),
            FieldType::Message(m) => (m.plain_align?, m.plain_first_align, m.size_of),
            FieldType::String { .. } | FieldType::WString { .. } => return None,
        };
        if count == 0 {
            return None;
        }
        first_align.get_or_insert(first);
        // No padding anywhere: CDR would write zeros where memory holds
        // unspecified padding bytes, so a struct with padding is never plain.
        if crate::cdr::align_up(cdr, align) != cdr || cdr != f.offset {
            return None;
        }
        cdr = cdr.checked_add(size.checked_mul(count)?)?;
        max_align = max_align.max(align);
    }
    if cdr == size_of && size_of > 0 {
        Some((max_align, first_align.unwrap_or(1)))
    } else {
        None
    }
}

impl FieldType {
    /// Minimum CDR bytes of one element of this type (no padding counted).
    pub(crate) fn min_cdr_size(&self) -> usize {
        match self {
            FieldType::Primitive(p) => p.size(),
            FieldType::String { .. } | FieldType::WString { .. } => 4,
            FieldType::Message(m) => m.min_cdr_size,
        }
    }
}

impl Field {
    /// Minimum CDR bytes of this field (no padding counted).
    pub(crate) fn min_cdr_size(&self) -> usize {
        match self.arity {
            Arity::Single => self.ty.min_cdr_size(),
            Arity::Array(n) => n.saturating_mul(self.ty.min_cdr_size()),
            Arity::Sequence { .. } => 4,
        }
    }
}
