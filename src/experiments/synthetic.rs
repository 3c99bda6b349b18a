//! The synthetic comparison of the full paper (docs/THEORY.md §6–7): the success rate against m of
//! the sparse methods on `s`-sparse signals (`s = 3, 5, 10`, `n = 1000`, sparsity given) next
//! to DPR on HLV's synthetic generator (`k = 10`, a random ReLU network 10–500–1000 with
//! `N(0, 1)` weights, [`crate::sweep`] with `verify/sweeps/hlv-synthetic.toml`'s settings).
//!
//! Success, for both: `min(‖x̂ − x‖, ‖x̂ + x‖)/‖x‖ ≤ 1e-4` (HLV's criterion). Each rate comes
//! with its Wilson 95% interval ([`crate::stats::wilson_interval`]).
//!
//! Random objects: the sparse trial `t` at `(s, m)` draws its signal
//! ([`baselines::sparse_gaussian_signal`], stream `Truth`) and `A` (`m × n`, `N(0, 1)` entries,
//! stream `Measurements`) from `stream(seed, "mnist-synthetic/s=<s>/m=<m>", t, ·)`; the three
//! methods solve the same instance (paired). DPR's trials are the sweep's (its own streams).
//! Trials run in parallel; results do not depend on the thread count.

use rayon::prelude::*;
use serde::Serialize;

use crate::baselines::{self, MeasurementScale, PhaselessData, sparse_gaussian_signal};
use crate::core::measure::Measurements;
use crate::core::network::WeightScale;
use crate::core::vector::relative_error_up_to_sign;
use crate::error::{Error, Result};
use crate::exec::run::run_all;
use crate::exec::{Study, TrialRows};
use crate::rng::{Stream, stream};
use crate::solvers::{Method, SelectionMode};
use crate::stats::wilson_interval;
use crate::sweep::config::Snr;
use crate::sweep::{SweepConfig, SweepRow, SweepStudy, analyse};

/// Experiment name of the sparse trials' streams.
pub const EXPERIMENT: &str = "mnist-synthetic";
/// HLV's success threshold on the sign-invariant relative error.
pub const SUCCESS_TOL: f64 = 1e-4;
/// The signal length of the sparse signals.
pub const SIGNAL_LENGTH: usize = 1000;
/// The sparsities of the comparison.
pub const SPARSITIES: [usize; 3] = [3, 5, 10];
/// HLV's synthetic generator: latent dimension.
pub const GENERATOR_K: usize = 10;
/// HLV's synthetic generator: widths after the latent layer.
pub const GENERATOR_LAYERS: [usize; 2] = [500, 1000];
/// The default grid of m.
pub const DEFAULT_M: [usize; 14] = [10, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 600, 800];
/// HLV's instances per point.
pub const DEFAULT_TRIALS: usize = 25;

/// The comparison's protocol.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `m` | [`DEFAULT_M`] | numbers of measurements (both sides) | nonempty, distinct, each ≥ 1 |
/// | `trials` | 25 | instances per point | ≥ 1 |
/// | `sparsities` | 3, 5, 10 | `s` of the sparse signals | each `1..=n` |
/// | `n` | 1000 | length of the sparse signals | ≥ 1 |
/// | `methods` | SPARTA, CoPRAM, ThWF | the sparse methods | nonempty |
/// | `dpr` | true | run DPR on HLV's generator | — |
#[derive(Clone, Debug, Serialize)]
pub struct Protocol {
    /// Numbers of measurements.
    pub m: Vec<usize>,
    /// Instances per point.
    pub trials: usize,
    /// Sparsities.
    pub sparsities: Vec<usize>,
    /// Signal length of the sparse signals.
    pub n: usize,
    /// Sparse methods.
    pub methods: Vec<baselines::Method>,
    /// Whether DPR runs.
    pub dpr: bool,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            m: DEFAULT_M.to_vec(),
            trials: DEFAULT_TRIALS,
            sparsities: SPARSITIES.to_vec(),
            n: SIGNAL_LENGTH,
            methods: baselines::Method::ALL.to_vec(),
            dpr: true,
        }
    }
}

impl Protocol {
    /// Checks the protocol; errors name the command-line option.
    pub fn check(&self) -> Result<()> {
        let fix = "give distinct numbers of measurements ≥ 1, e.g. --m 20,50,100";
        if self.m.is_empty() || self.m.contains(&0) {
            return Err(Error::param("--m", format!("{:?}", self.m), fix));
        }
        let mut sorted = self.m.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.m.len() {
            return Err(Error::param("--m", format!("{:?}", self.m), fix));
        }
        if self.trials == 0 {
            return Err(Error::param(
                "--trials",
                0,
                "run at least one trial per point, e.g. --trials 25",
            ));
        }
        if self.n == 0 || self.sparsities.iter().any(|&s| s == 0 || s > self.n) {
            return Err(Error::param(
                "--sparsities",
                format!("{:?}", self.sparsities),
                format!("each sparsity must be between 1 and n = {}", self.n),
            ));
        }
        if self.methods.is_empty() && !self.dpr {
            return Err(Error::param("methods", "(none)", "run at least one method"));
        }
        Ok(())
    }

