//! Graph queries: nodes, topics, services, per-node views, counts and
//! endpoint info, all from the domain's live graph.

use crate::ffi::{self, RResult, RmwError};
use crate::node::{self, Node};
use crate::qos;
use crate::sys::*;
use crate::transport::{EndpointInfo, EndpointKind, Graph};
use std::collections::BTreeMap;
use std::ffi::c_char;

/// What a transport topic name stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Topic(String),
    Request(String),
    Reply(String),
}

pub fn classify(topic: &str) -> Kind {
    if let Some(s) = topic
        .strip_prefix("rq")
        .and_then(|s| s.strip_suffix("Request"))
    {
        if s.starts_with('/') {
            return Kind::Request(s.to_string());
        }
    }
    if let Some(s) = topic
        .strip_prefix("rr")
        .and_then(|s| s.strip_suffix("Reply"))
    {
        if s.starts_with('/') {
            return Kind::Reply(s.to_string());
        }
    }
    Kind::Topic(topic.to_string())
}

fn service_type(request_type: &str) -> String {
    request_type
        .strip_suffix("_Request")
        .unwrap_or(request_type)
        .to_string()
}

/// Topic names -> types (sorted, deduplicated).
pub fn topics<'a>(
    eps: impl Iterator<Item = &'a EndpointInfo>,
    no_demangle: bool,
) -> Vec<(String, Vec<String>)> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in eps {
        let name = match classify(&e.topic_name) {
            Kind::Topic(t) => t,
            _ if no_demangle => e.topic_name.clone(),
            _ => continue,
        };
        let v = m.entry(name).or_default();
        if !v.contains(&e.type_name) {
            v.push(e.type_name.clone());
        }
    }
    m.into_iter().collect()
}

/// Service names -> types. `servers`: servers (request subscribers) or clients (request publishers).
pub fn services<'a>(
    eps: impl Iterator<Item = &'a EndpointInfo>,
    servers: Option<bool>,
) -> Vec<(String, Vec<String>)> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in eps {
        if let Kind::Request(s) = classify(&e.topic_name) {
            let is_server = e.kind == EndpointKind::Subscriber;
            if servers.is_some_and(|want| want != is_server) {
                continue;
            }
            let t = service_type(&e.type_name);
            let v = m.entry(s).or_default();
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
    m.into_iter().collect()
}

fn node_eps<'a>(
    g: &'a Graph,
    name: &'a str,
    ns: &'a str,
) -> RResult<impl Iterator<Item = &'a EndpointInfo>> {
    if !g.nodes.iter().any(|n| n.name == name && n.namespace == ns) {
        return Err(RmwError::new(
            RMW_RET_NODE_NAME_NON_EXISTENT,
            format!("node {ns}/{name} not found"),
        ));
    }
    Ok(g.endpoints
        .iter()
        .filter(move |e| e.node_name == name && e.node_namespace == ns))
}

/// # Safety
/// `node` must be null or a valid rmw_node_t.
unsafe fn graph_of<'a>(node: *const rmw_node_t) -> RResult<(&'a Node, Graph)> {
    // SAFETY: forwarded.
    let n = unsafe { node::get(node) }?;
    Ok((n, n.ctx.domain.graph()))
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_node_names(
    node: *const rmw_node_t,
    node_names: *mut rcutils_string_array_t,
    node_namespaces: *mut rcutils_string_array_t,
) -> rmw_ret_t {
    // SAFETY: forwarded.
    ffi::ret(|| unsafe { node_names_impl(node, node_names, node_namespaces, std::ptr::null_mut()) })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_node_names_with_enclaves(
    node: *const rmw_node_t,
    node_names: *mut rcutils_string_array_t,
    node_namespaces: *mut rcutils_string_array_t,
    enclaves: *mut rcutils_string_array_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        ffi::nn(enclaves, "enclaves")?;
        // SAFETY: forwarded.
        unsafe { node_names_impl(node, node_names, node_namespaces, enclaves) }
    })
}

