//! Content filters (DDS SQL subset) evaluated on received samples.

use crate::ffi::{RResult, RmwError};
use crate::transport::Sample;
use crate::typesupport::MsgType;

/// A parsed content filter.
pub struct Filter {
    expr: String,
    params: Vec<String>,
}

impl Filter {
    pub fn new(expr: &str, params: &[String], _ty: &MsgType) -> RResult<Self> {
        let _ = (expr, params);
        Err(RmwError::unsupported(
            "content filters are not implemented yet",
        ))
    }
    pub fn expression(&self) -> &str {
        &self.expr
    }
    pub fn parameters(&self) -> &[String] {
        &self.params
    }
    pub fn accepts(&self, _ty: &MsgType, _s: &Sample) -> bool {
        true
    }
}
