//! The only `unsafe` of the blob module: writing into blocks this process
//! holds as loans.

use crate::region::Region;

/// Copy `src` into `region[offset..offset + src.len()]`.
///
/// The caller must hold the block containing that range as an exclusive
/// loan (freshly allocated from a pool with its owner tag, not yet
/// published). Errors if the range is out of bounds or read-only.
pub(super) fn write_loaned(region: &Region, offset: usize, src: &[u8]) -> Result<(), String> {
    // SAFETY: the range lies inside a pool block this writer allocated and
    // has not published yet (the function's contract, upheld by
    // `BlobWriter::publish`, the only caller): no other reference to these
    // bytes exists in any process. `bytes_mut` checks bounds and
    // writability; the slice does not outlive this call.
    let dst = unsafe { region.bytes_mut(offset, src.len()) }.map_err(|e| e.to_string())?;
    dst.copy_from_slice(src);
    Ok(())
}
