//! Adapter over msg_support: type names, hashes and CDR for the rosidl type
//! supports rcl hands us.

use crate::ffi::{RResult, RmwError};
use crate::sys::*;
use msg_support::{Arity, FieldType, MessageLayout, MessageTypeSupport, ServiceTypeSupport};
use std::ffi::c_void;
use std::sync::Arc;

/// A resolved message type.
#[derive(Clone)]
pub struct MsgType {
    pub ts: Arc<MessageTypeSupport>,
}

fn fixed(layout: &MessageLayout) -> bool {
    layout.fields.iter().all(|f| {
        !matches!(f.arity, Arity::Sequence { .. })
            && match &f.ty {
                FieldType::Primitive(_) => true,
                FieldType::String { .. } | FieldType::WString { .. } => false,
                FieldType::Message(m) => fixed(m),
            }
    })
}

impl MsgType {
    /// # Safety
    /// `ts` must be null or a valid message type support handle from rcl.
    pub unsafe fn resolve(ts: *const rosidl_message_type_support_t) -> RResult<Self> {
        if ts.is_null() {
            return Err(RmwError::invalid("type_support is null"));
        }
        // SAFETY: forwarded contract.
        let ts = unsafe { MessageTypeSupport::resolve(ts.cast::<c_void>()) }
            .map_err(|e| RmwError::error(format!("type support: {e}")))?;
        Ok(MsgType { ts })
    }

    pub fn type_name(&self) -> &str {
        self.ts.type_name()
    }

    pub fn type_hash(&self) -> [u8; 32] {
        self.ts.type_hash().map(|h| h.value).unwrap_or([0; 32])
    }

    /// True when every field has a fixed size (no strings / sequences).
    pub fn is_fixed_size(&self) -> bool {
        fixed(self.ts.layout())
    }

    /// # Safety
    /// `msg` must be a valid message of this type.
    pub unsafe fn serialized_size(&self, msg: *const c_void) -> RResult<usize> {
        // SAFETY: forwarded.
        unsafe { self.ts.serialized_size(msg) }
            .map_err(|e| RmwError::error(format!("serialize: {e}")))
    }

    /// # Safety
    /// `msg` must be a valid message of this type.
    pub unsafe fn serialize(&self, msg: *const c_void, out: &mut [u8]) -> RResult<usize> {
        // SAFETY: forwarded.
        unsafe { self.ts.serialize(msg, out) }
            .map_err(|e| RmwError::error(format!("serialize: {e}")))
    }

    /// # Safety
    /// `msg` must be a valid, initialized message of this type.
    pub unsafe fn serialize_to_vec(&self, msg: *const c_void) -> RResult<Vec<u8>> {
        // SAFETY: forwarded.
        let n = unsafe { self.serialized_size(msg) }?;
        let mut v = vec![0u8; n];
        // SAFETY: forwarded.
        let w = unsafe { self.serialize(msg, &mut v) }?;
        v.truncate(w);
        Ok(v)
    }

    /// # Safety
    /// `msg` must be a valid, initialized message of this type.
    /// # Safety
    /// As [`Self::serialize`].
    pub unsafe fn serialize_streaming(
        &self,
        msg: *const c_void,
        out: &mut [u8],
        progress: &mut dyn FnMut(usize),
    ) -> RResult<usize> {
        // SAFETY: forwarded.
        unsafe { self.ts.serialize_streaming(msg, out, progress) }
            .map_err(|e| RmwError::error(format!("serialize: {e}")))
    }
    /// Deserialize a sample its publisher is still writing; `Ok(false)`:
    /// the publisher gave up, the sample is lost (`why`).
    ///
    /// # Safety
    /// As [`Self::deserialize`].
    pub unsafe fn deserialize_gated(
        &self,
        bytes: &[u8],
        msg: *mut c_void,
        gate: msg_support::cdr::Gate<'_>,
        why: &mut String,
    ) -> RResult<bool> {
        // SAFETY: forwarded.
        match unsafe { self.ts.deserialize_gated(bytes, msg, gate) } {
            Ok(()) => Ok(true),
            Err(msg_support::DeserializeError::Incomplete { reason, .. }) => {
                *why = reason;
                Ok(false)
            }
            Err(e) => Err(RmwError::error(format!("deserialize: {e}"))),
        }
    }
    pub unsafe fn deserialize(&self, bytes: &[u8], msg: *mut c_void) -> RResult<()> {
        // SAFETY: forwarded.
        unsafe { self.ts.deserialize(bytes, msg) }
            .map_err(|e| RmwError::error(format!("deserialize: {e}")))
    }
}

/// A resolved service type.
#[derive(Clone)]
pub struct SrvType {
    pub type_name: String,
    pub request: MsgType,
    pub response: MsgType,
}

impl SrvType {
    /// # Safety
    /// `ts` must be null or a valid service type support handle from rcl.
    pub unsafe fn resolve(ts: *const rosidl_service_type_support_t) -> RResult<Self> {
        if ts.is_null() {
            return Err(RmwError::invalid("type_support is null"));
        }
        // SAFETY: forwarded contract.
        let s = unsafe { ServiceTypeSupport::resolve(ts.cast::<c_void>()) }
            .map_err(|e| RmwError::error(format!("service type support: {e}")))?;
        Ok(SrvType {
            type_name: s.type_name.clone(),
            request: MsgType {
                ts: s.request.clone(),
            },
            response: MsgType {
                ts: s.response.clone(),
            },
        })
    }
}
