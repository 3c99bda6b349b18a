//! C0: the expectations behind the WDC and the RRCP (docs/THEORY.md §2).
//!
//! `E[W_{+,x}ᵀ W_{+,y}] = Q_{x,y}` for `W` iid `N(0, 1/n)` and `E[A_zᵀ A_w] = Φ_{z,w}` for `A`
//! iid `N(0, 1/m)`. Both matrices are sums of iid row contributions (`n · w wᵀ 1[wᵀx>0]
//! 1[wᵀy>0]` and `m · a aᵀ sgn(aᵀz) sgn(aᵀw)`), so the Monte Carlo mean of the contribution of
//! an `N(0, I)` row estimates the expectation with a per-entry standard error from the sample
//! variance. Each entry is reported as a z-score; where every contribution is exactly zero
//! (the indicator product vanishes, as for `Q` at θ = π) the standard error is zero and the
//! estimate is compared with the closed form directly.
//!
//! The test (docs/THEORY.md §15.3): `H0`: every Monte Carlo mean is centred on its closed
//! form, so each z-score is approximately `N(0, 1)` (central limit theorem over millions of
//! iid rows). The statistic is `max |z|` over the `N` entries with a positive standard error,
//! its Bonferroni p-value `min(1, N · 2(1 − Φ(max |z|)))` (valid for any dependence between
//! the entries of one matrix). PASS: `p ≥ α` and every entry with standard error 0 equals its
//! closed form within `EXACT_TOL`; FAIL: `p < α` or an exact entry differs; INCONCLUSIVE:
//! no entry was tested.

use faer::Mat;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ALPHA, ClaimDir, ClaimReport, Spec, Verdict};
use crate::core::expected::{phi_matrix, q_matrix};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale};
use crate::core::vector::sgn;
use crate::error::{Error, Result};
use crate::report::plot::Series;
use crate::rng::{Stream, stream};
use crate::stats::normal_two_sided_p;

/// Rounding tolerance of the closed forms when the Monte Carlo estimate is exact (SE = 0):
/// `sin π` evaluates to 1.2e-16 in f64, so `Q` at θ = π is ~2e-17 rather than 0.
const EXACT_TOL: f64 = 1e-15;

/// Parameters of C0 (from `verify/C0-expectation-identities.toml`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Params {
    /// Dimension of the vectors (`k` for `Q`, `n` for `Φ`), at least 2.
    pub dim: usize,
    /// Monte Carlo rows per angle.
    pub rows: usize,
    /// Rows per independent random stream.
    pub chunk: usize,
    /// Angles θ/π in [0, 1].
    pub angles_over_pi: Vec<f64>,
}

/// One row of `c0_entries.csv`: one matrix entry at one angle.
#[derive(Clone, Debug, Serialize)]
pub struct EntryRow {
    /// `Q` (WDC) or `Phi` (RRCP).
    pub object: &'static str,
    /// What `mc_mean` is: always `monte_carlo_estimate`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Dimension.
    pub dim: usize,
    /// Monte Carlo rows.
    pub samples: usize,
    /// The angle θ between the two vectors.
    pub theta: f64,
    /// Row index of the entry.
    pub i: usize,
    /// Column index of the entry.
    pub j: usize,
    /// Monte Carlo mean.
    pub mc_mean: f64,
    /// Its standard error.
    pub mc_se: f64,
    /// The closed form.
    pub closed_form: f64,
    /// `(mc_mean − closed_form)/mc_se`; empty when `mc_se = 0`.
    pub z_score: Option<f64>,
    /// When `mc_se = 0`: whether `|mc_mean − closed_form| ≤ 1e-15`; else empty.
    pub exact_match: Option<bool>,
}

/// Running per-entry sums of a row contribution.
#[derive(Clone)]
struct Moments {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Moments {
    fn new(dim: usize) -> Self {
        Self {
            sum: vec![0.0; dim * dim],
            sum_sq: vec![0.0; dim * dim],
        }
    }

