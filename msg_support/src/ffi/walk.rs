//! Walking a message's memory (C or C++ representation) as described by a
//! [`MessageLayout`], to compute its CDR size, serialize it, or fill it from
//! CDR. All raw memory access of the CDR engine lives here.

use std::ffi::{c_char, c_void};
use std::mem::size_of;

use super::bindings::c;
use crate::cdr::{align_up, copy_from_le, copy_to_le, Reader, Writer, PROGRESS_PIECE};
use crate::error::{DeserializeError, SerializeError};
use crate::layout::{Arity, Field, FieldType, Flavor, MessageLayout, Primitive};
use crate::validate;

/// Arrays/sequences of plain nested messages are one memcpy (little-endian only).
const PLAIN_FAST_PATH: bool = cfg!(target_endian = "little");

/// True when plain elements of `m` written from CDR position `pos` have
/// exactly their memory bytes: CDR pads to the first primitive's alignment,
/// and from there every offset must match memory, which holds when that
/// start is aligned to the type's largest alignment.
fn plain_start(m: &MessageLayout, pos: usize) -> bool {
    let start = align_up(pos, m.plain_first_align);
    match m.plain_align {
        Some(a) => align_up(start, a) == start,
        None => false,
    }
}

/// Fast-CDR does not align before an array/sequence of zero primitives.
const ALIGN_EMPTY_ARRAYS: bool = false;

/// The common layout of every `rosidl_runtime_c__*__Sequence`.
#[repr(C)]
struct RawSeq {
    data: *mut u8,
    size: usize,
    capacity: usize,
}
const _: () = assert!(size_of::<RawSeq>() == size_of::<c::rosidl_runtime_c__float__Sequence>());
const _: () = assert!(size_of::<RawSeq>() == size_of::<c::rosidl_runtime_c__String__Sequence>());

const C_STRING_SIZE: usize = size_of::<c::rosidl_runtime_c__String>();
const C_U16STRING_SIZE: usize = size_of::<c::rosidl_runtime_c__U16String>();

extern "C" {
    fn renoir_cxx_string_size(s: *const c_void) -> usize;
    fn renoir_cxx_string_data(s: *const c_void) -> *const c_char;
    fn renoir_cxx_string_assign(s: *mut c_void, data: *const c_char, n: usize) -> bool;
    fn renoir_cxx_u16string_size(s: *const c_void) -> usize;
    fn renoir_cxx_u16string_data(s: *const c_void) -> *const u16;
    fn renoir_cxx_u16string_assign(s: *mut c_void, data: *const u16, n: usize) -> bool;
    fn renoir_cxx_vector_assign(v: *mut c_void, kind: i32, src: *const c_void, n: usize) -> bool;
    fn renoir_cxx_vector_append(
        v: *mut c_void,
        kind: i32,
        src: *const c_void,
        n: usize,
        total: usize,
        first: bool,
    ) -> bool;
}

/// The shim's code for `std::vector<T>` of primitive `p` (0: none).
fn cxx_vector_kind(p: Primitive) -> i32 {
    match p {
        Primitive::Char | Primitive::Octet | Primitive::U8 => 1,
        Primitive::I8 => 2,
        Primitive::U16 => 3,
        Primitive::I16 => 4,
        Primitive::WChar => 5,
        Primitive::U32 => 6,
        Primitive::I32 => 7,
        Primitive::U64 => 8,
        Primitive::I64 => 9,
        Primitive::F32 => 10,
        Primitive::F64 => 11,
        Primitive::Bool | Primitive::LongDouble => 0,
    }
}

/// Bytes one primitive occupies in memory.
const fn mem_size(p: Primitive) -> usize {
    match p {
        // `long double` is 16 bytes on the supported 64-bit targets.
        Primitive::LongDouble => 16,
        _ => p.size(),
    }
}

/// Memory stride of one element of `ty` in a C array / sequence, if fixed.
fn c_stride(ty: &FieldType) -> usize {
    match ty {
        FieldType::Primitive(p) => mem_size(*p),
        FieldType::String { .. } => C_STRING_SIZE,
        FieldType::WString { .. } => C_U16STRING_SIZE,
        FieldType::Message(m) => m.size_of,
    }
}

/// Where the elements of an array or sequence field live.
enum Elems {
    /// `len` elements at `ptr`, `stride` bytes apart.
    Contig {
        ptr: *mut u8,
        len: usize,
        stride: usize,
    },
    /// Only reachable through the introspection accessors of the member at `member`.
    Indirect { member: *mut c_void, len: usize },
}

impl Elems {
    fn len(&self) -> usize {
        match self {
            Elems::Contig { len, .. } | Elems::Indirect { len, .. } => *len,
        }
    }
}

