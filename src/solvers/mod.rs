//! Solvers for `min_x f(x)`, `f(x) = ½ ‖|A G(x)| − b‖²` (docs/THEORY.md §6), in the style of argmin:
//! each method is a *step* ([`executor::Step`]) on a batch of iterates, and one executor
//! ([`executor::run`]) owns the loop, the evaluations, the termination reasons, the counters
//! and the optional trace. Every start of a solve that shares a network and `A` (restarts, the
//! two inits of Adam) runs in lock-step as one `k × B` block through matrix–matrix products.
//!
//! | method | what | source |
//! |---|---|---|
//! | [`Method::Dpr`] | Algorithm 1: negation check `f(−x) < f(x)`, then `x ← x − α v_{x,x0}` | the paper, Alg. 1 |
//! | [`Method::Gd`] | the same without the negation check (the ablation; also the census of critical points) | — |
//! | [`Method::Adam2`] | Adam from `x_1` and from `−x_1` on `mean_j (|A G(x)|_j − b_j)²`, the lower objective kept | the paper's MNIST code |
//!
//! A solver never prints and never looks at the truth; choosing among restarts by distance to
//! the truth ([`Selection::Oracle`]) is a labelled replication mode of the paper's code only.
//!
//! ```
//! use dpr_audit::core::network::WeightScale;
//! use dpr_audit::landscape::grid::standard_instance;
//! use dpr_audit::solvers::instance::{InstanceKey, starts};
//! use dpr_audit::solvers::{Method, MethodParams, Selection, choose, solve};
//!
//! let key = InstanceKey { seed: 1, experiment: "example", trial: 0 };
//! let inst = standard_instance(&[2, 50, 200], 200, &key);
//! let p = &inst.problem;
//! let params = MethodParams::for_problem(&p.net, Some(WeightScale::Normalized), &p.meas, None, 0.01);
//! let from = starts(Method::Dpr, 2, 3, &key);
//! let runs = solve(p, Method::Dpr, &params, &Method::Dpr.default_settings(), from.as_ref());
//! let best = choose(&runs, &inst.x0, Selection::Objective);
//! assert_eq!(runs.len(), 3);
//! assert!(best.relative_error < 1e-3, "DPR recovers x0 up to sign: {}", best.relative_error);
//! ```

pub mod adam;
pub mod descent;
pub mod executor;
pub mod instance;

use serde::Serialize;

use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale};
use crate::core::vector::relative_error_up_to_sign;
use crate::error::{Error, Result};
use crate::rng::standard_normal_vector;

pub use executor::{ExpectedObjective, Objective, Run, Settings, Termination, TracePoint, run};

/// The solvers `solve` and `sweep` offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Algorithm 1 of the paper: gradient steps with the negation check.
    Dpr,
    /// Gradient steps without the negation check (ablation).
    Gd,
    /// Adam from `x_1` and `−x_1`, lower objective kept (the paper's practical variant).
    Adam2,
}

impl Method {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Dpr => "dpr",
            Method::Gd => "gd",
            Method::Adam2 => "adam2",
        }
    }

    /// Default settings: DPR/GD stop when `‖v‖` has fallen by 1e-10 or `f` stalls; Adam runs
    /// the paper's 1000 iterations.
    pub fn default_settings(self) -> Settings {
        match self {
            Method::Dpr | Method::Gd => Settings {
                max_iters: 2000,
                grad_tol: 1e-10,
                f_tol: 1e-14,
                trace: false,
            },
            Method::Adam2 => Settings {
                max_iters: 1000,
                grad_tol: 0.0,
                f_tol: 0.0,
                trace: false,
            },
        }
    }

    /// [`Method::default_settings`] with the given overrides (unchecked; callers validate
    /// their inputs under their own names).
    pub fn settings_with(
        self,
        max_iters: Option<usize>,
        grad_tol: Option<f64>,
        f_tol: Option<f64>,
        trace: bool,
    ) -> Settings {
        let base = self.default_settings();
        Settings {
            max_iters: max_iters.unwrap_or(base.max_iters),
            grad_tol: grad_tol.unwrap_or(base.grad_tol),
            f_tol: f_tol.unwrap_or(base.f_tol),
            trace,
        }
    }

    /// Starts per restart: Adam runs from `x_1` and from `−x_1`.
    pub fn starts_per_restart(self) -> usize {
        match self {
            Method::Adam2 => 2,
            Method::Dpr | Method::Gd => 1,
        }
    }
}

/// How the reported solution is chosen among the runs of one solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The run with the lowest objective `f` (what a user without the truth can do).
    Objective,
    /// The run closest to the truth up to sign (the paper's code; replication only).
    Oracle,
}

impl Selection {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Selection::Objective => "objective",
            Selection::Oracle => "oracle",
        }
    }

    /// The index of the chosen run (ties: the first). `truth` is used by the oracle only.
    pub fn choose(self, runs: &[Run], truth: &[f64]) -> usize {
        let key = |r: &Run| match self {
            Selection::Objective => r.value,
            Selection::Oracle => relative_error_up_to_sign(&r.x, truth),
        };
        (0..runs.len())
            .min_by(|&a, &b| key(&runs[a]).total_cmp(&key(&runs[b])))
            .expect("a solve has at least one run")
    }
}

/// Which selection rules a command reports: one, or both (each row labelled with its rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SelectionMode {
    /// Lowest objective (no truth needed).
    Objective,
    /// Closest to the truth (replication of the paper's code only).
    Oracle,
    /// Both, each labelled.
    Both,
}