    fn add_outer(&mut self, row: &[f64], weight: f64) {
        let dim = row.len();
        for i in 0..dim {
            for j in 0..dim {
                let c = weight * row[i] * row[j];
                self.sum[i * dim + j] += c;
                self.sum_sq[i * dim + j] += c * c;
            }
        }
    }

    fn merge(mut self, other: &Self) -> Self {
        self.sum.iter_mut().zip(&other.sum).for_each(|(a, b)| *a += b);
        self.sum_sq.iter_mut().zip(&other.sum_sq).for_each(|(a, b)| *a += b);
        self
    }
}

/// The two vectors at angle θ: `e_1` and `cos θ e_1 + sin θ e_2` (exactly `±e_1` at 0 and π).
fn pair(dim: usize, theta_over_pi: f64) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; dim];
    x[0] = 1.0;
    let mut y = vec![0.0; dim];
    if theta_over_pi == 0.0 {
        y[0] = 1.0;
    } else if theta_over_pi == 1.0 {
        y[0] = -1.0;
    } else {
        let theta = theta_over_pi * std::f64::consts::PI;
        y[0] = theta.cos();
        y[1] = theta.sin();
    }
    (x, y)
}

/// Per-entry moments of the row contributions `weight_r · m_r m_rᵀ` of a matrix's rows.
fn accumulate(mat: &Mat<f64>, weights: &[f64]) -> Moments {
    let mut m = Moments::new(mat.ncols());
    let mut row = vec![0.0; mat.ncols()];
    for (r, &weight) in weights.iter().enumerate() {
        row.iter_mut().enumerate().for_each(|(c, v)| *v = mat[(r, c)]);
        m.add_outer(&row, weight);
    }
    m
}

/// Row contributions of one chunk of `W` (rows `N(0, I)`): `w wᵀ 1[wᵀx > 0] 1[wᵀy > 0]`.
fn wdc_chunk(p: &Params, x: &[f64], y: &[f64], seed: u64, key: u64, rows: usize) -> Moments {
    let net = Network::gaussian(
        &[p.dim, rows],
        WeightScale::Unit,
        &mut stream(seed, "C0-Q", key, Stream::Network),
    );
    let (zx, zy) = (net.forward(x).pre.remove(0), net.forward(y).pre.remove(0));
    let weights: Vec<f64> = zx
        .iter()
        .zip(&zy)
        .map(|(a, b)| f64::from(*a > 0.0 && *b > 0.0))
        .collect();
    accumulate(&net.layers()[0].weight, &weights)
}

/// Row contributions of one chunk of `A` (rows `N(0, I)`): `a aᵀ sgn(aᵀz) sgn(aᵀw)`.
fn rrcp_chunk(p: &Params, z: &[f64], w: &[f64], seed: u64, key: u64, rows: usize) -> Moments {
    let meas = Measurements::gaussian(
        rows,
        p.dim,
        MeasurementScale::Unit,
        &mut stream(seed, "C0-Phi", key, Stream::Measurements),
    );
    let weights: Vec<f64> = meas
        .apply(z)
        .iter()
        .zip(&meas.apply(w))
        .map(|(a, b)| sgn(*a) * sgn(*b))
        .collect();
    accumulate(&meas.a, &weights)
}

