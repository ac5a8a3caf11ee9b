//! Publishers: serialize straight into a loaned slot of the exact size.

use crate::event::EndpointEvents;
use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::node::{self, Node};
use crate::qos;
use crate::sys::*;
use crate::transport::{self, EndpointKind, Qos, TopicSpec};
use crate::typesupport::MsgType;
use std::collections::HashSet;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};

/// Gids of publishers living in this process (for ignore_local_publications).
pub static LOCAL_PUBLISHERS: Mutex<Option<HashSet<[u8; 16]>>> = Mutex::new(None);

pub fn is_local(gid: &[u8; 16]) -> bool {
    LOCAL_PUBLISHERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|s| s.contains(gid))
}

/// What `rmw_publisher_t.data` points to.
pub struct Publisher {
    pub topic: CString,
    pub ty: MsgType,
    pub inner: transport::Publisher,
    pub qos: Qos,
    pub events: Arc<EndpointEvents>,
    pub loans: crate::loan::Loans,
    /// Keeps this type's schemas published for subscriptions of other
    /// versions (schema_link).
    _schema: Option<crate::schema_link::SchemaRef>,
}

impl Publisher {
    pub fn gid(&self) -> [u8; 16] {
        self.inner.gid()
    }

    /// Assert liveliness: the core's heartbeat (seen by subscriptions) and
    /// our own lease bookkeeping (LIVELINESS_LOST).
    pub fn assert_liveliness(&self) {
        self.inner.assert_liveliness();
        self.events.asserted();
    }

    /// Publish a ROS message: exact size, loan, serialize in place, publish
    /// (chunked above the configured `max_slot_size`).
    ///
    /// # Safety
    /// `msg` must be a valid message of this publisher's type.
    pub unsafe fn publish(&self, msg: *const c_void) -> RResult<()> {
        // SAFETY: forwarded.
        let n = unsafe { self.ty.serialized_size(msg) }?;
        if n as u64 > self.inner.blob_config().max_slot_size {
            // Larger than the largest slot: chunked (one more copy, through
            // a process-local buffer: the chunks are not contiguous).
            let mut buf = vec![0u8; n];
            // SAFETY: forwarded; `buf` is exactly n bytes.
            let w = unsafe { self.ty.serialize(msg, &mut buf) }?;
            return self.publish_serialized(&buf[..w]);
        }
        let stream_from = self.inner.blob_config().stream_threshold;
        if stream_from > 0 && n as u64 >= stream_from {
            // SAFETY: forwarded.
            return unsafe { self.publish_streaming(msg, n) };
        }
        let mut slot = self.inner.loan(n)?;
        // SAFETY: forwarded; `slot` is exactly n bytes.
        let w = unsafe { self.ty.serialize(msg, &mut slot) }?;
        if w != n {
            return Err(RmwError::error(format!(
                "serialized {w} bytes, expected {n}"
            )));
        }
        self.inner.publish(slot, transport::now_ns())?;
        self.events.touch();
        Ok(())
    }

    /// A large message: its descriptor is published first, then it is
    /// serialized into the slot while subscribers copy behind the
    /// progress mark (docs/large-payloads.md, "streamed publish").
    ///
    /// # Safety
    /// As [`Self::publish`]; `n` is the message's serialized size.
    unsafe fn publish_streaming(&self, msg: *const c_void, n: usize) -> RResult<()> {
        let slot = self.inner.loan(n)?;
        let mut s = self.inner.publish_streaming(slot, transport::now_ns())?;
        let (bytes, mut mark) = s.split();
        // SAFETY: forwarded; `bytes` is exactly n bytes. A failure drops
        // `s` unfinished: readers see the sample aborted.
        let w = unsafe {
            self.ty
                .serialize_streaming(msg, bytes, &mut |k| mark.advance(k))
        }?;
        if w != n {
            return Err(RmwError::error(format!(
                "serialized {w} bytes, expected {n}"
            )));
        }
        s.finish();
        self.events.touch();
        Ok(())
    }

    pub fn publish_serialized(&self, bytes: &[u8]) -> RResult<()> {
        self.inner.publish_bytes(bytes, transport::now_ns())?;
        self.events.touch();
        Ok(())
    }
}

