//! Sequential dense products for the gradient's hot path — `W x`, `Wᵀ g` for one code and
//! `W X`, `Wᵀ G` for a lock-step block of a few codes — where a general GEMM is a poor fit (a
//! block of 10 columns is awkward for its micro-kernels) and a matrix–vector product is bound
//! by memory bandwidth.
//!
//! Three kernels:
//!
//! - **axpy form** `Y = W X` for a block: `W` is read in row panels of [`LANES`] rows, either
//!   from a packed copy ([`Panels`]: contiguous, for the network's weights) or straight from a
//!   column-major matrix (for `A`, which belongs to the caller). Up to 12 columns (AVX-512; 6
//!   with AVX2) share one pass over `W`, their accumulators in registers.
//! - **sweep** `y = W x` for one column and a column-major `W`, whose product is bound by
//!   memory bandwidth: four columns of `W` per pass over `y`, so `W` streams in order.
//! - **dot form** `Y = Wᵀ R` for column-major `W`: every entry sums `W_{ij} R_{ic}` over `i` in
//!   [`LANES`] interleaved partial sums added in a fixed tree, then the `rows mod LANES` tail.
//!
//! The axpy form and the sweep compute every entry as `Σ_j W_{ij} X_{jc}` in `j` order from `0`,
//! one rounding per step (FMA where the CPU has it; faer's column-major matrix–vector product
//! does the same), packed or not; the dot form's order does not depend on the block either. So each
//! entry is the same whatever the block size, the instruction set with FMA (AVX-512 or AVX2)
//! or the thread count: a batch reproduces single-code products bit for bit. CPUs without FMA
//! (and non-x86 targets) round `a·b + c` in two steps instead.
//!
//! The instruction set is detected at run time (no `-C target-cpu` flag needed) and the vector
//! code is written with its intrinsics ([`Simd`]), not left to the auto-vectoriser, whose
//! choices for these register-blocked loops proved erratic (spilled accumulators, scalar code).

use std::array;

use faer::{Mat, MatRef};

/// Rows per panel and lanes per partial sum: one AVX-512 register of `f64`, two AVX2 ones.
const LANES: usize = 8;
/// Panels (of [`LANES`] rows) per band of the axpy kernel, and columns per band of the dot
/// kernel: a band is read from memory once and from cache once per block of columns.
const BAND: usize = 8;
/// Columns per pass of [`sweep`].
const SWEEP: usize = 4;

type Vector = [f64; LANES];

/// A [`Vector`] on a cache line of its own, so that loading it never touches two lines.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Block(Vector);

/// A matrix stored as row panels for the axpy kernel: panel `p` holds rows
/// `p·LANES .. p·LANES + LANES` column after column (`data[p·cols + j].0[l] = W[p·LANES + l, j]`),
/// the last panel padded with zero rows.
#[derive(Clone)]
pub(crate) struct Panels {
    rows: usize,
    cols: usize,
    data: Vec<Block>,
}

impl std::fmt::Debug for Panels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Panels({}x{})", self.rows, self.cols)
    }
}

impl Panels {
    /// Packs `w` (any strides).
    pub(crate) fn pack(w: MatRef<'_, f64>) -> Self {
        let (rows, cols) = (w.nrows(), w.ncols());
        let mut data = vec![Block::default(); rows.div_ceil(LANES) * cols];
        for j in 0..cols {
            for i in 0..rows {
                data[(i / LANES) * cols + j].0[i % LANES] = w[(i, j)];
            }
        }
        Self { rows, cols, data }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}

// ---------------------------------------------------------------------------------------------
// Instruction sets
// ---------------------------------------------------------------------------------------------

/// The instruction sets with kernels of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Generic,
}

/// The best instruction set of this CPU (`is_x86_feature_detected!` caches its answer).
fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::Avx512::detect().is_some() {
            return Isa::Avx512;
        }
        if x86::Avx2::detect().is_some() {
            return Isa::Avx2;
        }
    }
    Isa::Generic
}

