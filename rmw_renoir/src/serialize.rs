//! rmw_serialize / rmw_deserialize (CDR, byte-identical to rmw_fastrtps_cpp
//! through msg_support) and serialized-message buffers.

use crate::ffi::{self, RResult, RmwError};
use crate::sys::*;
use crate::typesupport::MsgType;
use std::ffi::c_void;

/// Copy `bytes` into an rcutils uint8 array, growing it when needed.
pub fn write_serialized(out: &mut rmw_serialized_message_t, bytes: &[u8]) -> RResult<()> {
    if out.buffer_capacity < bytes.len() {
        // SAFETY: `out` is a valid, initialized rcutils_uint8_array_t.
        let rc = unsafe { rcutils_uint8_array_resize(out, bytes.len()) };
        if rc != RCUTILS_RET_OK as i32 {
            return Err(RmwError::bad_alloc("failed to resize serialized message"));
        }
    }
    if !bytes.is_empty() {
        // SAFETY: capacity >= len checked/ensured above.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.buffer, bytes.len()) };
    }
    out.buffer_length = bytes.len();
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_serialize(
    ros_message: *const c_void,
    type_support: *const rosidl_message_type_support_t,
    serialized_message: *mut rmw_serialized_message_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        ffi::nn(ros_message, "ros_message")?;
        // SAFETY: valid pointers per rmw contract.
        let out = unsafe { ffi::m(serialized_message, "serialized_message") }?;
        // SAFETY: as above.
        let ty = unsafe { MsgType::resolve(type_support) }?;
        // SAFETY: the message matches the type support (caller contract).
        let n = unsafe { ty.serialized_size(ros_message) }?;
        if out.buffer_capacity < n {
            // SAFETY: valid initialized array.
            let rc = unsafe { rcutils_uint8_array_resize(out, n) };
            if rc != RCUTILS_RET_OK as i32 {
                return Err(RmwError::bad_alloc("failed to resize serialized message"));
            }
        }
        // SAFETY: buffer has capacity >= n.
        let buf = unsafe { std::slice::from_raw_parts_mut(out.buffer, n) };
        // SAFETY: as above.
        let w = unsafe { ty.serialize(ros_message, buf) }?;
        out.buffer_length = w;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_deserialize(
    serialized_message: *const rmw_serialized_message_t,
    type_support: *const rosidl_message_type_support_t,
    ros_message: *mut c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        ffi::nn(ros_message, "ros_message")?;
        // SAFETY: valid pointers per rmw contract.
        let m = unsafe { ffi::r(serialized_message, "serialized_message") }?;
        // SAFETY: as above.
        let ty = unsafe { MsgType::resolve(type_support) }?;
        let bytes = if m.buffer_length == 0 || m.buffer.is_null() {
            &[][..]
        } else {
            // SAFETY: buffer holds buffer_length bytes.
            unsafe { std::slice::from_raw_parts(m.buffer, m.buffer_length) }
        };
        // SAFETY: initialized message of this type (caller contract).
        unsafe { ty.deserialize(bytes, ros_message) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_serialized_message_size(
    _type_support: *const rosidl_message_type_support_t,
    _message_bounds: *const rosidl_runtime_c__Sequence__bound,
    _size: *mut usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "rmw_get_serialized_message_size: sizes depend on message contents; rmw_renoir computes them per message",
        ))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_serialization_support_init(
    _serialization_lib_name: *const std::ffi::c_char,
    _allocator: *mut rcutils_allocator_t,
    _serialization_support: *mut rosidl_dynamic_typesupport_serialization_support_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        Err(RmwError::unsupported(
            "dynamic type support serialization is not implemented by rmw_renoir",
        ))
    })
}
