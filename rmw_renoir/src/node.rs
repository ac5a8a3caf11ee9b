//! Nodes.

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::guard::{self, GuardCondition};
use crate::init::{self, Context};
use crate::sys::*;
use crate::transport::NodeHandle;
use std::ffi::{c_char, CString};
use std::sync::Arc;

/// What `rmw_node_t.data` points to.
pub struct Node {
    pub ctx: Arc<Context>,
    pub name: CString,
    pub namespace: CString,
    pub handle: NodeHandle,
    pub graph_gc: *mut rmw_guard_condition_t,
}

impl Node {
    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.namespace.to_str().unwrap_or("")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: made by guard::alloc in rmw_create_node, freed only here.
        unsafe { guard::free(self.graph_gc) };
    }
}

/// # Safety
/// `p` must be null or a valid rmw_node_t.
pub unsafe fn get<'a>(p: *const rmw_node_t) -> RResult<&'a Node> {
    // SAFETY: forwarded contract.
    let n = unsafe { ffi::r(p, "node") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(n.implementation_identifier, "node") }?;
    // SAFETY: data boxed by rmw_create_node.
    unsafe { ffi::data::<Node>(n.data, "node data") }
}

fn validate(name: &str, namespace: &str) -> RResult<()> {
    let cn = CString::new(name).map_err(|_| RmwError::invalid("node name has a NUL"))?;
    let cs = CString::new(namespace).map_err(|_| RmwError::invalid("namespace has a NUL"))?;
    let mut res = 0i32;
    let mut idx = 0usize;
    // SAFETY: valid C strings and out pointers.
    let rc = unsafe { rmw_validate_node_name(cn.as_ptr(), &mut res, &mut idx) };
    if rc != RMW_RET_OK as rmw_ret_t || res != RMW_NODE_NAME_VALID as i32 {
        return Err(RmwError::invalid(format!("invalid node name '{name}'")));
    }
    // SAFETY: as above.
    let rc = unsafe { rmw_validate_namespace(cs.as_ptr(), &mut res, &mut idx) };
    if rc != RMW_RET_OK as rmw_ret_t || res != RMW_NAMESPACE_VALID as i32 {
        return Err(RmwError::invalid(format!(
            "invalid node namespace '{namespace}'"
        )));
    }
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_node(
    context: *mut rmw_context_t,
    name: *const c_char,
    namespace_: *const c_char,
) -> *mut rmw_node_t {
    ffi::ptr(|| {
        // SAFETY: valid context per rmw contract.
        let ctx = unsafe { init::context(context) }?.clone();
        // SAFETY: C strings per contract (nulls rejected).
        let name = unsafe { ffi::cstr(name, "name") }?;
        // SAFETY: as above.
        let ns = unsafe { ffi::cstr(namespace_, "namespace") }?;
        if ctx.is_shut_down() {
            return Err(RmwError::error("context is shut down"));
        }
        validate(name, ns)?;
        let handle = ctx.domain.add_node(name, ns, &ctx.enclave)?;
        let graph_gc = guard::alloc(GuardCondition::new_graph(ctx.domain.clone()), context);
        let node = Box::new(Node {
            ctx,
            name: CString::new(name).unwrap_or_default(),
            namespace: CString::new(ns).unwrap_or_default(),
            handle,
            graph_gc,
        });
        let (np, nsp) = (node.name.as_ptr(), node.namespace.as_ptr());
        Ok(Box::into_raw(Box::new(rmw_node_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            data: Box::into_raw(node).cast(),
            name: np,
            namespace_: nsp,
            context,
        })))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_node(node: *mut rmw_node_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointer + identifier.
        unsafe { get(node) }?;
        // SAFETY: allocated by rmw_create_node; destroyed once by rcl.
        let b = unsafe { Box::from_raw(node) };
        // SAFETY: data boxed in rmw_create_node.
        drop(unsafe { ffi::unbox::<Node>(b.data) });
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_node_get_graph_guard_condition(
    node: *const rmw_node_t,
) -> *const rmw_guard_condition_t {
    ffi::ptr(|| {
        // SAFETY: valid node per rmw contract.
        Ok(unsafe { get(node) }?.graph_gc)
    })
}

/// Deprecated in rmw but still declared: asserts the liveliness of every
/// publisher of the node.
#[no_mangle]
pub unsafe extern "C" fn rmw_node_assert_liveliness(node: *const rmw_node_t) -> rmw_ret_t {
    crate::ffi::ret(|| {
        // SAFETY: valid node per rmw contract.
        let n = unsafe { get(node) }?;
        crate::publisher::assert_node_liveliness(n);
        Ok(())
    })
}