    /// DPR's sweep: HLV's synthetic setting (`verify/sweeps/hlv-synthetic.toml`) at this
    /// protocol's `m` and trials.
    pub fn dpr_sweep(&self) -> SweepConfig {
        SweepConfig {
            description: "HLV synthetic generator (k = 10, 10-500-1000, N(0,1) weights) for the sparse comparison"
                .into(),
            k: vec![GENERATOR_K],
            layer_widths: Some(vec![GENERATOR_LAYERS.to_vec()]),
            d: None,
            n: None,
            m: Some(self.m.clone()),
            m_over_n: None,
            methods: vec![Method::Dpr],
            trials: self.trials,
            snr_db: vec![Snr(None)],
            restarts: vec![1],
            success_tol: SUCCESS_TOL,
            weight_scale: WeightScale::Unit,
            measurement_scale: MeasurementScale::Normalized,
            selection: SelectionMode::Objective,
            max_iters: None,
            grad_tol: None,
            f_tol: None,
            step: None,
            lr: 0.01,
        }
    }
}

/// One sparse trial of one method (`synthetic_trials.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct SparseTrialRow {
    /// Master seed.
    pub seed: u64,
    /// The method.
    pub algorithm: baselines::Method,
    /// Sparsity `s` (given to SPARTA and CoPRAM; ThWF does not take it).
    pub s: usize,
    /// Signal length `n`.
    pub n: usize,
    /// Measurements.
    pub m: usize,
    /// Trial index.
    pub trial: u64,
    /// `min(‖x̂ − x‖, ‖x̂ + x‖)/‖x‖` (exact).
    pub relative_error: f64,
    /// `relative_error ≤ success_tol`.
    pub success: bool,
    /// Iterations.
    pub iterations: usize,
    /// Why it stopped.
    pub termination: &'static str,
}

/// One point of a success curve (`synthetic.csv`), sparse or DPR.
#[derive(Clone, Debug, Serialize)]
pub struct RateRow {
    /// Master seed.
    pub seed: u64,
    /// `dpr`, `sparta`, `copram` or `thwf`.
    pub algorithm: &'static str,
    /// The signal model, e.g. `s-sparse (s = 5, n = 1000)` or `generative (k = 10, 10-500-1000)`.
    pub signal: String,
    /// Sparsity (sparse signals); empty for DPR.
    pub s: Option<usize>,
    /// Latent dimension (DPR); empty for sparse signals.
    pub k: Option<usize>,
    /// Signal length `n`.
    pub n: usize,
    /// Measurements.
    pub m: usize,
    /// Trials.
    pub trials: usize,
    /// Successes (exact count).
    pub successes: usize,
    /// `successes / trials` (estimate).
    pub success_rate: f64,
    /// Lower end of the Wilson 95% interval.
    pub wilson_lo: f64,
    /// Upper end of the Wilson 95% interval.
    pub wilson_hi: f64,
    /// Success threshold.
    pub success_tol: f64,
}

/// What [`run`] produced.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// Success curves: the sparse methods by (method, s, m), then DPR by m.
    pub rates: Vec<RateRow>,
    /// The sparse trials.
    pub sparse_trials: Vec<SparseTrialRow>,
    /// DPR's trials (the sweep's rows).
    pub dpr_trials: TrialRows<SweepRow>,
}

/// The units of work of [`run`] for a progress bar: sparse instances plus DPR trials.
pub fn work_units(p: &Protocol) -> u64 {
    let sparse = if p.methods.is_empty() {
        0
    } else {
        p.sparsities.len() * p.m.len() * p.trials
    };
    let dpr = if p.dpr { p.m.len() * p.trials } else { 0 };
    (sparse + dpr) as u64
}

/// One sparse instance solved by every method.
fn sparse_instance(p: &Protocol, s: usize, m: usize, trial: u64, seed: u64) -> Result<Vec<SparseTrialRow>> {
    let experiment = format!("{EXPERIMENT}/s={s}/m={m}");
    let x = sparse_gaussian_signal(p.n, s, &mut stream(seed, &experiment, trial, Stream::Truth));
    let meas = Measurements::gaussian(
        m,
        p.n,
        MeasurementScale::Unit,
        &mut stream(seed, &experiment, trial, Stream::Measurements),
    );
    let b = meas.amplitudes(&x);
    let data = PhaselessData::new(&meas.a, MeasurementScale::Unit, &b)?;
    p.methods
        .iter()
        .map(|&method| {
            let rec = baselines::run(method, &data, s, &baselines::Settings::default())?;
            let relative_error = relative_error_up_to_sign(&rec.estimate, &x);
            Ok(SparseTrialRow {
                seed,
                algorithm: method,
                s,
                n: p.n,
                m,
                trial,
                relative_error,
                success: relative_error <= SUCCESS_TOL,
                iterations: rec.iterations,
                termination: rec.termination.name(),
            })
        })
        .collect()
}

