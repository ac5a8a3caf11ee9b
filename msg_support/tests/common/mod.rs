//! Shared test helpers: loading the ROS 2 libraries of the venv / install,
//! calling rmw_fastrtps_cpp's rmw_serialize / rmw_deserialize, owning
//! messages, and generating valid random CDR for a layout.
#![allow(dead_code)]

use std::alloc::Layout;
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libloading::Library;
use msg_support::{Arity, FieldType, MessageLayout, MessageTypeSupport, Primitive};

/// Library directories baked in by build.rs (`RENOIR_ROS_LIBS` at run time wins).
pub fn lib_dirs() -> Vec<PathBuf> {
    let list = std::env::var("RENOIR_ROS_LIBS")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| env!("RENOIR_BUILD_ROS_LIBS").to_string());
    std::env::split_paths(&list).collect()
}

/// Makes the rosidl dispatchers (which search LD_LIBRARY_PATH themselves,
/// through rcpputils::find_library_path) find the type support libraries.
/// The test binary itself finds its direct dependencies through its RPATH.
pub fn setup_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let mut dirs = lib_dirs();
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            dirs.extend(std::env::split_paths(&old));
        }
        let joined = std::env::join_paths(dirs).expect("join paths");
        std::env::set_var("LD_LIBRARY_PATH", joined);
    });
}

fn find_lib(name: &str) -> PathBuf {
    for d in lib_dirs() {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} not found in {:?}: eval \"$(scripts/ros_env.sh)\" first",
        lib_dirs()
    );
}

/// Loads (once, never unloaded) a library from the ROS prefix.
pub fn lib(name: &str) -> &'static Library {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static LIBS: OnceLock<Mutex<HashMap<String, &'static Library>>> = OnceLock::new();
    setup_env();
    let mut m = LIBS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap();
    if let Some(l) = m.get(name) {
        return l;
    }
    let path = find_lib(name);
    // SAFETY: loading a ROS library; its initializers are what any ROS process runs.
    let l: &'static Library = Box::leak(Box::new(unsafe { Library::new(&path) }.expect("dlopen")));
    m.insert(name.to_string(), l);
    l
}

type GetTs = unsafe extern "C" fn() -> *const c_void;

/// The rosidl_typesupport_c dispatcher handle of `pkg/msg/Name` (what rcl passes for C).
pub fn c_handle(pkg: &str, name: &str) -> *const c_void {
    let l = lib(&format!("lib{pkg}__rosidl_typesupport_c.so"));
    let sym =
        format!("rosidl_typesupport_c__get_message_type_support_handle__{pkg}__msg__{name}\0");
    // SAFETY: the symbol has this signature (rosidl generated).
    unsafe { l.get::<GetTs>(sym.as_bytes()).expect("dlsym")() }
}

/// The rosidl_typesupport_cpp dispatcher handle (what rclcpp passes).
pub fn cpp_handle(pkg: &str, name: &str) -> *const c_void {
    let l = lib(&format!("lib{pkg}__rosidl_typesupport_cpp.so"));
    let sym =
        format!("rosidl_typesupport_cpp__get_message_type_support_handle__{pkg}__msg__{name}\0");
    // SAFETY: as above.
    unsafe { l.get::<GetTs>(sym.as_bytes()).expect("dlsym")() }
}

/// The introspection_c handle directly.
pub fn introspection_c_handle(pkg: &str, name: &str) -> *const c_void {
    let l = lib(&format!("lib{pkg}__rosidl_typesupport_introspection_c.so"));
    let sym = format!(
        "rosidl_typesupport_introspection_c__get_message_type_support_handle__{pkg}__msg__{name}\0"
    );
    // SAFETY: as above.
    unsafe { l.get::<GetTs>(sym.as_bytes()).expect("dlsym")() }
}

/// The service dispatcher handle (C).
pub fn c_service_handle(pkg: &str, name: &str) -> *const c_void {
    let l = lib(&format!("lib{pkg}__rosidl_typesupport_c.so"));
    let sym =
        format!("rosidl_typesupport_c__get_service_type_support_handle__{pkg}__srv__{name}\0");
    // SAFETY: as above.
    unsafe { l.get::<GetTs>(sym.as_bytes()).expect("dlsym")() }
}

