//! `dpr-audit landscape` (= `landscape probe`): the descent claim of Theorem II.1 measured on
//! one instance: probes, the two balls fixed beforehand, and the origin check. See [`crate::landscape`] for the quantities.
//!
//! Order of work, so that the check can fail: the instance, the probe points and the two balls
//! (from the expected exceptional set `S_τ`, or given) are fixed first; then the probes are
//! evaluated (in parallel, results in point order: the files are byte-identical for any
//! `--threads`); then each point is judged against the balls. The empirical radii are reported
//! beside the balls and never feed back into them.
//!
//! Random objects (experiment `"landscape"`, trial 0): the network (`Stream::Network`), `A`
//! (`Stream::Measurements`), `x0 ~ N(0, I_k)` when not given (`Stream::Truth`); probe
//! directions from `Stream::Probe` under their own experiment keys (`landscape/slice` with the
//! slice index as trial, `landscape/rays`, `landscape/shell_pos` and `landscape/shell_neg` with
//! the shell index as trial, `landscape/origin`), so adding one set never moves another.

use serde::Serialize;

use super::cli::{LandscapeArgs, LandscapeCommand, LandscapeProbeArgs, NetworkSource};
use super::context::{Context, Outcome};
use super::inputs::{NetworkOrigin, at_least, latent_code, network_within, positive, save_requested, stored_instance};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale};
use crate::core::objective::Problem;
use crate::core::vector::norm;
use crate::error::{Error, Result};
use crate::landscape::classify::Class;
use crate::landscape::neighbourhoods::{Balls, COARSE_ANGLES, Region, ZOOM_ANGLES, ZOOM_LEVELS, check_tau};
use crate::landscape::origin::{OriginProbe, OriginSummary, origin_check, summarise_origin};
use crate::landscape::probes::{
    Lattice, Plane, ProbePoint, SetKind, plane_points, random_unit, ray_points, shell_points,
};
use crate::landscape::summary::{SetSummary, is_counterexample, is_exception, judge, summarise};
use crate::landscape::{Measured, Settings, Truth, probe};
use crate::limits::{Footprint, check_grid, probe_words};
use crate::report::output::OutputDir;
use crate::report::plot::{Layers, Marker, Outline, Overlay, Panel, heatmap_pair};
use crate::report::{cell_list, progress, widths_label};
use crate::rng::{Stream, standard_normal_vector, stream};

/// The experiment key of every random stream of this command.
const EXPERIMENT: &str = "landscape";
/// Counterexamples listed in the human summary (all are in `counterexamples.csv`).
const LISTED: usize = 20;
/// Vertices of a ball's outline in the plots.
const OUTLINE_VERTICES: usize = 180;

/// Runs `dpr-audit landscape [probe]`.
pub fn run(ctx: &Context, args: LandscapeArgs) -> Result<Outcome> {
    match args.command {
        None => run_probe(ctx, args.probe),
        Some(LandscapeCommand::Probe(probe_args)) => run_probe(ctx, probe_args),
        Some(LandscapeCommand::Census(census_args)) => super::census_cmd::run(ctx, census_args),
        Some(LandscapeCommand::Sweep(sweep_args)) => super::landscape_sweep_cmd::run(ctx, sweep_args),
        Some(LandscapeCommand::Exact(exact_args)) => super::exact_cmd::run(ctx, exact_args),
    }
}

/// The instance descriptors repeated in every row.
#[derive(Clone, Debug, Serialize)]
struct Instance {
    seed: u64,
    source: String,
    widths: String,
    weight_scale: String,
    m: usize,
    measurement_scale: String,
    d: usize,
    k: usize,
    n: usize,
    x0_norm: f64,
    rho_pr: f64,
}

/// One row of `probes.csv` (and of `counterexamples.csv`): one probe point. Every value is an
/// exact evaluation on the instance (f64) or a closed form.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeRow {
    /// Always `exact`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// `random` or the weights file.
    pub source: String,
    /// Widths `k-n_1-…-n_d`.
    pub widths: String,
    /// Weight variance convention.
    pub weight_scale: String,
    /// Measurements m.
    pub m: usize,
    /// How `A` was drawn.
    pub measurement_scale: String,
    /// Depth d.
    pub d: usize,
    /// Latent dimension k.
    pub k: usize,
    /// `‖x0‖`.
    pub x0_norm: f64,
    /// `ρ_d`.
    pub rho_pr: f64,
    /// `τ`.
    pub tau: f64,
    /// Relative tolerance of `critical`.
    pub critical_tol: f64,
    /// Radius of the ball around `x0`.
    pub radius_pos: f64,
    /// Radius of the ball around `−ρ_d x0`.
    pub radius_neg: f64,
    /// Probe set.
    pub set: &'static str,
    /// Slice, ray or shell index.
    pub set_index: usize,
    /// First set coordinate (units of ‖x0‖).
    pub s: f64,
    /// Second set coordinate (grid and slices).
    pub t: Option<f64>,
    /// `x_1` (k ≤ 3).
    pub x_1: Option<f64>,
    /// `x_2` (k ≤ 3).
    pub x_2: Option<f64>,
    /// `x_3` (k = 3).
    pub x_3: Option<f64>,
    /// Every coordinate of `x`, joined by `;` (k > 3 only).
    pub x_all: Option<String>,
    /// `f(x)`.
    pub f: f64,
    /// `F(x)`.
    pub f_expected: f64,
    /// `‖v‖`.
    pub v_norm: f64,
    /// `‖v‖ / (2^{−d} max(‖x‖, ‖x0‖))`.
    pub v_ratio: f64,
    /// `‖h‖` (empty at 0).
    pub h_norm: Option<f64>,
    /// `D_{−v} f(x)`.
    pub dd_neg_v: f64,
    /// `D_{−v} f(x) / ‖v‖` (empty when v = 0).
    pub dd_neg_v_unit: Option<f64>,
    /// `‖x‖`.
    pub x_norm: f64,
    /// `‖x − x0‖`.
    pub dist_x0: f64,
    /// `‖x + ρ_d x0‖`.
    pub dist_neg: f64,
    /// `∠(x, x0)` (empty at 0).
    pub angle_x0: Option<f64>,
    /// `descent`, `no_descent`, `critical`.
    pub class: &'static str,
    /// `‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`.
    pub exceptional: bool,
    /// `origin`, `ball_pos`, `ball_neg`, `outside`.
    pub region: &'static str,
    /// `no_descent` outside both balls.
    pub counterexample: bool,
}

