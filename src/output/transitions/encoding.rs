//! The Parquet format's encodings the transitions export writes, value by value: ULEB128,
//! LSB-first bit packing, the RLE / bit-packing hybrid of dictionary indices, and
//! DELTA_BINARY_PACKED (blocks of 128 deltas, 4 miniblocks of 32).

/// Appends `v` as ULEB128.
pub(super) fn uleb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bits needed for values up to `max` (0 for 0).
pub(super) fn bit_width(max: u64) -> usize {
    (64 - max.leading_zeros()) as usize
}

/// Bit-packs `values` (each below 2^`width`, `width` ≤ 32) least significant bit first, as
/// groups of 8 (the last group padded with zeros): ⌈n/8⌉·`width` bytes.
pub(super) fn pack(values: &[u32], width: usize, out: &mut Vec<u8>) {
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                0 => {}
                $($w => pack_fixed::<$w>(values, out),)*
                _ => {
                    let wide: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
                    pack_wide(&wide, width, out);
                }
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
}

/// [`pack`] at a width `W` ≤ 16 known at compile time: each group of 8 values is assembled
/// in one register with constant shifts and stored whole (the next group overwrites the
/// spare high bytes).
pub(super) fn pack_fixed<const W: usize>(values: &[u32], out: &mut Vec<u8>) {
    let groups = values.len().div_ceil(8);
    let start = out.len();
    out.resize(start + groups * W + 16, 0);
    let buf = &mut out[start..];
    let group = |g: &[u32; 8]| -> u128 {
        let mut acc = 0u128;
        for (j, &v) in g.iter().enumerate() {
            acc |= u128::from(v) << (j * W);
        }
        acc
    };
    let mut chunks = values.chunks_exact(8);
    for (i, g) in (&mut chunks).enumerate() {
        let acc = group(g.try_into().expect("8 values"));
        buf[i * W..i * W + 16].copy_from_slice(&acc.to_le_bytes());
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u32; 8];
        last[..rest.len()].copy_from_slice(rest);
        let i = groups - 1;
        buf[i * W..i * W + 16].copy_from_slice(&group(&last).to_le_bytes());
    }
    out.truncate(start + groups * W);
}

/// Bit-packs 64-bit `values` (each below 2^`width`, `width` ≤ 64), as [`pack`].
pub(super) fn pack_wide(values: &[u64], width: usize, out: &mut Vec<u8>) {
    debug_assert!(width <= 64);
    if width == 0 {
        return;
    }
    let start = out.len();
    let (mut acc, mut bits) = (0u128, 0usize);
    for &v in values {
        acc |= u128::from(v) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..bits.div_ceil(8)]);
    out.resize(start + values.len().div_ceil(8) * width, 0);
}

/// The RLE / bit-packing hybrid of dictionary indices (a data page of RLE_DICTIONARY): the
/// bit width byte, then one bit-packed run of `values`.
pub(super) fn dictionary_indices(values: &[u32], width: usize, out: &mut Vec<u8>) {
    out.push(width as u8);
    uleb(out, ((values.len().div_ceil(8) as u64) << 1) | 1);
    pack(values, width, out);
}

/// A dictionary-index page whose `n` values are all `index`: one RLE run.
pub(super) fn dictionary_run(n: usize, index: u32, out: &mut Vec<u8>) {
    let width = bit_width(u64::from(index)).max(1);
    out.push(width as u8);
    uleb(out, (n as u64) << 1);
    out.extend_from_slice(&index.to_le_bytes()[..width.div_ceil(8)]);
}

/// A physical integer type of DELTA_BINARY_PACKED: wrapping arithmetic in its own width.
pub(super) trait DeltaInt: Copy + Ord {
    fn delta(self, prev: Self) -> Self;
    /// `self − min` as an unsigned number of the type's width.
    fn above(self, min: Self) -> u64;
    fn zigzag(self) -> u64;
}

impl DeltaInt for i32 {
    #[inline(always)]
    fn delta(self, prev: Self) -> Self {
        self.wrapping_sub(prev)
    }
    #[inline(always)]
    fn above(self, min: Self) -> u64 {
        u64::from(self.wrapping_sub(min) as u32)
    }
    fn zigzag(self) -> u64 {
        u64::from(((self << 1) ^ (self >> 31)) as u32)
    }
}

impl DeltaInt for i64 {
    #[inline(always)]
    fn delta(self, prev: Self) -> Self {
        self.wrapping_sub(prev)
    }
    #[inline(always)]
    fn above(self, min: Self) -> u64 {
        self.wrapping_sub(min) as u64
    }
    fn zigzag(self) -> u64 {
        ((self << 1) ^ (self >> 63)) as u64
    }
}