/// The service dispatcher handle (C++).
pub fn cpp_service_handle(pkg: &str, name: &str) -> *const c_void {
    let l = lib(&format!("lib{pkg}__rosidl_typesupport_cpp.so"));
    let sym =
        format!("rosidl_typesupport_cpp__get_service_type_support_handle__{pkg}__srv__{name}\0");
    // SAFETY: as above.
    unsafe { l.get::<GetTs>(sym.as_bytes()).expect("dlsym")() }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RcutilsAllocator {
    allocate: *const c_void,
    deallocate: *const c_void,
    reallocate: *const c_void,
    zero_allocate: *const c_void,
    state: *mut c_void,
}

#[repr(C)]
struct Uint8Array {
    buffer: *mut u8,
    buffer_length: usize,
    buffer_capacity: usize,
    allocator: RcutilsAllocator,
}

type SerFn = unsafe extern "C" fn(*const c_void, *const c_void, *mut Uint8Array) -> i32;
type DeFn = unsafe extern "C" fn(*const Uint8Array, *const c_void, *mut c_void) -> i32;

struct Rmw {
    ser: SerFn,
    de: DeFn,
    alloc: RcutilsAllocator,
    init: unsafe extern "C" fn(*mut Uint8Array, usize, *const RcutilsAllocator) -> i32,
    fini: unsafe extern "C" fn(*mut Uint8Array) -> i32,
}
// SAFETY: plain function pointers / the stateless default allocator.
unsafe impl Send for Rmw {}
// SAFETY: as above.
unsafe impl Sync for Rmw {}

fn rmw() -> &'static Rmw {
    static RMW: OnceLock<Rmw> = OnceLock::new();
    RMW.get_or_init(|| {
        let r = lib("librmw_fastrtps_cpp.so");
        let u = lib("librcutils.so");
        // SAFETY: documented rmw / rcutils signatures.
        unsafe {
            let get_alloc = *u
                .get::<unsafe extern "C" fn() -> RcutilsAllocator>(
                    b"rcutils_get_default_allocator\0",
                )
                .unwrap();
            Rmw {
                ser: *r.get::<SerFn>(b"rmw_serialize\0").unwrap(),
                de: *r.get::<DeFn>(b"rmw_deserialize\0").unwrap(),
                alloc: get_alloc(),
                init: *u.get(b"rcutils_uint8_array_init\0").unwrap(),
                fini: *u.get(b"rcutils_uint8_array_fini\0").unwrap(),
            }
        }
    })
}

/// A reusable rmw_serialized_message_t for rmw_fastrtps_cpp's rmw_serialize.
pub struct RmwBuf {
    a: Uint8Array,
}

impl RmwBuf {
    pub fn new(cap: usize) -> RmwBuf {
        let r = rmw();
        let mut a = Uint8Array {
            buffer: std::ptr::null_mut(),
            buffer_length: 0,
            buffer_capacity: 0,
            allocator: r.alloc,
        };
        // SAFETY: documented API; the buffer is cap bytes and we zero it.
        unsafe {
            assert_eq!((r.init)(&mut a, cap, &r.alloc), 0);
            std::ptr::write_bytes(a.buffer, 0, cap);
        }
        RmwBuf { a }
    }

    /// rmw_serialize into this buffer; returns `buffer[..buffer_length]`.
    ///
    /// # Safety
    /// `msg` is a valid message for `handle`.
    pub unsafe fn serialize(&mut self, msg: *const c_void, handle: *const c_void) -> &[u8] {
        let r = rmw();
        // SAFETY: documented API.
        unsafe {
            let rc = (r.ser)(msg, handle, &mut self.a);
            assert_eq!(rc, 0, "rmw_serialize failed");
            std::slice::from_raw_parts(self.a.buffer, self.a.buffer_length)
        }
    }
}

impl Drop for RmwBuf {
    fn drop(&mut self) {
        // SAFETY: initialized by rcutils_uint8_array_init.
        unsafe { (rmw().fini)(&mut self.a) };
    }
}

/// rmw_fastrtps_cpp's `rmw_serialize`, into a zero-filled buffer (Fast-CDR skips
/// padding bytes without writing them).
///
/// # Safety
/// `msg` is a valid message for `handle`.
pub unsafe fn rmw_serialize(msg: *const c_void, handle: *const c_void) -> Vec<u8> {
    let mut b = RmwBuf::new(1 << 16);
    // SAFETY: forwarded.
    unsafe { b.serialize(msg, handle) }.to_vec()
}

/// Like [`rmw_serialize`] with a buffer of `cap` bytes.
///
/// # Safety
/// As [`rmw_serialize`].
pub unsafe fn rmw_serialize_cap(msg: *const c_void, handle: *const c_void, cap: usize) -> Vec<u8> {
    let mut b = RmwBuf::new(cap);
    // SAFETY: forwarded.
    unsafe { b.serialize(msg, handle) }.to_vec()
}

