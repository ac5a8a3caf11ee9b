//! Resolving rosidl type support handles to introspection data and turning
//! that data into safe [`MessageLayout`]s.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use super::bindings::{c, cpp};
use super::handle_cache::HandleCache;
use crate::error::ResolveError;
use crate::layout::{Arity, Field, FieldType, Flavor, MessageLayout, Primitive};

const ID_C: &CStr = c"rosidl_typesupport_introspection_c";
const ID_CPP: &CStr = c"rosidl_typesupport_introspection_cpp";

type SizeFn = unsafe extern "C" fn(*const c_void) -> usize;
type GetConstFn = unsafe extern "C" fn(*const c_void, usize) -> *const c_void;
type GetFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FetchFn = unsafe extern "C" fn(*const c_void, usize, *mut c_void);
type AssignFn = unsafe extern "C" fn(*mut c_void, usize, *const c_void);

/// The accessor functions introspection provides for array / sequence members.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemberFns {
    pub size: Option<SizeFn>,
    pub get_const: Option<GetConstFn>,
    pub get: Option<GetFn>,
    pub fetch: Option<FetchFn>,
    pub assign: Option<AssignFn>,
    pub resize_c: Option<unsafe extern "C" fn(*mut c_void, usize) -> bool>,
    pub resize_cpp: Option<unsafe extern "C" fn(*mut c_void, usize)>,
}

/// The message init / fini functions of a layout.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InitFn {
    C {
        init:
            Option<unsafe extern "C" fn(*mut c_void, c::rosidl_runtime_c__message_initialization)>,
        fini: Option<unsafe extern "C" fn(*mut c_void)>,
    },
    Cpp {
        init: Option<
            unsafe extern "C" fn(*mut c_void, cpp::rosidl_runtime_cpp_MessageInitialization),
        >,
        fini: Option<unsafe extern "C" fn(*mut c_void)>,
    },
}

// SAFETY: the function pointers and the introspection data they came from are
// immutable static data of the loaded type support library; calling them from
// any thread is what rmw implementations do. The layout is only valid while
// that library stays loaded (type support libraries are never unloaded by rcl).
unsafe impl Send for MemberFns {}
// SAFETY: see above; the struct is immutable.
unsafe impl Sync for MemberFns {}
// SAFETY: see above.
unsafe impl Send for InitFn {}
// SAFETY: see above.
unsafe impl Sync for InitFn {}

/// `const rosidl_message_type_support_t *`.
pub(crate) type RawMessageTypeSupport = *const c::rosidl_message_type_support_t;
/// `const rosidl_service_type_support_t *`.
pub(crate) type RawServiceTypeSupport = *const c::rosidl_service_type_support_t;

/// Result of resolving a message handle.
pub(crate) struct Resolved {
    pub layout: Arc<MessageLayout>,
    pub hash: Option<(u8, [u8; 32])>,
    pub identifier: String,
}

static LAYOUTS: HandleCache<MessageLayout> = HandleCache::new();

extern "C" {
    fn rcutils_reset_error();
}