/// DELTA_BINARY_PACKED of `values` (blocks of 128 deltas, 4 miniblocks of 32): a miniblock
/// whose deltas all equal the block's minimum takes no bytes at all.
pub(super) fn delta_binary_packed<V: DeltaInt>(values: &[V], out: &mut Vec<u8>) {
    const BLOCK: usize = 128;
    const MINI: usize = 32;
    uleb(out, BLOCK as u64);
    uleb(out, (BLOCK / MINI) as u64);
    uleb(out, values.len() as u64);
    let Some(&first) = values.first() else {
        uleb(out, 0);
        return;
    };
    uleb(out, first.zigzag());
    let mut deltas = [first; BLOCK];
    let mut above = [0u64; MINI];
    let (mut prev, mut rest) = (first, &values[1..]);
    while !rest.is_empty() {
        let n = rest.len().min(BLOCK);
        for (d, &v) in deltas.iter_mut().zip(&rest[..n]) {
            *d = v.delta(prev);
            prev = v;
        }
        rest = &rest[n..];
        let min = *deltas[..n].iter().min().expect("a block holds a delta");
        uleb(out, min.zigzag());
        let widths_at = out.len();
        out.extend_from_slice(&[0; BLOCK / MINI]);
        for (m, mini) in deltas[..n].chunks(MINI).enumerate() {
            let mut max = 0u64;
            for (a, d) in above.iter_mut().zip(mini) {
                *a = d.above(min);
                max = max.max(*a);
            }
            above[mini.len()..].fill(0);
            let width = bit_width(max);
            out[widths_at + m] = width as u8;
            if width <= 16 {
                let narrow: [u32; MINI] = std::array::from_fn(|j| above[j] as u32);
                pack(&narrow, width, out);
            } else {
                pack_wide(&above, width, out);
            }
        }
    }
}

/// DELTA_BINARY_PACKED of the `n` consecutive integers `first`, `first` + 1, …: every delta
/// is 1, so every block is its minimum delta (1) and four zero widths.
pub(super) fn delta_consecutive(first: u64, n: usize, wide: bool, out: &mut Vec<u8>) {
    uleb(out, 128);
    uleb(out, 4);
    uleb(out, n as u64);
    if wide {
        uleb(out, (first as i64).zigzag());
    } else {
        uleb(out, (first as u32 as i32).zigzag());
    }
    for _ in 0..n.saturating_sub(1).div_ceil(128) {
        out.extend_from_slice(&[2, 0, 0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reference decoder of DELTA_BINARY_PACKED (the format's definition, bit by bit), as
    /// i128 values wrapped to `bits`.
    fn decode_delta(bytes: &[u8], bits: u32) -> Vec<i128> {
        let mut pos = 0;
        let uleb = |pos: &mut usize| {
            let (mut v, mut shift) = (0u128, 0);
            loop {
                let b = bytes[*pos];
                *pos += 1;
                v |= u128::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        };
        let unzig = |v: u128| (v >> 1) as i128 ^ -((v & 1) as i128);
        let wrap = |v: i128| {
            let m = 1i128 << bits;
            let v = v.rem_euclid(m);
            if v >= m / 2 {
                v - m
            } else {
                v
            }
        };
        let block = uleb(&mut pos) as usize;
        let minis = uleb(&mut pos) as usize;
        let n = uleb(&mut pos) as usize;
        let mut out = vec![unzig(uleb(&mut pos))];
        let per = block / minis;
        while out.len() < n {
            let min = unzig(uleb(&mut pos));
            let widths: Vec<usize> = bytes[pos..pos + minis]
                .iter()
                .map(|&w| usize::from(w))
                .collect();
            pos += minis;
            for w in widths {
                if out.len() >= n {
                    break;
                }
                for j in 0..per {
                    let mut v = 0u128;
                    for b in 0..w {
                        let bit = j * w + b;
                        v |= u128::from(bytes[pos + bit / 8] >> (bit % 8) & 1) << b;
                    }
                    if out.len() < n {
                        let prev = *out.last().unwrap();
                        out.push(wrap(prev + min + v as i128));
                    }
                }
                pos += per * w / 8;
            }
        }
        assert_eq!(pos, bytes.len(), "no trailing bytes");
        out
    }

    proptest! {
        #[test]
        fn delta_binary_packed_decodes(values in proptest::collection::vec(any::<i32>(), 1..700),
                                       wide in proptest::collection::vec(any::<i64>(), 1..300)) {
            let mut out = Vec::new();
            delta_binary_packed(&values, &mut out);
            let want: Vec<i128> = values.iter().map(|&v| i128::from(v)).collect();
            prop_assert_eq!(decode_delta(&out, 32), want);
            let mut out = Vec::new();
            delta_binary_packed(&wide, &mut out);
            let want: Vec<i128> = wide.iter().map(|&v| i128::from(v)).collect();
            prop_assert_eq!(decode_delta(&out, 64), want);
        }

        #[test]
        fn consecutive_deltas_decode(first in 0u64..(1 << 33), n in 1usize..1000) {
            let mut out = Vec::new();
            delta_consecutive(first, n, true, &mut out);
            let want: Vec<i128> = (0..n as i128).map(|j| first as i128 + j).collect();
            prop_assert_eq!(decode_delta(&out, 64), want);
            let first = first as u32;
            let mut out = Vec::new();
            delta_consecutive(u64::from(first), n, false, &mut out);
            let want: Vec<i128> = (0..n as u32).map(|j| i128::from(first.wrapping_add(j) as i32)).collect();
            prop_assert_eq!(decode_delta(&out, 32), want);
        }

        #[test]
        fn packing_matches_a_bit_by_bit_reference(width in 1usize..=32, seed in any::<u64>(), n in 0usize..100) {
            let mask = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
            let values: Vec<u32> = (0..n as u64)
                .map(|i| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i.wrapping_mul(0xD1B5_4A32_D192_ED03)) >> 17) as u32 & mask)
                .collect();
            let mut out = Vec::new();
            pack(&values, width, &mut out);
            let mut want = vec![0u8; n.div_ceil(8) * width];
            for (j, &v) in values.iter().enumerate() {
                for b in 0..width {
                    if v >> b & 1 == 1 {
                        let at = j * width + b;
                        want[at / 8] |= 1 << (at % 8);
                    }
                }
            }
            prop_assert_eq!(out, want);
        }
    }
}