/// # Safety
/// Pointers valid per rmw contract; `enclaves` may be null.
unsafe fn node_names_impl(
    node: *const rmw_node_t,
    names: *mut rcutils_string_array_t,
    namespaces: *mut rcutils_string_array_t,
    enclaves: *mut rcutils_string_array_t,
) -> RResult<()> {
    // SAFETY: forwarded.
    let (_, g) = unsafe { graph_of(node) }?;
    // SAFETY: validity per contract.
    unsafe {
        ffi::check_zero_string_array(names, "node_names")?;
        ffi::check_zero_string_array(namespaces, "node_namespaces")?;
        if !enclaves.is_null() {
            ffi::check_zero_string_array(enclaves, "enclaves")?;
        }
        let a = ffi::default_allocator();
        let n: Vec<String> = g.nodes.iter().map(|n| n.name.clone()).collect();
        let s: Vec<String> = g.nodes.iter().map(|n| n.namespace.clone()).collect();
        ffi::fill_string_array(names, &n, a)?;
        ffi::fill_string_array(namespaces, &s, a)?;
        if !enclaves.is_null() {
            let e: Vec<String> = g.nodes.iter().map(|n| n.enclave.clone()).collect();
            ffi::fill_string_array(enclaves, &e, a)?;
        }
    }
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_topic_names_and_types(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    no_demangle: bool,
    topic_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let (_, g) = unsafe { graph_of(node) }?;
        // SAFETY: as above.
        let a = unsafe { ffi::allocator(allocator) }?;
        ffi::nn(topic_names_and_types, "topic_names_and_types")?;
        let items = topics(g.endpoints.iter(), no_demangle);
        // SAFETY: output validated non-null; checked zero inside.
        unsafe { ffi::fill_names_and_types(topic_names_and_types, &items, a) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_service_names_and_types(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    service_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let (_, g) = unsafe { graph_of(node) }?;
        // SAFETY: as above.
        let a = unsafe { ffi::allocator(allocator) }?;
        ffi::nn(service_names_and_types, "service_names_and_types")?;
        let items = services(g.endpoints.iter(), None);
        // SAFETY: output validated non-null; checked zero inside.
        unsafe { ffi::fill_names_and_types(service_names_and_types, &items, a) }
    })
}

/// # Safety
/// Pointers valid per rmw contract.
unsafe fn by_node(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    node_name: *const c_char,
    node_namespace: *const c_char,
    out: *mut rmw_names_and_types_t,
    select: impl Fn(&Graph, &str, &str) -> RResult<Vec<(String, Vec<String>)>>,
) -> RResult<()> {
    // SAFETY: forwarded.
    let (_, g) = unsafe { graph_of(node) }?;
    // SAFETY: forwarded.
    let a = unsafe { ffi::allocator(allocator) }?;
    // SAFETY: forwarded.
    let name = unsafe { ffi::cstr(node_name, "node_name") }?;
    // SAFETY: forwarded.
    let ns = unsafe { ffi::cstr(node_namespace, "node_namespace") }?;
    ffi::nn(out, "names_and_types")?;
    let items = select(&g, name, ns)?;
    // SAFETY: output validated non-null; checked zero inside.
    unsafe { ffi::fill_names_and_types(out, &items, a) }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_publisher_names_and_types_by_node(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    node_name: *const c_char,
    node_namespace: *const c_char,
    no_demangle: bool,
    topic_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            by_node(
                node,
                allocator,
                node_name,
                node_namespace,
                topic_names_and_types,
                |g, n, s| {
                    Ok(topics(
                        node_eps(g, n, s)?.filter(|e| e.kind == EndpointKind::Publisher),
                        no_demangle,
                    ))
                },
            )
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_subscriber_names_and_types_by_node(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    node_name: *const c_char,
    node_namespace: *const c_char,
    no_demangle: bool,
    topic_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            by_node(
                node,
                allocator,
                node_name,
                node_namespace,
                topic_names_and_types,
                |g, n, s| {
                    Ok(topics(
                        node_eps(g, n, s)?.filter(|e| e.kind == EndpointKind::Subscriber),
                        no_demangle,
                    ))
                },
            )
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_service_names_and_types_by_node(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    node_name: *const c_char,
    node_namespace: *const c_char,
    service_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            by_node(
                node,
                allocator,
                node_name,
                node_namespace,
                service_names_and_types,
                |g, n, s| Ok(services(node_eps(g, n, s)?, Some(true))),
            )
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_client_names_and_types_by_node(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    node_name: *const c_char,
    node_namespace: *const c_char,
    service_names_and_types: *mut rmw_names_and_types_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            by_node(
                node,
                allocator,
                node_name,
                node_namespace,
                service_names_and_types,
                |g, n, s| Ok(services(node_eps(g, n, s)?, Some(false))),
            )
        }
    })
}

/// # Safety
/// Pointers valid per rmw contract.
unsafe fn count(
    node: *const rmw_node_t,
    name: *const c_char,
    out: *mut usize,
    pred: impl Fn(&EndpointInfo, &str) -> bool,
) -> RResult<()> {
    // SAFETY: forwarded.
    let (_, g) = unsafe { graph_of(node) }?;
    // SAFETY: forwarded.
    let name = unsafe { ffi::cstr(name, "name") }?;
    // SAFETY: forwarded.
    let out = unsafe { ffi::m(out, "count") }?;
    *out = g.endpoints.iter().filter(|e| pred(e, name)).count();
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_count_publishers(
    node: *const rmw_node_t,
    topic_name: *const c_char,
    count_: *mut usize,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        count(node, topic_name, count_, |e, t| {
            e.topic_name == t && e.kind == EndpointKind::Publisher
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_count_subscribers(
    node: *const rmw_node_t,
    topic_name: *const c_char,
    count_: *mut usize,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        count(node, topic_name, count_, |e, t| {
            e.topic_name == t && e.kind == EndpointKind::Subscriber
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_count_clients(
    node: *const rmw_node_t,
    service_name: *const c_char,
    count_: *mut usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            count(node, service_name, count_, |e, s| {
                e.kind == EndpointKind::Publisher
                    && classify(&e.topic_name) == Kind::Request(s.to_string())
            })
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_count_services(
    node: *const rmw_node_t,
    service_name: *const c_char,
    count_: *mut usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: forwarded rmw contract.
        unsafe {
            count(node, service_name, count_, |e, s| {
                e.kind == EndpointKind::Subscriber
                    && classify(&e.topic_name) == Kind::Request(s.to_string())
            })
        }
    })
}

/// # Safety
/// Pointers valid per rmw contract.
unsafe fn endpoint_info(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    topic_name: *const c_char,
    out: *mut rmw_topic_endpoint_info_array_t,
    kind: EndpointKind,
) -> RResult<()> {
    // SAFETY: forwarded.
    let (_, g) = unsafe { graph_of(node) }?;
    // SAFETY: forwarded.
    let mut a = unsafe { ffi::allocator(allocator) }?;
    // SAFETY: forwarded.
    let topic = unsafe { ffi::cstr(topic_name, "topic_name") }?;
    ffi::nn(out, "endpoint info array")?;
    // SAFETY: out non-null.
    if unsafe { rmw_topic_endpoint_info_array_check_zero(out) } != RMW_RET_OK as rmw_ret_t {
        return Err(RmwError::invalid(
            "endpoint info array is not zero initialized",
        ));
    }
    let eps: Vec<&EndpointInfo> = g
        .endpoints
        .iter()
        .filter(|e| e.topic_name == topic && e.kind == kind)
        .collect();
    if eps.is_empty() {
        return Ok(());
    }
    // SAFETY: out zero-initialized; allocator valid.
    let rc = unsafe { rmw_topic_endpoint_info_array_init_with_size(out, eps.len(), &mut a) };
    if rc != RMW_RET_OK as rmw_ret_t {
        return Err(RmwError::bad_alloc(
            "rmw_topic_endpoint_info_array_init_with_size failed",
        ));
    }
    let res = (|| {
        for (i, e) in eps.iter().enumerate() {
            // SAFETY: array initialized with eps.len() zero-initialized entries.
            let info = unsafe { &mut *(*out).info_array.add(i) };
            let nn = std::ffi::CString::new(e.node_name.as_str()).unwrap_or_default();
            let ns = std::ffi::CString::new(e.node_namespace.as_str()).unwrap_or_default();
            let ty = std::ffi::CString::new(e.type_name.as_str()).unwrap_or_default();
            let hash = rosidl_type_hash_t {
                version: 1,
                value: e.type_hash,
            };
            let q = qos::to_profile(&e.qos);
            // SAFETY: librmw setters copy the strings with `a`.
            let rcs = unsafe {
                [
                    rmw_topic_endpoint_info_set_node_name(info, nn.as_ptr(), &mut a),
                    rmw_topic_endpoint_info_set_node_namespace(info, ns.as_ptr(), &mut a),
                    rmw_topic_endpoint_info_set_topic_type(info, ty.as_ptr(), &mut a),
                    rmw_topic_endpoint_info_set_topic_type_hash(info, &hash),
                    rmw_topic_endpoint_info_set_endpoint_type(
                        info,
                        match kind {
                            EndpointKind::Publisher => RMW_ENDPOINT_PUBLISHER,
                            _ => RMW_ENDPOINT_SUBSCRIPTION,
                        },
                    ),
                    rmw_topic_endpoint_info_set_gid(info, e.gid.as_ptr(), e.gid.len()),
                    rmw_topic_endpoint_info_set_qos_profile(info, &q),
                ]
            };
            if rcs.iter().any(|rc| *rc != RMW_RET_OK as rmw_ret_t) {
                return Err(RmwError::error("failed to fill endpoint info"));
            }
        }
        Ok(())
    })();
    if res.is_err() {
        // SAFETY: initialized above.
        unsafe { rmw_topic_endpoint_info_array_fini(out, &mut a) };
    }
    res
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_publishers_info_by_topic(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    topic_name: *const c_char,
    _no_mangle: bool,
    publishers_info: *mut rmw_topic_endpoint_info_array_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        endpoint_info(
            node,
            allocator,
            topic_name,
            publishers_info,
            EndpointKind::Publisher,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_subscriptions_info_by_topic(
    node: *const rmw_node_t,
    allocator: *mut rcutils_allocator_t,
    topic_name: *const c_char,
    _no_mangle: bool,
    subscriptions_info: *mut rmw_topic_endpoint_info_array_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        endpoint_info(
            node,
            allocator,
            topic_name,
            subscriptions_info,
            EndpointKind::Subscriber,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify("/chatter"), Kind::Topic("/chatter".into()));
        assert_eq!(
            classify("rq/add_two_intsRequest"),
            Kind::Request("/add_two_ints".into())
        );
        assert_eq!(classify("rr/ns/addReply"), Kind::Reply("/ns/add".into()));
        assert_eq!(service_type("a/srv/B_Request"), "a/srv/B");
    }
}