/// One row of `summary.csv`: the judgement of one probe set, or of `all`.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    /// `exact` (counts; the empirical radii are maxima over the probes, lower bounds on the
    /// extent of the true set).
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Measurements m.
    pub m: usize,
    /// Depth d.
    pub d: usize,
    /// Latent dimension k.
    pub k: usize,
    /// `‖x0‖`.
    pub x0_norm: f64,
    /// `τ`.
    pub tau: f64,
    /// Margin.
    pub margin: f64,
    /// Extent of `S_τ` around `x0`.
    pub extent_pos: f64,
    /// Extent of `S_τ` around `−ρ_d x0`.
    pub extent_neg: f64,
    /// Ball radius around `x0`.
    pub radius_pos: f64,
    /// Ball radius around `−ρ_d x0`.
    pub radius_neg: f64,
    /// Set name or `all`.
    pub set: &'static str,
    /// Points.
    pub points: usize,
    /// `descent` points.
    pub descent: usize,
    /// `no_descent` points.
    pub no_descent: usize,
    /// `critical` points.
    pub critical: usize,
    /// Points at the origin.
    pub origin_points: usize,
    /// Points with `‖v‖ ≤ τ·scale`.
    pub exceptional: usize,
    /// Points in the ball around `x0`.
    pub in_ball_pos: usize,
    /// Points in the ball around `−ρ_d x0`.
    pub in_ball_neg: usize,
    /// `no_descent` points outside both balls.
    pub counterexamples: usize,
    /// `critical` points outside both balls.
    pub critical_outside: usize,
    /// `exceptional` points outside both balls.
    pub exceptional_outside: usize,
    /// Smallest `v_ratio` outside both balls.
    pub min_v_ratio_outside: Option<f64>,
    /// Mean `|f − F| / F(0)`.
    pub mean_f_gap: f64,
    /// Empirical radius around `x0` (empty: no such point).
    pub empirical_radius_pos: Option<f64>,
    /// Empirical radius around `−ρ_d x0`.
    pub empirical_radius_neg: Option<f64>,
    /// Points behind the empirical radius around `x0`.
    pub empirical_points_pos: usize,
    /// Points behind the empirical radius around `−ρ_d x0`.
    pub empirical_points_neg: usize,
}

/// One row of `origin.csv`: one direction of the origin check.
#[derive(Clone, Debug, Serialize)]
pub struct OriginRow {
    /// Always `exact`.
    pub kind: &'static str,
    /// Master seed.
    pub seed: u64,
    /// Widths.
    pub widths: String,
    /// Measurements m.
    pub m: usize,
    /// Direction index.
    pub direction: usize,
    /// The unit direction `u` (entries joined by `;`).
    pub u: String,
    /// `D_u f(0)`.
    pub dd_origin: f64,
    /// `−Σ_j |⟨a_j, G(u)⟩| b_j`.
    pub dd_origin_closed_form: Option<f64>,
    /// `D_u f(0) < 0`.
    pub decreases: bool,
}

fn validate(args: &LandscapeProbeArgs) -> Result<Lattice> {
    at_least("--m", args.m, 1, "give at least one measurement, e.g. --m 200")?;
    check_grid("--grid", args.grid)?;
    let lattice = Lattice::new(args.grid, args.range)?;
    at_least("--slices", args.slices, 1, "probe at least one slice, e.g. --slices 1")?;
    if args.rays > 0 {
        at_least(
            "--ray-points",
            args.ray_points,
            1,
            "each ray needs at least one point, e.g. --ray-points 50",
        )?;
    }
    if let Some(radii) = &args.shells {
        if let Some(&bad) = radii.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(Error::param(
                "--shells",
                bad,
                "every shell radius must be a finite number greater than 0 (units of ‖x0‖), e.g. --shells 0.1,0.5",
            ));
        }
        at_least(
            "--shell-points",
            args.shell_points,
            1,
            "each shell needs at least one point, e.g. --shell-points 200",
        )?;
    }
    check_tau(args.tau)?;
    positive("--margin", args.margin)?;
    for (name, radius) in [("--radius-pos", args.radius_pos), ("--radius-neg", args.radius_neg)] {
        if let Some(r) = radius {
            positive(name, r)?;
        }
    }
    if !(args.critical_tol.is_finite() && args.critical_tol >= 0.0) {
        return Err(Error::param(
            "--critical-tol",
            args.critical_tol,
            "give a finite tolerance of at least 0, e.g. --critical-tol 1e-10",
        ));
    }
    at_least(
        "--origin-directions",
        args.origin_directions,
        1,
        "test at least one direction at the origin, e.g. --origin-directions 100",
    )?;
    Ok(lattice)
}