impl SelectionMode {
    /// The rules, objective first.
    pub fn selections(self) -> Vec<Selection> {
        match self {
            SelectionMode::Objective => vec![Selection::Objective],
            SelectionMode::Oracle => vec![Selection::Oracle],
            SelectionMode::Both => vec![Selection::Objective, Selection::Oracle],
        }
    }
}

/// DPR's step size `α = ½ · 2^d / (g_W · g_A)` (docs/THEORY.md §6, §11.3: `α = 0.5 · 2^d` worked with
/// `N(0, 1/n_i)` weights and `N(0, 1/m)` measurements). The gains rescale it for other
/// variances: `g_W = Π_i n_i σ_i²` (1 for `N(0, 1/n_i)`), `g_A = m σ_A²` (1 for `N(0, 1/m)`),
/// since `E‖A W_d … W_1 x‖² = g_A g_W ‖x‖²` and the curvature of `f` scales with it.
pub fn dpr_step(depth: usize, network_gain: f64, measurement_gain: f64) -> f64 {
    0.5 * 2f64.powi(depth as i32) / (network_gain * measurement_gain)
}

/// `g_W` of a network: nominal for a random one of known scale, else the empirical
/// `Π_i ‖W_i‖_F² / n_{i−1}` (an estimate of `Π_i n_i σ_i²` from the weights themselves).
pub fn network_gain(net: &Network, scale: Option<WeightScale>) -> f64 {
    match scale {
        Some(WeightScale::Normalized) => 1.0,
        Some(WeightScale::Unit) => net.widths()[1..].iter().map(|&n| n as f64).product(),
        None => net
            .layers()
            .iter()
            .map(|l| l.weight.squared_norm_l2() / l.weight.ncols() as f64)
            .product(),
    }
}

/// `g_A = m σ_A²` of a measurement matrix.
pub fn measurement_gain(meas: &Measurements) -> f64 {
    match meas.scale {
        MeasurementScale::Normalized => 1.0,
        MeasurementScale::Unit => meas.count() as f64,
    }
}

/// Checks a step size given on the command line.
pub fn check_step(step: f64) -> Result<()> {
    if step.is_finite() && step > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "step",
            step,
            "the step size must be a positive finite number",
        ))
    }
}

/// What a method needs besides the loop settings.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MethodParams {
    /// DPR/GD step size `α` (see [`dpr_step`]).
    pub step: f64,
    /// Adam's hyper-parameters.
    pub adam: adam::AdamParams,
}

impl MethodParams {
    /// The given step, or DPR's default [`dpr_step`] for this network and `A` (`random_scale`:
    /// the weight scale of a random network, `None` for weights from a file), and Adam's
    /// defaults with learning rate `lr` (unchecked; see [`check_step`]).
    pub fn for_problem(
        net: &Network,
        random_scale: Option<WeightScale>,
        meas: &Measurements,
        step: Option<f64>,
        lr: f64,
    ) -> Self {
        let step =
            step.unwrap_or_else(|| dpr_step(net.depth(), network_gain(net, random_scale), measurement_gain(meas)));
        Self {
            step,
            adam: adam::AdamParams {
                lr,
                ..adam::AdamParams::default()
            },
        }
    }
}

/// Runs `method` from every column of `starts` in lock-step (one [`Run`] per column).
pub fn solve<O: Objective>(
    problem: &O,
    method: Method,
    params: &MethodParams,
    settings: &Settings,
    starts: faer::MatRef<'_, f64>,
) -> Vec<Run> {
    match method {
        Method::Dpr => run(problem, &mut descent::Descent::dpr(params.step), starts, settings),
        Method::Gd => run(problem, &mut descent::Descent::gd(params.step), starts, settings),
        Method::Adam2 => run(
            problem,
            &mut adam::Adam::new(params.adam, problem.loss_scale()),
            starts,
            settings,
        ),
    }
}

/// The restart and the sign of the start of column `j` of [`starts`] with `restarts`
/// restarts: column `j` is `+x_{j mod R}` for `j < R`, else `−x_{j mod R}`.
pub fn run_origin(j: usize, restarts: usize) -> (usize, i8) {
    (j % restarts, if j < restarts { 1 } else { -1 })
}

/// The starts of one solve: `x_r ~ N(0, I_k)` for each restart `r`, drawn from `draw(r)`, in
/// columns `0..R`; Adam two-init appends `−x_r` in columns `R..2R`.
pub fn starts<R: rand::Rng>(
    method: Method,
    k: usize,
    restarts: usize,
    mut draw: impl FnMut(u32) -> R,
) -> faer::Mat<f64> {
    let base: Vec<Vec<f64>> = (0..restarts)
        .map(|r| standard_normal_vector(&mut draw(r as u32), k))
        .collect();
    let copies = method.starts_per_restart();
    faer::Mat::from_fn(k, restarts * copies, |i, j| {
        let sign = if j < restarts { 1.0 } else { -1.0 };
        sign * base[j % restarts][i]
    })
}

/// The solution a selection rule picks among the runs of one solve.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Chosen {
    /// The rule.
    pub selection: Selection,
    /// Index of the chosen run (column of the starts).
    pub run: usize,
    /// `min(‖x̂ − x0‖, ‖x̂ + x0‖) / ‖x0‖` of the chosen run.
    pub relative_error: f64,
    /// `f` at the chosen run's end point.
    pub value: f64,
}

/// Applies `selection` to the runs of one solve with truth `x0`.
pub fn choose(runs: &[Run], x0: &[f64], selection: Selection) -> Chosen {
    let run = selection.choose(runs, x0);
    Chosen {
        selection,
        run,
        relative_error: relative_error_up_to_sign(&runs[run].x, x0),
        value: runs[run].value,
    }
}
