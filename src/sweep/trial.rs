//! One trial of a sweep: a fresh instance of one setting, solved, judged by the success
//! criterion `min(‖x̂−x0‖, ‖x̂+x0‖)/‖x0‖ ≤ success_tol` (docs/THEORY.md §6, HLV's synthetic
//! experiment).
//!
//! Random objects are keyed by the setting's parameters and the trial index, never by the
//! grid they sit in, so the same setting gives the same rows in any sweep:
//! - the network from experiment `sweep/network/<widths>/<weight scale>`, trial `t`
//!   (shared by every m, noise level, restart count and method of trial `t`);
//! - `A`, `x0`, the noise and the starts from experiment
//!   `sweep/instance/<widths>/<weight scale>/m<m>/<measurement scale>`, trial `t` (shared by
//!   every noise level, restart count and method: DPR and GD solve the same instance from the
//!   same start, a paired comparison).

use serde::{Deserialize, Serialize};

use super::config::{Grid, Setting, SweepConfig};
use crate::core::measure::MeasurementScale;
use crate::core::network::{Network, WeightScale};
use crate::error::{Error, Result};
use crate::exec::Study;
use crate::report::widths_label;
use crate::rng::{Stream, stream};
use crate::solvers::instance::{self, InstanceKey};
use crate::solvers::{Method, MethodParams, Selection, choose, solve};

/// One row of `trials.csv`: one trial (instance) of one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Master seed.
    pub seed: u64,
    /// Latent dimension.
    pub k: usize,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// Depth.
    pub d: usize,
    /// Output width `n_d`.
    pub n: usize,
    /// Weight variance convention.
    pub weight_scale: WeightScale,
    /// Measurements.
    pub m: usize,
    /// `m / n`.
    pub m_over_n: f64,
    /// Variance convention of `A`.
    pub measurement_scale: MeasurementScale,
    /// SNR in dB (empty: noiseless).
    pub snr_db: Option<f64>,
    /// Solver.
    pub method: Method,
    /// Restarts.
    pub restarts: usize,
    /// Selection among restarts.
    pub selection: Selection,
    /// DPR/GD step size used.
    pub step: f64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Trial index within the setting.
    pub trial: u64,
    /// Sign-invariant relative error of the selected solution.
    pub relative_error: f64,
    /// Success threshold.
    pub success_tol: f64,
    /// `relative_error ≤ success_tol`.
    pub success: bool,
    /// `f` at the selected solution.
    pub value: f64,
    /// Iterations of the selected run.
    pub iterations: usize,
    /// Negations taken by the selected run.
    pub negations: usize,
    /// Why the selected run stopped.
    pub termination: String,
    /// Value-and-direction evaluations, summed over all runs of the trial.
    pub gradient_evaluations: usize,
    /// Value-only evaluations, summed over all runs of the trial.
    pub value_evaluations: usize,
}

/// A sweep as a [`Study`]: trial `id` is instance `id mod trials` of setting `id / trials`.
#[derive(Clone, Debug)]
pub struct SweepStudy {
    /// The checked grid.
    pub grid: Grid,
    /// Master seed.
    pub seed: u64,
}

/// The configuration a sweep records (and `merge` reads back).
#[derive(Serialize, Deserialize)]
struct Recorded {
    seed: u64,
    sweep: SweepConfig,
}

fn scale_key<T: std::fmt::Debug>(scale: T) -> String {
    format!("{scale:?}").to_lowercase()
}

impl SweepStudy {
    /// A sweep of `grid` with master seed `seed`.
    pub fn new(grid: Grid, seed: u64) -> Self {
        Self { grid, seed }
    }

    /// The sweep recorded as `config` in a shard manifest (the inverse of [`Study::config`]).
    pub fn from_recorded(config: &serde_json::Value, source: &std::path::Path) -> Result<Self> {
        let recorded: Recorded = serde_json::from_value(config.clone()).map_err(|e| Error::Config {
            path: source.to_path_buf(),
            reason: format!("the recorded sweep configuration does not fit this version ({e})"),
        })?;
        Ok(Self::new(recorded.sweep.check(source)?, recorded.seed))
    }

    /// Trials per setting.
    pub fn trials(&self) -> u64 {
        self.grid.config.trials as u64
    }

    /// The setting and trial index of trial `id`.
    pub fn locate(&self, id: u64) -> (&Setting, u64) {
        (&self.grid.settings[(id / self.trials()) as usize], id % self.trials())
    }