/// `A` with the chosen variance, probed in the theorem's `N(0, 1/m)` scaling.
pub(super) fn measurements(seed: u64, m: usize, n: usize, scale_kind: MeasurementScale) -> Measurements {
    Measurements::gaussian(m, n, scale_kind, &mut stream(seed, EXPERIMENT, 0, Stream::Measurements)).normalized()
}

/// The truth: `--x0` (checked against `k`) or `N(0, I_k)` from the seed.
pub(super) fn truth_code(x0: &Option<Vec<f64>>, seed: u64, k: usize) -> Result<Vec<f64>> {
    match x0 {
        Some(x0) => {
            latent_code("--x0", x0, k, true)?;
            Ok(x0.clone())
        }
        None => Ok(standard_normal_vector(
            &mut stream(seed, EXPERIMENT, 0, Stream::Truth),
            k,
        )),
    }
}

/// A 2-D probe set: the grid or one slice, with its index and its plane.
pub struct PlaneSet {
    /// `grid` or `slice`.
    pub kind: SetKind,
    /// Index among the sets of its kind.
    pub index: usize,
    /// The plane.
    pub plane: Plane,
}

impl PlaneSet {
    /// The file name of its figure.
    fn figure_name(&self) -> String {
        match self.kind {
            SetKind::Grid => "grid.png".into(),
            _ => format!("{}_{}.png", self.kind.name(), self.index),
        }
    }
}

/// The 2-D sets: the grid (k = 2) and the slices, each with its plane.
fn planes(args: &LandscapeProbeArgs, seed: u64, x0: &[f64]) -> Result<Vec<PlaneSet>> {
    let k = x0.len();
    let mut out = Vec::new();
    if k == 2 {
        out.push(PlaneSet {
            kind: SetKind::Grid,
            index: 0,
            plane: Plane::coordinate_axes(norm(x0)),
        });
    }
    let slice = |index: usize, plane: Plane| PlaneSet {
        kind: SetKind::Slice,
        index,
        plane,
    };
    match &args.plane {
        Some(direction) => {
            latent_code("--plane", direction, k, false)?;
            out.push(slice(0, Plane::through_truth(x0, direction)?));
        }
        None if k > 2 => {
            for i in 0..args.slices {
                let u = random_unit(k, &mut stream(seed, "landscape/slice", i as u64, Stream::Probe));
                out.push(slice(i, Plane::through_truth(x0, &u)?));
            }
        }
        None => {}
    }
    Ok(out)
}

/// `count` random unit directions of `R^k` from one stream.
fn directions(seed: u64, key: &str, trial: u64, count: usize, k: usize) -> Vec<Vec<f64>> {
    let mut rng = stream(seed, key, trial, Stream::Probe);
    (0..count).map(|_| random_unit(k, &mut rng)).collect()
}

/// Every probe point, in output order: grid, slices, rays, shells around `x0`, shells around
/// `−ρ_d x0`.
fn probe_points(
    args: &LandscapeProbeArgs,
    seed: u64,
    lattice: &Lattice,
    truth: &Truth,
    planes: &[PlaneSet],
) -> Vec<ProbePoint> {
    let k = truth.x0.len();
    let mut points = Vec::new();
    for set in planes {
        points.extend(plane_points(&set.plane, lattice, set.kind, set.index));
    }
    if args.rays > 0 {
        let dirs = directions(seed, "landscape/rays", 0, args.rays, k);
        points.extend(ray_points(&dirs, truth.norm, lattice.range, args.ray_points));
    }
    if let Some(radii) = &args.shells {
        for (kind, centre, key) in [
            (SetKind::ShellPos, &truth.x0, "landscape/shell_pos"),
            (SetKind::ShellNeg, &truth.neg, "landscape/shell_neg"),
        ] {
            let dirs: Vec<Vec<Vec<f64>>> = (0..radii.len())
                .map(|l| directions(seed, key, l as u64, args.shell_points, k))
                .collect();
            points.extend(shell_points(kind, centre, truth.norm, radii, &dirs));
        }
    }
    points
}