/// Lane-wise arithmetic on [`LANES`] `f64`, the only operations the kernels use. A value of an
/// implementing type is a proof that the CPU has its instructions.
trait Simd: Copy {
    /// Whether [`Simd::fma`] rounds once.
    const FMA: bool;
    type V: Copy;
    fn zero(self) -> Self::V;
    fn splat(self, x: f64) -> Self::V;
    fn load(self, v: &Vector) -> Self::V;
    fn store(self, v: Self::V) -> Vector;
    /// `a·b + c`.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;

    /// `a·b + c` on one lane, rounded as [`Simd::fma`] rounds.
    #[inline(always)]
    fn fma1(self, a: f64, b: f64, c: f64) -> f64 {
        if Self::FMA { a.mul_add(b, c) } else { a * b + c }
    }
}

/// Plain arithmetic, unfused: any CPU.
#[derive(Clone, Copy)]
struct Portable;

impl Simd for Portable {
    const FMA: bool = false;
    type V = Vector;
    #[inline(always)]
    fn zero(self) -> Vector {
        [0.0; LANES]
    }
    #[inline(always)]
    fn splat(self, x: f64) -> Vector {
        [x; LANES]
    }
    #[inline(always)]
    fn load(self, v: &Vector) -> Vector {
        *v
    }
    #[inline(always)]
    fn store(self, v: Vector) -> Vector {
        v
    }
    #[inline(always)]
    fn fma(self, a: Vector, b: Vector, c: Vector) -> Vector {
        array::from_fn(|l| a[l] * b[l] + c[l])
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LANES, Simd, Vector};

    /// AVX2 and FMA: a [`Vector`] in two `ymm` registers. Made only by [`Avx2::detect`].
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    impl Avx2 {
        pub(super) fn detect() -> Option<Self> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Self(()))
        }
    }

    // SAFETY (every `unsafe` block below): an `Avx2` exists only where `detect` found avx2 and
    // fma, and the pointers come from references to whole `Vector`s.
    impl Simd for Avx2 {
        const FMA: bool = true;
        type V = [__m256d; 2];
        #[inline(always)]
        fn zero(self) -> Self::V {
            unsafe { [_mm256_setzero_pd(); 2] }
        }
        #[inline(always)]
        fn splat(self, x: f64) -> Self::V {
            unsafe { [_mm256_set1_pd(x); 2] }
        }
        #[inline(always)]
        fn load(self, v: &Vector) -> Self::V {
            unsafe { [_mm256_loadu_pd(v.as_ptr()), _mm256_loadu_pd(v.as_ptr().add(LANES / 2))] }
        }
        #[inline(always)]
        fn store(self, v: Self::V) -> Vector {
            let mut out = [0.0; LANES];
            unsafe {
                _mm256_storeu_pd(out.as_mut_ptr(), v[0]);
                _mm256_storeu_pd(out.as_mut_ptr().add(LANES / 2), v[1]);
            }
            out
        }
        #[inline(always)]
        fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            unsafe { [_mm256_fmadd_pd(a[0], b[0], c[0]), _mm256_fmadd_pd(a[1], b[1], c[1])] }
        }
    }

    /// AVX-512F and FMA: a [`Vector`] in one `zmm` register. Made only by [`Avx512::detect`].
    #[derive(Clone, Copy)]
    pub(super) struct Avx512(());

    impl Avx512 {
        pub(super) fn detect() -> Option<Self> {
            (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma")).then_some(Self(()))
        }
    }

    // SAFETY (every `unsafe` block below): an `Avx512` exists only where `detect` found
    // avx512f and fma, and the pointers come from references to whole `Vector`s.
    impl Simd for Avx512 {
        const FMA: bool = true;
        type V = __m512d;
        #[inline(always)]
        fn zero(self) -> __m512d {
            unsafe { _mm512_setzero_pd() }
        }
        #[inline(always)]
        fn splat(self, x: f64) -> __m512d {
            unsafe { _mm512_set1_pd(x) }
        }
        #[inline(always)]
        fn load(self, v: &Vector) -> __m512d {
            unsafe { _mm512_loadu_pd(v.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, v: __m512d) -> Vector {
            let mut out = [0.0; LANES];
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) };
            out
        }
        #[inline(always)]
        fn fma(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            unsafe { _mm512_fmadd_pd(a, b, c) }
        }
    }
}

