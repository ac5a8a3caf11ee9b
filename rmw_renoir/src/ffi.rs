//! The boundary: error mapping, panic containment, and the raw-pointer
//! helpers the `extern "C"` entry points use to turn C arguments into Rust
//! references and Rust values back into rcutils-allocated C data.

use crate::sys::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The implementation identifier every rmw object carries.
pub const IDENTIFIER: &CStr = c"rmw_renoir";
/// The serialization format of rmw_serialize and of the wire.
pub const SERIALIZATION_FORMAT: &CStr = c"cdr";

/// An rmw error: a return code and the message to set.
#[derive(Debug, Clone)]
pub struct RmwError {
    pub code: rmw_ret_t,
    pub msg: String,
}

pub type RResult<T> = Result<T, RmwError>;

impl RmwError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        RmwError {
            code: code as rmw_ret_t,
            msg: msg.into(),
        }
    }
    pub fn error(msg: impl Into<String>) -> Self {
        Self::new(RMW_RET_ERROR, msg)
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(RMW_RET_INVALID_ARGUMENT, msg)
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Self::new(RMW_RET_UNSUPPORTED, msg)
    }
    pub fn bad_alloc(msg: impl Into<String>) -> Self {
        Self::new(RMW_RET_BAD_ALLOC, msg)
    }
    pub fn incorrect_impl(what: &str) -> Self {
        Self::new(
            RMW_RET_INCORRECT_RMW_IMPLEMENTATION,
            format!("{what} implementation identifier does not match rmw_renoir"),
        )
    }
    /// A timeout: a code without an error message.
    pub fn timeout() -> Self {
        Self::new(RMW_RET_TIMEOUT, "")
    }
}

/// Set the thread-local rmw (rcutils) error state.
pub fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: both strings are valid NUL-terminated C strings for the call;
    // rcutils copies the message into its thread-local storage.
    unsafe { rcutils_set_error_state(c.as_ptr(), c"rmw_renoir".as_ptr(), 0) };
}

fn report(e: &RmwError) -> rmw_ret_t {
    if !e.msg.is_empty() {
        set_error(&e.msg);
    }
    e.code
}

/// Run an entry point body: map errors to rmw_ret_t and set the error
/// message; a panic never crosses the C boundary.
pub fn ret(f: impl FnOnce() -> RResult<()>) -> rmw_ret_t {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => RMW_RET_OK as rmw_ret_t,
        Ok(Err(e)) => report(&e),
        Err(_) => {
            set_error("rmw_renoir: internal panic (caught at the C boundary)");
            RMW_RET_ERROR as rmw_ret_t
        }
    }
}

/// Like [`ret`] for entry points returning a pointer (null on error).
pub fn ptr<T>(f: impl FnOnce() -> RResult<*mut T>) -> *mut T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            report(&e);
            std::ptr::null_mut()
        }
        Err(_) => {
            set_error("rmw_renoir: internal panic (caught at the C boundary)");
            std::ptr::null_mut()
        }
    }
}

/// Check an argument is not null.
pub fn nn<T>(p: *const T, what: &str) -> RResult<()> {
    if p.is_null() {
        Err(RmwError::invalid(format!("{what} is null")))
    } else {
        Ok(())
    }
}

/// Borrow a C object.
///
/// # Safety
/// `p` must be null or point to a valid, live `T` for `'a`.
pub unsafe fn r<'a, T>(p: *const T, what: &str) -> RResult<&'a T> {
    nn(p, what)?;
    // SAFETY: non-null checked above; validity is the caller's contract.
    Ok(unsafe { &*p })
}

/// Mutably borrow a C object.
///
/// # Safety
/// `p` must be null or point to a valid `T` not aliased for `'a`.
pub unsafe fn m<'a, T>(p: *mut T, what: &str) -> RResult<&'a mut T> {
    nn(p, what)?;
    // SAFETY: non-null checked above; exclusivity is the caller's contract.
    Ok(unsafe { &mut *p })
}

/// Read a C string as UTF-8.
///
/// # Safety
/// `p` must be null or a valid NUL-terminated string alive for `'a`.
pub unsafe fn cstr<'a>(p: *const c_char, what: &str) -> RResult<&'a str> {
    nn(p, what)?;
    // SAFETY: non-null, NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| RmwError::invalid(format!("{what} is not valid UTF-8")))
}

/// Optional C string (null -> None).
///
/// # Safety
/// As [`cstr`].
pub unsafe fn opt_cstr<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null, NUL-terminated by the caller's contract.
        unsafe { CStr::from_ptr(p) }.to_str().ok()
    }
}

/// Check an implementation identifier (by content; null fails).
///
/// # Safety
/// `id` must be null or a valid C string.
pub unsafe fn check_id(id: *const c_char, what: &str) -> RResult<()> {
    // SAFETY: forwarded contract.
    match unsafe { opt_cstr(id) } {
        Some(s) if s.as_bytes() == IDENTIFIER.to_bytes() => Ok(()),
        _ => Err(RmwError::incorrect_impl(what)),
    }
}

/// Box a Rust value behind a `void*` (freed with [`unbox`]).
pub fn boxed<T>(v: T) -> *mut c_void {
    Box::into_raw(Box::new(v)).cast()
}