fn probe_row(
    inst: &Instance,
    settings: &Settings,
    balls: &Balls,
    (p, m, region): (&ProbePoint, &Measured, Region),
) -> ProbeRow {
    let coord = |i: usize| (inst.k <= 3).then(|| p.x.get(i).copied()).flatten();
    ProbeRow {
        kind: "exact",
        seed: inst.seed,
        source: inst.source.clone(),
        widths: inst.widths.clone(),
        weight_scale: inst.weight_scale.clone(),
        m: inst.m,
        measurement_scale: inst.measurement_scale.clone(),
        d: inst.d,
        k: inst.k,
        x0_norm: inst.x0_norm,
        rho_pr: inst.rho_pr,
        tau: settings.tau,
        critical_tol: settings.critical_tol,
        radius_pos: balls.radius_pos,
        radius_neg: balls.radius_neg,
        set: p.set.name(),
        set_index: p.set_index,
        s: p.s,
        t: p.t,
        x_1: coord(0),
        x_2: coord(1),
        x_3: coord(2),
        x_all: (inst.k > 3).then(|| cell_list(&p.x)),
        f: m.value,
        f_expected: m.expected_value,
        v_norm: m.v_norm,
        v_ratio: m.v_ratio,
        h_norm: m.h_norm,
        dd_neg_v: m.derivative,
        dd_neg_v_unit: m.derivative_per_v_norm(),
        x_norm: m.x_norm,
        dist_x0: m.dist_pos,
        dist_neg: m.dist_neg,
        angle_x0: m.angle,
        class: m.class.name(),
        exceptional: m.exceptional,
        region: region.name(),
        counterexample: is_counterexample(m, region),
    }
}

fn summary_row(inst: &Instance, balls: &Balls, s: &SetSummary) -> SummaryRow {
    SummaryRow {
        kind: "exact",
        seed: inst.seed,
        widths: inst.widths.clone(),
        m: inst.m,
        d: inst.d,
        k: inst.k,
        x0_norm: inst.x0_norm,
        tau: balls.tau,
        margin: balls.margin,
        extent_pos: balls.extents.pos,
        extent_neg: balls.extents.neg,
        radius_pos: balls.radius_pos,
        radius_neg: balls.radius_neg,
        set: s.set,
        points: s.points,
        descent: s.counts.descent,
        no_descent: s.counts.no_descent,
        critical: s.counts.critical,
        origin_points: s.origin_points,
        exceptional: s.exceptional,
        in_ball_pos: s.in_ball_pos,
        in_ball_neg: s.in_ball_neg,
        counterexamples: s.counterexamples,
        critical_outside: s.critical_outside,
        exceptional_outside: s.exceptional_outside,
        min_v_ratio_outside: s.min_v_ratio_outside,
        mean_f_gap: s.mean_f_gap,
        empirical_radius_pos: s.empirical.pos,
        empirical_radius_neg: s.empirical.neg,
        empirical_points_pos: s.empirical.points_pos,
        empirical_points_neg: s.empirical.points_neg,
    }
}

/// The instance and everything fixed before any probe is evaluated (the balls included).
struct Prepared {
    inst: Instance,
    problem: Problem,
    truth: Truth,
    lattice: Lattice,
    planes: Vec<PlaneSet>,
    points: Vec<ProbePoint>,
    balls: Balls,
    settings: Settings,
    origin_dirs: Vec<Vec<f64>>,
    violations: Vec<String>,
}

/// The memory of a probe on a network of these widths: the weights, `A`, every probe point with
/// its row (grid and slices, rays, shells) and the origin's directions.
fn footprint(args: &LandscapeProbeArgs, widths: &[usize]) -> Footprint {
    let k = widths.first().copied().unwrap_or(0);
    let shells = args.shells.as_ref().map_or(0, Vec::len) as f64;
    Footprint::new()
        .network("--widths", widths)
        .measurements("--m", args.m, widths)
        .words(
            "--grid",
            args.grid,
            "the grid's points",
            probe_words((args.grid as f64).powi(2), k),
        )
        .words(
            "--slices",
            args.slices,
            "the slices' points",
            probe_words(args.slices as f64 * (args.grid as f64).powi(2), k),
        )
        .words(
            if args.ray_points > args.rays {
                "--ray-points"
            } else {
                "--rays"
            },
            args.rays.max(args.ray_points),
            "the ray points",
            probe_words(args.rays as f64 * args.ray_points as f64, k),
        )
        .words(
            "--shell-points",
            args.shell_points,
            "the shell points",
            probe_words(2.0 * shells * args.shell_points as f64, k),
        )
        .words(
            "--origin-directions",
            args.origin_directions,
            "the origin's directions",
            probe_words(args.origin_directions as f64, k),
        )
}

/// The network of `source`, checked against the memory budget with `footprint`. Random
/// N(0, 1) weights are probed in the N(0, 1/n_i) scaling, as a unit A is (`measurements`).
pub(super) fn probed_network(
    ctx: &Context,
    source: &NetworkSource,
    footprint: impl Fn(&[usize]) -> Footprint,
) -> Result<(Network, NetworkOrigin)> {
    let (net, origin) = network_within(source, &ctx.budget, footprint, (ctx.seed, EXPERIMENT, 0))?;
    let net = match (&source.widths, source.weight_scale) {
        (Some(_), WeightScale::Unit) => net.unit_to_normalized(),
        _ => net,
    };
    Ok((net, origin))
}

