//! Walking CDR bytes against a layout without touching any message memory:
//! validation of untrusted samples and locating a primitive field's bytes
//! (for zero-copy views of e.g. `Image.data` in shared memory). The checked
//! reads of one field (bools, sequence lengths, strings, wstrings) live here
//! and are shared with the deserializer in `ffi::walk`, so a sample that
//! validates is one that deserializes.

use std::ops::Range;

use crate::cdr::{split_header, Reader};
use crate::error::DeserializeError;
use crate::layout::{Arity, Field, FieldType, MessageLayout, Primitive};

/// What the walk is looking for.
struct Walk<'n> {
    /// Name of a top-level primitive field whose element bytes to report.
    target: Option<&'n str>,
    found: Option<Range<usize>>,
}

/// Checks that every byte of a bool run is 0 or 1; `start` is the body
/// offset of `src` (for the error).
pub(crate) fn check_bools(start: usize, src: &[u8]) -> Result<(), DeserializeError> {
    match src.iter().position(|&b| b > 1) {
        None => Ok(()),
        Some(i) => Err(DeserializeError::InvalidBool {
            offset: start + i,
            value: src[i],
        }),
    }
}

/// Skips `n` primitives, returning the body range they occupy.
fn prims(r: &mut Reader<'_>, p: Primitive, n: usize) -> Result<Range<usize>, DeserializeError> {
    if n == 0 {
        // Fast-CDR does not align before an empty primitive array.
        let at = r.position();
        return Ok(at..at);
    }
    let total = n.checked_mul(p.size()).ok_or(DeserializeError::Truncated {
        offset: r.position(),
        needed: usize::MAX,
    })?;
    let src = r.take(p.align(), total)?;
    let end = r.position();
    if p == Primitive::Bool {
        check_bools(end - total, src)?;
    }
    Ok(end - total..end)
}

/// `BoundExceeded` when a bounded field holds more than its bound.
fn check_bound(f: &Field, len: usize, bound: Option<usize>) -> Result<(), DeserializeError> {
    match bound {
        Some(b) if len > b => Err(DeserializeError::BoundExceeded {
            field: f.name.clone(),
            len,
            bound: b,
        }),
        _ => Ok(()),
    }
}

/// Reads a sequence length for field `f`, checking its bound and that the
/// remaining input can hold that many elements (before anyone allocates).
pub(crate) fn seq_len(
    f: &Field,
    bound: Option<usize>,
    r: &mut Reader<'_>,
) -> Result<usize, DeserializeError> {
    let n = r.u32()? as usize;
    check_bound(f, n, bound)?;
    r.need(n.saturating_mul(f.ty.min_cdr_size()))?;
    Ok(n)
}

/// Reads a CDR string of field `f`: checks the terminating NUL and the
/// bound, and returns the bytes before that NUL.
pub(crate) fn string_body<'a>(
    f: &Field,
    bound: Option<usize>,
    r: &mut Reader<'a>,
) -> Result<&'a [u8], DeserializeError> {
    let len = r.u32()? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    let all = r.take(1, len)?;
    let (last, body) = all.split_last().unwrap_or((&0, &[]));
    if *last != 0 {
        return Err(DeserializeError::StringNotTerminated {
            field: f.name.clone(),
        });
    }
    check_bound(f, body.len(), bound)?;
    Ok(body)
}

/// Reads a CDR wstring of field `f` (length in UTF-16 units, each unit a
/// 4-byte word): checks the bound and that every unit fits 16 bits, and
/// hands the units to `unit` in order. Returns the unit count.
pub(crate) fn wstring_units(
    f: &Field,
    bound: Option<usize>,
    r: &mut Reader<'_>,
    mut unit: impl FnMut(u16),
) -> Result<usize, DeserializeError> {
    let len = r.u32()? as usize;
    check_bound(f, len, bound)?;
    let raw = r.take(4, len.saturating_mul(4))?;
    for ch in raw.chunks_exact(4) {
        let v = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let u = u16::try_from(v).map_err(|_| DeserializeError::InvalidWChar {
            field: f.name.clone(),
            value: v,
        })?;
        unit(u);
    }
    Ok(len)
}

fn one(f: &Field, ty: &FieldType, r: &mut Reader<'_>) -> Result<(), DeserializeError> {
    match ty {
        FieldType::Primitive(p) => prims(r, *p, 1).map(|_| ()),
        FieldType::String { bound } => string_body(f, *bound, r).map(|_| ()),
        FieldType::WString { bound } => wstring_units(f, *bound, r, |_| {}).map(|_| ()),
        FieldType::Message(m) => message(
            m,
            r,
            &mut Walk {
                target: None,
                found: None,
            },
        ),
    }
}

fn message(
    layout: &MessageLayout,
    r: &mut Reader<'_>,
    w: &mut Walk<'_>,
) -> Result<(), DeserializeError> {
    for f in &layout.fields {
        let n = match f.arity {
            Arity::Single => None,
            Arity::Array(n) => Some(n),
            Arity::Sequence { bound } => Some(seq_len(f, bound, r)?),
        };
        let hit = w.target == Some(f.name.as_str());
        match (&f.ty, n) {
            (FieldType::Primitive(p), n) => {
                let range = prims(r, *p, n.unwrap_or(1))?;
                if hit {
                    w.found = Some(range);
                }
            }
            (ty, None) => one(f, ty, r)?,
            (ty, Some(n)) => {
                for _ in 0..n {
                    one(f, ty, r)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks that `bytes` (header + body) is a well-formed CDR message of
/// `layout` with exactly the checks [`crate::deserialize`] applies; returns
/// the number of bytes the message occupies (header included; trailing
/// bytes are allowed, as in deserialize).
pub fn validate(layout: &MessageLayout, bytes: &[u8]) -> Result<usize, DeserializeError> {
    let body = split_header(bytes)?;
    let mut r = Reader::new(body);
    message(
        layout,
        &mut r,
        &mut Walk {
            target: None,
            found: None,
        },
    )?;
    Ok(r.position() + 4)
}

/// Validates `bytes` like [`validate`] and returns the byte range (inside
/// `bytes`) of the elements of the top-level primitive field `name` (one
/// value, array or sequence; e.g. `data` of `sensor_msgs/Image`), or `None`
/// when the layout has no such primitive field. Element bytes are
/// little-endian CDR, which on little-endian hosts is the in-memory layout.
pub fn primitive_field_range(
    layout: &MessageLayout,
    bytes: &[u8],
    name: &str,
) -> Result<Option<Range<usize>>, DeserializeError> {
    if !layout
        .fields
        .iter()
        .any(|f| f.name == name && matches!(f.ty, FieldType::Primitive(_)))
    {
        return Ok(None);
    }
    let body = split_header(bytes)?;
    let mut r = Reader::new(body);
    let mut w = Walk {
        target: Some(name),
        found: None,
    };
    message(layout, &mut r, &mut w)?;
    Ok(w.found.map(|x| x.start + 4..x.end + 4))
}
