//! The payload pattern and metadata encoding of `c/rcl_bench.c`, for the
//! native publisher (`src/bin/native_pub.rs`): the C subscriber checks every
//! payload byte against these, so they must match the C functions
//! `pat_word`, `fill_bytes`, `pat_float` and `msg_stamp` bit for bit.
//!
//! - Sequence number: `header.frame_id` = decimal sequence number.
//! - Send time: `header.stamp` = CLOCK_MONOTONIC nanoseconds (sec, nanosec).
//! - Byte payloads (Image, PointCloud2 `data`): 64-bit words
//!   `pat_word(seq, i)` in native byte order, the tail the first bytes of
//!   the next word.
//! - LaserScan: `ranges[i] = pat_float(seq, i, 1)`, `intensities[i] =
//!   pat_float(seq, i, 2)`, float32 little endian (CDR).
//! - End marker: sequence number `END_FLAG | measured messages sent`, its
//!   payload filled for that sequence number too.

/// Sequence numbers with this bit are end markers.
pub const END_FLAG: u64 = 1 << 63;

/// `pat_word` of rcl_bench.c (uint64 arithmetic wraps, as in C).
#[inline]
pub fn pat_word(seq: u64, i: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ i
}

/// `fill_bytes` of rcl_bench.c.
pub fn fill_bytes(p: &mut [u8], seq: u64) {
    let mut chunks = p.chunks_exact_mut(8);
    let mut i = 0u64;
    for c in &mut chunks {
        c.copy_from_slice(&pat_word(seq, i).to_ne_bytes());
        i += 1;
    }
    let tail = chunks.into_remainder();
    let n = tail.len();
    tail.copy_from_slice(&pat_word(seq, i).to_ne_bytes()[..n]);
}

/// `check_bytes` of rcl_bench.c (for tests).
pub fn check_bytes(p: &[u8], seq: u64) -> bool {
    let mut want = vec![0u8; p.len()];
    fill_bytes(&mut want, seq);
    want == p
}

/// `pat_float` of rcl_bench.c: `(float)((seq*7 + i*13 + salt) % 100000) *
/// 0.001f`, uint64 arithmetic, float multiplication.
#[inline]
pub fn pat_float(seq: u64, i: u64, salt: u32) -> f32 {
    let k = seq
        .wrapping_mul(7)
        .wrapping_add(i.wrapping_mul(13))
        .wrapping_add(u64::from(salt))
        % 100_000;
    k as f32 * 0.001f32
}

/// `fill_floats` into CDR bytes (float32 little endian, 4 per value).
pub fn fill_floats_le(p: &mut [u8], seq: u64, salt: u32) {
    for (i, c) in p.chunks_exact_mut(4).enumerate() {
        c.copy_from_slice(&pat_float(seq, i as u64, salt).to_le_bytes());
    }
}

/// `header.stamp` of a send time in nanoseconds, as `msg_stamp` writes it.
pub fn stamp(t_ns: u64) -> (i32, u32) {
    ((t_ns / 1_000_000_000) as i32, (t_ns % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_tail_follow_the_c_layout() {
        let mut b = vec![0u8; 19];
        fill_bytes(&mut b, 7);
        assert_eq!(&b[0..8], &pat_word(7, 0).to_ne_bytes());
        assert_eq!(&b[8..16], &pat_word(7, 1).to_ne_bytes());
        assert_eq!(&b[16..19], &pat_word(7, 2).to_ne_bytes()[..3]);
        assert!(check_bytes(&b, 7));
        assert!(!check_bytes(&b, 8));
        b[18] ^= 1;
        assert!(!check_bytes(&b, 7));
    }

    #[test]
    fn pattern_values_match_the_c_formulas() {
        // Worked by hand from the C expressions.
        assert_eq!(pat_word(0, 0), 0);
        assert_eq!(pat_word(1, 0), 0x9E37_79B9_7F4A_7C15);
        assert_eq!(pat_word(0, 1), 0xD6E8_FEB8_6659_FD93 ^ 1);
        assert_eq!(pat_float(0, 0, 1), 0.001f32);
        assert_eq!(pat_float(1, 1, 2), 22.0f32 * 0.001f32);
        // End markers wrap in uint64 like C: (2^63 * 7) mod 2^64 = 2^63.
        let k = ((1u64 << 63) + 2) % 100_000;
        assert_eq!(pat_float(END_FLAG, 0, 2), k as f32 * 0.001f32);
        let mut f = [0u8; 8];
        fill_floats_le(&mut f, 3, 1);
        assert_eq!(&f[4..8], &pat_float(3, 1, 1).to_le_bytes());
    }

    #[test]
    fn stamp_splits_seconds() {
        assert_eq!(stamp(3_000_000_007), (3, 7));
    }
}