/// A rate row from a count.
fn rate(
    seed: u64,
    algorithm: &'static str,
    signal: String,
    (s, k, n, m): (Option<usize>, Option<usize>, usize, usize),
    successes: usize,
    trials: usize,
) -> RateRow {
    let (wilson_lo, wilson_hi) = wilson_interval(successes as u64, trials as u64);
    RateRow {
        seed,
        algorithm,
        signal,
        s,
        k,
        n,
        m,
        trials,
        successes,
        success_rate: successes as f64 / trials as f64,
        wilson_lo,
        wilson_hi,
        success_tol: SUCCESS_TOL,
    }
}

/// Runs the comparison (sparse instances in parallel, then DPR's sweep); `tick` is called per
/// unit of [`work_units`].
pub fn run(p: &Protocol, seed: u64, tick: &(dyn Fn() + Sync)) -> Result<Results> {
    p.check()?;
    let keys: Vec<(usize, usize, u64)> = p
        .sparsities
        .iter()
        .flat_map(|&s| {
            p.m.iter()
                .flat_map(move |&m| (0..p.trials as u64).map(move |t| (s, m, t)))
        })
        .collect();
    let sparse_trials: Vec<SparseTrialRow> = if p.methods.is_empty() {
        Vec::new()
    } else {
        let per_instance: Vec<Vec<SparseTrialRow>> = keys
            .par_iter()
            .map(|&(s, m, t)| {
                let rows = sparse_instance(p, s, m, t, seed);
                tick();
                rows
            })
            .collect::<Result<_>>()?;
        per_instance.into_iter().flatten().collect()
    };
    let mut rates = Vec::new();
    for &method in &p.methods {
        for &s in &p.sparsities {
            for &m in &p.m {
                let successes = sparse_trials
                    .iter()
                    .filter(|r| r.algorithm == method && r.s == s && r.m == m && r.success)
                    .count();
                let signal = format!("s-sparse (s = {s}, n = {})", p.n);
                rates.push(rate(
                    seed,
                    method.name(),
                    signal,
                    (Some(s), None, p.n, m),
                    successes,
                    p.trials,
                ));
            }
        }
    }
    let mut dpr_trials = Vec::new();
    if p.dpr {
        let config = p.dpr_sweep();
        let study = SweepStudy::new(
            config.check(std::path::Path::new("mnist synthetic (built-in HLV setting)"))?,
            seed,
        );
        debug_assert_eq!(study.len() as usize, p.m.len() * p.trials);
        dpr_trials = run_all(&study, tick)?;
        let analysis = analyse(&dpr_trials, study.trials());
        let n = *GENERATOR_LAYERS.last().expect("two layers");
        for r in &analysis.success {
            let signal = format!("generative (k = {}, {})", r.k, r.widths);
            rates.push(rate(
                seed,
                "dpr",
                signal,
                (None, Some(r.k), n, r.m),
                r.successes,
                r.trials,
            ));
        }
    }
    Ok(Results {
        rates,
        sparse_trials,
        dpr_trials,
    })
}

/// The curve label of a rate row, e.g. `SPARTA, s = 5` or `DPR, k = 10`.
pub fn curve_label(r: &RateRow) -> String {
    let name = match r.algorithm {
        "dpr" => "DPR",
        "sparta" => "SPARTA",
        "copram" => "CoPRAM",
        _ => "ThWF",
    };
    match (r.s, r.k) {
        (Some(s), _) => format!("{name}, s = {s}"),
        (None, Some(k)) => format!("{name}, k = {k}"),
        (None, None) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_instances_are_keyed_and_easy_ones_succeed() {
        let p = Protocol {
            m: vec![600],
            trials: 1,
            sparsities: vec![5],
            dpr: false,
            ..Protocol::default()
        };
        let a = sparse_instance(&p, 5, 600, 0, 7).unwrap();
        let b = sparse_instance(&p, 5, 600, 0, 7).unwrap();
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.relative_error, y.relative_error);
        }
        // n = 1000, s = 5, m = 600 is the easy regime of the baselines' tests: all recover.
        assert!(a.iter().all(|r| r.success), "{a:?}");
    }

    #[test]
    fn the_dpr_sweep_is_hlvs_setting() {
        let c = Protocol::default()
            .dpr_sweep()
            .check(std::path::Path::new("test"))
            .unwrap();
        let s = &c.settings[0];
        assert_eq!(s.widths(), vec![10, 500, 1000]);
        assert_eq!(c.config.weight_scale, WeightScale::Unit);
        assert_eq!(c.settings.len(), DEFAULT_M.len());
    }
}