/// CDR of a `sensor_msgs/Image` with `w x h` rgb8 pixels (pattern data).
pub fn image_cdr(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0u8, 1, 0, 0];
    let mut body = Vec::new();
    body.extend_from_slice(&1_700_000_000i32.to_le_bytes()); // stamp.sec
    body.extend_from_slice(&123_456_789u32.to_le_bytes()); // stamp.nanosec
    let frame = b"camera_optical\0";
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(frame);
    while body.len() % 4 != 0 {
        body.push(0);
    }
    body.extend_from_slice(&h.to_le_bytes());
    body.extend_from_slice(&w.to_le_bytes());
    let enc = b"rgb8\0";
    body.extend_from_slice(&(enc.len() as u32).to_le_bytes());
    body.extend_from_slice(enc);
    body.push(0); // is_bigendian
    while body.len() % 4 != 0 {
        body.push(0);
    }
    body.extend_from_slice(&(w * 3).to_le_bytes()); // step
    let n = (w * h * 3) as usize;
    body.extend_from_slice(&(n as u32).to_le_bytes());
    body.extend((0..n).map(|i| (i * 7 + i / 4096) as u8));
    v.extend_from_slice(&body);
    v
}

/// rmw_fastrtps_cpp's `rmw_deserialize`; returns its rmw_ret_t.
///
/// # Safety
/// `msg` is a valid, initialized message for `handle`.
pub unsafe fn rmw_deserialize(bytes: &[u8], handle: *const c_void, msg: *mut c_void) -> i32 {
    let r = rmw();
    let a = Uint8Array {
        buffer: bytes.as_ptr() as *mut u8,
        buffer_length: bytes.len(),
        buffer_capacity: bytes.len(),
        allocator: r.alloc,
    };
    // SAFETY: documented API; the buffer is only read.
    unsafe { (r.de)(&a, handle, msg) }
}

/// An owned, initialized message of some type support.
pub struct Msg {
    pub ts: Arc<MessageTypeSupport>,
    ptr: *mut u8,
    alloc: Layout,
}

impl Msg {
    pub fn new(ts: &Arc<MessageTypeSupport>) -> Msg {
        let alloc = Layout::from_size_align(ts.size_of().max(1), 16).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(alloc) };
        assert!(!ptr.is_null());
        // SAFETY: fresh, aligned, size_of bytes.
        assert!(unsafe { ts.init_message(ptr as *mut c_void) });
        Msg {
            ts: ts.clone(),
            ptr,
            alloc,
        }
    }
    pub fn ptr(&self) -> *mut c_void {
        self.ptr as *mut c_void
    }
    /// Our serializer.
    pub fn ser(&self) -> Vec<u8> {
        // SAFETY: initialized message of this type.
        let n = unsafe { self.ts.serialized_size(self.ptr()) }.unwrap();
        let mut v = vec![0xAAu8; n];
        // SAFETY: as above.
        let w = unsafe { self.ts.serialize(self.ptr(), &mut v) }.unwrap();
        assert_eq!(
            w, n,
            "serialize wrote a different length than serialized_size"
        );
        v
    }
    /// Our deserializer.
    pub fn de(&mut self, bytes: &[u8]) -> Result<(), msg_support::DeserializeError> {
        // SAFETY: initialized message, exclusively borrowed.
        unsafe { self.ts.deserialize(bytes, self.ptr()) }
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // SAFETY: initialized by init_message; freed once.
        unsafe {
            self.ts.fini_message(self.ptr());
            std::alloc::dealloc(self.ptr, self.alloc);
        }
    }
}