/// (node, publisher) data pointers of live publishers, for
/// rmw_node_assert_liveliness. A publisher removes itself in Drop (under
/// this lock), so an entry always points to a live Publisher.
static NODE_PUBLISHERS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// Assert the liveliness of every publisher of `node`.
pub fn assert_node_liveliness(node: &Node) {
    let key = node as *const Node as usize;
    let l = NODE_PUBLISHERS.lock().unwrap_or_else(|e| e.into_inner());
    for &(n, p) in l.iter() {
        if n == key {
            // SAFETY: entries are removed (under this lock) before the
            // Publisher is freed.
            unsafe { &*(p as *const Publisher) }.assert_liveliness();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.loans.release_all(&self.ty);
        let me = self as *const Publisher as usize;
        NODE_PUBLISHERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&(_, p)| p != me);
        if let Some(s) = LOCAL_PUBLISHERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            s.remove(&self.inner.gid());
        }
    }
}

/// Create the transport publisher for an rmw endpoint (also used by services/clients).
pub fn create_endpoint(
    node: &Node,
    name: &str,
    type_name: &str,
    type_hash: [u8; 32],
    profile: &rmw_qos_profile_t,
    kind: EndpointKind,
) -> RResult<(Qos, TopicSpec)> {
    let peers: Vec<_> = node
        .ctx
        .domain
        .graph()
        .endpoints
        .into_iter()
        .filter(|e| e.topic_name == name)
        .collect();
    let q = qos::resolve(profile, kind, &peers)?;
    Ok((
        q,
        TopicSpec {
            name: name.to_string(),
            type_name: type_name.to_string(),
            type_hash,
            qos: q,
            kind,
            payload_hint: payload_hint(&q),
            accept_foreign_hash: None,
        },
    ))
}

/// Rings deeper than this get small inline slots (see [`payload_hint`]).
pub const DEEP_RING: u32 = 64;
/// Inline slot size for deep rings.
pub const DEEP_RING_SLOT: usize = 512;

/// Shared memory is reserved up front (ring depth x slot size): rcl asks
/// for depth 1000 on /rosout, /parameter_events and the parameter services,
/// which at the core's default 4 KiB slots is 4 MiB each and ~38 MiB per
/// rclpy node. Deep rings get 512-byte inline slots instead (larger samples
/// still go through the core's blob segments), bounding them to ~0.5 MiB.
pub fn payload_hint(q: &Qos) -> usize {
    match q.history {
        transport::History::KeepLast(d) if d > DEEP_RING => DEEP_RING_SLOT,
        _ => 0,
    }
}

pub fn validate_topic(name: &str) -> RResult<()> {
    let c = CString::new(name).map_err(|_| RmwError::invalid("topic name has a NUL"))?;
    let mut res = 0i32;
    let mut idx = 0usize;
    // SAFETY: valid C string and out pointers.
    let rc = unsafe { rmw_validate_full_topic_name(c.as_ptr(), &mut res, &mut idx) };
    if rc != RMW_RET_OK as rmw_ret_t || res != RMW_TOPIC_VALID as i32 {
        return Err(RmwError::invalid(format!("invalid topic name '{name}'")));
    }
    Ok(())
}