/// Reads a possibly-null C string.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives the call.
unsafe fn cstr(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null and NUL-terminated per the caller's contract.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// Hash of a message type support handle, if it provides one.
///
/// # Safety
/// `ts` is a valid, non-null type support handle.
unsafe fn message_hash(ts: *const c::rosidl_message_type_support_t) -> Option<(u8, [u8; 32])> {
    // SAFETY: `ts` is valid per the contract.
    let f = unsafe { (*ts).get_type_hash_func }?;
    // SAFETY: the handle's own hash function called with the handle, as rcl does.
    let h = unsafe { f(ts) };
    if h.is_null() {
        return None;
    }
    // SAFETY: non-null pointer to a static rosidl_type_hash_t.
    let h = unsafe { &*h };
    Some((h.version, h.value))
}

/// Identifier string of a handle.
///
/// # Safety
/// `ts` valid and non-null.
unsafe fn identifier(ts: *const c::rosidl_message_type_support_t) -> String {
    // SAFETY: per contract.
    unsafe { cstr((*ts).typesupport_identifier) }.unwrap_or_default()
}

/// Looks up the introspection handle (`id`) behind `ts` through the handle's
/// dispatch function. Returns null when that type support is not available.
///
/// # Safety
/// `ts` valid and non-null.
unsafe fn lookup(
    ts: *const c::rosidl_message_type_support_t,
    id: &CStr,
) -> *const c::rosidl_message_type_support_t {
    // SAFETY: `ts` valid per contract.
    let own = unsafe { (*ts).typesupport_identifier };
    // SAFETY: the identifier is a static NUL-terminated string.
    if !own.is_null() && unsafe { CStr::from_ptr(own) } == id {
        return ts;
    }
    // SAFETY: `ts` valid per contract.
    if unsafe { (*ts).func }.is_none() {
        return std::ptr::null();
    }
    // SAFETY: rosidl's documented lookup; `ts` valid with a non-null func.
    let r = unsafe { c::get_message_typesupport_handle(ts, id.as_ptr()) };
    if r.is_null() {
        // The dispatcher set an rcutils error message; we handle the miss ourselves.
        // SAFETY: plain C call without arguments.
        unsafe { rcutils_reset_error() };
    }
    r
}

/// Resolves a message type support handle (typically the rosidl_typesupport_c or
/// _cpp dispatcher rcl passes) to a layout, preferring the introspection flavor
/// that matches the handle.
///
/// # Safety
/// `ts` is null or a valid rosidl message type support handle whose library
/// stays loaded for the life of the process.
pub(crate) unsafe fn resolve_message(
    ts: *const c::rosidl_message_type_support_t,
) -> Result<Resolved, ResolveError> {
    if ts.is_null() {
        return Err(ResolveError::NullHandle);
    }
    // SAFETY: non-null, valid per contract.
    let ident = unsafe { identifier(ts) };
    let prefer_cpp = ident.contains("cpp");
    let order: [(&CStr, Flavor); 2] = if prefer_cpp {
        [(ID_CPP, Flavor::Cpp), (ID_C, Flavor::C)]
    } else {
        [(ID_C, Flavor::C), (ID_CPP, Flavor::Cpp)]
    };
    for (id, flavor) in order {
        // SAFETY: valid handle per contract.
        let h = unsafe { lookup(ts, id) };
        if h.is_null() {
            continue;
        }
        // SAFETY: `h` is a valid introspection handle returned by rosidl.
        let data = unsafe { (*h).data };
        if data.is_null() {
            return Err(ResolveError::Invalid(
                "introspection handle has null data".into(),
            ));
        }
        // SAFETY: the data of an introspection handle is its MessageMembers struct.
        let layout = unsafe { layout_from_members(data, flavor, None) }?;
        // SAFETY: both handles are valid.
        let hash = unsafe { message_hash(ts) }.or_else(|| unsafe { message_hash(h) });
        return Ok(Resolved {
            layout,
            hash,
            identifier: ident,
        });
    }
    Err(ResolveError::NoIntrospection { identifier: ident })
}

/// Request / response layouts of a service.
pub(crate) struct ResolvedService {
    pub request: Arc<MessageLayout>,
    pub response: Arc<MessageLayout>,
    pub package: String,
    pub name: String,
    pub hash: Option<(u8, [u8; 32])>,
    pub request_hash: Option<(u8, [u8; 32])>,
    pub response_hash: Option<(u8, [u8; 32])>,
}

/// Resolves a service type support handle.
///
/// # Safety
/// As [`resolve_message`], for a `rosidl_service_type_support_t`.
pub(crate) unsafe fn resolve_service(
    ts: *const c::rosidl_service_type_support_t,
) -> Result<ResolvedService, ResolveError> {
    if ts.is_null() {
        return Err(ResolveError::NullHandle);
    }
    // SAFETY: valid per contract.
    let t = unsafe { &*ts };
    // SAFETY: static NUL-terminated string or null.
    let ident = unsafe { cstr(t.typesupport_identifier) }.unwrap_or_default();
    let prefer_cpp = ident.contains("cpp");
    let order: [(&CStr, Flavor); 2] = if prefer_cpp {
        [(ID_CPP, Flavor::Cpp), (ID_C, Flavor::C)]
    } else {
        [(ID_C, Flavor::C), (ID_CPP, Flavor::Cpp)]
    };
    // SAFETY (helper): `p` is null or a valid message handle.
    let mhash = |p: *const c::rosidl_message_type_support_t| {
        if p.is_null() {
            None
        } else {
            // SAFETY: non-null handle from the service handle.
            unsafe { message_hash(p) }
        }
    };
    for (id, flavor) in order {
        let own_matches = !t.typesupport_identifier.is_null()
            // SAFETY: static NUL-terminated identifier.
            && unsafe { CStr::from_ptr(t.typesupport_identifier) } == id;
        let h = if own_matches {
            ts
        } else if t.func.is_none() {
            std::ptr::null()
        } else {
            // SAFETY: rosidl's lookup on a valid handle with a func.
            let r = unsafe { c::get_service_typesupport_handle(ts, id.as_ptr()) };
            if r.is_null() {
                // SAFETY: plain C call.
                unsafe { rcutils_reset_error() };
            }
            r
        };
        if h.is_null() {
            continue;
        }
        // SAFETY: valid introspection service handle.
        let data = unsafe { (*h).data };
        if data.is_null() {
            return Err(ResolveError::Invalid(
                "service introspection data is null".into(),
            ));
        }
        // Both flavors' ServiceMembers have the same C layout:
        // { ns, name, request_members_, response_members_, event_members_ }.
        let (ns, name, req, resp) = match flavor {
            Flavor::C => {
                // SAFETY: data of a C introspection service handle.
                let s = unsafe {
                    &*(data as *const c::rosidl_typesupport_introspection_c__ServiceMembers)
                };
                (
                    s.service_namespace_,
                    s.service_name_,
                    s.request_members_ as *const c_void,
                    s.response_members_ as *const c_void,
                )
            }
            Flavor::Cpp => {
                // SAFETY: data of a C++ introspection service handle.
                let s = unsafe {
                    &*(data as *const cpp::rosidl_typesupport_introspection_cpp_ServiceMembers_s)
                };
                (
                    s.service_namespace_,
                    s.service_name_,
                    s.request_members_ as *const c_void,
                    s.response_members_ as *const c_void,
                )
            }
        };
        if req.is_null() || resp.is_null() {
            return Err(ResolveError::Invalid(
                "service without request/response members".into(),
            ));
        }
        // SAFETY: static strings or null.
        let ns = unsafe { cstr(ns) }.unwrap_or_default();
        // SAFETY: as above.
        let name = unsafe { cstr(name) }.unwrap_or_default();
        let (package, _) = split_namespace(&ns);
        // SAFETY: request/response members of a valid service introspection struct.
        let request = unsafe { layout_from_members(req, flavor, None) }?;
        // SAFETY: as above.
        let response = unsafe { layout_from_members(resp, flavor, None) }?;
        let hash = match t.get_type_hash_func {
            Some(f) => {
                // SAFETY: the service handle's own hash function.
                let p = unsafe { f(ts) };
                if p.is_null() {
                    None
                } else {
                    // SAFETY: non-null static hash.
                    let p = unsafe { &*p };
                    Some((p.version, p.value))
                }
            }
            None => None,
        };
        return Ok(ResolvedService {
            request,
            response,
            package,
            name,
            hash,
            request_hash: mhash(t.request_typesupport),
            response_hash: mhash(t.response_typesupport),
        });
    }
    Err(ResolveError::NoIntrospection { identifier: ident })
}

/// `test_msgs__msg` / `test_msgs::msg` -> (`test_msgs`, `msg`).
fn split_namespace(ns: &str) -> (String, String) {
    let parts: Vec<&str> = if ns.contains("::") {
        ns.split("::").collect()
    } else {
        ns.split("__").collect()
    };
    match parts.as_slice() {
        [] => (String::new(), String::new()),
        [p] => (p.to_string(), "msg".to_string()),
        [p, rest @ ..] => (p.to_string(), rest.join("/")),
    }
}

fn primitive_of(type_id: u8) -> Option<Primitive> {
    Some(match type_id {
        1 => Primitive::F32,
        2 => Primitive::F64,
        3 => Primitive::LongDouble,
        4 => Primitive::Char,
        5 => Primitive::WChar,
        6 => Primitive::Bool,
        7 => Primitive::Octet,
        8 => Primitive::U8,
        9 => Primitive::I8,
        10 => Primitive::U16,
        11 => Primitive::I16,
        12 => Primitive::U32,
        13 => Primitive::I32,
        14 => Primitive::U64,
        15 => Primitive::I64,
        _ => return None,
    })
}

const TYPE_STRING: u8 = 16;
const TYPE_WSTRING: u8 = 17;
const TYPE_MESSAGE: u8 = 18;

/// The flavor-independent part of one introspection member.
struct RawMember {
    name: *const c_char,
    type_id: u8,
    string_upper_bound: usize,
    members: *const c::rosidl_message_type_support_t,
    is_array: bool,
    array_size: usize,
    is_upper_bound: bool,
    offset: u32,
    fns: MemberFns,
}

/// (namespace, name, member count, size, members array, init/fini) of a C
/// or C++ introspection `MessageMembers` (same field names in both).
macro_rules! members_info {
    ($m:expr, $flavor:ident) => {
        (
            $m.message_namespace_,
            $m.message_name_,
            $m.member_count_,
            $m.size_of_,
            $m.members_ as *const c_void,
            InitFn::$flavor {
                init: $m.init_function,
                fini: $m.fini_function,
            },
        )
    };
}

/// A [`RawMember`] from a C or C++ introspection `MessageMember` (the two
/// bindgen structs have the same field names); the flavor's resize
/// function goes to `resize_c` or `resize_cpp`, the other stays `None`.
macro_rules! raw_member {
    ($m:expr, $resize:ident: $f:expr) => {
        RawMember {
            name: $m.name_,
            type_id: $m.type_id_,
            string_upper_bound: $m.string_upper_bound_,
            members: $m.members_,
            is_array: $m.is_array_,
            array_size: $m.array_size_,
            is_upper_bound: $m.is_upper_bound_,
            offset: $m.offset_,
            fns: MemberFns {
                size: $m.size_function,
                get_const: $m.get_const_function,
                get: $m.get_function,
                fetch: $m.fetch_function,
                assign: $m.assign_function,
                $resize: $f,
                ..MemberFns::default()
            },
        }
    };
}

/// Builds (or fetches from the cache) the layout for a MessageMembers struct.
///
/// # Safety
/// `members` points to a valid `rosidl_typesupport_introspection_{c,cpp}__MessageMembers`
/// of the given flavor, in a library that stays loaded.
pub(crate) unsafe fn layout_from_members(
    members: *const c_void,
    flavor: Flavor,
    depth: Option<usize>,
) -> Result<Arc<MessageLayout>, ResolveError> {
    let depth = depth.unwrap_or(0);
    if depth > 64 {
        return Err(ResolveError::Invalid(
            "message nesting deeper than 64".into(),
        ));
    }
    let key = members as usize;
    if let Some(l) = LAYOUTS.get(key) {
        return Ok(l);
    }
    let (ns, name, count, size_of, member_ptr, init_fn): (_, _, u32, usize, *const c_void, InitFn) =
        match flavor {
            Flavor::C => {
                // SAFETY: per contract.
                let m = unsafe {
                    &*(members as *const c::rosidl_typesupport_introspection_c__MessageMembers)
                };
                members_info!(m, C)
            }
            Flavor::Cpp => {
                // SAFETY: per contract.
                let m = unsafe {
                    &*(members as *const cpp::rosidl_typesupport_introspection_cpp_MessageMembers_s)
                };
                members_info!(m, Cpp)
            }
        };
    // SAFETY: static strings of the type support library.
    let ns = unsafe { cstr(ns) }.unwrap_or_default();
    // SAFETY: as above.
    let name = unsafe { cstr(name) }.unwrap_or_default();
    let (package, subfolder) = split_namespace(&ns);
    if count > 0 && member_ptr.is_null() {
        return Err(ResolveError::Invalid(format!(
            "{ns}/{name}: null members array"
        )));
    }
    let mut fields = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let raw = match flavor {
            Flavor::C => {
                // SAFETY: `members_` is an array of `member_count_` entries.
                let m = unsafe {
                    &*(member_ptr as *const c::rosidl_typesupport_introspection_c__MessageMember)
                        .add(i)
                };
                raw_member!(m, resize_c: m.resize_function)
            }
            Flavor::Cpp => {
                // SAFETY: as above, C++ flavor.
                let m = unsafe {
                    &*(member_ptr
                        as *const cpp::rosidl_typesupport_introspection_cpp_MessageMember_s)
                        .add(i)
                };
                raw_member!(m, resize_cpp: m.resize_function)
            }
        };
        // SAFETY: static string.
        let fname = unsafe { cstr(raw.name) }.unwrap_or_default();
        let bound = |b: usize| if b == 0 { None } else { Some(b) };
        let ty = match raw.type_id {
            TYPE_STRING => FieldType::String {
                bound: bound(raw.string_upper_bound),
            },
            TYPE_WSTRING => FieldType::WString {
                bound: bound(raw.string_upper_bound),
            },
            TYPE_MESSAGE => {
                if raw.members.is_null() {
                    return Err(ResolveError::Invalid(format!(
                        "{ns}/{name}.{fname}: nested type without members"
                    )));
                }
                // SAFETY: `members_` of a message member is the nested type's introspection handle.
                let data = unsafe { (*raw.members).data };
                if data.is_null() {
                    return Err(ResolveError::Invalid(format!(
                        "{ns}/{name}.{fname}: nested handle without data"
                    )));
                }
                // SAFETY: the nested handle's data is a MessageMembers of the same flavor.
                FieldType::Message(unsafe { layout_from_members(data, flavor, Some(depth + 1)) }?)
            }
            t => match primitive_of(t) {
                Some(p) => FieldType::Primitive(p),
                None => {
                    return Err(ResolveError::Invalid(format!(
                        "{ns}/{name}.{fname}: unknown type id {t}"
                    )))
                }
            },
        };
        let arity = if !raw.is_array {
            Arity::Single
        } else if raw.array_size > 0 && !raw.is_upper_bound {
            Arity::Array(raw.array_size)
        } else {
            Arity::Sequence {
                bound: if raw.is_upper_bound {
                    Some(raw.array_size)
                } else {
                    None
                },
            }
        };
        if raw.is_array && matches!(arity, Arity::Sequence { .. }) {
            let ok = match flavor {
                Flavor::C => raw.fns.resize_c.is_some(),
                Flavor::Cpp => raw.fns.resize_cpp.is_some() && raw.fns.size.is_some(),
            };
            if !ok {
                return Err(ResolveError::Invalid(format!(
                    "{ns}/{name}.{fname}: sequence without resize/size function"
                )));
            }
        }
        fields.push(Field {
            name: fname,
            ty,
            arity,
            offset: raw.offset as usize,
            fns: raw.fns,
        });
    }
    let min_cdr_size = fields
        .iter()
        .map(|f| f.min_cdr_size())
        .fold(0usize, usize::saturating_add)
        .max(1);
    let plain = crate::layout::plain_align(&fields, size_of);
    let layout = Arc::new(MessageLayout {
        package,
        subfolder,
        name,
        flavor,
        size_of,
        fields,
        min_cdr_size,
        plain_align: plain.map(|p| p.0),
        plain_first_align: plain.map_or(1, |p| p.1),
        init_fn,
    });
    // A concurrent resolver may have won the race: everyone gets the cached one.
    Ok(LAYOUTS.insert(key, layout))
}

