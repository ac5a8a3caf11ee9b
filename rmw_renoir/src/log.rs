//! The rmw_renoir logger (severity set by rmw_set_log_severity).

use crate::ffi::{RResult, RmwError};

/// The rcutils logger name of this rmw.
pub const LOGGER: &std::ffi::CStr = c"rmw_renoir";

pub fn set_level(l: i32) -> RResult<()> {
    // SAFETY: valid C string; rcutils copies the name.
    let rc = unsafe { crate::sys::rcutils_logging_set_logger_level(LOGGER.as_ptr(), l) };
    if rc != crate::sys::RCUTILS_RET_OK as i32 {
        return Err(RmwError::error("rcutils_logging_set_logger_level failed"));
    }
    Ok(())
}

/// Log `msg` at WARN severity under the `rmw_renoir` logger (rcutils: the
/// console, and /rosout when a node routes it there).
pub fn warn(msg: &str) {
    let Ok(text) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    let sev = crate::sys::RCUTILS_LOG_SEVERITY_WARN as i32;
    // SAFETY: both pointers are valid NUL-terminated strings for the call;
    // the format is the literal "%s" with exactly one C-string argument, and
    // rcutils copies what it prints. rcutils_log initializes logging itself
    // if needed and checks the logger's level.
    unsafe {
        crate::sys::rcutils_log(
            std::ptr::null(),
            sev,
            LOGGER.as_ptr(),
            c"%s".as_ptr(),
            text.as_ptr(),
        );
    }
}