/// `(c0, nb)`: blocks of at most `max` of `cols` columns, as even as possible.
fn blocks(cols: usize, max: usize) -> Vec<(usize, usize)> {
    let count = cols.div_ceil(max);
    (0..count)
        .map(|b| (b * cols / count, (b + 1) * cols / count - b * cols / count))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Axpy form
// ---------------------------------------------------------------------------------------------

/// Where the axpy kernel reads row panels.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// A packed matrix: every panel.
    Packed(&'a Panels),
    /// The columns of a column-major matrix: its full panels only (the tail rows go elsewhere).
    Columns(&'a [&'a [f64]]),
}

impl Rows<'_> {
    fn depth(self) -> usize {
        match self {
            Rows::Packed(w) => w.cols,
            Rows::Columns(cols) => cols.len(),
        }
    }
}

/// `Σ_j panel_p[j] · x_c[j]` for `P` panels (from `load(p, j)`) and `NB` columns.
#[inline(always)]
#[allow(
    clippy::needless_range_loop,
    reason = "`j` indexes `NB` columns and the panels alike"
)]
fn axpy_accumulate<'a, S: Simd, const P: usize, const NB: usize>(
    s: S,
    depth: usize,
    load: impl Fn(usize, usize) -> &'a Vector,
    xs: &[&[f64]; NB],
) -> [[S::V; P]; NB] {
    let mut acc = [[s.zero(); P]; NB];
    for j in 0..depth {
        let mut w = [s.zero(); P];
        for p in 0..P {
            w[p] = s.load(load(p, j));
        }
        for c in 0..NB {
            let x = s.splat(xs[c][j]);
            for p in 0..P {
                acc[c][p] = s.fma(w[p], x, acc[c][p]);
            }
        }
    }
    acc
}

/// The rows of panels `p0 .. p0 + P` of `ys = W xs` for `NB` columns.
#[inline(always)]
fn axpy_group<S: Simd, const P: usize, const NB: usize>(
    s: S,
    src: Rows<'_>,
    p0: usize,
    xs: &[&[f64]; NB],
    ys: &mut [&mut [f64]],
) {
    let depth = src.depth();
    let acc = match src {
        Rows::Packed(w) => {
            let panels: [&[Block]; P] = array::from_fn(|p| &w.data[(p0 + p) * depth..][..depth]);
            axpy_accumulate::<S, P, NB>(s, depth, |p, j| &panels[p][j].0, xs)
        }
        Rows::Columns(cols) => {
            let load = |p: usize, j: usize| -> &Vector {
                let r = (p0 + p) * LANES;
                cols[j][r..r + LANES].try_into().expect("a full panel")
            };
            axpy_accumulate::<S, P, NB>(s, depth, load, xs)
        }
    };
    for (y, acc_c) in ys.iter_mut().zip(acc) {
        for (p, v) in acc_c.into_iter().enumerate() {
            let r = (p0 + p) * LANES;
            let n = LANES.min(y.len() - r);
            y[r..r + n].copy_from_slice(&s.store(v)[..n]);
        }
    }
}

/// Panels `start .. end` of `ys = W xs` for `NB` columns: groups of `P`, then one by one.
#[inline(always)]
fn axpy_panels<S: Simd, const P: usize, const NB: usize>(
    s: S,
    src: Rows<'_>,
    (start, end): (usize, usize),
    xs: &[&[f64]],
    ys: &mut [&mut [f64]],
) {
    let depth = src.depth();
    let xs: [&[f64]; NB] = array::from_fn(|c| &xs[c][..depth]);
    let mut p0 = start;
    while p0 + P <= end {
        axpy_group::<S, P, NB>(s, src, p0, &xs, ys);
        p0 += P;
    }
    while p0 < end {
        axpy_group::<S, 1, NB>(s, src, p0, &xs, ys);
        p0 += 1;
    }
}