/// xorshift64*.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Generates a valid random CDR body for `layout`, independently of the
/// library's encoder (Fast-CDR XCDR1 rules), for comparison with rmw_fastrtps.
pub struct Gen {
    pub out: Vec<u8>,
    pub rng: Rng,
    /// Make every sequence / string empty.
    pub empty: bool,
    /// Max sequence length used for unbounded sequences.
    pub max_seq: usize,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            out: Vec::new(),
            rng: Rng(seed | 1),
            empty: false,
            max_seq: 5,
        }
    }
    fn align(&mut self, a: usize) {
        while self.out.len() & (a - 1) != 0 {
            self.out.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn prim(&mut self, p: Primitive) {
        self.align(p.align());
        let r = self.rng.next();
        match p {
            Primitive::Bool => self.out.push((r & 1) as u8),
            Primitive::F32 => {
                let v = (r as i32 as f32) / 1024.0;
                self.out.extend_from_slice(&v.to_le_bytes())
            }
            Primitive::F64 => {
                let v = (r as i64 as f64) / 3.0e6;
                self.out.extend_from_slice(&v.to_le_bytes())
            }
            Primitive::LongDouble => self.out.extend_from_slice(&[0u8; 16]),
            _ => self.out.extend_from_slice(&r.to_le_bytes()[..p.size()]),
        }
    }
    fn len(&mut self, bound: Option<usize>, max: usize) -> usize {
        if self.empty {
            return 0;
        }
        let m = bound.map_or(max, |b| b.min(max));
        self.rng.below(m + 1)
    }
    fn one(&mut self, ty: &FieldType) {
        match ty {
            FieldType::Primitive(p) => self.prim(*p),
            FieldType::String { bound } => {
                let n = self.len(*bound, 20);
                self.u32(n as u32 + 1);
                for _ in 0..n {
                    let c = b' ' + self.rng.below(95) as u8;
                    self.out.push(c);
                }
                self.out.push(0);
            }
            FieldType::WString { bound } => {
                let n = self.len(*bound, 10);
                self.u32(n as u32);
                for _ in 0..n {
                    let c = 0x20 + self.rng.below(0xd000) as u32;
                    self.u32(c);
                }
            }
            FieldType::Message(m) => self.message(m),
        }
    }
    pub fn message(&mut self, layout: &MessageLayout) {
        for f in &layout.fields {
            match f.arity {
                Arity::Single => self.one(&f.ty),
                Arity::Array(n) => {
                    for _ in 0..n {
                        self.one(&f.ty);
                    }
                }
                Arity::Sequence { bound } => {
                    let n = self.len(bound, self.max_seq);
                    self.u32(n as u32);
                    for _ in 0..n {
                        self.one(&f.ty);
                    }
                }
            }
        }
    }
    /// Header + body.
    pub fn cdr(layout: &MessageLayout, seed: u64, empty: bool) -> Vec<u8> {
        let mut g = Gen::new(seed);
        g.empty = empty;
        g.message(layout);
        let mut v = vec![0, 1, 0, 0];
        v.extend_from_slice(&g.out);
        v
    }
}

/// Compares our CDR with rmw_serialize's output. rmw_fastrtps reports the
/// *estimated* size as buffer_length (Fast-CDR's get_serialized_size, which
/// for bounded types may exceed the bytes actually written); the bytes after
/// what Fast-CDR wrote are untouched (zero, since we zero the buffer first).
/// So: identical prefix, and nothing but zeros after it.
pub fn same_as_fastrtps(ours: &[u8], theirs: &[u8]) -> Result<(), String> {
    if theirs.len() < ours.len()
        || theirs[..ours.len()] != *ours
        || theirs[ours.len()..].iter().any(|&b| b != 0)
    {
        return Err(diff(ours, theirs));
    }
    Ok(())
}

/// Describes the first difference of two byte strings.
pub fn diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let lo = i.saturating_sub(8);
    format!(
        "lengths {} vs {}, first difference at {i}:\n  ours/expected {:02x?}\n  theirs        {:02x?}",
        a.len(),
        b.len(),
        &a[lo..(i + 16).min(a.len())],
        &b[lo..(i + 16).min(b.len())]
    )
}

/// Resolves a handle, panicking with the error.
pub fn resolve(handle: *const c_void) -> Arc<MessageTypeSupport> {
    // SAFETY: a valid handle from the loaded type support libraries.
    unsafe { MessageTypeSupport::resolve(handle) }.expect("resolve")
}

/// The message types the byte-compatibility test covers.
pub const TYPES: &[(&str, &str)] = &[
    ("test_msgs", "BasicTypes"),
    ("test_msgs", "Arrays"),
    ("test_msgs", "BoundedSequences"),
    ("test_msgs", "UnboundedSequences"),
    ("test_msgs", "Strings"),
    ("test_msgs", "WStrings"),
    ("test_msgs", "Nested"),
    ("test_msgs", "MultiNested"),
    ("test_msgs", "Constants"),
    ("test_msgs", "Defaults"),
    ("test_msgs", "Empty"),
    ("test_msgs", "BoundedPlainSequences"),
    ("test_msgs", "Builtins"),
    ("sensor_msgs", "Image"),
    ("sensor_msgs", "PointCloud2"),
    ("sensor_msgs", "LaserScan"),
    ("std_msgs", "String"),
    ("geometry_msgs", "PoseArray"),
    ("geometry_msgs", "Polygon"),
    ("geometry_msgs", "Pose"),
];