    /// Solves trial `id`.
    fn solve_trial(&self, id: u64) -> Vec<SweepRow> {
        let (s, t) = self.locate(id);
        let c = &self.grid.config;
        let widths = s.widths();
        let label = widths_label(&widths);
        let network_key = format!("sweep/network/{label}/{}", scale_key(c.weight_scale));
        let net = Network::gaussian(
            &widths,
            c.weight_scale,
            &mut stream(self.seed, &network_key, t, Stream::Network),
        );
        let experiment = format!(
            "sweep/instance/{label}/{}/m{}/{}",
            scale_key(c.weight_scale),
            s.m,
            scale_key(c.measurement_scale)
        );
        let key = InstanceKey {
            seed: self.seed,
            experiment: &experiment,
            trial: t,
        };
        let inst = instance::draw(net, s.m, c.measurement_scale, None, s.snr_db, &key);
        let params = MethodParams::for_problem(
            &inst.problem.net,
            Some(c.weight_scale),
            &inst.problem.meas,
            c.step,
            c.lr,
        );
        let starts = instance::starts(s.method, s.k, s.restarts, &key);
        let runs = solve(
            &inst.problem,
            s.method,
            &params,
            &self.grid.loop_settings(s.method),
            starts.as_ref(),
        );
        let rows = c.selection.selections().into_iter().map(|selection| {
            let chosen = choose(&runs, &inst.x0, selection);
            let run = &runs[chosen.run];
            SweepRow {
                seed: self.seed,
                k: s.k,
                widths: label.clone(),
                d: s.depth(),
                n: s.n(),
                weight_scale: c.weight_scale,
                m: s.m,
                m_over_n: s.m as f64 / s.n() as f64,
                measurement_scale: c.measurement_scale,
                snr_db: s.snr_db,
                method: s.method,
                restarts: s.restarts,
                selection,
                step: params.step,
                lr: params.adam.lr,
                trial: t,
                relative_error: chosen.relative_error,
                success_tol: c.success_tol,
                success: chosen.relative_error <= c.success_tol,
                value: chosen.value,
                iterations: run.iterations,
                negations: run.counters.negations,
                termination: run.termination.name().into(),
                gradient_evaluations: runs.iter().map(|r| r.counters.gradient_evaluations).sum(),
                value_evaluations: runs.iter().map(|r| r.counters.value_evaluations).sum(),
            }
        });
        rows.collect()
    }
}

/// `none` or the SNR in dB.
pub fn snr_label(snr: Option<f64>) -> String {
    snr.map_or_else(|| "none".into(), |db| format!("{db} dB"))
}

impl Study for SweepStudy {
    type Row = SweepRow;

    fn kind(&self) -> &'static str {
        "sweep"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(Recorded {
            seed: self.seed,
            sweep: self.grid.config.clone(),
        })
        .expect("a sweep configuration is plain data")
    }

    fn len(&self) -> u64 {
        self.grid.settings.len() as u64 * self.trials()
    }

    fn describe(&self, id: u64) -> String {
        let (s, t) = self.locate(id);
        format!(
            "widths {}, m = {}, snr {}, {} restarts, {}, trial {t}",
            widths_label(&s.widths()),
            s.m,
            snr_label(s.snr_db),
            s.restarts,
            s.method.name()
        )
    }

    fn run(&self, id: u64) -> Result<Vec<SweepRow>> {
        Ok(self.solve_trial(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::parse;
    use std::path::Path;

    fn study(text: &str) -> SweepStudy {
        SweepStudy::new(parse(Path::new("t.toml"), text).unwrap(), 5)
    }

    #[test]
    fn a_trial_does_not_depend_on_the_grid_around_it() {
        let small = study("k = [3]\nd = [2]\nn = [30]\nm = [40]\nmethods = [\"dpr\"]\ntrials = 2\n");
        let large = study("k = [2, 3]\nd = [2]\nn = [30]\nm = [20, 40]\nmethods = [\"gd\", \"dpr\"]\ntrials = 3\n");
        // Setting (k = 3, m = 40, dpr) is setting 0 of `small` and setting 7 of `large`.
        assert_eq!(large.locate(7 * 3 + 1).0, small.locate(1).0);
        assert_eq!(small.run(1).unwrap(), large.run(7 * 3 + 1).unwrap());
        assert_eq!(large.len(), 2 * 2 * 2 * 3);
        assert!(large.describe(22).contains("dpr, trial 1"));
    }

    #[test]
    fn recorded_config_round_trips_with_the_same_hash() {
        let s = study(
            "k = [3]\nd = [2]\nn = [30]\nm_over_n = [0.5, 1.5]\nsnr_db = [\"none\", 25.5]\nmethods = [\"adam2\"]\ntrials = 2\n",
        );
        let back = SweepStudy::from_recorded(&s.config(), Path::new("shard.json")).unwrap();
        assert_eq!(
            crate::exec::config_hash("sweep", &s.config()),
            crate::exec::config_hash("sweep", &back.config())
        );
        assert_eq!(back.grid.settings, s.grid.settings);
    }
}