/// `y[..full·LANES] = W x` for one column of a column-major `W` with `full` full panels:
/// [`SWEEP`] columns of `W` per pass over `y`, so that `W` streams through memory in order.
/// Every entry is the same sum, in the same order and rounding, as [`axpy_accumulate`]'s.
#[inline(always)]
fn sweep<S: Simd>(s: S, cols: &[&[f64]], x: &[f64], y: &mut [f64]) {
    let y = &mut y.as_chunks_mut::<LANES>().0;
    let full = y.len();
    y.fill([0.0; LANES]);
    let (groups, rest) = cols.as_chunks::<SWEEP>();
    let (x_groups, x_rest) = x[..cols.len()].as_chunks::<SWEEP>();
    for (group, xg) in groups.iter().zip(x_groups) {
        let w: [&[Vector]; SWEEP] = array::from_fn(|t| &group[t].as_chunks::<LANES>().0[..full]);
        let mut xv = [s.zero(); SWEEP];
        for t in 0..SWEEP {
            xv[t] = s.splat(xg[t]);
        }
        for (b, yb) in y.iter_mut().enumerate() {
            let mut acc = s.load(yb);
            for t in 0..SWEEP {
                acc = s.fma(s.load(&w[t][b]), xv[t], acc);
            }
            *yb = s.store(acc);
        }
    }
    for (col, &xj) in rest.iter().zip(x_rest) {
        let (w, xv) = (&col.as_chunks::<LANES>().0[..full], s.splat(xj));
        for (yb, wb) in y.iter_mut().zip(w) {
            *yb = s.store(s.fma(s.load(wb), xv, s.load(yb)));
        }
    }
}

/// One instruction set's axpy driver: block sizes and panel groups that fit its registers.
/// Bands of [`BAND`] panels outside, blocks of columns inside, so a band is read from memory
/// once and from cache once per block.
macro_rules! axpy_driver {
    ($(#[$attr:meta])* $name:ident, $sweep:ident, $simd:ty, $max:expr,
     { $($nb:literal => $p:literal),* $(,)? }) => {
        $(#[$attr])*
        fn $sweep(s: $simd, cols: &[&[f64]], x: &[f64], y: &mut [f64]) {
            sweep::<$simd>(s, cols, x, y)
        }

        $(#[$attr])*
        fn $name(s: $simd, src: Rows<'_>, panels: usize, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
            let blocks = blocks(xs.len(), $max);
            for start in (0..panels).step_by(BAND) {
                let band = (start, panels.min(start + BAND));
                for &(c0, nb) in &blocks {
                    let (xs, ys) = (&xs[c0..c0 + nb], &mut ys[c0..c0 + nb]);
                    match nb {
                        $($nb => axpy_panels::<$simd, $p, $nb>(s, src, band, xs, ys),)*
                        _ => unreachable!("blocks have at most {} columns", $max),
                    }
                }
            }
        }
    };
}

// 32 zmm registers: at most 24 accumulators (P·NB ≤ 24) and at least 8 independent FMA chains.
axpy_driver!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    axpy_avx512, sweep_avx512, x86::Avx512, 12,
    { 1 => 8, 2 => 4, 3 => 4, 4 => 2, 5 => 2, 6 => 2, 7 => 2, 8 => 2, 9 => 2, 10 => 2, 11 => 2, 12 => 2 }
);
// 16 ymm registers, two per panel: at most 12 accumulators.
axpy_driver!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    axpy_avx2, sweep_avx2, x86::Avx2, 6,
    { 1 => 4, 2 => 2, 3 => 2, 4 => 1, 5 => 1, 6 => 1 }
);
axpy_driver!(axpy_portable, sweep_portable, Portable, 3, { 1 => 2, 2 => 1, 3 => 1 });

fn axpy_on(isa: Isa, src: Rows<'_>, panels: usize, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            let s = x86::Avx512::detect().expect("`isa()` detected AVX-512");
            // SAFETY: the token proves avx512f and fma (and every CPU with avx512f has avx2).
            unsafe { axpy_avx512(s, src, panels, xs, ys) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            let s = x86::Avx2::detect().expect("`isa()` detected AVX2");
            // SAFETY: the token proves avx2 and fma.
            unsafe { axpy_avx2(s, src, panels, xs, ys) }
        }
        Isa::Generic => axpy_portable(Portable, src, panels, xs, ys),
    }
}

