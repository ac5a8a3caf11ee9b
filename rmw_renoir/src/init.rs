//! Init options, init / shutdown, and the per-context state.

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::sys::*;
use crate::transport::Domain;
use std::ffi::c_char;
use std::sync::{Arc, Mutex, Once};

/// Per-context state (`rmw_context_t.impl_`).
pub struct Context {
    pub domain_id: u32,
    pub domain: Arc<Domain>,
    pub enclave: String,
    pub localhost_only: bool,
    shut_down: Mutex<bool>,
}

/// Every domain this process joined, for the exit-time cleanup.
static JOINED: Mutex<Vec<Arc<Domain>>> = Mutex::new(Vec::new());

/// At process exit, rclpy (and C programs) often leave nodes and endpoints
/// undestroyed. Hand our registry records and segments back as a crash
/// would (abandon), then reap them ourselves so nothing stays in /dev/shm.
extern "C" fn cleanup_at_exit() {
    let doms: Vec<Arc<Domain>> =
        std::mem::take(&mut *JOINED.lock().unwrap_or_else(|e| e.into_inner()));
    let _ = std::panic::catch_unwind(move || {
        let mut ids: Vec<u32> = doms.iter().map(|d| d.id()).collect();
        ids.dedup();
        for d in doms {
            d.abandon();
        }
        for id in ids {
            renoir_core::registry::clean_domain(id);
            sweep_own_segments(id);
            crate::schema_link::sweep_own(id);
            // And those of peers that died without a word (SIGKILL), as
            // clean_domain does for their endpoints.
            crate::schema_link::sweep_dead(id);
            // Our own leftovers are gone now; drop the registry if we were last.
            renoir_core::registry::clean_domain(id);
        }
    });
}

/// Remove publisher segments this process created in `domain` that are
/// still on disk at exit (e.g. a publisher whose record was released while
/// its mapping was still shared). Only our own pid's files are touched.
fn sweep_own_segments(domain: u32) {
    use renoir_core::platform::shm;
    let stem = shm::file_name(&format!("{domain}_pub_{}_", std::process::id()));
    let Ok(rd) = std::fs::read_dir(shm::shm_dir()) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_str().is_some_and(|n| n.starts_with(&stem)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn remember(d: &Arc<Domain>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(cleanup_at_exit) };
    });
    let mut j = JOINED.lock().unwrap_or_else(|e| e.into_inner());
    if !j.iter().any(|x| Arc::ptr_eq(x, d)) {
        j.push(d.clone());
    }
}

impl Context {
    pub fn new(domain_id: u32, enclave: String, localhost_only: bool) -> RResult<Arc<Self>> {
        let domain = Domain::join(domain_id)?;
        remember(&domain);
        // Schema regions of processes that died (as the core reaps their
        // endpoints on join).
        crate::schema_link::sweep_dead(domain_id);
        Ok(Arc::new(Context {
            domain_id,
            domain,
            enclave,
            localhost_only,
            shut_down: Mutex::new(false),
        }))
    }

