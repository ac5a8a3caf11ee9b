//! Safe, bounds-checked CDR (XCDR1, little-endian) cursors over byte slices.
//!
//! Positions are relative to the start of the CDR body (the byte after the
//! 4-byte encapsulation header); alignment is relative to that origin, as in
//! Fast-CDR. Padding bytes are written as zeros.

use crate::error::{DeserializeError, SerializeError};

/// CDR little-endian encapsulation header (`CDR_LE`, options 0).
pub const ENCAPSULATION_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Rounds `pos` up to a multiple of `align` (a power of two).
#[inline]
pub const fn align_up(pos: usize, align: usize) -> usize {
    (pos + align - 1) & !(align - 1)
}

/// Writes CDR into a fixed, caller-provided buffer (never grows).
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer over a CDR body (the header is written separately).
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far (including padding).
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    fn too_small(&self) -> SerializeError {
        SerializeError::BufferTooSmall {
            capacity: self.buf.len(),
        }
    }

    /// Pads with zeros to `align`.
    #[inline]
    pub fn align(&mut self, align: usize) -> Result<(), SerializeError> {
        let to = align_up(self.pos, align);
        let capacity = self.buf.len();
        let pad = self
            .buf
            .get_mut(self.pos..to)
            .ok_or(SerializeError::BufferTooSmall { capacity })?;
        pad.fill(0);
        self.pos = to;
        Ok(())
    }

    /// Reserves `n` bytes (after aligning to `align`) and returns them.
    #[inline]
    pub fn reserve(&mut self, align: usize, n: usize) -> Result<&mut [u8], SerializeError> {
        if self.align(align).is_err() {
            return Err(self.too_small());
        }
        let start = self.pos;
        let end = start.checked_add(n).ok_or_else(|| self.too_small())?;
        if end > self.buf.len() {
            return Err(self.too_small());
        }
        self.pos = end;
        Ok(&mut self.buf[start..end])
    }

    /// Writes raw little-endian bytes of one value aligned to `align`.
    #[inline]
    pub fn put(&mut self, align: usize, bytes: &[u8]) -> Result<(), SerializeError> {
        self.reserve(align, bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Writes a `uint32`.
    #[inline]
    pub fn put_u32(&mut self, v: u32) -> Result<(), SerializeError> {
        self.put(4, &v.to_le_bytes())
    }
}

/// Waits until the first `n` bytes of an input that is still being written
/// are final and returns how many are (at least `n`), or why they never
/// will be. Offsets count from the start of the whole input (header
/// included). See [`Reader::gated`].
pub type Gate<'g> = &'g dyn Fn(usize) -> Result<usize, String>;

/// Reads CDR from an untrusted byte slice; every read is bounds-checked.
/// `Clone` gives a cheap look-ahead cursor.
///
/// A gated reader ([`Reader::gated`]) reads an input that its producer is
/// still writing, front to back (a streamed sample in shared memory): it
/// never reads a byte at or above the gate's last answer, and bulk copies
/// ([`Reader::take_progressive`]) follow the producer piece by piece.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Body bytes known final: `buf.len()` unless gated.
    ready: usize,
    /// Gate and the body's offset in the whole input.
    gate: Option<(Gate<'a>, usize)>,
}

/// Bulk copies of a gated reader proceed in pieces of at least this many
/// bytes (or what is left): small enough that the reader's copy starts
/// early, large enough that waiting costs little per byte.
pub const PROGRESS_PIECE: usize = 128 << 10;

impl<'a> Reader<'a> {
    /// A reader over a CDR body (after the header).
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            ready: buf.len(),
            gate: None,
        }
    }

    /// A reader over a CDR body that starts `base` bytes into an input
    /// still being written; `gate` says how much of the input is final.
    pub fn gated(buf: &'a [u8], base: usize, gate: Gate<'a>) -> Self {
        Reader {
            buf,
            pos: 0,
            ready: 0,
            gate: Some((gate, base)),
        }
    }

    /// Whether this reader follows a producer that may still be writing.
    pub fn is_gated(&self) -> bool {
        self.gate.is_some() && self.ready < self.buf.len()
    }

    /// Address of the next read aligned to `align` (for callers that need
    /// the element alignment of the input itself).
    pub fn next_addr(&self, align: usize) -> usize {
        self.buf.as_ptr() as usize + align_up(self.pos, align)
    }

    /// Waits (through the gate) until body bytes `..end` are final.
    #[cold]
    fn wait_ready(&mut self, end: usize) -> Result<(), DeserializeError> {
        let Some((gate, base)) = self.gate else {
            return Ok(());
        };
        let got = gate(base + end).map_err(|reason| DeserializeError::Incomplete {
            offset: base + self.ready,
            reason,
        })?;
        let got = got.saturating_sub(base).min(self.buf.len());
        if got < end {
            return Err(DeserializeError::Incomplete {
                offset: base + got,
                reason: "the gate returned less than asked".into(),
            });
        }
        self.ready = got;
        Ok(())
    }

    /// Current position.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current position.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The bounds-checked range of the next `n` bytes aligned to `align`.
    #[inline]
    fn span(&self, align: usize, n: usize) -> Result<(usize, usize), DeserializeError> {
        let start = align_up(self.pos, align);
        match start.checked_add(n) {
            Some(end) if end <= self.buf.len() => Ok((start, end)),
            Some(end) => Err(DeserializeError::Truncated {
                offset: self.pos,
                needed: end - self.pos.min(end),
            }),
            None => Err(DeserializeError::Truncated {
                offset: self.pos,
                needed: usize::MAX,
            }),
        }
    }

    /// Takes `n` bytes after aligning to `align`.
    #[inline]
    pub fn take(&mut self, align: usize, n: usize) -> Result<&'a [u8], DeserializeError> {
        let (start, end) = self.span(align, n)?;
        if end > self.ready {
            self.wait_ready(end)?;
        }
        self.pos = end;
        let buf: &'a [u8] = self.buf;
        Ok(&buf[start..end])
    }

    /// Takes `n` bytes after aligning to `align` like [`Self::take`], handing
    /// them to `f` as consecutive pieces `(offset in the n bytes, piece)`
    /// whose lengths are multiples of `unit` (the element size): one piece
    /// for an ungated reader, else each piece as soon as the producer has
    /// written it. Bounds are checked before the first piece.
    pub fn take_progressive(
        &mut self,
        align: usize,
        n: usize,
        unit: usize,
        mut f: impl FnMut(usize, &'a [u8]),
    ) -> Result<(), DeserializeError> {
        let (start, end) = self.span(align, n)?;
        let buf: &'a [u8] = self.buf;
        let unit = unit.max(1);
        let mut at = start;
        while at < end {
            if self.ready <= at {
                // Nothing ready here: wait for a whole piece (the gate
                // answers with everything written, often more).
                self.wait_ready((at + PROGRESS_PIECE).min(end))?;
            }
            let ready_end = self.ready.min(end);
            let take = if ready_end == end {
                end - at
            } else {
                (ready_end - at) / unit * unit
            };
            if take == 0 {
                // Less than one element ready: wait for exactly one.
                self.wait_ready(at + unit.min(end - at))?;
                continue;
            }
            f(at - start, &buf[at..at + take]);
            at += take;
        }
        self.pos = end;
        Ok(())
    }

    /// Reads a `uint32`.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, DeserializeError> {
        let b = self.take(4, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Fails with `Truncated` unless at least `n` bytes (ignoring padding) remain.
    #[inline]
    pub fn need(&self, n: usize) -> Result<(), DeserializeError> {
        if n > self.remaining() {
            Err(DeserializeError::Truncated {
                offset: self.pos,
                needed: n,
            })
        } else {
            Ok(())
        }
    }
}

/// Validates the encapsulation header and returns the CDR body.
pub fn split_header(bytes: &[u8]) -> Result<&[u8], DeserializeError> {
    if bytes.len() < 4 {
        return Err(DeserializeError::NoHeader);
    }
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    if kind != 0x0001 {
        return Err(DeserializeError::UnsupportedEncapsulation(kind));
    }
    Ok(&bytes[4..])
}

/// Copies primitive values from memory representation to CDR little-endian.
/// On little-endian hosts one `memcpy`; on big-endian hosts per element.
#[inline]
pub fn copy_to_le(dst: &mut [u8], src: &[u8], elem: usize) {
    #[cfg(target_endian = "little")]
    {
        let _ = elem;
        dst.copy_from_slice(src);
    }
    #[cfg(target_endian = "big")]
    {
        for (d, s) in dst.chunks_exact_mut(elem).zip(src.chunks_exact(elem)) {
            for i in 0..elem {
                d[i] = s[elem - 1 - i];
            }
        }
    }
}

/// The inverse of [`copy_to_le`].
#[inline]
pub fn copy_from_le(dst: &mut [u8], src: &[u8], elem: usize) {
    copy_to_le(dst, src, elem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_and_bounds() {
        let mut b = [0xffu8; 16];
        let mut w = Writer::new(&mut b);
        w.put(1, &[7]).unwrap();
        w.put_u32(0x0403_0201).unwrap();
        assert_eq!(w.position(), 8);
        assert_eq!(&b[..8], &[7, 0, 0, 0, 1, 2, 3, 4]);
        let mut w = Writer::new(&mut b[..5]);
        w.put(1, &[1]).unwrap();
        assert!(w.put_u32(1).is_err());

        let data = [1u8, 0, 0, 0, 5, 0, 0, 0];
        let mut r = Reader::new(&data);
        r.take(1, 1).unwrap();
        assert_eq!(r.u32().unwrap(), 5);
        assert!(r.u32().is_err());
    }

    #[test]
    fn header() {
        assert!(split_header(&[0, 1]).is_err());
        assert!(split_header(&[0, 0, 0, 0]).is_err());
        assert_eq!(split_header(&[0, 1, 0, 0, 9]).unwrap(), &[9]);
    }
}