/// The landscape audit probes 2-D sets: it needs `k ≥ 2`.
fn check_latent_dimension(k: usize) -> Result<()> {
    if k < 2 {
        return Err(Error::param(
            "latent dimension k",
            k,
            "the landscape audit needs k ≥ 2 (a 2-D grid or slice); use a network with at least 2 inputs",
        ));
    }
    Ok(())
}

/// Validates the options, builds the instance and the probe sets, and fixes the balls.
fn prepare(ctx: &Context, args: &LandscapeProbeArgs) -> Result<Prepared> {
    let lattice = validate(args)?;
    let (problem, x0, origin, scale_name) =
        match stored_instance(args.instance.as_deref(), &ctx.budget, |w| footprint(args, w))? {
            Some((loaded, origin)) => {
                check_latent_dimension(loaded.problem.net.latent_dim())?;
                let scale = loaded.problem.meas.scale.name();
                (loaded.problem, loaded.x0, origin, scale)
            }
            None => {
                let (net, origin) = probed_network(ctx, &args.source, |w| footprint(args, w))?;
                check_latent_dimension(net.latent_dim())?;
                let x0 = truth_code(&args.x0, ctx.seed, net.latent_dim())?;
                let meas = measurements(ctx.seed, args.m, net.output_dim(), args.measurement_scale);
                let problem = Problem::noiseless(net, meas, &x0);
                (problem, x0, origin, args.measurement_scale.name())
            }
        };
    let (d, k) = (problem.net.depth(), problem.net.latent_dim());
    let truth = Truth::new(&x0, d);
    let planes = planes(args, ctx.seed, &x0)?;
    let violations = problem.net.theory_violations();
    problem.check_finite("--x0", &x0)?;
    let points = probe_points(args, ctx.seed, &lattice, &truth, &planes);
    let balls = Balls::new(d, truth.norm, args.tau, args.margin, (args.radius_pos, args.radius_neg));
    let inst = Instance {
        seed: ctx.seed,
        source: origin.source,
        widths: widths_label(&problem.net.widths()),
        weight_scale: origin.weight_scale,
        m: problem.b.len(),
        measurement_scale: scale_name.to_string(),
        d,
        k,
        n: problem.net.output_dim(),
        x0_norm: truth.norm,
        rho_pr: truth.rho,
    };
    Ok(Prepared {
        inst,
        problem,
        truth,
        lattice,
        planes,
        points,
        balls,
        settings: Settings {
            tau: args.tau,
            critical_tol: args.critical_tol,
        },
        origin_dirs: directions(ctx.seed, "landscape/origin", 0, args.origin_directions, k),
        violations,
    })
}

/// The measurements and their judgement against the balls fixed beforehand.
struct Evaluated {
    results: Vec<Measured>,
    regions: Vec<Region>,
    summaries: Vec<SetSummary>,
    origin_probes: Vec<OriginProbe>,
    origin_summary: OriginSummary,
}

/// Evaluates every probe point and origin direction (in parallel), then judges them.
fn evaluate(ctx: &Context, prep: &Prepared) -> Evaluated {
    let bar = progress::bar(
        (prep.points.len() + prep.origin_dirs.len()) as u64,
        "landscape",
        ctx.quiet,
    );
    let results = probe(&prep.problem, &prep.truth, &prep.points, &prep.settings, &|| bar.inc(1));
    let origin_probes = origin_check(&prep.problem, &prep.origin_dirs);
    bar.finish_and_clear();
    let regions = judge(&results, &prep.balls);
    let summaries = summarise(&prep.points, &results, &regions, &prep.truth);
    let origin_summary = summarise_origin(&origin_probes);
    Evaluated {
        results,
        regions,
        summaries,
        origin_probes,
        origin_summary,
    }
}

