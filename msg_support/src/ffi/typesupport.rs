//! The public entry points: resolved message / service type supports with
//! CDR size / serialize / deserialize.

use std::ffi::c_void;
use std::fmt;
use std::sync::Arc;

use super::handle_cache::HandleCache;
use super::introspect as ffi;
use super::introspect::{RawMessageTypeSupport, RawServiceTypeSupport};
use super::walk::{detach, read_message, write_message, Borrow, Counter, ProgressWriter};
use crate::cdr::{split_header, Gate, Reader, Writer, ENCAPSULATION_LE};
use crate::error::{DeserializeError, ResolveError, SerializeError};
use crate::layout::{Flavor, MessageLayout};

/// A rosidl type hash (`rosidl_type_hash_t`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeHash {
    /// Hash version (1 = RIHS01, SHA-256 of the type description).
    pub version: u8,
    /// The 32 hash bytes.
    pub value: [u8; 32],
}

impl TypeHash {
    /// `RIHS01_<64 hex digits>`.
    pub fn to_rihs_string(&self) -> String {
        let mut s = format!("RIHS{:02x}_", self.version);
        for b in self.value {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Debug for TypeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rihs_string())
    }
}

fn hash_of(h: Option<(u8, [u8; 32])>) -> Option<TypeHash> {
    match h {
        Some((version, value)) if version != 0 => Some(TypeHash { version, value }),
        _ => None,
    }
}

/// Everything needed to move one message type between its in-memory
/// representation and CDR. Obtain with [`MessageTypeSupport::resolve`]
/// (cached per handle, cheap to call on every publisher/subscription creation).
#[derive(Debug)]
pub struct MessageTypeSupport {
    layout: Arc<MessageLayout>,
    type_name: String,
    type_hash: Option<TypeHash>,
    handle_identifier: String,
}

static MESSAGES: HandleCache<MessageTypeSupport> = HandleCache::new();

impl MessageTypeSupport {
    /// Resolves the `const rosidl_message_type_support_t *` rcl passes to rmw
    /// (the rosidl_typesupport_c / _cpp dispatcher, or an introspection handle).
    /// Finds the introspection_c (for C handles) or introspection_cpp (for C++
    /// handles) type support, builds the layout once and caches it by handle.
    ///
    /// # Safety
    /// `handle` is null or a valid `rosidl_message_type_support_t` whose
    /// libraries stay loaded for the rest of the process (as rcl guarantees).
    pub unsafe fn resolve(handle: *const c_void) -> Result<Arc<MessageTypeSupport>, ResolveError> {
        let key = handle as usize;
        if let Some(ts) = MESSAGES.get(key) {
            return Ok(ts);
        }
        // SAFETY: forwarded contract.
        let r = unsafe { ffi::resolve_message(handle as RawMessageTypeSupport) }?;
        let ts = Arc::new(MessageTypeSupport {
            type_name: r.layout.type_name(),
            layout: r.layout,
            type_hash: hash_of(r.hash),
            handle_identifier: r.identifier,
        });
        // A concurrent resolver may have won the race: everyone gets the cached one.
        Ok(MESSAGES.insert(key, ts))
    }

    /// `pkg/msg/Name`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The DDS type name used by rmw_fastrtps (`pkg::msg::dds_::Name_`).
    pub fn dds_type_name(&self) -> String {
        self.layout.dds_type_name()
    }

    /// The RIHS type hash, when the type support provides one (Jazzy does).
    pub fn type_hash(&self) -> Option<TypeHash> {
        self.type_hash
    }

    /// The identifier of the handle this was resolved from.
    pub fn handle_identifier(&self) -> &str {
        &self.handle_identifier
    }

    /// The message layout (fields, offsets, nested types).
    pub fn layout(&self) -> &Arc<MessageLayout> {
        &self.layout
    }

    /// C or C++ in-memory representation.
    pub fn flavor(&self) -> Flavor {
        self.layout.flavor
    }

    /// `sizeof` the message struct.
    pub fn size_of(&self) -> usize {
        self.layout.size_of
    }