/// `ys[c] = W xs[c]` for packed `W`.
pub(crate) fn packed_product(w: &Panels, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
    packed_product_on(isa(), w, xs, ys);
}

fn packed_product_on(isa: Isa, w: &Panels, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
    assert_eq!(xs.len(), ys.len(), "one output column per input column");
    assert!(
        xs.iter().all(|x| x.len() == w.cols) && ys.iter().all(|y| y.len() == w.rows),
        "shapes must match"
    );
    axpy_on(isa, Rows::Packed(w), w.rows.div_ceil(LANES), xs, ys);
}

/// `ys[c] = W xs[c]` for a column-major `W` given by its columns, each of `rows` entries.
pub(crate) fn colmajor_product(cols: &[&[f64]], rows: usize, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
    colmajor_product_on(isa(), cols, rows, xs, ys);
}

fn colmajor_product_on(isa: Isa, cols: &[&[f64]], rows: usize, xs: &[&[f64]], ys: &mut [&mut [f64]]) {
    assert_eq!(xs.len(), ys.len(), "one output column per input column");
    assert!(cols.iter().all(|a| a.len() == rows), "every column has `rows` entries");
    assert!(
        xs.iter().all(|x| x.len() == cols.len()) && ys.iter().all(|y| y.len() == rows),
        "shapes must match"
    );
    let full = rows / LANES;
    if let ([x], [y]) = (xs, &mut *ys) {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                let s = x86::Avx512::detect().expect("`isa()` detected AVX-512");
                // SAFETY: as in `axpy_on`.
                unsafe { sweep_avx512(s, cols, x, y) }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                let s = x86::Avx2::detect().expect("`isa()` detected AVX2");
                // SAFETY: as in `axpy_on`.
                unsafe { sweep_avx2(s, cols, x, y) }
            }
            Isa::Generic => sweep_portable(Portable, cols, x, y),
        }
    } else {
        axpy_on(isa, Rows::Columns(cols), full, xs, ys);
    }
    // The `rows mod LANES` tail rows, in the same order and rounding as the panels.
    let fma = isa != Isa::Generic;
    for i in full * LANES..rows {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            y[i] = cols
                .iter()
                .zip(*x)
                .fold(0.0, |s, (a, &xj)| if fma { a[i].mul_add(xj, s) } else { a[i] * xj + s });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dot form
// ---------------------------------------------------------------------------------------------

/// `((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7))`: the fixed order of the dot kernel's lanes.
#[inline(always)]
fn lane_sum(v: Vector) -> f64 {
    let h = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    (h[0] + h[2]) + (h[1] + h[3])
}

/// `R`'s full row blocks interleaved for the dot kernel: `out[b·NB + c]` = rows `b·LANES ..`
/// of `rs[c]`.
fn interleave(rs: &[&[f64]]) -> Vec<Block> {
    let full = rs.first().map_or(0, |r| r.len() / LANES);
    let mut out = vec![Block::default(); full * rs.len()];
    for (b, row) in out.chunks_exact_mut(rs.len().max(1)).enumerate() {
        for (block, r) in row.iter_mut().zip(rs) {
            block.0.copy_from_slice(&r[b * LANES..][..LANES]);
        }
    }
    out
}

/// The lane-wise partial sums of `a_jj · r_c` over the `full` row blocks, for `J` columns of
/// `A` and `NB` columns of `R` given by [`interleave`].
#[inline(always)]
fn dot_accumulate<S: Simd, const J: usize, const NB: usize>(
    s: S,
    a: &[&[f64]; J],
    packed: &[Block],
    full: usize,
) -> [[S::V; NB]; J] {
    let a_blocks: [&[Vector]; J] = array::from_fn(|jj| &a[jj].as_chunks::<LANES>().0[..full]);
    let r_rows = &packed.as_chunks::<NB>().0[..full];
    let mut acc = [[s.zero(); NB]; J];
    for b in 0..full {
        let mut av = [s.zero(); J];
        for jj in 0..J {
            av[jj] = s.load(&a_blocks[jj][b]);
        }
        for c in 0..NB {
            let rv = s.load(&r_rows[b][c].0);
            for jj in 0..J {
                acc[jj][c] = s.fma(av[jj], rv, acc[jj][c]);
            }
        }
    }
    acc
}

/// `ys[c][j0 + j] = a_j · rs[c]` for the columns `a_j` of a band of `A` and `NB` columns of `R`:
/// [`dot_accumulate`], the lanes added by [`lane_sum`], then the tail rows in order.
#[inline(always)]
fn dot_columns<S: Simd, const J: usize, const NB: usize>(
    s: S,
    cols: &[&[f64]],
    j0: usize,
    packed: &[Block],
    rs: &[&[f64]],
    ys: &mut [&mut [f64]],
) {
    let rows = rs[0].len();
    let full = rows / LANES;
    let dot = |a: &[f64], c: usize, v: S::V| {
        (full * LANES..rows).fold(lane_sum(s.store(v)), |sum, i| s.fma1(a[i], rs[c][i], sum))
    };
    let mut j = 0;
    while j < cols.len() {
        if j + J <= cols.len() {
            let a: [&[f64]; J] = array::from_fn(|jj| &cols[j + jj][..rows]);
            let acc = dot_accumulate::<S, J, NB>(s, &a, packed, full);
            for (jj, acc_j) in acc.into_iter().enumerate() {
                for (c, v) in acc_j.into_iter().enumerate() {
                    ys[c][j0 + j + jj] = dot(a[jj], c, v);
                }
            }
            j += J;
        } else {
            let a = &cols[j][..rows];
            let [acc] = dot_accumulate::<S, 1, NB>(s, &[a], packed, full);
            for (c, v) in acc.into_iter().enumerate() {
                ys[c][j0 + j] = dot(a, c, v);
            }
            j += 1;
        }
    }
}

/// One instruction set's dot driver: bands of [`BAND`] columns of `A` outside, blocks of `R`
/// inside.
macro_rules! dot_driver {
    ($(#[$attr:meta])* $name:ident, $simd:ty, $max:expr, { $($nb:literal => $j:literal),* $(,)? }) => {
        $(#[$attr])*
        fn $name(s: $simd, cols: &[&[f64]], rs: &[&[f64]], ys: &mut [&mut [f64]]) {
            let blocks: Vec<(usize, usize, Vec<Block>)> = blocks(rs.len(), $max)
                .into_iter()
                .map(|(c0, nb)| (c0, nb, interleave(&rs[c0..c0 + nb])))
                .collect();
            for j0 in (0..cols.len()).step_by(BAND) {
                let band = &cols[j0..cols.len().min(j0 + BAND)];
                for (c0, nb, packed) in &blocks {
                    let (rs, ys) = (&rs[*c0..c0 + nb], &mut ys[*c0..c0 + nb]);
                    match nb {
                        $($nb => dot_columns::<$simd, $j, $nb>(s, band, j0, packed, rs, ys),)*
                        _ => unreachable!("blocks have at most {} columns", $max),
                    }
                }
            }
        }
    };
}

// Blocks of at most 6 columns of `R` against 4 columns of `A` (at most 24 accumulators): `A`
// is then read once per block, from cache after the first (measured faster than 12 × 2).
dot_driver!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    dot_avx512, x86::Avx512, 6,
    { 1 => 8, 2 => 4, 3 => 4, 4 => 4, 5 => 4, 6 => 4 }
);
dot_driver!(
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    dot_avx2, x86::Avx2, 6,
    { 1 => 4, 2 => 2, 3 => 2, 4 => 1, 5 => 1, 6 => 1 }
);
dot_driver!(dot_portable, Portable, 3, { 1 => 2, 2 => 1, 3 => 1 });

/// `ys[c] = Wᵀ rs[c]` for a column-major `W` given by its columns (each of `rs[c].len()` rows).
pub(crate) fn transposed_product(cols: &[&[f64]], rs: &[&[f64]], ys: &mut [&mut [f64]]) {
    transposed_product_on(isa(), cols, rs, ys);
}

fn transposed_product_on(isa: Isa, cols: &[&[f64]], rs: &[&[f64]], ys: &mut [&mut [f64]]) {
    assert_eq!(rs.len(), ys.len(), "one output column per input column");
    let Some(rows) = rs.first().map(|r| r.len()) else {
        return;
    };
    assert!(
        cols.iter().all(|a| a.len() == rows) && rs.iter().all(|r| r.len() == rows),
        "shapes must match"
    );
    assert!(ys.iter().all(|y| y.len() == cols.len()), "shapes must match");
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            let s = x86::Avx512::detect().expect("`isa()` detected AVX-512");
            // SAFETY: as in `axpy_on`.
            unsafe { dot_avx512(s, cols, rs, ys) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            let s = x86::Avx2::detect().expect("`isa()` detected AVX2");
            // SAFETY: as in `axpy_on`.
            unsafe { dot_avx2(s, cols, rs, ys) }
        }
        Isa::Generic => dot_portable(Portable, cols, rs, ys),
    }
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// The columns of a view whose rows are contiguous, or `None`.
pub(crate) fn columns<'a>(m: MatRef<'a, f64>) -> Option<Vec<&'a [f64]>> {
    (0..m.ncols())
        .map(|j| m.col(j).try_as_col_major().map(|c| c.as_slice()))
        .collect()
}