/// Estimates one object at one angle and compares every entry with its closed form.
fn entries(p: &Params, object: &'static str, angle_index: usize, seed: u64) -> Vec<EntryRow> {
    let (x, y) = pair(p.dim, p.angles_over_pi[angle_index]);
    let chunks = p.rows.div_ceil(p.chunk);
    let partial: Vec<Moments> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let rows = p.chunk.min(p.rows - c * p.chunk);
            let key = (angle_index * 1_000_000 + c) as u64;
            match object {
                "Q" => wdc_chunk(p, &x, &y, seed, key, rows),
                _ => rrcp_chunk(p, &x, &y, seed, key, rows),
            }
        })
        .collect();
    let total = partial.iter().fold(Moments::new(p.dim), Moments::merge);
    let closed = if object == "Q" {
        q_matrix(&x, &y)
    } else {
        phi_matrix(&x, &y)
    };
    let n = p.rows as f64;
    let theta = p.angles_over_pi[angle_index] * std::f64::consts::PI;
    (0..p.dim * p.dim)
        .map(|e| {
            let (i, j) = (e / p.dim, e % p.dim);
            let mean = total.sum[e] / n;
            let var = ((total.sum_sq[e] - n * mean * mean) / (n - 1.0)).max(0.0);
            let se = (var / n).sqrt();
            let cf = closed[(i, j)];
            let exact = total.sum_sq[e] == 0.0;
            EntryRow {
                object,
                kind: "monte_carlo_estimate",
                seed,
                dim: p.dim,
                samples: p.rows,
                theta,
                i,
                j,
                mc_mean: mean,
                mc_se: if exact { 0.0 } else { se },
                closed_form: cf,
                z_score: (!exact).then(|| (mean - cf) / se),
                exact_match: exact.then(|| (mean - cf).abs() <= EXACT_TOL),
            }
        })
        .collect()
}

fn validate(p: &Params) -> Result<()> {
    let bad = |name, value: String, fix: &str| Err(Error::param(name, value, fix.to_string()));
    if p.dim < 2 {
        return bad("C0 dim", p.dim.to_string(), "use dim >= 2");
    }
    if p.rows < 2 || p.chunk == 0 {
        return bad(
            "C0 rows/chunk",
            format!("{}/{}", p.rows, p.chunk),
            "use rows >= 2 and chunk >= 1",
        );
    }
    if p.angles_over_pi.iter().any(|t| !(0.0..=1.0).contains(t)) {
        return bad(
            "C0 angles_over_pi",
            format!("{:?}", p.angles_over_pi),
            "angles/π must lie in [0, 1]",
        );
    }
    Ok(())
}

/// Runs C0.
pub fn run(spec: &Spec, p: Params, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    validate(&p)?;
    let rows: Vec<EntryRow> = ["Q", "Phi"]
        .iter()
        .flat_map(|&object| (0..p.angles_over_pi.len()).map(move |a| (object, a)))
        .flat_map(|(object, a)| entries(&p, object, a, seed))
        .collect();
    let csv = dir.write_csv("c0_entries.csv", &rows)?;
    let series: Vec<Series> = ["Q", "Phi"]
        .iter()
        .map(|&object| Series {
            label: format!("max |z| over entries of {object}"),
            points: p
                .angles_over_pi
                .iter()
                .map(|&t| {
                    let theta = t * std::f64::consts::PI;
                    let worst = rows
                        .iter()
                        .filter(|r| r.object == object && r.theta == theta)
                        .filter_map(|r| r.z_score)
                        .fold(0.0f64, |m, z| m.max(z.abs()));
                    (t, worst)
                })
                .collect(),
        })
        .collect();
    let figure = dir.line_figure(
        "c0_zscores.png",
        "C0: Monte Carlo vs closed form",
        ("angle theta (units of pi rad)", "max |z| (standard errors)"),
        &series,
        (false, false),
    )?;
    let test = z_test(&rows);
    let verdict = judge(&test, ALPHA);
    let measured = format!(
        "{} entries with SE > 0 (Monte Carlo estimates, {} rows per angle, dim {}); {} of {} entries with SE = 0 equal the closed form exactly",
        test.tested, p.rows, p.dim, test.exact_equal, test.exact
    );
    let statistic = format!(
        "max |z| = {:.2} over {} entries, Bonferroni p = {:.3} (α = {ALPHA})",
        test.max_abs_z, test.tested, test.p_bonferroni
    );
    Ok(ClaimReport::new(spec, measured, verdict, vec![csv, figure.clone()], vec![figure]).with_statistic(statistic))
}