    /// Exact CDR size of `msg` including the 4-byte encapsulation header.
    ///
    /// # Safety
    /// `msg` points to a valid, initialized message of this type and flavor,
    /// not mutated during the call.
    pub unsafe fn serialized_size(&self, msg: *const c_void) -> Result<usize, SerializeError> {
        // SAFETY: forwarded contract.
        unsafe { serialized_size(&self.layout, msg) }
    }

    /// Serializes `msg` into `out` (header + body) and returns the number of
    /// bytes written (= [`Self::serialized_size`]). `out` must be at least that
    /// large; nothing is allocated. Padding is written as zeros.
    ///
    /// # Safety
    /// As [`Self::serialized_size`].
    pub unsafe fn serialize(
        &self,
        msg: *const c_void,
        out: &mut [u8],
    ) -> Result<usize, SerializeError> {
        // SAFETY: forwarded contract.
        unsafe { serialize(&self.layout, msg, out) }
    }

    /// Serializes like [`Self::serialize`] and, while copying large
    /// primitive arrays, calls `progress(k)` each time bytes `0..k` of
    /// `out` are final (a streamed publish: readers follow the writer).
    /// Bytes are written front to back, each once.
    ///
    /// # Safety
    /// As [`Self::serialized_size`].
    pub unsafe fn serialize_streaming(
        &self,
        msg: *const c_void,
        out: &mut [u8],
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, SerializeError> {
        let capacity = out.len();
        if capacity < ENCAPSULATION_LE.len() {
            return Err(SerializeError::BufferTooSmall { capacity });
        }
        let (head, body) = out.split_at_mut(ENCAPSULATION_LE.len());
        head.copy_from_slice(&ENCAPSULATION_LE);
        let mut w = ProgressWriter {
            w: Writer::new(body),
            base: ENCAPSULATION_LE.len(),
            progress,
        };
        // SAFETY: forwarded contract.
        unsafe { write_message(&self.layout, msg as *const u8, &mut w) }.map_err(|e| match e {
            SerializeError::BufferTooSmall { .. } => SerializeError::BufferTooSmall { capacity },
            e => e,
        })?;
        Ok(w.w.position() + ENCAPSULATION_LE.len())
    }

    /// Deserializes like [`Self::deserialize`] from an input its producer
    /// is still writing front to back: `gate(k)` waits until bytes `0..k`
    /// are final and returns how many are. Large primitive arrays are
    /// copied piece by piece as they become final, so this copy overlaps
    /// the producer's. Nothing at or above the gate's answer is read.
    ///
    /// # Safety
    /// As [`Self::deserialize`].
    pub unsafe fn deserialize_gated(
        &self,
        bytes: &[u8],
        msg: *mut c_void,
        gate: Gate<'_>,
    ) -> Result<(), DeserializeError> {
        let head = ENCAPSULATION_LE.len().min(bytes.len());
        let got =
            gate(head).map_err(|reason| DeserializeError::Incomplete { offset: 0, reason })?;
        if got < head {
            return Err(DeserializeError::Incomplete {
                offset: got,
                reason: "the gate returned less than asked".into(),
            });
        }
        let body = split_header(bytes)?;
        let mut r = Reader::gated(body, ENCAPSULATION_LE.len(), gate);
        // SAFETY: forwarded contract.
        unsafe { read_message(&self.layout, msg as *mut u8, &mut r, &mut Borrow::none()) }
    }

    /// Convenience: size, allocate and serialize.
    ///
    /// # Safety
    /// As [`Self::serialized_size`].
    pub unsafe fn serialize_to_vec(&self, msg: *const c_void) -> Result<Vec<u8>, SerializeError> {
        // SAFETY: forwarded contract.
        let n = unsafe { self.serialized_size(msg) }?;
        let mut v = vec![0u8; n];
        // SAFETY: forwarded contract.
        let w = unsafe { self.serialize(msg, &mut v) }?;
        v.truncate(w);
        Ok(v)
    }

    /// Deserializes `bytes` (header + body, possibly untrusted) into `msg`.
    /// Never reads outside `bytes`; malformed input returns an error and may
    /// leave `msg` partially updated (still valid to use and finalize).
    ///
    /// # Safety
    /// `msg` points to a valid, initialized message of this type and flavor,
    /// exclusively borrowed for the call.
    pub unsafe fn deserialize(
        &self,
        bytes: &[u8],
        msg: *mut c_void,
    ) -> Result<(), DeserializeError> {
        // SAFETY: forwarded contract.
        unsafe { deserialize(&self.layout, bytes, msg) }
    }

    /// Deserializes like [`Self::deserialize`], except that for the C
    /// representation every sequence of primitives (not `long double`) of at
    /// least `min_bytes` bytes whose bytes in `bytes` are aligned for the
    /// element type is not copied: its `data` points into `bytes`, `size` =
    /// `capacity` = the element count (little-endian hosts only; nested
    /// messages and sequences/arrays of messages included). Strings, fixed
    /// arrays and everything else are copied as usual. For the C++
    /// representation nothing is borrowed.
    ///
    /// On error nothing stays borrowed (the message is valid to finalize).
    ///
    /// # Safety
    /// As [`Self::deserialize`]; in addition `msg` is freshly initialized
    /// (a sequence's existing storage is freed before borrowing), `bytes`
    /// outlives every use of the message, nobody writes through or resizes a
    /// borrowed sequence, and [`Borrowed::detach`] is called before the
    /// message is finalized.
    pub unsafe fn deserialize_borrowing(
        &self,
        bytes: &[u8],
        msg: *mut c_void,
        min_bytes: usize,
    ) -> Result<Borrowed, DeserializeError> {
        let body = split_header(bytes)?;
        let mut r = Reader::new(body);
        let mut b = Borrow::runs_of(min_bytes);
        // SAFETY: forwarded contract.
        match unsafe { read_message(&self.layout, msg as *mut u8, &mut r, &mut b) } {
            Ok(()) => Ok(Borrowed { seqs: b.seqs }),
            Err(e) => {
                // SAFETY: the recorded sequences belong to `msg`, still alive.
                unsafe { detach(&b.seqs) };
                Err(e)
            }
        }
    }

    /// Checks untrusted `bytes` exactly as [`Self::deserialize`] would, without
    /// writing any message; returns the bytes the message occupies.
    pub fn validate(&self, bytes: &[u8]) -> Result<usize, DeserializeError> {
        crate::validate::validate(&self.layout, bytes)
    }

    /// Validates `bytes` and returns the range of the element bytes of the
    /// top-level primitive field `name` (e.g. `data` of `sensor_msgs/Image`),
    /// for zero-copy views into a shared-memory sample.
    pub fn primitive_field_range(
        &self,
        bytes: &[u8],
        name: &str,
    ) -> Result<Option<std::ops::Range<usize>>, DeserializeError> {
        crate::validate::primitive_field_range(&self.layout, bytes, name)
    }

    /// Initializes a message in place (the type's init function, all defaults).
    /// Returns false when the type support has no init function.
    ///
    /// # Safety
    /// `msg` points to [`Self::size_of`] writable, suitably aligned
    /// (16 bytes is always enough) uninitialized bytes.
    pub unsafe fn init_message(&self, msg: *mut c_void) -> bool {
        // SAFETY: forwarded contract.
        unsafe { ffi::init_message(&self.layout, msg) }
    }

    /// Finalizes a message initialized with [`Self::init_message`] (frees its
    /// strings and sequences).
    ///
    /// # Safety
    /// `msg` was initialized with this type's init function and is not used afterwards.
    pub unsafe fn fini_message(&self, msg: *mut c_void) -> bool {
        // SAFETY: forwarded contract.
        unsafe { ffi::fini_message(&self.layout, msg) }
    }
}

/// Exact CDR size (header included) of `msg` described by `layout`.
///
/// # Safety
/// See [`MessageTypeSupport::serialized_size`].
pub unsafe fn serialized_size(
    layout: &MessageLayout,
    msg: *const c_void,
) -> Result<usize, SerializeError> {
    let mut c = Counter(0);
    // SAFETY: forwarded contract.
    unsafe { write_message(layout, msg as *const u8, &mut c) }?;
    Ok(c.0 + ENCAPSULATION_LE.len())
}

/// Serializes `msg` described by `layout` into `out`.
///
/// # Safety
/// See [`MessageTypeSupport::serialize`].
pub unsafe fn serialize(
    layout: &MessageLayout,
    msg: *const c_void,
    out: &mut [u8],
) -> Result<usize, SerializeError> {
    if out.len() < ENCAPSULATION_LE.len() {
        return Err(SerializeError::BufferTooSmall {
            capacity: out.len(),
        });
    }
    let capacity = out.len();
    let (head, body) = out.split_at_mut(ENCAPSULATION_LE.len());
    head.copy_from_slice(&ENCAPSULATION_LE);
    let mut w = Writer::new(body);
    // SAFETY: forwarded contract.
    unsafe { write_message(layout, msg as *const u8, &mut w) }.map_err(|e| match e {
        SerializeError::BufferTooSmall { .. } => SerializeError::BufferTooSmall { capacity },
        e => e,
    })?;
    Ok(w.position() + ENCAPSULATION_LE.len())
}

/// Deserializes `bytes` into `msg` described by `layout`.
///
/// # Safety
/// See [`MessageTypeSupport::deserialize`].
pub unsafe fn deserialize(
    layout: &MessageLayout,
    bytes: &[u8],
    msg: *mut c_void,
) -> Result<(), DeserializeError> {
    let body = split_header(bytes)?;
    let mut r = Reader::new(body);
    // SAFETY: forwarded contract.
    unsafe { read_message(layout, msg as *mut u8, &mut r, &mut Borrow::none()) }
}

/// The sequences of a message that a borrowing deserialize
/// ([`MessageTypeSupport::deserialize_borrowing`]) pointed into its input.
/// They must be [`detach`](Borrowed::detach)ed before the message is
/// finalized, and the input must outlive the message until then.
#[derive(Debug, Default)]
pub struct Borrowed {
    /// Addresses of the borrowed `rosidl_runtime_c__*__Sequence` structs.
    seqs: Vec<usize>,
}

impl Borrowed {
    /// Number of sequences pointing into the input.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// True when nothing was borrowed (the message owns all its memory).
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Sets every borrowed sequence to null data, size 0, capacity 0 (what
    /// the type's fini then leaves alone), and forgets them.
    ///
    /// # Safety
    /// The message these came from is still alive and was not moved.
    pub unsafe fn detach(&mut self) {
        // SAFETY: forwarded contract: the recorded structs are alive.
        unsafe { detach(&self.seqs) };
        self.seqs.clear();
    }
}

/// Request and response type supports of a service.
#[derive(Debug)]
pub struct ServiceTypeSupport {
    /// `pkg/srv/Name`.
    pub type_name: String,
    /// The service's RIHS hash, if provided.
    pub type_hash: Option<TypeHash>,
    /// The request message (`pkg/srv/Name_Request`).
    pub request: Arc<MessageTypeSupport>,
    /// The response message (`pkg/srv/Name_Response`).
    pub response: Arc<MessageTypeSupport>,
}

static SERVICES: HandleCache<ServiceTypeSupport> = HandleCache::new();

impl ServiceTypeSupport {
    /// Resolves the `const rosidl_service_type_support_t *` rcl passes.
    ///
    /// # Safety
    /// `handle` is null or a valid `rosidl_service_type_support_t` whose
    /// libraries stay loaded.
    pub unsafe fn resolve(handle: *const c_void) -> Result<Arc<ServiceTypeSupport>, ResolveError> {
        let key = handle as usize;
        if let Some(ts) = SERVICES.get(key) {
            return Ok(ts);
        }
        // SAFETY: forwarded contract.
        let r = unsafe { ffi::resolve_service(handle as RawServiceTypeSupport) }?;
        let ident = String::new();
        let mk = |layout: Arc<MessageLayout>, h| {
            Arc::new(MessageTypeSupport {
                type_name: layout.type_name(),
                layout,
                type_hash: hash_of(h),
                handle_identifier: ident.clone(),
            })
        };
        let ts = Arc::new(ServiceTypeSupport {
            type_name: format!("{}/srv/{}", r.package, r.name),
            type_hash: hash_of(r.hash),
            request: mk(r.request, r.request_hash),
            response: mk(r.response, r.response_hash),
        });
        // A concurrent resolver may have won the race: everyone gets the cached one.
        Ok(SERVICES.insert(key, ts))
    }
}
