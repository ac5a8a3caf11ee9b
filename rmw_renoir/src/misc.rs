//! The rest of the API: gids, features, log severity, allocations, loans,
//! network flow endpoints, dynamic messages.

use crate::ffi::{self, RResult, RmwError};
use crate::publisher;
use crate::subscription;
use crate::sys::*;

#[no_mangle]
pub unsafe extern "C" fn rmw_compare_gids_equal(
    gid1: *const rmw_gid_t,
    gid2: *const rmw_gid_t,
    result: *mut bool,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let a = unsafe { ffi::r(gid1, "gid1") }?;
        // SAFETY: as above.
        let b = unsafe { ffi::r(gid2, "gid2") }?;
        // SAFETY: as above.
        let r = unsafe { ffi::m(result, "result") }?;
        // SAFETY: identifiers are null or C strings.
        unsafe {
            ffi::check_id(a.implementation_identifier, "gid1")?;
            ffi::check_id(b.implementation_identifier, "gid2")?;
        }
        *r = a.data == b.data;
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn rmw_feature_supported(feature: rmw_feature_t) -> bool {
    matches!(
        feature,
        RMW_FEATURE_MESSAGE_INFO_PUBLICATION_SEQUENCE_NUMBER
            | RMW_FEATURE_MESSAGE_INFO_RECEPTION_SEQUENCE_NUMBER
    )
}

#[no_mangle]
pub extern "C" fn rmw_set_log_severity(severity: rmw_log_severity_t) -> rmw_ret_t {
    ffi::ret(|| {
        let level = match severity {
            RMW_LOG_SEVERITY_DEBUG => RCUTILS_LOG_SEVERITY_DEBUG,
            RMW_LOG_SEVERITY_INFO => RCUTILS_LOG_SEVERITY_INFO,
            RMW_LOG_SEVERITY_WARN => RCUTILS_LOG_SEVERITY_WARN,
            RMW_LOG_SEVERITY_ERROR => RCUTILS_LOG_SEVERITY_ERROR,
            RMW_LOG_SEVERITY_FATAL => RCUTILS_LOG_SEVERITY_FATAL,
            s => return Err(RmwError::invalid(format!("unknown log severity {s}"))),
        };
        crate::log::set_level(level as i32)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init_publisher_allocation(
    _type_support: *const rosidl_message_type_support_t,
    _message_bounds: *const rosidl_runtime_c__Sequence__bound,
    _allocation: *mut rmw_publisher_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "publisher allocations are not needed: rmw_renoir loans a slot per publish",
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_fini_publisher_allocation(
    _allocation: *mut rmw_publisher_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "publisher allocations are not needed: rmw_renoir loans a slot per publish",
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_init_subscription_allocation(
    _type_support: *const rosidl_message_type_support_t,
    _message_bounds: *const rosidl_runtime_c__Sequence__bound,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "subscription allocations are not needed by rmw_renoir",
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_fini_subscription_allocation(
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "subscription allocations are not needed by rmw_renoir",
        ))
    })
}

/// The answer of both `*_get_network_flow_endpoints`: shared memory has no
/// network flows, so the honest answer is an empty list (after checking the
/// arguments as the rmw contract asks).
///
/// # Safety
/// `allocator` null or valid; `out` null or a valid endpoint array.
unsafe fn no_network_flows(
    allocator: *mut rcutils_allocator_t,
    out: *mut rmw_network_flow_endpoint_array_t,
) -> RResult<()> {
    // SAFETY: forwarded.
    unsafe { ffi::allocator(allocator) }?;
    ffi::nn(out, "network_flow_endpoint_array")?;
    // SAFETY: non-null output.
    if unsafe { rmw_network_flow_endpoint_array_check_zero(out) } != RMW_RET_OK as rmw_ret_t {
        return Err(RmwError::invalid(
            "network_flow_endpoint_array is not zero initialized",
        ));
    }
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_get_network_flow_endpoints(
    publisher: *const rmw_publisher_t,
    allocator: *mut rcutils_allocator_t,
    network_flow_endpoint_array: *mut rmw_network_flow_endpoint_array_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        unsafe { publisher::get(publisher) }?;
        // SAFETY: forwarded (rmw contract).
        unsafe { no_network_flows(allocator, network_flow_endpoint_array) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_get_network_flow_endpoints(
    subscription: *const rmw_subscription_t,
    allocator: *mut rcutils_allocator_t,
    network_flow_endpoint_array: *mut rmw_network_flow_endpoint_array_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        unsafe { subscription::get(subscription) }?;
        // SAFETY: forwarded (rmw contract).
        unsafe { no_network_flows(allocator, network_flow_endpoint_array) }
    })
}

/// The answer of both dynamic-message takes: not implemented.
fn no_dynamic_messages() -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "dynamic messages are not implemented by rmw_renoir",
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_dynamic_message(
    _subscription: *const rmw_subscription_t,
    _dynamic_message: *mut rosidl_dynamic_typesupport_dynamic_data_t,
    _taken: *mut bool,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    no_dynamic_messages()
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_dynamic_message_with_info(
    _subscription: *const rmw_subscription_t,
    _dynamic_message: *mut rosidl_dynamic_typesupport_dynamic_data_t,
    _taken: *mut bool,
    _message_info: *mut rmw_message_info_t,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    no_dynamic_messages()
}
