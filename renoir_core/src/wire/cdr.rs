//! XCDR1 little-endian encoding ("plain CDR" with the 4-byte encapsulation
//! header), the subset the messages of [`super::sensor_msgs`] need.
//!
//! Rules (docs/cdr.md): primitives aligned to their size relative to the
//! first byte after the header, padding written as zeros, strings as a
//! `uint32` length including the NUL then the bytes and a NUL, sequences as
//! a `uint32` count then the elements (aligned once to the element size,
//! and not at all when the count is 0).
//!
//! A message is described once as a walk over a [`Sink`]: [`Sizer`] counts,
//! [`Writer`] writes. Bulk arrays are [`Sink::bulk`]: the writer reserves
//! their bytes without touching them (the producer writes them in place)
//! and reports where they are.

use std::ops::Range;

/// The encapsulation header: CDR little endian, options 0.
pub const ENCAPSULATION_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Encoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    /// ROS strings end at their first NUL (Fast-CDR writes C strings), so a
    /// string holding one would not arrive as given.
    #[error("string field `{0}` contains a NUL byte")]
    Nul(&'static str),
    /// A sequence or string longer than CDR's `uint32` length.
    #[error("field `{0}` is too long for CDR (more than 2^32-1 elements)")]
    TooLong(&'static str),
    /// Writing past the end of the buffer (a sizing bug, never expected).
    #[error("buffer of {have} bytes is too small (need {need})")]
    BufferTooSmall { need: usize, have: usize },
}

/// Where the walk of a message goes: counting or writing.
pub trait Sink {
    /// Current position, counted from the start of the buffer (header
    /// included).
    fn pos(&self) -> usize;
    /// Append raw bytes.
    fn put(&mut self, b: &[u8]) -> Result<(), CdrError>;
    /// Reserve `n` bytes the caller fills in later; returns their range.
    fn reserve(&mut self, n: usize) -> Result<Range<usize>, CdrError>;

    /// Zero padding up to `align` relative to the byte after the header.
    fn align(&mut self, align: usize) -> Result<(), CdrError> {
        let rel = self.pos().saturating_sub(ENCAPSULATION_LE.len());
        let pad = (align - rel % align) % align;
        self.put(&[0u8; 8][..pad])
    }
    fn u8(&mut self, v: u8) -> Result<(), CdrError> {
        self.put(&[v])
    }
    fn bool(&mut self, v: bool) -> Result<(), CdrError> {
        self.put(&[v as u8])
    }
    fn u32(&mut self, v: u32) -> Result<(), CdrError> {
        self.align(4)?;
        self.put(&v.to_le_bytes())
    }
    fn i32(&mut self, v: i32) -> Result<(), CdrError> {
        self.align(4)?;
        self.put(&v.to_le_bytes())
    }
    fn f32(&mut self, v: f32) -> Result<(), CdrError> {
        self.align(4)?;
        self.put(&v.to_le_bytes())
    }
    /// A ROS `string` (no embedded NUL allowed; `field` names it in errors).
    fn string(&mut self, field: &'static str, s: &str) -> Result<(), CdrError> {
        if s.as_bytes().contains(&0) {
            return Err(CdrError::Nul(field));
        }
        let n = u32::try_from(s.len() + 1).map_err(|_| CdrError::TooLong(field))?;
        self.u32(n)?;
        self.put(s.as_bytes())?;
        self.put(&[0])
    }
    /// A sequence of `count` primitives of `elem` bytes each whose contents
    /// the producer writes in place: count, alignment (none when empty),
    /// then the reserved bytes.
    fn bulk(
        &mut self,
        field: &'static str,
        count: usize,
        elem: usize,
    ) -> Result<Range<usize>, CdrError> {
        let n = u32::try_from(count).map_err(|_| CdrError::TooLong(field))?;
        let bytes = count.checked_mul(elem).ok_or(CdrError::TooLong(field))?;
        self.u32(n)?;
        if count > 0 {
            self.align(elem.min(8))?;
        }
        self.reserve(bytes)
    }
}

/// Counts the bytes a walk would write.
#[derive(Debug, Default)]
pub struct Sizer {
    pos: usize,
}

impl Sizer {
    pub fn new() -> Sizer {
        Sizer::default()
    }
}

impl Sink for Sizer {
    fn pos(&self) -> usize {
        self.pos
    }
    fn put(&mut self, b: &[u8]) -> Result<(), CdrError> {
        self.pos += b.len();
        Ok(())
    }
    fn reserve(&mut self, n: usize) -> Result<Range<usize>, CdrError> {
        let r = self.pos..self.pos + n;
        self.pos += n;
        Ok(r)
    }
}

/// Writes a walk into a buffer that never grows (bounds-checked).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }
}

impl Sink for Writer<'_> {
    fn pos(&self) -> usize {
        self.pos
    }
    fn put(&mut self, b: &[u8]) -> Result<(), CdrError> {
        let end = self.pos + b.len();
        let have = self.buf.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(CdrError::BufferTooSmall { need: end, have })?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
    fn reserve(&mut self, n: usize) -> Result<Range<usize>, CdrError> {
        let end = self.pos.saturating_add(n);
        if end > self.buf.len() {
            return Err(CdrError::BufferTooSmall {
                need: end,
                have: self.buf.len(),
            });
        }
        let r = self.pos..end;
        self.pos = end;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_relative_to_the_byte_after_the_header() {
        let mut b = [0xffu8; 16];
        let mut w = Writer::new(&mut b);
        w.put(&ENCAPSULATION_LE).unwrap();
        w.u8(7).unwrap();
        w.u32(0x0102_0304).unwrap();
        assert_eq!(w.pos(), 12);
        assert_eq!(&b[..12], &[0, 1, 0, 0, 7, 0, 0, 0, 4, 3, 2, 1]);
    }

    #[test]
    fn strings_and_empty_sequences() {
        let mut s = Sizer::new();
        s.put(&ENCAPSULATION_LE).unwrap();
        s.string("x", "ab").unwrap();
        assert_eq!(s.pos(), 4 + 4 + 3);
        // An empty float sequence: the count only, no alignment after it.
        s.u8(1).unwrap();
        let r = s.bulk("y", 0, 4).unwrap();
        assert_eq!(r, 16..16);
        assert_eq!(s.string("z", "a\0b"), Err(CdrError::Nul("z")));
    }

    #[test]
    fn writer_never_writes_past_its_buffer() {
        let mut b = [0u8; 6];
        let mut w = Writer::new(&mut b);
        w.put(&ENCAPSULATION_LE).unwrap();
        assert!(matches!(
            w.u32(1),
            Err(CdrError::BufferTooSmall { need: 8, have: 6 })
        ));
        assert!(w.reserve(usize::MAX).is_err());
    }
}