/// The statistic of C0's test on its entries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZTest {
    /// Entries with a positive standard error.
    pub tested: usize,
    /// The largest |z| among them (0 with none).
    pub max_abs_z: f64,
    /// `min(1, tested · 2(1 − Φ(max |z|)))` (1 with none).
    pub p_bonferroni: f64,
    /// Entries with standard error 0.
    pub exact: usize,
    /// Those equal to the closed form within `EXACT_TOL`.
    pub exact_equal: usize,
}

/// The Bonferroni max-|z| statistic of `rows` (see the module doc).
pub fn z_test(rows: &[EntryRow]) -> ZTest {
    let z: Vec<f64> = rows.iter().filter_map(|r| r.z_score).collect();
    let max_abs_z = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let exact: Vec<bool> = rows.iter().filter_map(|r| r.exact_match).collect();
    ZTest {
        tested: z.len(),
        max_abs_z,
        p_bonferroni: if z.is_empty() {
            1.0
        } else {
            (z.len() as f64 * normal_two_sided_p(max_abs_z)).min(1.0)
        },
        exact: exact.len(),
        exact_equal: exact.iter().filter(|&&e| e).count(),
    }
}

/// C0's verdict at level `alpha` (see the module doc).
pub fn judge(test: &ZTest, alpha: f64) -> Verdict {
    if test.p_bonferroni < alpha || test.exact_equal < test.exact {
        Verdict::Fail
    } else if test.tested == 0 {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(z: Option<f64>, exact: Option<bool>) -> EntryRow {
        EntryRow {
            object: "Q",
            kind: "monte_carlo_estimate",
            seed: 1,
            dim: 3,
            samples: 100,
            theta: 1.0,
            i: 0,
            j: 0,
            mc_mean: 0.0,
            mc_se: if z.is_some() { 1.0 } else { 0.0 },
            closed_form: 0.0,
            z_score: z,
            exact_match: exact,
        }
    }

    #[test]
    fn z_scores_in_the_normal_range_pass_and_a_far_one_fails() {
        // 100 entries, largest |z| = 3: Bonferroni p = 100 · 0.0027 = 0.27, no evidence of a
        // wrong closed form.
        let mut rows: Vec<EntryRow> = (0..99).map(|i| entry(Some(f64::from(i) / 50.0 - 1.0), None)).collect();
        rows.push(entry(Some(-3.0), None));
        rows.push(entry(None, Some(true)));
        let test = z_test(&rows);
        assert_eq!((test.tested, test.exact, test.exact_equal), (100, 1, 1));
        assert!((test.p_bonferroni - 0.269_979_606_326_018_5).abs() < 1e-9, "{test:?}");
        assert_eq!(judge(&test, 0.05), Verdict::Pass);
        // A closed form off by 5 standard errors in one entry: p = 100 · 5.7e-7 < 0.05. A
        // sign error in Q or Φ moves entries by far more.
        rows.push(entry(Some(5.0), None));
        assert_eq!(judge(&z_test(&rows), 0.05), Verdict::Fail);
    }

    #[test]
    fn an_exact_entry_off_its_closed_form_fails_and_nothing_tested_is_inconclusive() {
        let rows = vec![entry(Some(0.5), None), entry(None, Some(false))];
        assert_eq!(judge(&z_test(&rows), 0.05), Verdict::Fail);
        assert_eq!(judge(&z_test(&[entry(None, Some(true))]), 0.05), Verdict::Inconclusive);
    }

    #[test]
    fn a_p_value_equal_to_the_level_rejects_nothing() {
        // The test rejects when p < α: a Bonferroni p of exactly α keeps the claim (a rule
        // that took `≤` for `<` would FAIL it), and the next float below α rejects it.
        let test = |p_bonferroni: f64| ZTest {
            tested: 10,
            max_abs_z: 3.0,
            p_bonferroni,
            exact: 0,
            exact_equal: 0,
        };
        assert_eq!(judge(&test(0.05), 0.05), Verdict::Pass);
        assert_eq!(judge(&test(0.05 - f64::EPSILON), 0.05), Verdict::Fail);
    }
}