/// Elements of an array/sequence field whose memory starts at `p`.
///
/// # Safety
/// `p` points to the field (inside a valid message of `flavor`).
unsafe fn elems(flavor: Flavor, f: &Field, p: *mut u8, write: bool) -> Result<Elems, &'static str> {
    let is_prim = matches!(f.ty, FieldType::Primitive(_));
    let is_bool = matches!(f.ty, FieldType::Primitive(Primitive::Bool));
    match (flavor, f.arity) {
        (_, Arity::Single) => Err("not an array"),
        (Flavor::C, Arity::Array(n)) => Ok(Elems::Contig {
            ptr: p,
            len: n,
            stride: c_stride(&f.ty),
        }),
        (Flavor::C, Arity::Sequence { .. }) => {
            // SAFETY: a C sequence field is a rosidl_runtime_c sequence struct (RawSeq layout).
            let s = unsafe { &*(p as *const RawSeq) };
            if s.size > 0 && s.data.is_null() {
                return Err("sequence with null data and non-zero size");
            }
            Ok(Elems::Contig {
                ptr: s.data,
                len: s.size,
                stride: c_stride(&f.ty),
            })
        }
        (Flavor::Cpp, Arity::Array(n)) => {
            if is_prim {
                // std::array<T, N> of a primitive: N values inline.
                Ok(Elems::Contig {
                    ptr: p,
                    len: n,
                    stride: c_stride(&f.ty),
                })
            } else if let FieldType::Message(m) = &f.ty {
                Ok(Elems::Contig {
                    ptr: p,
                    len: n,
                    stride: m.size_of,
                })
            } else {
                Ok(Elems::Indirect {
                    member: p as *mut c_void,
                    len: n,
                })
            }
        }
        (Flavor::Cpp, Arity::Sequence { .. }) => {
            let size = f.fns.size.ok_or("no size function")?;
            // SAFETY: the member's own size function on the member.
            let len = unsafe { size(p as *const c_void) };
            let stride = match &f.ty {
                FieldType::Message(m) => Some(m.size_of),
                FieldType::Primitive(p) if !is_bool => Some(mem_size(*p)),
                _ => None,
            };
            if let Some(stride) = stride {
                // std::vector<T> (T not bool) stores its elements contiguously, `sizeof(T)` apart.
                let ptr = if len == 0 {
                    std::ptr::null_mut()
                } else {
                    if write {
                        let get = f.fns.get.ok_or("no get function")?;
                        // SAFETY: the member's own accessor, index 0 < len.
                        unsafe { get(p as *mut c_void, 0) as *mut u8 }
                    } else {
                        let get = f.fns.get_const.ok_or("no get_const function")?;
                        // SAFETY: the member's own accessor, index 0 < len.
                        unsafe { get(p as *const c_void, 0) as *mut u8 }
                    }
                };
                Ok(Elems::Contig { ptr, len, stride })
            } else {
                Ok(Elems::Indirect {
                    member: p as *mut c_void,
                    len,
                })
            }
        }
    }
}