/// Borrow the Rust value behind an object's `data` pointer.
///
/// # Safety
/// `p` must be null or come from [`boxed::<T>`] and not yet be freed.
pub unsafe fn data<'a, T>(p: *mut c_void, what: &str) -> RResult<&'a T> {
    nn(p, what)?;
    // SAFETY: allocated by `boxed::<T>` per the contract.
    Ok(unsafe { &*p.cast::<T>() })
}

/// Take back a value boxed with [`boxed`].
///
/// # Safety
/// `p` must come from [`boxed::<T>`] and is freed here (null is a no-op).
pub unsafe fn unbox<T>(p: *mut c_void) -> Option<Box<T>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: allocated by `Box::into_raw` in `boxed::<T>`.
        Some(unsafe { Box::from_raw(p.cast::<T>()) })
    }
}

/// The default rcutils allocator.
pub fn default_allocator() -> rcutils_allocator_t {
    // SAFETY: plain function returning a struct of function pointers.
    unsafe { rcutils_get_default_allocator() }
}

/// Validate an allocator passed by the caller.
///
/// # Safety
/// `a` must be null or a valid allocator.
pub unsafe fn allocator(a: *const rcutils_allocator_t) -> RResult<rcutils_allocator_t> {
    // SAFETY: forwarded contract.
    let a = unsafe { r(a, "allocator") }?;
    // SAFETY: `a` is a valid allocator struct.
    if !unsafe { rcutils_allocator_is_valid(a) } {
        return Err(RmwError::invalid("allocator is invalid"));
    }
    Ok(*a)
}

/// Duplicate a Rust string into memory from `alloc` (a C string).
pub fn strdup(s: &str, alloc: rcutils_allocator_t) -> RResult<*mut c_char> {
    let c = CString::new(s.replace('\0', "")).unwrap_or_default();
    // SAFETY: `c` is a valid C string; rcutils_strdup copies it with `alloc`.
    let p = unsafe { rcutils_strdup(c.as_ptr(), alloc) };
    if p.is_null() {
        Err(RmwError::bad_alloc("failed to duplicate string"))
    } else {
        Ok(p)
    }
}

/// Fill a zero-initialized rcutils string array with `items`.
///
/// # Safety
/// `arr` must be a valid, zero-initialized rcutils_string_array_t.
pub unsafe fn fill_string_array(
    arr: *mut rcutils_string_array_t,
    items: &[String],
    alloc: rcutils_allocator_t,
) -> RResult<()> {
    let a = alloc;
    // SAFETY: `arr` valid per contract; `a` a valid allocator.
    let rc = unsafe { rcutils_string_array_init(arr, items.len(), &a) };
    if rc != RCUTILS_RET_OK as i32 {
        return Err(RmwError::bad_alloc("rcutils_string_array_init failed"));
    }
    for (i, s) in items.iter().enumerate() {
        let p = strdup(s, alloc)?;
        // SAFETY: the array was just initialized with items.len() slots.
        unsafe { *(*arr).data.add(i) = p };
    }
    Ok(())
}

/// Check that an rcutils string array is zero-initialized (rmw contract for outputs).
///
/// # Safety
/// `arr` must be null or valid.
pub unsafe fn check_zero_string_array(
    arr: *const rcutils_string_array_t,
    what: &str,
) -> RResult<()> {
    // SAFETY: forwarded contract.
    let a = unsafe { r(arr, what) }?;
    if a.size != 0 || !a.data.is_null() {
        return Err(RmwError::invalid(format!("{what} is not zero initialized")));
    }
    Ok(())
}

/// Fill a zero-initialized rmw_names_and_types_t from (name, [types]) pairs.
///
/// # Safety
/// `out` must be a valid rmw_names_and_types_t.
pub unsafe fn fill_names_and_types(
    out: *mut rmw_names_and_types_t,
    items: &[(String, Vec<String>)],
    alloc: rcutils_allocator_t,
) -> RResult<()> {
    // SAFETY: `out` valid per contract.
    let rc = unsafe { rmw_names_and_types_check_zero(out) };
    if rc != RMW_RET_OK as rmw_ret_t {
        return Err(RmwError::invalid("names_and_types is not zero initialized"));
    }
    if items.is_empty() {
        return Ok(());
    }
    let mut a = alloc;
    // SAFETY: `out` valid and zero; `a` a valid allocator.
    let rc = unsafe { rmw_names_and_types_init(out, items.len(), &mut a) };
    if rc != RMW_RET_OK as rmw_ret_t {
        return Err(RmwError::bad_alloc("rmw_names_and_types_init failed"));
    }
    let res = (|| {
        for (i, (name, types)) in items.iter().enumerate() {
            let p = strdup(name, alloc)?;
            // SAFETY: names was initialized with items.len() slots; types too.
            unsafe {
                *(*out).names.data.add(i) = p;
                fill_string_array((*out).types.add(i), types, alloc)?;
            }
        }
        Ok(())
    })();
    if res.is_err() {
        // SAFETY: `out` was initialized above; fini frees what was filled.
        unsafe { rmw_names_and_types_fini(out) };
    }
    res
}

/// A 16-byte gid as an rmw_gid_t.
pub fn gid(bytes: [u8; 16]) -> rmw_gid_t {
    let mut g = rmw_gid_t {
        implementation_identifier: IDENTIFIER.as_ptr(),
        data: [0; 16],
    };
    g.data.copy_from_slice(&bytes);
    g
}