/// # Safety
/// `p` must be null or a valid rmw_publisher_t.
pub unsafe fn get<'a>(p: *const rmw_publisher_t) -> RResult<&'a Publisher> {
    // SAFETY: forwarded.
    let x = unsafe { ffi::r(p, "publisher") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(x.implementation_identifier, "publisher") }?;
    // SAFETY: boxed by rmw_create_publisher.
    unsafe { ffi::data::<Publisher>(x.data, "publisher data") }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_publisher(
    node: *const rmw_node_t,
    type_support: *const rosidl_message_type_support_t,
    topic_name: *const c_char,
    qos_profile: *const rmw_qos_profile_t,
    publisher_options: *const rmw_publisher_options_t,
) -> *mut rmw_publisher_t {
    ffi::ptr(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let n = unsafe { node::get(node) }?;
        // SAFETY: as above.
        let name = unsafe { ffi::cstr(topic_name, "topic_name") }?;
        // SAFETY: as above.
        let profile = unsafe { ffi::r(qos_profile, "qos_profile") }?;
        // SAFETY: as above.
        let opts = unsafe { ffi::r(publisher_options, "publisher_options") }?;
        if name.is_empty() {
            return Err(RmwError::invalid("topic_name is empty"));
        }
        if !profile.avoid_ros_namespace_conventions {
            validate_topic(name)?;
        }
        // SAFETY: rcl passes a valid type support handle.
        let ty = unsafe { MsgType::resolve(type_support) }?;
        let (q, spec) = create_endpoint(
            n,
            name,
            ty.type_name(),
            ty.type_hash(),
            profile,
            EndpointKind::Publisher,
        )?;
        // Before the endpoint appears in the graph: a subscription of
        // another version that sees it finds its schemas.
        let schema = crate::schema_link::publish(n.ctx.domain_id, &ty.ts);
        // Large-payload settings resolved for this publisher (context, then
        // [[node]] / [[publisher]] overrides); a bad config is reported and
        // the defaults are used rather than failing the publisher.
        let blob_cfg = renoir_core::config::ConfigSet::load()
            .and_then(|c| c.for_publisher(n.namespace(), n.name(), name))
            .unwrap_or_else(|e| {
                crate::log::warn(&format!(
                    "renoir configuration ignored for topic '{name}', using defaults: {e}"
                ));
                Default::default()
            });
        let inner = n
            .ctx
            .domain
            .create_publisher_with(&n.handle, spec.clone(), blob_cfg)?;
        crate::attach::attach_local(&n.ctx.domain, name);
        LOCAL_PUBLISHERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashSet::new)
            .insert(inner.gid());
        let events = EndpointEvents::new(n.ctx.domain.clone(), spec, inner.gid());
        let p = Box::new(Publisher {
            topic: CString::new(name).unwrap_or_default(),
            ty,
            inner,
            qos: q,
            events,
            loans: Default::default(),
            _schema: schema,
        });
        NODE_PUBLISHERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((n as *const Node as usize, &*p as *const Publisher as usize));
        let tp = p.topic.as_ptr();
        let can_loan = p.ty.is_fixed_size();
        Ok(Box::into_raw(Box::new(rmw_publisher_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            data: Box::into_raw(p).cast(),
            topic_name: tp,
            options: *opts,
            can_loan_messages: can_loan,
        })))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_publisher(
    node: *mut rmw_node_t,
    publisher: *mut rmw_publisher_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointers + identifiers.
        unsafe { node::get(node) }?;
        // SAFETY: as above.
        unsafe { get(publisher) }?;
        // SAFETY: allocated by rmw_create_publisher; destroyed once.
        let b = unsafe { Box::from_raw(publisher) };
        // SAFETY: boxed Publisher.
        drop(unsafe { ffi::unbox::<Publisher>(b.data) });
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publish(
    publisher: *const rmw_publisher_t,
    ros_message: *const c_void,
    _allocation: *mut rmw_publisher_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid publisher per rmw contract.
        let p = unsafe { get(publisher) }?;
        ffi::nn(ros_message, "ros_message")?;
        // SAFETY: rcl passes a message of the publisher's type.
        unsafe { p.publish(ros_message) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publish_serialized_message(
    publisher: *const rmw_publisher_t,
    serialized_message: *const rmw_serialized_message_t,
    _allocation: *mut rmw_publisher_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let p = unsafe { get(publisher) }?;
        // SAFETY: as above.
        let m = unsafe { ffi::r(serialized_message, "serialized_message") }?;
        let bytes = if m.buffer_length == 0 {
            &[][..]
        } else {
            ffi::nn(m.buffer, "serialized_message buffer")?;
            // SAFETY: buffer holds buffer_length bytes (rcutils contract).
            unsafe { std::slice::from_raw_parts(m.buffer, m.buffer_length) }
        };
        p.publish_serialized(bytes)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_count_matched_subscriptions(
    publisher: *const rmw_publisher_t,
    subscription_count: *mut usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let p = unsafe { get(publisher) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(subscription_count, "subscription_count") }? =
            p.inner.matched_subscribers();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_get_actual_qos(
    publisher: *const rmw_publisher_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let p = unsafe { get(publisher) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&p.qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_gid_for_publisher(
    publisher: *const rmw_publisher_t,
    gid: *mut rmw_gid_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let p = unsafe { get(publisher) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(gid, "gid") }? = ffi::gid(p.gid());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_assert_liveliness(
    publisher: *const rmw_publisher_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid publisher per rmw contract.
        let p = unsafe { get(publisher) }?;
        p.assert_liveliness();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_wait_for_all_acked(
    publisher: *const rmw_publisher_t,
    _wait_timeout: rmw_time_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid publisher per rmw contract.
        unsafe { get(publisher) }?;
        // Publishing is synchronous into shared memory: once rmw_publish
        // returned, every matched reader's ring holds the sample.
        Ok(())
    })
}
