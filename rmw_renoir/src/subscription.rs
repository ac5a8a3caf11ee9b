//! Subscriptions: take deserializes once from the shared-memory sample into
//! the caller's message.

use crate::event::EndpointEvents;
use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::filter::Filter;
use crate::node;
use crate::publisher::{create_endpoint, is_local, validate_topic};
use crate::qos;
use crate::sys::*;
use crate::transport::{self, EndpointKind, Held, Qos, SampleInfo};
use crate::typesupport::MsgType;
use crate::wait::Waitable;
use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, MutexGuard};

/// A user callback registered through the rmw *_set_on_new_*_callback API.
#[derive(Clone, Copy)]
pub struct Callback {
    pub f: unsafe extern "C" fn(*const c_void, usize),
    pub user_data: *const c_void,
}
// SAFETY: rmw requires these callbacks to be callable from any thread; the
// user data pointer is opaque to us.
unsafe impl Send for Callback {}

impl Callback {
    pub fn call(&self, n: usize) {
        // SAFETY: registered by the user for exactly this use.
        unsafe { (self.f)(self.user_data, n) };
    }
}

/// Store a callback; fire it at once for `unread` events already pending.
pub fn set_callback(
    slot: &Mutex<Option<Callback>>,
    cb: rmw_event_callback_t,
    user_data: *const c_void,
    unread: usize,
) {
    let c = cb.map(|f| Callback { f, user_data });
    *lock(slot) = c;
    if let Some(c) = c {
        if unread > 0 {
            c.call(unread);
        }
    }
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `rmw_subscription_t.data` points to.
pub struct Subscription {
    pub topic: CString,
    pub ty: MsgType,
    pub inner: Arc<transport::Subscriber>,
    pub qos: Qos,
    pub ignore_local: bool,
    pub events: Arc<EndpointEvents>,
    pub filter: Mutex<Option<Filter>>,
    /// Samples already pulled from the transport (passed the filter).
    pending: Mutex<VecDeque<Held>>,
    reception_seq: Mutex<u64>,
    pub on_new_message: Mutex<Option<Callback>>,
    /// What `on_new_message` was told about (from `Subscriber::unread()`).
    announced: crate::listener::Announced,
    pub loans: crate::loan::Loans,
    /// Samples of publishers of other, compatible versions of the type are
    /// migrated here (schema_link); the schema ref keeps ours published.
    incoming: Arc<crate::schema_link::Incoming>,
    _schema: Option<crate::schema_link::SchemaRef>,
}

impl Subscription {
    /// The next sample from the transport in this subscription's version
    /// of the type (schema evolution: samples of another version are
    /// migrated, or dropped when that fails).
    /// `streaming`: a streamed sample may be returned before its
    /// publisher finished writing it (only [`Self::take`] reads those, with
    /// a gated deserialize; everything else reads a `Held` through `Deref`,
    /// which waits for the rest).
    fn pull(&self, streaming: bool) -> Result<Option<Held>, transport::TakeError> {
        let take = || match streaming {
            true => self.inner.take_streaming(),
            false => self.inner.take(),
        };
        while let Some(s) = take()? {
            if !self.incoming.has_foreign() {
                // Not `route`: passing the bytes would wait for a streamed
                // sample's last byte.
                return Ok(Some(Held::Shm(s)));
            }
            match self.incoming.route(&s.info().publisher_gid, &s) {
                crate::schema_link::Route::Native => return Ok(Some(Held::Shm(s))),
                crate::schema_link::Route::Migrated(b) => {
                    return Ok(Some(Held::Owned(b.into_boxed_slice(), *s.info())))
                }
                crate::schema_link::Route::Drop => continue,
            }
        }
        Ok(None)
    }

    fn acceptable(&self, s: &Held) -> bool {
        if self.ignore_local && is_local(&s.info().publisher_gid) {
            return false;
        }
        match &*lock(&self.filter) {
            None => true,
            Some(f) => f.accepts(&self.ty, s),
        }
    }

    /// The next sample that passes local-publication and content filters.
    pub fn next_sample(&self) -> RResult<Option<Held>> {
        self.next_sample_with(false)
    }

    /// [`Self::next_sample`], streamed samples possibly still in progress.
    fn next_sample_with(&self, streaming: bool) -> RResult<Option<Held>> {
        if lock(&self.on_new_message).is_some() {
            // Everything taken must have been announced to the callback.
            crate::listener::Listened::notify(self);
        }
        let mut announced = self.announced.lock();
        if let Some(s) = lock(&self.pending).pop_front() {
            *announced = announced.saturating_sub(1);
            return Ok(Some(s));
        }
        loop {
            match self.pull(streaming) {
                Ok(Some(s)) => {
                    *announced = announced.saturating_sub(1);
                    if self.acceptable(&s) {
                        return Ok(Some(s));
                    }
                }
                Ok(None) => break,
                // The core has moved past a sample it cannot read: e.g. a
                // publisher that exited before we mapped the blob segment
                // of a large sample (its files are unlinked at exit). That
                // sample is lost; failing the take instead would raise in
                // rclpy's executor and end the subscriber.
                Err(e) => {
                    *announced = announced.saturating_sub(1);
                    crate::log::warn(&format!(
                        "topic '{}': sample lost: {e}",
                        self.topic.to_string_lossy()
                    ))
                }
            }
        }
        // The transport is empty: only what waits locally stays announced.
        *announced = lock(&self.pending).len();
        Ok(None)
    }

    fn fill_info(&self, si: &SampleInfo, info: &mut rmw_message_info_t) {
        self.events.touch();
        info.source_timestamp = si.source_timestamp_ns;
        info.received_timestamp = si.received_timestamp_ns;
        info.publication_sequence_number = si.sequence;
        let mut n = lock(&self.reception_seq);
        *n += 1;
        info.reception_sequence_number = *n;
        info.publisher_gid = ffi::gid(si.publisher_gid);
        info.from_intra_process = false;
    }

    /// Bookkeeping for a sample handed to the user outside [`Self::take`]
    /// (loaned takes): deadline/event touch and the message info.
    pub fn took(&self, si: &SampleInfo, info: Option<&mut rmw_message_info_t>) {
        self.events.touch();
        if let Some(i) = info {
            self.fill_info(si, i);
        }
    }

    /// Take one message into `msg`.
    ///
    /// # Safety
    /// `msg` must be a valid, initialized message of this type.
    pub unsafe fn take(
        &self,
        msg: *mut c_void,
        info: Option<&mut rmw_message_info_t>,
    ) -> RResult<bool> {
        let s = loop {
            let Some(s) = self.next_sample_with(true)? else {
                return Ok(false);
            };
            self.events.touch();
            match &s {
                // A streamed sample still being written: the copy into the
                // user's message follows the publisher's progress mark.
                Held::Shm(x) if !x.is_complete() => {
                    let gate = |k: usize| x.wait_written(k).map_err(|e| e.to_string());
                    let mut why = String::new();
                    // SAFETY: forwarded.
                    if unsafe {
                        self.ty
                            .deserialize_gated(x.raw_bytes(), msg, &gate, &mut why)
                    }? {
                        break s;
                    }
                    crate::log::warn(&format!(
                        "topic '{}': sample lost: {why}",
                        self.topic.to_string_lossy()
                    ));
                }
                _ => {
                    // SAFETY: forwarded.
                    unsafe { self.ty.deserialize(&s, msg) }?;
                    break s;
                }
            }
        };
        if let Some(i) = info {
            self.fill_info(s.info(), i);
        }
        Ok(true)
    }

    /// Take one message as CDR bytes.
    pub fn take_serialized(
        &self,
        out: &mut rmw_serialized_message_t,
        info: Option<&mut rmw_message_info_t>,
    ) -> RResult<bool> {
        let Some(s) = self.next_sample()? else {
            return Ok(false);
        };
        crate::serialize::write_serialized(out, &s)?;
        if let Some(i) = info {
            self.fill_info(s.info(), i);
        }
        Ok(true)
    }
}

impl crate::listener::Listened for Subscription {
    fn notify(&self) {
        let Some(cb) = *lock(&self.on_new_message) else {
            return;
        };
        // Count, do not copy: the samples stay in shared memory until taken.
        let n = self
            .announced
            .announce(|| lock(&self.pending).len() + self.inner.unread());
        if n > 0 {
            cb.call(n);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        crate::listener::unregister(self as *const Self as *const ());
        // Loans never returned: free them and release their samples before
        // the transport subscriber goes.
        self.loans.release_all(&self.ty);
    }
}

impl Waitable for Subscription {
    fn is_ready(&self) -> bool {
        if lock(&self.on_new_message).is_some() {
            crate::listener::Listened::notify(self);
        }
        if !lock(&self.pending).is_empty() {
            return true;
        }
        // Samples of another version may fail to migrate (dropped): pull
        // them through too, or rmw_wait would spin on them.
        let filtering =
            self.ignore_local || lock(&self.filter).is_some() || self.incoming.has_foreign();
        if !filtering {
            return self.inner.has_data();
        }
        // Pull samples through the filters so that rejected samples never
        // make rmw_wait return (and spin).
        let mut announced = self.announced.lock();
        while let Ok(Some(s)) = self.pull(false) {
            if self.acceptable(&s) {
                lock(&self.pending).push_back(s);
                return true;
            }
            *announced = announced.saturating_sub(1);
        }
        false
    }
}

/// # Safety
/// `p` must be null or a valid rmw_subscription_t.
pub unsafe fn get<'a>(p: *const rmw_subscription_t) -> RResult<&'a Subscription> {
    // SAFETY: forwarded.
    let x = unsafe { ffi::r(p, "subscription") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(x.implementation_identifier, "subscription") }?;
    // SAFETY: boxed by rmw_create_subscription.
    unsafe { ffi::data::<Subscription>(x.data, "subscription data") }
}

/// # Safety
/// `o` must be null or valid content filter options.
unsafe fn parse_filter(
    o: *const rmw_subscription_content_filter_options_t,
    ty: &MsgType,
) -> RResult<Option<Filter>> {
    if o.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, valid per contract.
    let o = unsafe { &*o };
    // SAFETY: filter_expression null or a C string.
    let expr = unsafe { ffi::opt_cstr(o.filter_expression) }.unwrap_or("");
    if expr.trim().is_empty() {
        return Ok(None);
    }
    let mut params = Vec::new();
    for i in 0..o.expression_parameters.size {
        // SAFETY: the string array holds `size` valid C strings.
        let p = unsafe { ffi::opt_cstr(*o.expression_parameters.data.add(i)) }.unwrap_or("");
        params.push(p.to_string());
    }
    Filter::new(expr, &params, ty).map(Some)
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_subscription(
    node: *const rmw_node_t,
    type_support: *const rosidl_message_type_support_t,
    topic_name: *const c_char,
    qos_policies: *const rmw_qos_profile_t,
    subscription_options: *const rmw_subscription_options_t,
) -> *mut rmw_subscription_t {
    ffi::ptr(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let n = unsafe { node::get(node) }?;
        // SAFETY: as above.
        let name = unsafe { ffi::cstr(topic_name, "topic_name") }?;
        // SAFETY: as above.
        let profile = unsafe { ffi::r(qos_policies, "qos_policies") }?;
        // SAFETY: as above.
        let opts = unsafe { ffi::r(subscription_options, "subscription_options") }?;
        if name.is_empty() {
            return Err(RmwError::invalid("topic_name is empty"));
        }
        if !profile.avoid_ros_namespace_conventions {
            validate_topic(name)?;
        }
        // SAFETY: rcl passes a valid type support handle.
        let ty = unsafe { MsgType::resolve(type_support) }?;
        // SAFETY: options pointer from the caller.
        let filter = unsafe { parse_filter(opts.content_filter_options, &ty) }?;
        let (q, mut spec) = create_endpoint(
            n,
            name,
            ty.type_name(),
            ty.type_hash(),
            profile,
            EndpointKind::Subscriber,
        )?;
        // Our schemas first (publishers of other versions judge against
        // them once we are in the graph), then accept the publishers of
        // versions that migrate to ours.
        let schema = crate::schema_link::publish(n.ctx.domain_id, &ty.ts);
        let incoming = crate::schema_link::Incoming::new(n.ctx.domain_id, ty.ts.clone());
        let inc = incoming.clone();
        spec.accept_foreign_hash = Some(transport::HashFilter::new(move |h, g| inc.accept(h, g)));
        let inner = Arc::new(n.ctx.domain.create_subscriber(&n.handle, spec.clone())?);
        let events = EndpointEvents::new(n.ctx.domain.clone(), spec, inner.gid());
        *lock(&events.lost_source) = Some(inner.clone());
        // Attach to the publishers that already exist right away, and to
        // new ones as they appear (background, see attach.rs).
        let _ = inner.matched_publishers();
        crate::attach::register(&n.ctx.domain, &inner);
        let cft = filter.is_some();
        let s = Box::new(Subscription {
            topic: CString::new(name).unwrap_or_default(),
            ty,
            inner,
            qos: q,
            ignore_local: opts.ignore_local_publications,
            events,
            filter: Mutex::new(filter),
            pending: Mutex::new(VecDeque::new()),
            reception_seq: Mutex::new(0),
            on_new_message: Mutex::new(None),
            announced: Default::default(),
            loans: Default::default(),
            incoming,
            _schema: schema,
        });
        let tp = s.topic.as_ptr();
        let can_loan = crate::loan::subscription_can_loan(&s.ty);
        let mut o = *opts;
        // The caller's filter options are not ours to keep.
        o.content_filter_options = std::ptr::null_mut();
        Ok(Box::into_raw(Box::new(rmw_subscription_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            data: Box::into_raw(s).cast(),
            topic_name: tp,
            options: o,
            can_loan_messages: can_loan,
            is_cft_enabled: cft,
        })))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_subscription(
    node: *mut rmw_node_t,
    subscription: *mut rmw_subscription_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointers + identifiers.
        unsafe { node::get(node) }?;
        // SAFETY: as above.
        unsafe { get(subscription) }?;
        // SAFETY: allocated by rmw_create_subscription; destroyed once.
        let b = unsafe { Box::from_raw(subscription) };
        // SAFETY: boxed Subscription.
        drop(unsafe { ffi::unbox::<Subscription>(b.data) });
        Ok(())
    })
}

/// # Safety
/// Pointers as rmw_take_with_info.
unsafe fn take_impl(
    subscription: *const rmw_subscription_t,
    ros_message: *mut c_void,
    taken: *mut bool,
    info: *mut rmw_message_info_t,
    need_info: bool,
) -> RResult<()> {
    // SAFETY: valid pointers per rmw contract (nulls rejected).
    let s = unsafe { get(subscription) }?;
    ffi::nn(ros_message, "ros_message")?;
    // SAFETY: as above.
    let t = unsafe { ffi::m(taken, "taken") }?;
    let info = if need_info {
        // SAFETY: as above.
        Some(unsafe { ffi::m(info, "message_info") }?)
    } else {
        None
    };
    *t = false;
    // SAFETY: rcl passes an initialized message of the subscription's type.
    *t = unsafe { s.take(ros_message, info) }?;
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take(
    subscription: *const rmw_subscription_t,
    ros_message: *mut c_void,
    taken: *mut bool,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        take_impl(
            subscription,
            ros_message,
            taken,
            std::ptr::null_mut(),
            false,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_with_info(
    subscription: *const rmw_subscription_t,
    ros_message: *mut c_void,
    taken: *mut bool,
    message_info: *mut rmw_message_info_t,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe { take_impl(subscription, ros_message, taken, message_info, true) })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_sequence(
    subscription: *const rmw_subscription_t,
    count: usize,
    message_sequence: *mut rmw_message_sequence_t,
    message_info_sequence: *mut rmw_message_info_sequence_t,
    taken: *mut usize,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let s = unsafe { get(subscription) }?;
        // SAFETY: as above.
        let ms = unsafe { ffi::m(message_sequence, "message_sequence") }?;
        // SAFETY: as above.
        let is = unsafe { ffi::m(message_info_sequence, "message_info_sequence") }?;
        // SAFETY: as above.
        let t = unsafe { ffi::m(taken, "taken") }?;
        if count == 0 {
            return Err(RmwError::invalid("count is 0"));
        }
        if count > ms.capacity || count > is.capacity {
            return Err(RmwError::invalid("count exceeds sequence capacity"));
        }
        *t = 0;
        ms.size = 0;
        is.size = 0;
        while *t < count {
            // SAFETY: data holds `capacity` initialized messages and infos.
            let (m, i) = unsafe { (*ms.data.add(*t), &mut *is.data.add(*t)) };
            // SAFETY: as above.
            if !unsafe { s.take(m, Some(i)) }? {
                break;
            }
            *t += 1;
        }
        ms.size = *t;
        is.size = *t;
        Ok(())
    })
}

/// # Safety
/// Pointers as rmw_take_serialized_message_with_info.
unsafe fn take_ser_impl(
    subscription: *const rmw_subscription_t,
    out: *mut rmw_serialized_message_t,
    taken: *mut bool,
    info: *mut rmw_message_info_t,
    need_info: bool,
) -> RResult<()> {
    // SAFETY: valid pointers per rmw contract (nulls rejected).
    let s = unsafe { get(subscription) }?;
    // SAFETY: as above.
    let o = unsafe { ffi::m(out, "serialized_message") }?;
    // SAFETY: as above.
    let t = unsafe { ffi::m(taken, "taken") }?;
    let info = if need_info {
        // SAFETY: as above.
        Some(unsafe { ffi::m(info, "message_info") }?)
    } else {
        None
    };
    *t = s.take_serialized(o, info)?;
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_serialized_message(
    subscription: *const rmw_subscription_t,
    serialized_message: *mut rmw_serialized_message_t,
    taken: *mut bool,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        take_ser_impl(
            subscription,
            serialized_message,
            taken,
            std::ptr::null_mut(),
            false,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_serialized_message_with_info(
    subscription: *const rmw_subscription_t,
    serialized_message: *mut rmw_serialized_message_t,
    taken: *mut bool,
    message_info: *mut rmw_message_info_t,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe {
        take_ser_impl(subscription, serialized_message, taken, message_info, true)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_count_matched_publishers(
    subscription: *const rmw_subscription_t,
    publisher_count: *mut usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(subscription) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(publisher_count, "publisher_count") }? = s.inner.matched_publishers();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_get_actual_qos(
    subscription: *const rmw_subscription_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(subscription) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&s.qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_set_content_filter(
    subscription: *mut rmw_subscription_t,
    options: *const rmw_subscription_content_filter_options_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(subscription) }?;
        ffi::nn(options, "options")?;
        // SAFETY: non-null options from the caller.
        let f = unsafe { parse_filter(options, &s.ty) }?;
        let on = f.is_some();
        *lock(&s.filter) = f;
        // SAFETY: validated above; rcl owns the struct, we set one flag.
        unsafe { (*subscription).is_cft_enabled = on };
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_get_content_filter(
    subscription: *const rmw_subscription_t,
    allocator: *mut rcutils_allocator_t,
    options: *mut rmw_subscription_content_filter_options_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(subscription) }?;
        // SAFETY: as above.
        let a = unsafe { ffi::allocator(allocator) }?;
        ffi::nn(options, "options")?;
        let g = lock(&s.filter);
        let f = g
            .as_ref()
            .ok_or_else(|| RmwError::error("no content filter is set"))?;
        let expr = CString::new(f.expression()).unwrap_or_default();
        let params: Vec<CString> = f
            .parameters()
            .iter()
            .map(|p| CString::new(p.as_str()).unwrap_or_default())
            .collect();
        let ptrs: Vec<*const c_char> = params.iter().map(|p| p.as_ptr()).collect();
        // SAFETY: librmw helper copies the strings with `a` into `options`.
        let rc = unsafe {
            rmw_subscription_content_filter_options_init(
                expr.as_ptr(),
                ptrs.len(),
                ptrs.as_ptr() as *mut *const c_char,
                allocator,
                options,
            )
        };
        let _ = a;
        if rc != RMW_RET_OK as rmw_ret_t {
            return Err(RmwError::new(
                rc as u32,
                "failed to init content filter options",
            ));
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_set_on_new_message_callback(
    subscription: *const rmw_subscription_t,
    callback: rmw_event_callback_t,
    user_data: *const c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid subscription per rmw contract.
        let s = unsafe { get(subscription) }?;
        s.announced.reset();
        set_callback(&s.on_new_message, callback, user_data, 0);
        if callback.is_some() {
            // Announces what arrived before the callback was set.
            crate::listener::Listened::notify(s);
            crate::listener::register(s.events.domain(), s);
        } else {
            crate::listener::unregister(s as *const Subscription as *const ());
        }
        Ok(())
    })
}