/// Calls the message's init function (`ROSIDL_RUNTIME_C_MSG_INIT_ALL` / `MessageInitialization::ALL`).
///
/// # Safety
/// `msg` points to `layout.size_of` writable bytes, suitably aligned, not initialized
/// (or already finalized).
pub(crate) unsafe fn init_message(layout: &MessageLayout, msg: *mut c_void) -> bool {
    match layout.init_fn {
        InitFn::C { init: Some(f), .. } => {
            // SAFETY: per contract; ALL = 0.
            unsafe {
                f(
                    msg,
                    c::rosidl_runtime_c__message_initialization_ROSIDL_RUNTIME_C_MSG_INIT_ALL,
                )
            };
            true
        }
        InitFn::Cpp { init: Some(f), .. } => {
            // SAFETY: per contract (placement-new constructor).
            unsafe { f(msg, cpp::rosidl_runtime_cpp_MessageInitialization::ALL) };
            true
        }
        _ => false,
    }
}

/// Calls the message's fini function.
///
/// # Safety
/// `msg` points to a message initialized with [`init_message`] of this layout.
pub(crate) unsafe fn fini_message(layout: &MessageLayout, msg: *mut c_void) -> bool {
    let f = match layout.init_fn {
        InitFn::C { fini, .. } | InitFn::Cpp { fini, .. } => fini,
    };
    match f {
        Some(f) => {
            // SAFETY: per contract.
            unsafe { f(msg) };
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::split_namespace;

    #[test]
    fn namespaces() {
        assert_eq!(
            split_namespace("test_msgs__msg"),
            ("test_msgs".into(), "msg".into())
        );
        assert_eq!(
            split_namespace("test_msgs::srv"),
            ("test_msgs".into(), "srv".into())
        );
    }
}