    pub fn shutdown(&self) {
        *self.shut_down.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.domain.ring();
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shut_down.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `rmw_context_t.impl_` points to.
pub struct ContextImpl {
    pub ctx: Arc<Context>,
}

/// Borrow the context behind an rmw_context_t.
///
/// # Safety
/// `c` must be null or a valid rmw_context_t.
pub unsafe fn context<'a>(c: *const rmw_context_t) -> RResult<&'a Arc<Context>> {
    // SAFETY: forwarded contract.
    let c = unsafe { ffi::r(c, "context") }?;
    // SAFETY: identifier is null or a C string.
    unsafe { ffi::check_id(c.implementation_identifier, "context") }?;
    // SAFETY: impl_ was created by rmw_init as a boxed ContextImpl.
    let i = unsafe { ffi::data::<ContextImpl>(c.impl_.cast(), "context impl") }?;
    Ok(&i.ctx)
}

/// Map an rmw domain id (RMW_DEFAULT_DOMAIN_ID = use 0) to ours.
pub fn domain_id(id: usize) -> RResult<u32> {
    if id == usize::MAX {
        return Ok(0);
    }
    u32::try_from(id)
        .ok()
        .filter(|d| *d <= 232)
        .ok_or_else(|| RmwError::invalid(format!("domain id {id} is out of range (0..=232)")))
}

#[no_mangle]
pub extern "C" fn rmw_get_implementation_identifier() -> *const c_char {
    IDENTIFIER.as_ptr()
}

#[no_mangle]
pub extern "C" fn rmw_get_serialization_format() -> *const c_char {
    ffi::SERIALIZATION_FORMAT.as_ptr()
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init_options_init(
    init_options: *mut rmw_init_options_t,
    allocator: rcutils_allocator_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: caller passes a valid options struct (null rejected).
        let o = unsafe { ffi::m(init_options, "init_options") }?;
        // SAFETY: validity check of a by-value struct.
        if !unsafe { rcutils_allocator_is_valid(&allocator) } {
            return Err(RmwError::invalid("allocator is invalid"));
        }
        if !o.implementation_identifier.is_null() {
            return Err(RmwError::invalid("init_options is not zero initialized"));
        }
        // SAFETY: plain struct constructors from librmw.
        unsafe {
            o.instance_id = 0;
            o.implementation_identifier = IDENTIFIER.as_ptr();
            o.allocator = allocator;
            o.impl_ = std::ptr::null_mut();
            o.enclave = std::ptr::null_mut();
            o.domain_id = usize::MAX;
            o.security_options = rmw_get_default_security_options();
            o.localhost_only = RMW_LOCALHOST_ONLY_DEFAULT;
            o.discovery_options = rmw_get_zero_initialized_discovery_options();
            let rc = rmw_discovery_options_init(&mut o.discovery_options, 0, &mut o.allocator);
            if rc != RMW_RET_OK as rmw_ret_t {
                return Err(RmwError::new(
                    rc as u32,
                    "rmw_discovery_options_init failed",
                ));
            }
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init_options_copy(
    src: *const rmw_init_options_t,
    dst: *mut rmw_init_options_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let s = unsafe { ffi::r(src, "src") }?;
        // SAFETY: as above.
        let d = unsafe { ffi::m(dst, "dst") }?;
        // SAFETY: identifier is null or a C string.
        unsafe { ffi::check_id(s.implementation_identifier, "source init options") }?;
        if !d.implementation_identifier.is_null() {
            return Err(RmwError::invalid(
                "destination init options is not zero initialized",
            ));
        }
        let mut alloc = s.allocator;
        let mut tmp = *s;
        tmp.enclave = std::ptr::null_mut();
        tmp.security_options.security_root_path = std::ptr::null_mut();
        // SAFETY: librmw helper; fresh zero value.
        tmp.discovery_options = unsafe { rmw_get_zero_initialized_discovery_options() };
        // SAFETY: source strings are null or valid C strings.
        if let Some(e) = unsafe { ffi::opt_cstr(s.enclave) } {
            tmp.enclave = ffi::strdup(e, alloc)?;
        }
        // SAFETY: as above.
        if let Some(p) = unsafe { ffi::opt_cstr(s.security_options.security_root_path) } {
            tmp.security_options.security_root_path = ffi::strdup(p, alloc)?;
        }
        // SAFETY: both discovery option structs are valid; dst is zero-initialized.
        let rc = unsafe {
            rmw_discovery_options_copy(&s.discovery_options, &mut alloc, &mut tmp.discovery_options)
        };
        if rc != RMW_RET_OK as rmw_ret_t {
            return Err(RmwError::new(rc as u32, "failed to copy discovery options"));
        }
        *d = tmp;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init_options_fini(init_options: *mut rmw_init_options_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointer per rmw contract.
        let o = unsafe { ffi::m(init_options, "init_options") }?;
        // SAFETY: identifier is null or a C string.
        unsafe { ffi::check_id(o.implementation_identifier, "init options") }?;
        let a = o.allocator;
        // SAFETY: allocator validity check.
        if !unsafe { rcutils_allocator_is_valid(&a) } {
            return Err(RmwError::invalid("allocator is invalid"));
        }
        let free = a
            .deallocate
            .ok_or_else(|| RmwError::invalid("allocator has no deallocate"))?;
        // SAFETY: the strings were allocated with this allocator (init/copy);
        // discovery options were initialized by init/copy.
        unsafe {
            if !o.enclave.is_null() {
                free(o.enclave.cast(), a.state);
            }
            if !o.security_options.security_root_path.is_null() {
                free(o.security_options.security_root_path.cast(), a.state);
            }
            rmw_discovery_options_fini(&mut o.discovery_options);
            *o = rmw_get_zero_initialized_init_options();
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init(
    options: *const rmw_init_options_t,
    context: *mut rmw_context_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let o = unsafe { ffi::r(options, "options") }?;
        // SAFETY: as above.
        let c = unsafe { ffi::m(context, "context") }?;
        // SAFETY: identifier is null or a C string.
        unsafe { ffi::check_id(o.implementation_identifier, "init options") }?;
        if !c.implementation_identifier.is_null() {
            return Err(RmwError::invalid("context is not zero initialized"));
        }
        let dom = domain_id(o.domain_id)?;
        // SAFETY: enclave is null or a C string.
        let enclave = unsafe { ffi::opt_cstr(o.enclave) }
            .unwrap_or("/")
            .to_string();
        let ctx = Context::new(dom, enclave, o.localhost_only == RMW_LOCALHOST_ONLY_ENABLED)?;
        // SAFETY: zero-initialized output options; copy from valid options.
        let mut opts = unsafe { rmw_get_zero_initialized_init_options() };
        // SAFETY: both valid; opts zero-initialized.
        let rc = unsafe { rmw_init_options_copy(options, &mut opts) };
        if rc != RMW_RET_OK as rmw_ret_t {
            return Err(RmwError::new(rc as u32, "failed to copy init options"));
        }
        c.instance_id = o.instance_id;
        c.implementation_identifier = IDENTIFIER.as_ptr();
        c.actual_domain_id = dom as usize;
        c.options = opts;
        c.impl_ = ffi::boxed(ContextImpl { ctx }).cast();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_shutdown(context: *mut rmw_context_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid context per rmw contract.
        let ctx = unsafe { context_of(context) }?;
        ctx.shutdown();
        Ok(())
    })
}

/// # Safety
/// `c` must be null or a valid rmw_context_t.
unsafe fn context_of<'a>(c: *const rmw_context_t) -> RResult<&'a Arc<Context>> {
    // SAFETY: forwarded.
    unsafe { context(c) }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_context_fini(context: *mut rmw_context_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid context per rmw contract.
        let c = unsafe { ffi::m(context, "context") }?;
        // SAFETY: identifier is null or a C string.
        unsafe { ffi::check_id(c.implementation_identifier, "context") }?;
        {
            // SAFETY: impl_ is our boxed ContextImpl.
            let ctx = unsafe { ffi::data::<ContextImpl>(c.impl_.cast(), "context impl") }?;
            if !ctx.ctx.is_shut_down() {
                return Err(RmwError::invalid("context has not been shut down"));
            }
        }
        // SAFETY: created by rmw_init with `boxed`; freed exactly once here.
        drop(unsafe { ffi::unbox::<ContextImpl>(c.impl_.cast()) });
        c.impl_ = std::ptr::null_mut();
        // SAFETY: options were copied in rmw_init.
        let rc = unsafe { rmw_init_options_fini(&mut c.options) };
        // SAFETY: plain constructor.
        *c = unsafe { rmw_get_zero_initialized_context() };
        if rc != RMW_RET_OK as rmw_ret_t {
            return Err(RmwError::new(rc as u32, "failed to finalize init options"));
        }
        Ok(())
    })
}