/// Runs the probe audit: prepare (instance, probes, balls), evaluate, report.
fn run_probe(ctx: &Context, args: LandscapeProbeArgs) -> Result<Outcome> {
    let prep = prepare(ctx, &args)?;
    let ev = evaluate(ctx, &prep);
    let (inst, truth, balls) = (&prep.inst, &prep.truth, &prep.balls);
    let triples = || {
        prep.points
            .iter()
            .zip(&ev.results)
            .zip(ev.regions.iter().copied())
            .map(|((p, m), r)| (p, m, r))
    };
    let row = |t| probe_row(inst, &prep.settings, balls, t);
    let rows: Vec<ProbeRow> = triples().map(row).collect();
    let exceptions: Vec<(&ProbePoint, ProbeRow)> = triples()
        .filter(|(_, m, r)| is_exception(m, *r))
        .map(|t| (t.0, row(t)))
        .collect();
    let exception_rows: Vec<&ProbeRow> = exceptions.iter().map(|(_, r)| r).collect();

    let out = ctx.create_out(&ctx.out_dir("landscape"))?;
    out.write_csv("probes.csv", &rows)?;
    write_csv_or_header(&out, "counterexamples.csv", &exception_rows, &&rows[0])?;
    let summary_rows: Vec<SummaryRow> = ev.summaries.iter().map(|s| summary_row(inst, balls, s)).collect();
    out.write_csv("summary.csv", &summary_rows)?;
    let origin_rows: Vec<OriginRow> = (prep.origin_dirs.iter().zip(&ev.origin_probes).enumerate())
        .map(|(i, (u, o))| origin_row(inst, i, u, o))
        .collect();
    out.write_csv("origin.csv", &origin_rows)?;
    let figures = Figures {
        inst,
        truth,
        balls,
        lattice: &prep.lattice,
    };
    for set in &prep.planes {
        let selected: Vec<(&ProbePoint, &Measured, Region)> = triples()
            .filter(|(p, _, _)| p.set == set.kind && p.set_index == set.index)
            .collect();
        figures.draw(&out, &set.figure_name(), set.kind, &set.plane, &selected)?;
    }
    let mut json = summary_json(
        inst,
        truth,
        balls,
        &args,
        &prep.planes,
        &ev.summaries,
        &ev.origin_summary,
    )?;
    let points_json = |counterexample: bool| -> Vec<serde_json::Value> {
        (exceptions.iter().filter(|(_, r)| r.counterexample == counterexample))
            .map(|(p, r)| point_json(p, r))
            .collect()
    };
    json["counterexample_points"] = serde_json::Value::Array(points_json(true));
    json["critical_outside_points"] = serde_json::Value::Array(points_json(false));
    out.write_json("summary.json", &json)?;
    let origin = NetworkOrigin {
        source: inst.source.clone(),
        weight_scale: inst.weight_scale.clone(),
    };
    save_requested(
        args.save_instance.as_deref(),
        (ctx.seed, "landscape"),
        &origin,
        &prep.problem,
        &truth.x0,
    )?;
    let dir = ctx.finish(out, "landscape", &args)?;
    json["out"] = serde_json::to_value(&dir)?;
    let human = human_summary(
        inst,
        truth,
        balls,
        &ev.summaries,
        &ev.origin_summary,
        &exception_rows,
        &prep.violations,
        &dir,
    );
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// Writes `rows` as CSV; with no rows, writes the header `template` would give, so that an
/// empty result still names its columns.
fn write_csv_or_header<T: Serialize>(out: &OutputDir, name: &str, rows: &[T], template: &T) -> Result<()> {
    if !rows.is_empty() {
        return out.write_csv(name, rows);
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(template)?;
    let bytes = writer.into_inner().map_err(|e| Error::Output {
        path: out.file(name),
        source: e.into_error(),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    out.write_text(name, &format!("{}\n", text.lines().next().unwrap_or_default()))
}

fn origin_row(inst: &Instance, direction: usize, u: &[f64], o: &OriginProbe) -> OriginRow {
    OriginRow {
        kind: "exact",
        seed: inst.seed,
        widths: inst.widths.clone(),
        m: inst.m,
        direction,
        u: cell_list(u),
        dd_origin: o.derivative,
        dd_origin_closed_form: o.closed_form,
        decreases: o.derivative < 0.0,
    }
}

/// A point of `counterexample_points` / `critical_outside_points` in the JSON summary.
fn point_json(p: &ProbePoint, r: &ProbeRow) -> serde_json::Value {
    serde_json::json!({
        "set": r.set, "set_index": r.set_index, "s": r.s, "t": r.t, "x": p.x,
        "class": r.class, "dd_neg_v": r.dd_neg_v, "dd_neg_v_unit": r.dd_neg_v_unit, "v_norm": r.v_norm,
        "f": r.f, "dist_x0": r.dist_x0, "dist_neg": r.dist_neg, "angle_x0": r.angle_x0,
    })
}

/// Adds the entries of the JSON object `from` to the object `into`.
fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// The JSON summary (also `summary.json`), without the point lists.
fn summary_json(
    inst: &Instance,
    truth: &Truth,
    balls: &Balls,
    args: &LandscapeProbeArgs,
    planes: &[PlaneSet],
    summaries: &[SetSummary],
    origin: &OriginSummary,
) -> Result<serde_json::Value> {
    let all = summaries.last().expect("summarise always ends with `all`");
    let planes: Vec<serde_json::Value> = planes
        .iter()
        .map(|s| serde_json::json!({"set": s.kind.name(), "set_index": s.index, "e1": s.plane.e1, "e2": s.plane.e2, "unit": s.plane.unit}))
        .collect();
    let mut json = serde_json::json!({ "command": "landscape", "kind": "exact" });
    merge(&mut json, serde_json::to_value(inst)?);
    merge(
        &mut json,
        serde_json::json!({
            "x0": truth.x0, "planes": planes, "grid": args.grid, "range": args.range,
            "points": all.points, "counts": all.counts, "origin_points": all.origin_points,
            "exceptional_points": all.exceptional, "critical_tol": args.critical_tol,
        }),
    );
    merge(
        &mut json,
        serde_json::json!({
            "tau": balls.tau, "margin": balls.margin,
            "extent_pos": balls.extents.pos, "extent_neg": balls.extents.neg,
            "extent_method": format!(
                "exact intervals of S_tau on each ray (closed form in |x|), max over angles: {COARSE_ANGLES} angles \
                 on [0, pi], then {ZOOM_LEVELS} zooms of {ZOOM_ANGLES} angles"
            ),
            "ball_radius_pos": balls.radius_pos, "ball_radius_neg": balls.radius_neg,
            "ball_radius_pos_given": balls.given_pos, "ball_radius_neg_given": balls.given_neg,
        }),
    );
    merge(
        &mut json,
        serde_json::json!({
            "empirical_radius_kind": "lower_bound (largest distance over the probe points)",
            "empirical_radius_pos": all.empirical.pos, "empirical_radius_neg": all.empirical.neg,
            "empirical_points_pos": all.empirical.points_pos, "empirical_points_neg": all.empirical.points_neg,
            "counterexamples": all.counterexamples, "critical_outside": all.critical_outside,
            "exceptional_outside": all.exceptional_outside, "min_v_ratio_outside": all.min_v_ratio_outside,
            "mean_f_gap": all.mean_f_gap, "origin_check": origin,
            "claim_holds": all.counterexamples == 0 && all.critical_outside == 0 && origin.holds,
            "per_set": summaries,
        }),
    );
    Ok(json)
}

#[allow(clippy::too_many_arguments)]
fn human_summary(
    inst: &Instance,
    truth: &Truth,
    balls: &Balls,
    summaries: &[SetSummary],
    origin: &OriginSummary,
    exceptions: &[&ProbeRow],
    violations: &[String],
    dir: &std::path::Path,
) -> String {
    let mut h = format!(
        "landscape of {} network {} (weights {}), A: {} × {} ({}), d = {}, k = {} → {}\n  \
         x0 = ({}), ‖x0‖ = {:.6}, ρ_d = {:.10}; every value is an exact evaluation on this instance\n",
        inst.source,
        inst.widths,
        inst.weight_scale,
        inst.m,
        inst.n,
        inst.measurement_scale,
        inst.d,
        inst.k,
        dir.display(),
        truth
            .x0
            .iter()
            .map(|v| format!("{v:.6}"))
            .collect::<Vec<_>>()
            .join(", "),
        truth.norm,
        truth.rho,
    );
    if !violations.is_empty() {
        h += &format!(
            "  warning: not a bias-free ReLU network ({}); Theorem II.1 and F assume one\n",
            violations.join("; ")
        );
    }
    let source = |given: bool, extent: f64| {
        if given {
            "given".to_string()
        } else {
            format!("{} × extent {extent:.6}", balls.margin)
        }
    };
    h += &format!(
        "  balls (fixed before probing, from S_τ with τ = {}): radius {:.6} around x0 ({}), {:.6} around −ρ_d x0 ({})\n",
        balls.tau,
        balls.radius_pos,
        source(balls.given_pos, balls.extents.pos),
        balls.radius_neg,
        source(balls.given_neg, balls.extents.neg),
    );
    h += "  set        points  descent  no_descent  critical  origin  ball_pos  ball_neg  counterexamples  critical_outside  emp_radius_pos  emp_radius_neg\n";
    let radius = |r: Option<f64>| r.map_or_else(|| "none".to_string(), |r| format!("{r:.6}"));
    for s in summaries {
        h += &format!(
            "  {:<9}  {:>6}  {:>7}  {:>10}  {:>8}  {:>6}  {:>8}  {:>8}  {:>15}  {:>16}  {:>14}  {:>14}\n",
            s.set,
            s.points,
            s.counts.descent,
            s.counts.no_descent,
            s.counts.critical,
            s.origin_points,
            s.in_ball_pos,
            s.in_ball_neg,
            s.counterexamples,
            s.critical_outside,
            radius(s.empirical.pos),
            radius(s.empirical.neg),
        );
    }
    let all = summaries.last().expect("summarise always ends with `all`");
    h += &format!(
        "  empirical radii (largest distance of a probe point without strict descent or with ‖v‖ ≤ τ·2^-d·max(‖x‖,‖x0‖), \
         nearer centre; lower bounds at the probes' resolution): {} around x0, {} around −ρ_d x0; balls {:.6}, {:.6}\n",
        radius(all.empirical.pos),
        radius(all.empirical.neg),
        balls.radius_pos,
        balls.radius_neg,
    );
    h += &format!(
        "  counterexamples (no_descent outside both balls, not the origin): {}; critical points outside the balls: {}\n",
        all.counterexamples, all.critical_outside
    );
    h += &format!(
        "  outside both balls: {} points with ‖v‖ ≤ τ·2^-d·max(‖x‖,‖x0‖) (nearly flat, not counterexamples); \
         smallest ‖v‖/(2^-d·max(‖x‖,‖x0‖)) = {}\n  mean |f − F|/F(0) over the probes: {:.4e}\n",
        all.exceptional_outside,
        all.min_v_ratio_outside
            .map_or_else(|| "none (no point outside)".into(), |r| format!("{r:.4e}")),
        all.mean_f_gap,
    );
    for r in exceptions.iter().take(LISTED) {
        h += &format!(
            "    {} {} {}  s = {:.4}{}  x = ({})  D_-v f = {:.3e}  ‖v‖ = {:.3e}  dist to x0 {:.4}, to −ρ_d x0 {:.4}\n",
            r.class,
            r.set,
            r.set_index,
            r.s,
            r.t.map_or_else(String::new, |t| format!(", t = {t:.4}")),
            [r.x_1, r.x_2, r.x_3]
                .iter()
                .flatten()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            r.dd_neg_v,
            r.v_norm,
            r.dist_x0,
            r.dist_neg,
        );
    }
    if exceptions.len() > LISTED {
        h += &format!("    … {} more in counterexamples.csv\n", exceptions.len() - LISTED);
    }
    h += &format!(
        "  origin: D_u f(0) < 0 (exact one-sided derivative) for {}/{} random unit directions, largest {}{}\n",
        origin.descent,
        origin.directions,
        origin
            .max_derivative
            .map_or_else(|| "none".into(), |v| format!("{v:.6e}")),
        origin.max_closed_form_gap.map_or_else(String::new, |g| format!(
            "; closed form −Σ|a_jᵀG(u)| b_j agrees to {g:.1e} (relative)"
        )),
    );
    let holds = all.counterexamples == 0 && all.critical_outside == 0 && origin.holds;
    h += &format!(
        "  claim on this instance and these probes: {}\n",
        if holds {
            "HOLDS (no counterexample found; the probes can refute the claim, never prove it)"
        } else {
            "FAILS (see the counterexamples above)"
        }
    );
    h
}

/// Draws the heat-map pairs of the 2-D sets.
struct Figures<'a> {
    inst: &'a Instance,
    truth: &'a Truth,
    balls: &'a Balls,
    lattice: &'a Lattice,
}

impl Figures<'_> {
    /// `f` and `F` side by side on one plane, with the classes, the balls and the centres.
    fn draw(
        &self,
        out: &OutputDir,
        name: &str,
        kind: SetKind,
        plane: &Plane,
        selected: &[(&ProbePoint, &Measured, Region)],
    ) -> Result<()> {
        let axis = self.lattice.axis();
        let f: Vec<f64> = selected.iter().map(|(_, m, _)| m.value).collect();
        let big_f: Vec<f64> = selected.iter().map(|(_, m, _)| m.expected_value).collect();
        let st = |p: &ProbePoint| (p.s, p.t.unwrap_or(0.0));
        let overlay = |label: &str, keep: &dyn Fn(&Measured, Region) -> bool| Overlay {
            label: label.into(),
            points: selected
                .iter()
                .filter(|(_, m, r)| keep(m, *r))
                .map(|(p, _, _)| st(p))
                .collect(),
        };
        let overlays = [
            overlay("counterexample: no_descent outside both balls", &|m, r| {
                is_counterexample(m, r)
            }),
            overlay("no_descent inside a ball", &|m, r| {
                m.class == Class::NoDescent && r != Region::Outside
            }),
            overlay("critical (v = 0 within tolerance)", &|m, _| m.class == Class::Critical),
            overlay("exceptional (|v| <= tau 2^-d max(|x|, |x0|))", &|m, _| {
                m.exceptional && m.class == Class::Descent
            }),
        ];
        let centre_pos = plane.coordinates(&self.truth.x0);
        let centre_neg = plane.coordinates(&self.truth.neg);
        let outlines = [
            circle("ball around x0", centre_pos, self.balls.radius_pos / self.truth.norm),
            circle(
                "ball around -rho_d x0",
                centre_neg,
                self.balls.radius_neg / self.truth.norm,
            ),
        ];
        let r = self.lattice.range;
        let markers: Vec<Marker> = [("x0", centre_pos), ("-rho_d x0", centre_neg), ("0", (0.0, 0.0))]
            .into_iter()
            .filter(|(_, (x, y))| x.abs() <= r && y.abs() <= r)
            .map(|(label, (x, y))| Marker {
                label: label.into(),
                x,
                y,
            })
            .collect();
        let (x_label, y_label) = match kind {
            SetKind::Grid => ("x_1 (units of |x0|)", "x_2 (units of |x0|)"),
            _ => ("s (along x0, units of |x0|)", "t (along e ⊥ x0, units of |x0|)"),
        };
        let title = format!(
            "{} — widths {}, m = {}, seed {}",
            name.trim_end_matches(".png"),
            self.inst.widths,
            self.inst.m,
            self.inst.seed
        );
        let layers = Layers {
            markers: &markers,
            overlays: &overlays,
            outlines: &outlines,
        };
        let panels = [
            Panel {
                title: "f (empirical)",
                value_label: "f(x) (units of b²)",
                values: &f,
            },
            Panel {
                title: "F (expected, closed form)",
                value_label: "F(x) (units of b²)",
                values: &big_f,
            },
        ];
        heatmap_pair(&out.file(name), &title, x_label, y_label, &axis, &axis, panels, &layers)
    }
}

/// The circle of radius `r` around `c` as a closed polyline.
fn circle(label: &str, c: (f64, f64), r: f64) -> Outline {
    Outline {
        label: label.into(),
        points: (0..=OUTLINE_VERTICES)
            .map(|i| {
                let a = std::f64::consts::TAU * i as f64 / OUTLINE_VERTICES as f64;
                (c.0 + r * a.cos(), c.1 + r * a.sin())
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_closes() {
        let c = circle("c", (1.0, -0.5), 0.25);
        let (first, last) = (c.points[0], c.points[OUTLINE_VERTICES]);
        assert!((first.0 - last.0).abs() < 1e-15 && (first.1 - last.1).abs() < 1e-15);
        assert!(
            c.points
                .iter()
                .all(|p| ((p.0 - 1.0).hypot(p.1 + 0.5) - 0.25).abs() < 1e-15)
        );
    }
}