/// Pointer to element `i` (for non-bool element access).
///
/// # Safety
/// `i < e.len()`, `e` from [`elems`] on a valid message.
unsafe fn elem_ptr(f: &Field, e: &Elems, i: usize, write: bool) -> Result<*mut u8, &'static str> {
    match e {
        // SAFETY: i < len, so the offset stays inside the element storage.
        Elems::Contig { ptr, stride, .. } => Ok(unsafe { ptr.add(i * stride) }),
        Elems::Indirect { member, .. } => {
            let r = if write {
                let get = f.fns.get.ok_or("no get function")?;
                // SAFETY: the member's own accessor with a valid index.
                unsafe { get(*member, i) as *mut u8 }
            } else {
                let get = f.fns.get_const.ok_or("no get_const function")?;
                // SAFETY: the member's own accessor with a valid index.
                unsafe { get(*member as *const c_void, i) as *mut u8 }
            };
            if r.is_null() {
                Err("get function returned null")
            } else {
                Ok(r)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Serialization (size counting and writing share one walker)
// ---------------------------------------------------------------------------

/// Receives the CDR stream of a message.
pub(crate) trait Sink {
    /// `src` holds `src.len() / elem` primitives in memory representation.
    fn prims(&mut self, align: usize, elem: usize, src: &[u8]) -> Result<(), SerializeError>;
    /// A uint32.
    fn u32(&mut self, v: u32) -> Result<(), SerializeError>;
    /// Raw bytes with no alignment (string contents).
    fn bytes(&mut self, src: &[u8]) -> Result<(), SerializeError>;
    /// Current position in the CDR body.
    fn position(&self) -> usize;
}

/// Counts bytes (the exact serialized size).
pub(crate) struct Counter(pub usize);

impl Sink for Counter {
    #[inline]
    fn prims(&mut self, align: usize, _elem: usize, src: &[u8]) -> Result<(), SerializeError> {
        if src.is_empty() && !ALIGN_EMPTY_ARRAYS {
            return Ok(());
        }
        self.0 = align_up(self.0, align) + src.len();
        Ok(())
    }
    #[inline]
    fn u32(&mut self, _v: u32) -> Result<(), SerializeError> {
        self.0 = align_up(self.0, 4) + 4;
        Ok(())
    }
    #[inline]
    fn bytes(&mut self, src: &[u8]) -> Result<(), SerializeError> {
        self.0 += src.len();
        Ok(())
    }
    #[inline]
    fn position(&self) -> usize {
        self.0
    }
}

impl Sink for Writer<'_> {
    #[inline]
    fn prims(&mut self, align: usize, elem: usize, src: &[u8]) -> Result<(), SerializeError> {
        if src.is_empty() && !ALIGN_EMPTY_ARRAYS {
            return Ok(());
        }
        let dst = self.reserve(align, src.len())?;
        copy_to_le(dst, src, elem);
        Ok(())
    }
    #[inline]
    fn u32(&mut self, v: u32) -> Result<(), SerializeError> {
        self.put_u32(v)
    }
    #[inline]
    fn bytes(&mut self, src: &[u8]) -> Result<(), SerializeError> {
        self.reserve(1, src.len())?.copy_from_slice(src);
        Ok(())
    }
    #[inline]
    fn position(&self) -> usize {
        Writer::position(self)
    }
}

/// A [`Writer`] that reports how far the output is final during bulk
/// copies of primitive arrays (a streamed publish: subscribers copy each
/// piece while the next is written). Reported offsets count from the start
/// of the whole output (`base` = the encapsulation header's length).
pub(crate) struct ProgressWriter<'a, 'p> {
    pub w: Writer<'a>,
    pub base: usize,
    pub progress: &'p mut dyn FnMut(usize),
}

impl Sink for ProgressWriter<'_, '_> {
    #[inline]
    fn prims(&mut self, align: usize, elem: usize, src: &[u8]) -> Result<(), SerializeError> {
        if src.len() < 2 * PROGRESS_PIECE {
            return self.w.prims(align, elem, src);
        }
        let start = align_up(self.w.position(), align);
        let dst = self.w.reserve(align, src.len())?;
        let mut at = 0;
        while at < src.len() {
            // PROGRESS_PIECE is a multiple of every element size.
            let end = (at + PROGRESS_PIECE).min(src.len());
            copy_to_le(&mut dst[at..end], &src[at..end], elem);
            at = end;
            (self.progress)(self.base + start + at);
        }
        Ok(())
    }
    #[inline]
    fn u32(&mut self, v: u32) -> Result<(), SerializeError> {
        self.w.put_u32(v)
    }
    #[inline]
    fn bytes(&mut self, src: &[u8]) -> Result<(), SerializeError> {
        Sink::bytes(&mut self.w, src)
    }
    #[inline]
    fn position(&self) -> usize {
        self.w.position()
    }
}

fn invalid(f: &Field, reason: &'static str) -> SerializeError {
    SerializeError::InvalidMessage {
        field: f.name.clone(),
        reason,
    }
}

fn len_u32(f: &Field, len: usize) -> Result<u32, SerializeError> {
    u32::try_from(len).map_err(|_| SerializeError::TooLong {
        field: f.name.clone(),
        len,
    })
}

/// `BoundExceeded` when a bounded field holds more than its bound.
fn check_bound(f: &Field, len: usize, bound: Option<usize>) -> Result<(), SerializeError> {
    match bound {
        Some(b) if len > b => Err(SerializeError::BoundExceeded {
            field: f.name.clone(),
            len,
            bound: b,
        }),
        _ => Ok(()),
    }
}

/// Serializes (or sizes) the message at `msg`.
///
/// # Safety
/// `msg` points to a valid, initialized message of `layout`'s type and flavor
/// that is not mutated during the call.
pub(crate) unsafe fn write_message<S: Sink>(
    layout: &MessageLayout,
    msg: *const u8,
    out: &mut S,
) -> Result<(), SerializeError> {
    for f in &layout.fields {
        // SAFETY: offsets come from the type's introspection data, inside the struct.
        let p = unsafe { msg.add(f.offset) } as *mut u8;
        match f.arity {
            // SAFETY: `p` is the field inside a valid message.
            Arity::Single => unsafe { write_one(layout.flavor, f, &f.ty, p, out) }?,
            Arity::Array(_) | Arity::Sequence { .. } => {
                // SAFETY: `p` is the array/sequence field of a valid message.
                let e = unsafe { elems(layout.flavor, f, p, false) }.map_err(|r| invalid(f, r))?;
                let len = e.len();
                if let Arity::Sequence { bound } = f.arity {
                    check_bound(f, len, bound)?;
                    out.u32(len_u32(f, len)?)?;
                }
                match (&f.ty, &e) {
                    (FieldType::Primitive(prim), Elems::Contig { ptr, len, stride }) => {
                        if *len > 0 {
                            // SAFETY: `len` contiguous primitives of `stride` bytes at `ptr`.
                            let src = unsafe {
                                std::slice::from_raw_parts(*ptr as *const u8, len * stride)
                            };
                            out.prims(prim.align(), mem_size(*prim), src)?;
                        } else {
                            out.prims(prim.align(), mem_size(*prim), &[])?;
                        }
                    }
                    (FieldType::Primitive(_), Elems::Indirect { member, len }) => {
                        // std::vector<bool>: read through fetch_function.
                        let fetch = f.fns.fetch.ok_or_else(|| invalid(f, "no fetch function"))?;
                        let mut tmp = vec![0u8; *len];
                        for (i, slot) in tmp.iter_mut().enumerate() {
                            let mut b = false;
                            // SAFETY: valid index; `b` is a bool the function writes.
                            unsafe { fetch(*member, i, &mut b as *mut bool as *mut c_void) };
                            *slot = b as u8;
                        }
                        out.prims(1, 1, &tmp)?;
                    }
                    (FieldType::Message(m), Elems::Contig { ptr, len, stride })
                        if PLAIN_FAST_PATH && *len > 0 && plain_start(m, out.position()) =>
                    {
                        // Plain nested messages at an aligned position: CDR bytes ==
                        // memory bytes (see MessageLayout::plain_align).
                        // SAFETY: `len` contiguous elements of `stride` bytes at `ptr`.
                        let src =
                            unsafe { std::slice::from_raw_parts(*ptr as *const u8, len * stride) };
                        out.prims(m.plain_first_align, 1, src)?;
                    }
                    (ty, e) => {
                        for i in 0..len {
                            // SAFETY: i < len.
                            let ep =
                                unsafe { elem_ptr(f, e, i, false) }.map_err(|r| invalid(f, r))?;
                            // SAFETY: element pointer of a valid message.
                            unsafe { write_one(layout.flavor, f, ty, ep, out) }?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Writes one value of type `ty` stored at `p`.
///
/// # Safety
/// `p` points to a valid value of `ty` in `flavor` representation.
unsafe fn write_one<S: Sink>(
    flavor: Flavor,
    f: &Field,
    ty: &FieldType,
    p: *mut u8,
    out: &mut S,
) -> Result<(), SerializeError> {
    match ty {
        FieldType::Primitive(prim) => {
            // SAFETY: a primitive of mem_size bytes lives at p.
            let src = unsafe { std::slice::from_raw_parts(p as *const u8, mem_size(*prim)) };
            out.prims(prim.align(), mem_size(*prim), src)
        }
        FieldType::String { bound } => {
            // SAFETY: `p` is a string of this flavor.
            let bytes = unsafe { string_bytes(flavor, p) }.map_err(|r| invalid(f, r))?;
            // Fast-CDR serializes strings as C strings: up to the first NUL.
            let bytes = match bytes.iter().position(|&b| b == 0) {
                Some(i) => &bytes[..i],
                None => bytes,
            };
            check_bound(f, bytes.len(), *bound)?;
            out.u32(len_u32(f, bytes.len() + 1)?)?;
            out.bytes(bytes)?;
            out.bytes(&[0])
        }
        FieldType::WString { bound } => {
            // SAFETY: `p` is a u16 string of this flavor.
            let units = unsafe { wstring_units(flavor, p) }.map_err(|r| invalid(f, r))?;
            check_bound(f, units.len(), *bound)?;
            out.u32(len_u32(f, units.len())?)?;
            for &u in units {
                out.u32(u as u32)?;
            }
            Ok(())
        }
        // SAFETY: a nested message of that layout lives at p.
        FieldType::Message(m) => unsafe { write_message(m, p, out) },
    }
}

/// The characters of a string's storage; an empty string may have null
/// data, a non-empty one may not (`null` is the error then).
///
/// # Safety
/// Unless null, `data` points to `len` initialized, aligned `T`s that
/// outlive the returned slice.
unsafe fn string_storage<'a, T>(
    data: *const T,
    len: usize,
    null: &'static str,
) -> Result<&'a [T], &'static str> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(null);
    }
    // SAFETY: per contract, `data` is non-null here.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The bytes (without NUL) of a string.
///
/// # Safety
/// `p` points to a `rosidl_runtime_c__String` (C) or `std::string` (C++) that
/// outlives the returned slice.
unsafe fn string_bytes<'a>(flavor: Flavor, p: *mut u8) -> Result<&'a [u8], &'static str> {
    let (data, len) = match flavor {
        Flavor::C => {
            // SAFETY: per contract.
            let s = unsafe { &*(p as *const c::rosidl_runtime_c__String) };
            (s.data as *const u8, s.size)
        }
        // SAFETY: per contract, `p` is a std::string.
        Flavor::Cpp => unsafe {
            (
                renoir_cxx_string_data(p as *const c_void) as *const u8,
                renoir_cxx_string_size(p as *const c_void),
            )
        },
    };
    // SAFETY: `len` bytes at `data` belong to the string.
    unsafe { string_storage(data, len, "string with null data") }
}

/// The UTF-16 code units of a wide string.
///
/// # Safety
/// As [`string_bytes`] for `rosidl_runtime_c__U16String` / `std::u16string`.
unsafe fn wstring_units<'a>(flavor: Flavor, p: *mut u8) -> Result<&'a [u16], &'static str> {
    let (data, len) = match flavor {
        Flavor::C => {
            // SAFETY: per contract.
            let s = unsafe { &*(p as *const c::rosidl_runtime_c__U16String) };
            (s.data as *const u16, s.size)
        }
        // SAFETY: per contract, `p` is a std::u16string.
        Flavor::Cpp => unsafe {
            (
                renoir_cxx_u16string_data(p as *const c_void),
                renoir_cxx_u16string_size(p as *const c_void),
            )
        },
    };
    // SAFETY: `len` units at `data`, u16-aligned (char16_t storage).
    unsafe { string_storage(data, len, "wstring with null data") }
}

// ---------------------------------------------------------------------------
// Deserialization
// ---------------------------------------------------------------------------

/// Borrowing deserialization (loaned takes): C sequences of primitives are
/// pointed at their bytes in the input instead of being copied, when CDR
/// bytes equal memory bytes (little-endian host, not `long double`), the
/// run is at least `min_bytes` long and its address is aligned for the
/// element type. Everything else is deserialized as usual.
pub(crate) struct Borrow {
    /// 0: never borrow (plain deserialize).
    min_bytes: usize,
    /// Addresses of the `rosidl_runtime_c__*__Sequence` structs that now
    /// point into the input (they must be detached before the message is
    /// finalized: their data is not the allocator's).
    pub(crate) seqs: Vec<usize>,
}

impl Borrow {
    /// No borrowing.
    pub(crate) fn none() -> Borrow {
        Borrow {
            min_bytes: 0,
            seqs: Vec::new(),
        }
    }

    /// Borrow runs of at least `min_bytes` (at least 1) bytes.
    pub(crate) fn runs_of(min_bytes: usize) -> Borrow {
        Borrow {
            min_bytes: min_bytes.max(1),
            seqs: Vec::new(),
        }
    }

    /// If the C sequence field `f` at `p` with `n` elements next in `r`
    /// qualifies, points it at the input bytes, records it, advances `r`
    /// and returns true; otherwise leaves everything as it was.
    ///
    /// # Safety
    /// `p` is a C sequence field of a valid message, exclusively borrowed.
    unsafe fn try_borrow(
        &mut self,
        f: &Field,
        p: *mut u8,
        n: usize,
        r: &mut Reader<'_>,
    ) -> Result<bool, DeserializeError> {
        let FieldType::Primitive(prim) = f.ty else {
            return Ok(false);
        };
        if self.min_bytes == 0
            || !cfg!(target_endian = "little")
            || prim == Primitive::LongDouble
            || n == 0
        {
            return Ok(false);
        }
        let size = mem_size(prim);
        let Some(total) = n.checked_mul(size) else {
            return Ok(false);
        };
        if total < self.min_bytes {
            return Ok(false);
        }
        let mut ahead = r.clone();
        let src = ahead.take(prim.align(), total)?;
        // C primitives are aligned to their size on the supported targets.
        if !(src.as_ptr() as usize).is_multiple_of(size) {
            return Ok(false);
        }
        if prim == Primitive::Bool {
            check_bools(&ahead, src)?;
        }
        // SAFETY: a C sequence field has the RawSeq layout (checked at compile time).
        let seq = unsafe { &mut *(p as *mut RawSeq) };
        if !seq.data.is_null() {
            // Free what the init function allocated (default values):
            // the member's resize to 0 is its fini + init(0).
            // SAFETY: sequence field of a valid message, exclusively borrowed.
            unsafe { resize(Flavor::C, f, p, 0) }?;
        }
        // The message only reads through this pointer (the caller's
        // contract: the loan is read-only; shared-memory samples are mapped
        // read-only anyway).
        seq.data = src.as_ptr() as *mut u8;
        seq.size = n;
        seq.capacity = n;
        self.seqs.push(p as usize);
        *r = ahead;
        Ok(true)
    }
}

/// Points every sequence recorded in `seqs` back at nothing (null, 0, 0),
/// so finalizing the message frees none of the borrowed bytes.
///
/// # Safety
/// Each address is a C sequence struct of a live message (as recorded by a
/// borrowing deserialize of that message).
pub(crate) unsafe fn detach(seqs: &[usize]) {
    for &a in seqs {
        // SAFETY: per contract, a RawSeq-layout struct.
        let s = unsafe { &mut *(a as *mut RawSeq) };
        s.data = std::ptr::null_mut();
        s.size = 0;
        s.capacity = 0;
    }
}

fn dinvalid(f: &Field, reason: &'static str) -> DeserializeError {
    DeserializeError::InvalidMessage {
        field: f.name.clone(),
        reason,
    }
}

/// Checks that every byte of a bool run just taken from `r` is 0 or 1.
fn check_bools(r: &Reader<'_>, src: &[u8]) -> Result<(), DeserializeError> {
    validate::check_bools(r.position() - src.len(), src)
}

/// Fills the message at `msg` from CDR.
///
/// # Safety
/// `msg` points to a valid, initialized message of `layout`'s type and flavor,
/// exclusively borrowed for the call.
pub(crate) unsafe fn read_message(
    layout: &MessageLayout,
    msg: *mut u8,
    r: &mut Reader<'_>,
    b: &mut Borrow,
) -> Result<(), DeserializeError> {
    for f in &layout.fields {
        // SAFETY: offset inside the struct (from introspection).
        let p = unsafe { msg.add(f.offset) };
        match f.arity {
            // SAFETY: `p` is the field of a valid message.
            Arity::Single => unsafe { read_one(layout.flavor, f, &f.ty, p, r, b) }?,
            Arity::Array(n) => {
                // SAFETY: array field of a valid message.
                let e = unsafe { elems(layout.flavor, f, p, true) }.map_err(|x| dinvalid(f, x))?;
                // SAFETY: `e` describes exactly n elements of the field.
                unsafe { read_elems(layout.flavor, f, &e, n, r, b) }?;
            }
            Arity::Sequence { bound } => {
                // Refuses lengths the remaining input cannot possibly hold before allocating.
                let n = validate::seq_len(f, bound, r)?;
                if layout.flavor == Flavor::C {
                    // SAFETY: C sequence field of a valid message, exclusively borrowed.
                    if unsafe { b.try_borrow(f, p, n, r) }? {
                        continue;
                    }
                }
                // SAFETY: sequence field of a valid message, exclusively borrowed.
                if unsafe { assign_primitives(layout.flavor, f, p, n, r) }? {
                    continue;
                }
                // SAFETY: sequence field of a valid message.
                let cur =
                    unsafe { elems(layout.flavor, f, p, true) }.map_err(|x| dinvalid(f, x))?;
                if cur.len() != n {
                    // SAFETY: sequence field of a valid message, exclusively borrowed.
                    unsafe { resize(layout.flavor, f, p, n) }?;
                }
                // SAFETY: as above, after resizing.
                let e = unsafe { elems(layout.flavor, f, p, true) }.map_err(|x| dinvalid(f, x))?;
                if e.len() != n {
                    return Err(DeserializeError::ResizeFailed {
                        field: f.name.clone(),
                        len: n,
                    });
                }
                // SAFETY: `e` describes exactly n elements.
                unsafe { read_elems(layout.flavor, f, &e, n, r, b) }?;
            }
        }
    }
    Ok(())
}

/// Fills a sequence of `n` primitives (n > 0) from `r` with exactly one
/// copy of the bytes, when the sequence has to change size (little-endian
/// hosts). Returns false (nothing done) when the generic path must do it.
///
/// Why: the generic path resizes, then copies. A C resize is fini +
/// `zero_allocate`, a C++ one `std::vector::resize`, which value-initializes:
/// every byte written twice (measurable for camera images). Here a C
/// sequence gets uninitialized storage from the rcutils default allocator
/// (the one rosidl's sequence fini frees with), and a C++ vector is
/// `assign`ed from the input range (shim; only when the input is aligned
/// for the element type).
///
/// # Safety
/// `p` is the sequence field `f` of a valid message, exclusively borrowed.
unsafe fn assign_primitives(
    flavor: Flavor,
    f: &Field,
    p: *mut u8,
    n: usize,
    r: &mut Reader<'_>,
) -> Result<bool, DeserializeError> {
    let FieldType::Primitive(prim) = f.ty else {
        return Ok(false);
    };
    if n == 0 || !cfg!(target_endian = "little") {
        return Ok(false);
    }
    let elem = mem_size(prim);
    let Some(total) = n.checked_mul(elem) else {
        return Ok(false);
    };
    match flavor {
        Flavor::C => {
            // Bools keep the zeroing path: uninitialized C bools left by a
            // failed read would be invalid values.
            if prim == Primitive::Bool || prim == Primitive::LongDouble {
                return Ok(false);
            }
            // SAFETY: a C sequence field (RawSeq layout).
            if unsafe { &*(p as *const RawSeq) }.size == n {
                return Ok(false); // same size: the generic path copies in place
            }
            // Bounds first (nothing is allocated for a truncated input).
            r.need(total)?;
            // SAFETY: exclusively borrowed sequence field; fini + init(0).
            unsafe { resize(Flavor::C, f, p, 0) }?;
            // SAFETY: plain C call returning the allocator by value.
            let a = unsafe { c::rcutils_get_default_allocator() };
            let alloc = a
                .allocate
                .ok_or_else(|| dinvalid(f, "no default allocator"))?;
            // SAFETY: the default allocator's allocate with its own state.
            let d = unsafe { alloc(total, a.state) } as *mut u8;
            if d.is_null() {
                return Err(DeserializeError::ResizeFailed {
                    field: f.name.clone(),
                    len: n,
                });
            }
            // SAFETY: `d` has `total` writable bytes, exclusively ours.
            let dst = unsafe { std::slice::from_raw_parts_mut(d, total) };
            // Piece by piece for a streamed input (one piece otherwise).
            let copied = r.take_progressive(prim.align(), total, elem, |at, piece| {
                dst[at..at + piece.len()].copy_from_slice(piece)
            });
            if let Err(e) = copied {
                if let Some(free) = a.deallocate {
                    // SAFETY: the allocation above, freed by its allocator.
                    unsafe { free(d.cast(), a.state) };
                }
                return Err(e);
            }
            // SAFETY: a C sequence field; the storage is the default
            // allocator's, as its fini expects.
            let seq = unsafe { &mut *(p as *mut RawSeq) };
            seq.data = d;
            seq.size = n;
            seq.capacity = n;
            Ok(true)
        }
        Flavor::Cpp => {
            let kind = cxx_vector_kind(prim);
            if kind == 0 {
                return Ok(false);
            }
            if r.is_gated() {
                // A streamed input: append each piece as it is written.
                // Misaligned input: the generic path (resize + copy).
                if !r.next_addr(prim.align()).is_multiple_of(elem) {
                    return Ok(false);
                }
                let mut ok = true;
                let mut first = true;
                r.take_progressive(prim.align(), total, elem, |_, piece| {
                    // SAFETY: `p` is the std::vector of the type `kind`
                    // names; the shim appends piece.len()/elem elements
                    // (reserved once for n) and catches exceptions.
                    ok = ok
                        && unsafe {
                            renoir_cxx_vector_append(
                                p as *mut c_void,
                                kind,
                                piece.as_ptr().cast(),
                                piece.len() / elem,
                                n,
                                first,
                            )
                        };
                    first = false;
                })?;
                return if ok {
                    Ok(true)
                } else {
                    Err(DeserializeError::ResizeFailed {
                        field: f.name.clone(),
                        len: n,
                    })
                };
            }
            let mut ahead = r.clone();
            let src = ahead.take(prim.align(), total)?;
            // SAFETY: `p` is the std::vector of the type `kind` names
            // (rosidl_generator_cpp's mapping); the shim copies n elements
            // from `src` (total bytes) and catches exceptions.
            let ok =
                unsafe { renoir_cxx_vector_assign(p as *mut c_void, kind, src.as_ptr().cast(), n) };
            if ok {
                *r = ahead;
            }
            Ok(ok)
        }
    }
}

/// Resizes a sequence field.
///
/// # Safety
/// `p` is the sequence field of a valid message, exclusively borrowed.
unsafe fn resize(flavor: Flavor, f: &Field, p: *mut u8, n: usize) -> Result<(), DeserializeError> {
    match flavor {
        Flavor::C => {
            let rs = f
                .fns
                .resize_c
                .ok_or_else(|| dinvalid(f, "no resize function"))?;
            // SAFETY: the member's own resize function (fini + init of the sequence).
            if unsafe { rs(p as *mut c_void, n) } {
                Ok(())
            } else {
                Err(DeserializeError::ResizeFailed {
                    field: f.name.clone(),
                    len: n,
                })
            }
        }
        Flavor::Cpp => {
            let rs = f
                .fns
                .resize_cpp
                .ok_or_else(|| dinvalid(f, "no resize function"))?;
            // SAFETY: the member's own resize function (std::vector::resize). `n` is
            // bounded by the remaining input, so the allocation is bounded too.
            unsafe { rs(p as *mut c_void, n) };
            Ok(())
        }
    }
}

/// Reads `n` elements into `e`.
///
/// # Safety
/// `e` describes `n` elements of field `f` of a valid, exclusively borrowed message.
unsafe fn read_elems(
    flavor: Flavor,
    f: &Field,
    e: &Elems,
    n: usize,
    r: &mut Reader<'_>,
    b: &mut Borrow,
) -> Result<(), DeserializeError> {
    match (&f.ty, e) {
        (FieldType::Primitive(prim), Elems::Contig { ptr, stride, .. }) => {
            if n == 0 {
                if ALIGN_EMPTY_ARRAYS {
                    r.take(prim.align(), 0)?;
                }
                return Ok(());
            }
            let total = n.checked_mul(*stride).ok_or(DeserializeError::Truncated {
                offset: r.position(),
                needed: usize::MAX,
            })?;
            if *prim == Primitive::Bool {
                let src = r.take(prim.align(), total)?;
                check_bools(r, src)?;
                // SAFETY: `n * stride` bytes of element storage at `ptr`, exclusively ours.
                let dst = unsafe { std::slice::from_raw_parts_mut(*ptr, total) };
                dst.copy_from_slice(src);
                return Ok(());
            }
            // SAFETY: `n * stride` bytes of element storage at `ptr`, exclusively ours.
            let dst = unsafe { std::slice::from_raw_parts_mut(*ptr, total) };
            let elem = mem_size(*prim);
            // Piece by piece for a streamed input (one piece otherwise).
            r.take_progressive(prim.align(), total, elem, |at, piece| {
                copy_from_le(&mut dst[at..at + piece.len()], piece, elem)
            })
        }
        (FieldType::Primitive(_), Elems::Indirect { member, .. }) => {
            // std::vector<bool>
            let assign = f
                .fns
                .assign
                .ok_or_else(|| dinvalid(f, "no assign function"))?;
            let src = r.take(1, n)?;
            check_bools(r, src)?;
            for (i, &b) in src.iter().enumerate() {
                let v = b == 1;
                // SAFETY: valid index; `v` is a bool the function copies from.
                unsafe { assign(*member, i, &v as *const bool as *const c_void) };
            }
            Ok(())
        }
        (FieldType::Message(m), Elems::Contig { ptr, stride, .. })
            if PLAIN_FAST_PATH && n > 0 && plain_start(m, r.position()) =>
        {
            let total = n.checked_mul(*stride).ok_or(DeserializeError::Truncated {
                offset: r.position(),
                needed: usize::MAX,
            })?;
            let src = r.take(m.plain_first_align, total)?;
            // SAFETY: `n` contiguous plain elements (no pointers, no bools) of
            // `stride` bytes at `ptr`, exclusively ours; any bit pattern is valid.
            let dst = unsafe { std::slice::from_raw_parts_mut(*ptr, total) };
            dst.copy_from_slice(src);
            Ok(())
        }
        (ty, e) => {
            for i in 0..n {
                // SAFETY: i < n = e.len().
                let ep = unsafe { elem_ptr(f, e, i, true) }.map_err(|x| dinvalid(f, x))?;
                // SAFETY: element of a valid message.
                unsafe { read_one(flavor, f, ty, ep, r, b) }?;
            }
            Ok(())
        }
    }
}

/// Reads one value of `ty` into `p`.
///
/// # Safety
/// `p` points to a valid value of `ty` (flavor representation), exclusively borrowed.
unsafe fn read_one(
    flavor: Flavor,
    f: &Field,
    ty: &FieldType,
    p: *mut u8,
    r: &mut Reader<'_>,
    b: &mut Borrow,
) -> Result<(), DeserializeError> {
    match ty {
        FieldType::Primitive(prim) => {
            let n = mem_size(*prim);
            let src = r.take(prim.align(), n)?;
            if *prim == Primitive::Bool {
                check_bools(r, src)?;
            }
            // SAFETY: a primitive of n bytes lives at p.
            let dst = unsafe { std::slice::from_raw_parts_mut(p, n) };
            copy_from_le(dst, src, n);
            Ok(())
        }
        FieldType::String { bound } => {
            let content = validate::string_body(f, *bound, r)?;
            // A C string ends at its first NUL (what rmw_fastrtps' C type support
            // assigns too); std::string keeps every byte.
            let content = match (flavor, content.iter().position(|&b| b == 0)) {
                (Flavor::C, Some(i)) => &content[..i],
                _ => content,
            };
            let ok = match flavor {
                // SAFETY: `p` is an initialized rosidl_runtime_c__String; assignn copies.
                Flavor::C => unsafe {
                    c::rosidl_runtime_c__String__assignn(
                        p as *mut c::rosidl_runtime_c__String,
                        content.as_ptr() as *const c_char,
                        content.len(),
                    )
                },
                // SAFETY: `p` is a std::string; the shim copies and catches exceptions.
                Flavor::Cpp => unsafe {
                    renoir_cxx_string_assign(
                        p as *mut c_void,
                        content.as_ptr() as *const c_char,
                        content.len(),
                    )
                },
            };
            if ok {
                Ok(())
            } else {
                Err(DeserializeError::ResizeFailed {
                    field: f.name.clone(),
                    len: content.len(),
                })
            }
        }
        FieldType::WString { bound } => {
            let mut units = Vec::new();
            let len = validate::wstring_units(f, *bound, r, |u| units.push(u))?;
            let ok = match flavor {
                // SAFETY: `p` is an initialized U16String; assignn copies `len` units.
                Flavor::C => unsafe {
                    c::rosidl_runtime_c__U16String__assignn(
                        p as *mut c::rosidl_runtime_c__U16String,
                        units.as_ptr(),
                        units.len(),
                    )
                },
                // SAFETY: `p` is a std::u16string; the shim copies and catches exceptions.
                Flavor::Cpp => unsafe {
                    renoir_cxx_u16string_assign(p as *mut c_void, units.as_ptr(), units.len())
                },
            };
            if ok {
                Ok(())
            } else {
                Err(DeserializeError::ResizeFailed {
                    field: f.name.clone(),
                    len,
                })
            }
        }
        // SAFETY: a nested message of that layout lives at p.
        FieldType::Message(m) => unsafe { read_message(m, p, r, b) },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ffi::introspect::{InitFn, MemberFns};
    use crate::layout::plain_align;

    fn field(name: &str, ty: FieldType, arity: Arity, offset: usize) -> Field {
        Field {
            name: name.into(),
            ty,
            arity,
            offset,
            fns: MemberFns::default(),
        }
    }

    fn layout(name: &str, size_of: usize, fields: Vec<Field>) -> Arc<MessageLayout> {
        let plain = plain_align(&fields, size_of);
        Arc::new(MessageLayout {
            package: "t".into(),
            subfolder: "msg".into(),
            name: name.into(),
            flavor: Flavor::C,
            size_of,
            min_cdr_size: 1,
            plain_align: plain.map(|p| p.0),
            plain_first_align: plain.map_or(1, |p| p.1),
            fields,
            init_fn: InitFn::C {
                init: None,
                fini: None,
            },
        })
    }

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Default)]
    struct Inner {
        a: u32,
        b: u32,
        c: f64,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Default)]
    struct OuterU8 {
        x: u8,
        arr: [Inner; 2],
    }

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Default)]
    struct OuterF64 {
        x: f64,
        arr: [Inner; 2],
    }

    fn inner() -> Arc<MessageLayout> {
        layout(
            "Inner",
            16,
            vec![
                field("a", FieldType::Primitive(Primitive::U32), Arity::Single, 0),
                field("b", FieldType::Primitive(Primitive::U32), Arity::Single, 4),
                field("c", FieldType::Primitive(Primitive::F64), Arity::Single, 8),
            ],
        )
    }

    fn roundtrip<T: Copy + PartialEq + std::fmt::Debug + Default>(
        l: &MessageLayout,
        v: &T,
    ) -> Vec<u8> {
        let mut c = Counter(0);
        // SAFETY: `v` is a valid T described by `l`.
        unsafe { write_message(l, v as *const T as *const u8, &mut c) }.unwrap();
        let mut buf = vec![0xEEu8; c.0];
        let mut w = Writer::new(&mut buf);
        // SAFETY: as above.
        unsafe { write_message(l, v as *const T as *const u8, &mut w) }.unwrap();
        assert_eq!(w.position(), c.0);
        let mut back = T::default();
        let mut r = Reader::new(&buf);
        // SAFETY: `back` is a valid T, exclusively borrowed.
        unsafe {
            read_message(
                l,
                &mut back as *mut T as *mut u8,
                &mut r,
                &mut Borrow::none(),
            )
        }
        .unwrap();
        assert_eq!(&back, v);
        buf
    }

    #[test]
    fn plain_type_detection() {
        let i = inner();
        assert_eq!(i.plain_align, Some(8));
        assert_eq!(i.plain_first_align, 4);
        // Padding inside or at the end in memory: not plain.
        let inside = layout(
            "Inside",
            16,
            vec![
                field("a", FieldType::Primitive(Primitive::U32), Arity::Single, 0),
                field("b", FieldType::Primitive(Primitive::F64), Arity::Single, 8),
            ],
        );
        assert_eq!(inside.plain_align, None);
        let tail = layout(
            "Tail",
            16,
            vec![
                field("b", FieldType::Primitive(Primitive::F64), Arity::Single, 0),
                field("a", FieldType::Primitive(Primitive::U32), Arity::Single, 8),
            ],
        );
        assert_eq!(tail.plain_align, None);
    }

    /// The two `Inner` elements both plain-nested tests write.
    const TWO: [Inner; 2] = [Inner { a: 1, b: 5, c: 2.0 }, Inner { a: 3, b: 6, c: 4.0 }];

    /// Layout of an `Outer*` struct: a primitive `x`, then `arr: [Inner; 2]`
    /// at offset 8.
    fn outer<T>(name: &str, x: Primitive) -> Arc<MessageLayout> {
        layout(
            name,
            std::mem::size_of::<T>(),
            vec![
                field("x", FieldType::Primitive(x), Arity::Single, 0),
                field("arr", FieldType::Message(inner()), Arity::Array(2), 8),
            ],
        )
    }

    #[test]
    fn plain_nested_unaligned_start_takes_per_element_path() {
        let l = outer::<OuterU8>("OuterU8", Primitive::U8);
        let v = OuterU8 { x: 7, arr: TWO };
        let bytes = roundtrip(&l, &v);
        // Per element: x@0, a0@4, b0@8, c0@16 (padded), a1@24, b1@28, c1@32.
        let mut want = vec![7u8, 0, 0, 0];
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&5u32.to_le_bytes());
        want.extend_from_slice(&[0; 4]);
        want.extend_from_slice(&2f64.to_le_bytes());
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(&6u32.to_le_bytes());
        want.extend_from_slice(&4f64.to_le_bytes());
        assert_eq!(bytes, want);
    }

    #[test]
    fn plain_nested_aligned_start_is_memcpy() {
        let l = outer::<OuterF64>("OuterF64", Primitive::F64);
        let v = OuterF64 { x: 0.5, arr: TWO };
        let bytes = roundtrip(&l, &v);
        let mut want = 0.5f64.to_le_bytes().to_vec();
        for (a, b, c) in [(1u32, 5u32, 2f64), (3, 6, 4.0)] {
            want.extend_from_slice(&a.to_le_bytes());
            want.extend_from_slice(&b.to_le_bytes());
            want.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(bytes, want);
    }
}
