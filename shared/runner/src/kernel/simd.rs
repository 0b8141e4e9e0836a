//! AVX2 + FMA inner loops for [`super`], behind a safe interface: each function checks
//! the CPU (once, cached by `std`) and its slice bounds, and answers `false`/`None`
//! when it cannot run so the caller falls back to the portable code.
//!
//! Packed values: 8 consecutive values of a `bits`-wide row take exactly `bits` bytes,
//! so value chunk `c` (values `8c..8c+8`) starts at byte `c·bits`. The loops unpack one
//! chunk into 8 float lanes and multiply-add it with 8 inputs.
#![allow(unsafe_code)]

use super::Layout;

/// What [`available`] means.
pub const NAME: &str = "avx2+fma";

/// Whether this CPU runs the loops here.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[i] = Σ_g scale·(q·x)_g + bias·gsums[g]` for the rows in `w`/`s`/`b`.
pub fn single_row(
    l: Layout,
    w: &[u32],
    s: &[f32],
    b: &[f32],
    x: &[f32],
    gsums: &[f32],
    out: &mut [f32],
) -> bool {
    let (wpr, gpr) = (l.words_per_row(), l.groups_per_row());
    let n = out.len();
    let sizes_ok = w.len() == n * wpr
        && s.len() == n * gpr
        && b.len() == n * gpr
        && x.len() == l.cols
        && gsums.len() == gpr
        && l.supported();
    if !sizes_ok || !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (checked above) and every slice has the length
    // the layout implies (checked above), which is all the loops index.
    unsafe {
        match l.bits {
            4 => {
                // Inputs reordered so each 8-byte run of nibbles unpacks with a
                // zero-extension and one shift: evens, then odds, per 16 values.
                let xp: Vec<f32> = x
                    .chunks_exact(16)
                    .flat_map(|c| (0..16).map(move |i| c[(i % 8) * 2 + i / 8]))
                    .collect();
                x86::single_row_nibbles(l, w, s, b, &xp, gsums, out)
            }
            8 => x86::single_row::<8>(l, w, s, b, x, gsums, out),
            2 => x86::single_row::<2>(l, w, s, b, x, gsums, out),
            3 => x86::single_row::<3>(l, w, s, b, x, gsums, out),
            5 => x86::single_row::<5>(l, w, s, b, x, gsums, out),
            6 => x86::single_row::<6>(l, w, s, b, x, gsums, out),
            _ => return false,
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Values `start..start + q.len()` of a packed row as floats; `start` and `q.len()`
/// must be multiples of 8.
pub fn unpack(row: &[u32], bits: usize, start: usize, q: &mut [f32]) -> bool {
    let fits = start % 8 == 0
        && q.len() % 8 == 0
        && matches!(bits, 2..=8)
        && (start + q.len()) * bits <= row.len() * 32;
    if !fits || !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 is present and the chunks read lie inside `row` (checked above).
    unsafe {
        x86::unpack(row, bits, start / 8, q);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `Σ a·b` for equal lengths that are multiples of 8.
pub fn dot(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.len() % 8 != 0 || !available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 and FMA are present; both slices hold `a.len()` floats.
    unsafe {
        Some(x86::dot(a, b))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Whether this CPU also converts float16 (F16C), which [`half_rows`] needs.
fn f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        available() && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[i] = Σ_j w[i·cols + j] · x[j]` with `w` float16 bits, `cols = x.len()` a
/// multiple of 8 and `w.len() == out.len() · cols`.
pub fn half_rows(w: &[u16], x: &[f32], out: &mut [f32]) -> bool {
    let cols = x.len();
    if cols == 0 || cols % 8 != 0 || w.len() != out.len() * cols || !f16c() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2, FMA and F16C are present (checked above); every row read lies
    // inside `w` and every input inside `x` (lengths checked above).
    unsafe {
        x86::half_rows(w, x, out);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Layout;

    /// Sum of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// Chunk `c` (values `8c..8c+8`) of the packed row at `row`, whose packed bytes
    /// are `row_bytes` long, as 8 floats.
    ///
    /// # Safety
    /// AVX2; `(c + 1) · BITS <= row_bytes` and `row` points at `row_bytes` readable
    /// bytes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn chunk<const BITS: usize>(row: *const u8, row_bytes: usize, c: usize) -> __m256 {
        let at = row.add(c * BITS);
        let ints = match BITS {
            8 => _mm256_cvtepu8_epi32(_mm_loadl_epi64(at as *const __m128i)),
            4 => {
                let word = (at as *const u32).read_unaligned();
                let shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
                _mm256_and_si256(
                    _mm256_srlv_epi32(_mm256_set1_epi32(word as i32), shifts),
                    _mm256_set1_epi32(0xF),
                )
            }
            _ => {
                // Value j starts at bit j·BITS: gather the 4 bytes from byte
                // ⌊j·BITS/8⌋ into lane j, shift by (j·BITS) mod 8, mask.
                let bytes = if c * BITS + 8 <= row_bytes {
                    (at as *const u64).read_unaligned()
                } else {
                    let mut tail = [0u8; 8];
                    std::ptr::copy_nonoverlapping(at, tail.as_mut_ptr(), BITS);
                    u64::from_le_bytes(tail)
                };
                let v = _mm256_set1_epi64x(bytes as i64);
                let (sel, shifts) = gather_plan::<BITS>();
                let lanes = _mm256_shuffle_epi8(v, sel);
                _mm256_and_si256(
                    _mm256_srlv_epi32(lanes, shifts),
                    _mm256_set1_epi32((1 << BITS) - 1),
                )
            }
        };
        _mm256_cvtepi32_ps(ints)
    }

    /// Byte-shuffle control and shifts that move value j of an 8-value chunk into
    /// lane j (bytes past the chunk's 8 read as zero).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn gather_plan<const BITS: usize>() -> (__m256i, __m256i) {
        let mut sel = [0x80u8 as i8; 32];
        let mut shifts = [0i32; 8];
        for (j, shift) in shifts.iter_mut().enumerate() {
            let bit = j * BITS;
            // Lanes 4..8 live in the upper 128-bit half, which holds the same 8 bytes.
            let base = (j % 4) * 4 + if j >= 4 { 16 } else { 0 };
            for k in 0..4 {
                let byte = bit / 8 + k;
                if byte < 8 {
                    sel[base + k] = byte as i8;
                }
            }
            *shift = (bit % 8) as i32;
        }
        // SAFETY: both arrays hold exactly 32 bytes.
        unsafe {
            (
                _mm256_loadu_si256(sel.as_ptr() as *const __m256i),
                _mm256_loadu_si256(shifts.as_ptr() as *const __m256i),
            )
        }
    }

    /// See [`super::single_row`]. Rows go four at a time so four independent
    /// accumulator chains hide the FMA latency and share each load of `x`.
    ///
    /// # Safety
    /// AVX2 + FMA; slice lengths as checked by [`super::single_row`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn single_row<const BITS: usize>(
        l: Layout,
        w: &[u32],
        s: &[f32],
        b: &[f32],
        x: &[f32],
        gsums: &[f32],
        out: &mut [f32],
    ) {
        let (wpr, gpr, gs) = (l.words_per_row(), l.groups_per_row(), l.group_size);
        let chunks = gs / 8;
        let row_bytes = wpr * 4;
        let bytes = w.as_ptr() as *const u8;
        let total = w.len() * 4;
        let n = out.len();
        let xp = x.as_ptr();
        let mut i = 0;
        while i + 4 <= n {
            let rows = [0, 1, 2, 3].map(|r| bytes.add((i + r) * row_bytes));
            let left = [0, 1, 2, 3].map(|r| total - (i + r) * row_bytes);
            let mut tot = [_mm256_setzero_ps(); 4];
            let mut bsum = [0.0f32; 4];
            for g in 0..gpr {
                let mut acc = [_mm256_setzero_ps(); 4];
                for c in 0..chunks {
                    let xv = _mm256_loadu_ps(xp.add(g * gs + c * 8));
                    for r in 0..4 {
                        let q = chunk::<BITS>(rows[r], left[r], g * chunks + c);
                        acc[r] = _mm256_fmadd_ps(q, xv, acc[r]);
                    }
                }
                for r in 0..4 {
                    let k = (i + r) * gpr + g;
                    tot[r] = _mm256_fmadd_ps(_mm256_set1_ps(*s.get_unchecked(k)), acc[r], tot[r]);
                    bsum[r] += *b.get_unchecked(k) * *gsums.get_unchecked(g);
                }
            }
            for r in 0..4 {
                *out.get_unchecked_mut(i + r) = hsum(tot[r]) + bsum[r];
            }
            i += 4;
        }
        while i < n {
            let row = bytes.add(i * row_bytes);
            let left = total - i * row_bytes;
            let mut tot = _mm256_setzero_ps();
            let mut bsum = 0.0f32;
            for g in 0..gpr {
                let mut acc = [_mm256_setzero_ps(); 2];
                for c in 0..chunks {
                    let xv = _mm256_loadu_ps(xp.add(g * gs + c * 8));
                    let q = chunk::<BITS>(row, left, g * chunks + c);
                    acc[c % 2] = _mm256_fmadd_ps(q, xv, acc[c % 2]);
                }
                let k = i * gpr + g;
                let a = _mm256_add_ps(acc[0], acc[1]);
                tot = _mm256_fmadd_ps(_mm256_set1_ps(*s.get_unchecked(k)), a, tot);
                bsum += *b.get_unchecked(k) * *gsums.get_unchecked(g);
            }
            *out.get_unchecked_mut(i) = hsum(tot) + bsum;
            i += 1;
        }
    }

    /// 16 values of a 4-bit row from byte `8·c16` on: (even values, odd values).
    ///
    /// # Safety
    /// AVX2; `row` holds at least `8·(c16 + 1)` bytes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn nibbles16(row: *const u8, c16: usize) -> (__m256, __m256) {
        let bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(row.add(c16 * 8) as *const __m128i));
        let mask = _mm256_set1_epi32(0xF);
        let lo = _mm256_and_si256(bytes, mask);
        let hi = _mm256_srli_epi32(bytes, 4);
        (_mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi))
    }

    /// [`single_row`] for 4 bits, with `xp` reordered per 16 inputs (8 evens, then
    /// 8 odds) to match [`nibbles16`].
    ///
    /// # Safety
    /// As [`single_row`], with `xp.len() == x.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn single_row_nibbles(
        l: Layout,
        w: &[u32],
        s: &[f32],
        b: &[f32],
        xp: &[f32],
        gsums: &[f32],
        out: &mut [f32],
    ) {
        let (wpr, gpr, gs) = (l.words_per_row(), l.groups_per_row(), l.group_size);
        let runs = gs / 16;
        let row_bytes = wpr * 4;
        let bytes = w.as_ptr() as *const u8;
        let n = out.len();
        let xptr = xp.as_ptr();
        let mut i = 0;
        while i < n {
            let take = (n - i).min(4);
            let rows = [0, 1, 2, 3].map(|r| bytes.add((i + r.min(take - 1)) * row_bytes));
            let mut tot = [_mm256_setzero_ps(); 4];
            let mut bsum = [0.0f32; 4];
            for g in 0..gpr {
                let mut acc = [_mm256_setzero_ps(); 4];
                for c in 0..runs {
                    let x0 = _mm256_loadu_ps(xptr.add(g * gs + c * 16));
                    let x1 = _mm256_loadu_ps(xptr.add(g * gs + c * 16 + 8));
                    for r in 0..4 {
                        let (even, odd) = nibbles16(rows[r], g * runs + c);
                        acc[r] = _mm256_fmadd_ps(even, x0, acc[r]);
                        acc[r] = _mm256_fmadd_ps(odd, x1, acc[r]);
                    }
                }
                for r in 0..take {
                    let k = (i + r) * gpr + g;
                    tot[r] = _mm256_fmadd_ps(_mm256_set1_ps(*s.get_unchecked(k)), acc[r], tot[r]);
                    bsum[r] += *b.get_unchecked(k) * *gsums.get_unchecked(g);
                }
            }
            for r in 0..take {
                *out.get_unchecked_mut(i + r) = hsum(tot[r]) + bsum[r];
            }
            i += take;
        }
    }

    /// See [`super::unpack`].
    ///
    /// # Safety
    /// AVX2; chunks `first..first + q.len() / 8` lie inside `row`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn unpack(row: &[u32], bits: usize, first: usize, q: &mut [f32]) {
        let bytes = row.as_ptr() as *const u8;
        let len = row.len() * 4;
        for (k, out) in q.chunks_exact_mut(8).enumerate() {
            let c = first + k;
            let v = match bits {
                2 => chunk::<2>(bytes, len, c),
                3 => chunk::<3>(bytes, len, c),
                4 => chunk::<4>(bytes, len, c),
                5 => chunk::<5>(bytes, len, c),
                6 => chunk::<6>(bytes, len, c),
                7 => chunk::<7>(bytes, len, c),
                _ => chunk::<8>(bytes, len, c),
            };
            _mm256_storeu_ps(out.as_mut_ptr(), v);
        }
    }

    /// 8 float16 values at `p` as floats.
    ///
    /// # Safety
    /// AVX2 + F16C; `p` points at 8 readable values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn halves(p: *const u16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
    }

    /// See [`super::half_rows`]. Rows go four at a time, sharing each load of `x`.
    ///
    /// # Safety
    /// AVX2 + FMA + F16C; lengths as checked by [`super::half_rows`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn half_rows(w: &[u16], x: &[f32], out: &mut [f32]) {
        let cols = x.len();
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let n = out.len();
        let mut i = 0;
        while i + 4 <= n {
            let rows = [0, 1, 2, 3].map(|r| wp.add((i + r) * cols));
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut j = 0;
            while j < cols {
                let xv = _mm256_loadu_ps(xp.add(j));
                for r in 0..4 {
                    acc[r] = _mm256_fmadd_ps(halves(rows[r].add(j)), xv, acc[r]);
                }
                j += 8;
            }
            for (r, a) in acc.iter().enumerate() {
                *out.get_unchecked_mut(i + r) = hsum(*a);
            }
            i += 4;
        }
        while i < n {
            let row = wp.add(i * cols);
            let mut acc = _mm256_setzero_ps();
            let mut j = 0;
            while j < cols {
                acc = _mm256_fmadd_ps(halves(row.add(j)), _mm256_loadu_ps(xp.add(j)), acc);
                j += 8;
            }
            *out.get_unchecked_mut(i) = hsum(acc);
            i += 1;
        }
    }

    /// See [`super::dot`].
    ///
    /// # Safety
    /// AVX2 + FMA; equal lengths, multiples of 8.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 2];
        for (k, (ca, cb)) in a.chunks_exact(8).zip(b.chunks_exact(8)).enumerate() {
            let va = _mm256_loadu_ps(ca.as_ptr());
            let vb = _mm256_loadu_ps(cb.as_ptr());
            acc[k % 2] = _mm256_fmadd_ps(va, vb, acc[k % 2]);
        }
        hsum(_mm256_add_ps(acc[0], acc[1]))
    }
}