/// The columns of an owned matrix.
pub(crate) fn columns_mut(m: &mut Mat<f64>) -> Vec<&mut [f64]> {
    m.as_mut()
        .col_iter_mut()
        .map(|c| {
            c.try_as_col_major_mut()
                .expect("an owned matrix is column-major")
                .as_slice_mut()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error allowed against faer's product: an entry sums at most a few hundred terms
    /// of size O(1), so reassociation moves it by `≈ ε · depth ≈ 1e-14`; 1e-12 is far above that
    /// and far below any indexing mistake.
    const TOL: f64 = 1e-12;

    /// Every instruction set this CPU runs.
    fn isas() -> Vec<Isa> {
        let mut out = vec![Isa::Generic];
        #[cfg(target_arch = "x86_64")]
        {
            if x86::Avx2::detect().is_some() {
                out.push(Isa::Avx2);
            }
            if x86::Avx512::detect().is_some() {
                out.push(Isa::Avx512);
            }
        }
        out
    }

    /// Deterministic entries in [-1, 1) with no structure the kernels could exploit.
    fn mat(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        Mat::from_fn(rows, cols, |i, j| {
            let h = (i as u64 * 7919 + j as u64 * 104_729 + seed * 15_485_863).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
    }

    fn assert_close(got: &Mat<f64>, want: &Mat<f64>, what: &str) {
        let scale = (0..want.ncols())
            .flat_map(|j| want.col_as_slice(j).iter())
            .fold(1.0f64, |s, v| s.max(v.abs()));
        for j in 0..want.ncols() {
            for i in 0..want.nrows() {
                assert!(
                    (got[(i, j)] - want[(i, j)]).abs() <= TOL * scale,
                    "{what}: entry ({i}, {j}) differs"
                );
            }
        }
    }

    /// Shapes around every remainder: rows below, at and across panels and bands of panels,
    /// columns across bands of columns.
    const SHAPES: [(usize, usize); 8] = [
        (1, 1),
        (3, 5),
        (8, 8),
        (17, 9),
        (40, 33),
        (65, 130),
        (200, 21),
        (131, 3),
    ];
    /// Block sizes below, at and across every instruction set's largest block.
    const BLOCKS: [usize; 9] = [0, 1, 2, 3, 5, 7, 12, 13, 27];

    #[test]
    fn products_match_faer_on_every_instruction_set() {
        for isa in isas() {
            for &(m, k) in &SHAPES {
                let w = mat(m, k, 1);
                let packed = Panels::pack(w.as_ref());
                let wc = columns(w.as_ref()).unwrap();
                for &b in &BLOCKS {
                    let x = mat(k, b, 2);
                    let r = mat(m, b, 3);
                    let want = &w * &x;
                    let want_t = w.transpose() * &r;
                    let (xc, rc) = (columns(x.as_ref()).unwrap(), columns(r.as_ref()).unwrap());

                    let mut y = Mat::from_fn(m, b, |_, _| f64::NAN);
                    packed_product_on(isa, &packed, &xc, &mut columns_mut(&mut y));
                    assert_close(&y, &want, &format!("{isa:?} packed {m}x{k} times {b}"));

                    let mut y = Mat::from_fn(m, b, |_, _| f64::NAN);
                    colmajor_product_on(isa, &wc, m, &xc, &mut columns_mut(&mut y));
                    assert_close(&y, &want, &format!("{isa:?} column-major {m}x{k} times {b}"));

                    let mut y = Mat::from_fn(k, b, |_, _| f64::NAN);
                    transposed_product_on(isa, &wc, &rc, &mut columns_mut(&mut y));
                    assert_close(&y, &want_t, &format!("{isa:?} transposed {m}x{k} times {b}"));
                }
            }
        }
    }

    #[test]
    fn entries_do_not_depend_on_block_size_kernel_or_fma_instruction_set() {
        let (m, k) = (43, 29);
        let w = mat(m, k, 4);
        let packed = Panels::pack(w.as_ref());
        let wc = columns(w.as_ref()).unwrap();
        let x = mat(k, 25, 5);
        let r = mat(m, 25, 6);
        let (xc, rc) = (columns(x.as_ref()).unwrap(), columns(r.as_ref()).unwrap());
        let mut fma_results: Option<(Mat<f64>, Mat<f64>)> = None;
        for isa in isas() {
            let (mut axpy, mut axpy_cm, mut dot) = (Mat::zeros(m, 25), Mat::zeros(m, 25), Mat::zeros(k, 25));
            packed_product_on(isa, &packed, &xc, &mut columns_mut(&mut axpy));
            colmajor_product_on(isa, &wc, m, &xc, &mut columns_mut(&mut axpy_cm));
            transposed_product_on(isa, &wc, &rc, &mut columns_mut(&mut dot));
            // The packed and the column-major axpy kernels and the sweep agree exactly.
            assert!(axpy == axpy_cm, "{isa:?}: packed and column-major blocks differ");
            for c in 0..25 {
                let (mut one, mut one_cm, mut one_t) = (vec![0.0; m], vec![0.0; m], vec![0.0; k]);
                packed_product_on(isa, &packed, &xc[c..=c], &mut [&mut one[..]]);
                colmajor_product_on(isa, &wc, m, &xc[c..=c], &mut [&mut one_cm[..]]);
                transposed_product_on(isa, &wc, &rc[c..=c], &mut [&mut one_t[..]]);
                assert_eq!(axpy.col_as_slice(c), &one[..], "{isa:?} packed column {c}");
                assert_eq!(axpy.col_as_slice(c), &one_cm[..], "{isa:?} sweep column {c}");
                assert_eq!(dot.col_as_slice(c), &one_t[..], "{isa:?} transposed column {c}");
            }
            if isa != Isa::Generic {
                if let Some((prev_axpy, prev_dot)) = &fma_results {
                    assert!(
                        *prev_axpy == axpy && *prev_dot == dot,
                        "{isa:?} differs from another FMA instruction set"
                    );
                }
                fma_results = Some((axpy, dot));
            }
        }
    }
}
