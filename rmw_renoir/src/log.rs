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
