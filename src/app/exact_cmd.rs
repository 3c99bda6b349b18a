//! `dpr-audit landscape exact`: every critical point of `f` on a `k = 2` instance, exactly
//! (docs/THEORY.md §13; the study is [`crate::landscape::exact`]).
//!
//! The instance is built as `landscape` builds it (experiment `"landscape"`, trial 0: the
//! network, `A` and `x0` from the same streams), so `landscape exact` and `landscape` with the
//! same seed and options see the same instance. The WDC lower bound behind the `K₂` estimates
//! comes from `Stream::Probe` of experiment `landscape/wdc`.

use serde::Serialize;

use super::cli::LandscapeExactArgs;
use super::context::{Context, Outcome};
use super::inputs::{NetworkOrigin, at_least, positive, save_requested, stored_instance};
use super::landscape_cmd::{measurements, probed_network, truth_code};
use crate::core::objective::Problem;
use crate::error::{Error, Result};
use crate::landscape::Truth;
use crate::landscape::exact::critical::PointType;
use crate::landscape::exact::sweep::wdc_lower_bound;
use crate::landscape::exact::{CriticalPoint, ExactLandscape, check_instance, exact_landscape};
use crate::landscape::neighbourhoods::check_tau;
use crate::limits::{Footprint, check_grid, exact_enumeration_words};
use crate::report::output::OutputDir;
use crate::report::plot::{Layers, Marker, Overlay, Panel, Series, heatmap_pair, line_plot_with_dots};
use crate::report::widths_label;

/// Measurements when `--m` is not given (one instance; a sweep uses 4 n_1 per rung).
const DEFAULT_M: usize = 200;
/// Samples of `φ` in the profile plot.
const PROFILE_SAMPLES: usize = 4096;
/// Critical points listed in the human summary (all are in `critical_points.csv`).
const LISTED: usize = 40;

/// The instance descriptors repeated in every row.
#[derive(Clone, Debug, Serialize)]
struct InstanceInfo {
    seed: u64,
    source: String,
    widths: String,
    weight_scale: String,
    m: usize,
    d: usize,
    x0_norm: f64,
    rho_pr: f64,
}

/// One row of `critical_points.csv`: one critical point of `f` (the origin excluded).
#[derive(Clone, Debug, Serialize)]
struct PointRow {
    /// `exact` (closed forms in f64; `status` says whether rounding could change the type).
    kind: &'static str,
    seed: u64,
    source: String,
    widths: String,
    weight_scale: String,
    m: usize,
    d: usize,
    x0_norm: f64,
    rho_pr: f64,
    index: usize,
    #[serde(rename = "type")]
    point_type: &'static str,
    status: &'static str,
    site: String,
    units: String,
    x_1: f64,
    x_2: f64,
    angle: f64,
    arc_end: Option<f64>,
    radius: Option<f64>,
    f: f64,
    phi: f64,
    basin_width: Option<f64>,
    depth: Option<f64>,
    dist_x0: f64,
    dist_neg: f64,
    angle_x0: f64,
    angle_neg_x0: f64,
    f_negated: f64,
    negation_helps: bool,
    margin: f64,
    rounding_bound: f64,
    slope_left: Option<f64>,
    slope_right: Option<f64>,
    pattern_slack: f64,
    h_ratio: Option<f64>,
    in_s_tau: bool,
    spurious: bool,
    /// Upper estimate (ε is a sampled lower bound on the WDC constant).
    k2_upper_estimate: Option<f64>,
}

fn point_row(inst: &InstanceInfo, index: usize, p: &CriticalPoint) -> PointRow {
    PointRow {
        kind: "exact",
        seed: inst.seed,
        source: inst.source.clone(),
        widths: inst.widths.clone(),
        weight_scale: inst.weight_scale.clone(),
        m: inst.m,
        d: inst.d,
        x0_norm: inst.x0_norm,
        rho_pr: inst.rho_pr,
        index,
        point_type: p.kind.name(),
        status: p.status.name(),
        site: p.site.clone(),
        units: p.units.iter().map(ToString::to_string).collect::<Vec<_>>().join(";"),
        x_1: p.x[0],
        x_2: p.x[1],
        angle: p.angle,
        arc_end: p.arc_end,
        radius: p.radius,
        f: p.f,
        phi: p.phi,
        basin_width: p.basin_width,
        depth: p.depth,
        dist_x0: p.dist_x0,
        dist_neg: p.dist_neg,
        angle_x0: p.angle_x0,
        angle_neg_x0: p.angle_neg_x0,
        f_negated: p.f_negated,
        negation_helps: p.negation_helps,
        margin: p.margin,
        rounding_bound: p.rounding_bound,
        slope_left: p.slope_left,
        slope_right: p.slope_right,
        pattern_slack: p.pattern_slack,
        h_ratio: p.h_ratio,
        in_s_tau: p.in_s_tau,
        spurious: p.spurious,
        k2_upper_estimate: p.k2_upper_estimate,
    }
}

/// One row of `sources.csv`: the sector boundaries one layer (or the measurements) adds.
#[derive(Clone, Debug, Serialize)]
struct SourceRow {
    kind: &'static str,
    seed: u64,
    widths: String,
    m: usize,
    source: String,
    breakpoints: usize,
}

/// Validates the options and builds the instance; refuses what the study does not cover.
fn prepare(ctx: &Context, args: &LandscapeExactArgs) -> Result<(Problem, Truth, InstanceInfo, NetworkOrigin)> {
    let m = args.m.unwrap_or(DEFAULT_M);
    at_least("--m", m, 1, "give at least one measurement, e.g. --m 200")?;
    check_tau(args.tau)?;
    at_least(
        "--grid",
        args.grid,
        2,
        "the heat map needs at least 2 points per axis, e.g. --grid 161",
    )?;
    check_grid("--grid", args.grid)?;
    positive("--range", args.range)?;
    let stored = stored_instance(args.instance.as_deref(), &ctx.budget, |w| footprint(args, m, w))?;
    let (problem, x0, origin) = match stored {
        Some((loaded, origin)) => (loaded.problem, loaded.x0, origin),
        None => {
            let (net, origin) = probed_network(ctx, &args.source, |w| footprint(args, m, w))?;
            let k = net.latent_dim();
            if k != 2 {
                return Err(Error::param(
                    "latent dimension k",
                    k,
                    "`landscape exact` enumerates the circle and needs k = 2; for k > 2 use `landscape census`, \
                     whose GD limits carry a certified-minimum status",
                ));
            }
            let x0 = truth_code(&args.x0, ctx.seed, k)?;
            let meas = measurements(ctx.seed, m, net.output_dim(), args.measurement_scale);
            (Problem::noiseless(net, meas, &x0), x0, origin)
        }
    };
    check_instance(&problem)?;
    let d = problem.net.depth();
    let truth = Truth::new(&x0, d);
    let inst = InstanceInfo {
        seed: ctx.seed,
        source: origin.source.clone(),
        widths: widths_label(&problem.net.widths()),
        weight_scale: origin.weight_scale.clone(),
        m: problem.b.len(),
        d,
        x0_norm: truth.norm,
        rho_pr: truth.rho,
    };
    Ok((problem, truth, inst, origin))
}

/// The memory of an exact enumeration on a network of these widths: the weights, `A`, the
/// sectors and blocked products ([`exact_enumeration_words`]) and the heat map's grid.
fn footprint(args: &LandscapeExactArgs, m: usize, widths: &[usize]) -> Footprint {
    Footprint::new()
        .network("--widths", widths)
        .measurements("--m", m, widths)
        .words(
            "--m",
            m,
            "the sectors and the blocked A Λ products",
            exact_enumeration_words(widths, m),
        )
        .words("--grid", args.grid, "the heat map", 4.0 * (args.grid as f64).powi(2))
}

/// Runs `dpr-audit landscape exact`.
pub fn run(ctx: &Context, args: LandscapeExactArgs) -> Result<Outcome> {
    if args.sweep {
        return super::exact_sweep_cmd::run(ctx, &args);
    }
    super::scaleout::refuse_for_single(
        &args.scale_out,
        "one instance is not a study; add --sweep to run the exact landscape over a ladder of widths",
    )?;
    let (problem, truth, inst, origin) = prepare(ctx, &args)?;
    let epsilon = wdc_lower_bound(&problem.net, args.wdc_pairs, (ctx.seed, "landscape/wdc", 0));
    let land = exact_landscape(&problem, &truth, args.tau, epsilon)?;
    let out = ctx.create_out(&ctx.out_dir("landscape-exact"))?;
    let rows: Vec<PointRow> = land
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| point_row(&inst, i, p))
        .collect();
    out.write_csv("critical_points.csv", &rows)?;
    let sources: Vec<SourceRow> = land
        .per_source
        .iter()
        .map(|s| SourceRow {
            kind: "exact",
            seed: inst.seed,
            widths: inst.widths.clone(),
            m: inst.m,
            source: s.source.clone(),
            breakpoints: s.breakpoints,
        })
        .collect();
    out.write_csv("sources.csv", &sources)?;
    draw_profile(&out, &inst, &land)?;
    draw_plane(&out, &inst, &truth, &land, &args)?;
    let mut json = summary_json(&inst, &truth, &land, epsilon)?;
    out.write_json("summary.json", &json)?;
    save_requested(
        args.save_instance.as_deref(),
        (ctx.seed, "landscape exact"),
        &origin,
        &problem,
        &truth.x0,
    )?;
    let dir = ctx.finish(out, "landscape exact", &args)?;
    json["out"] = serde_json::to_value(&dir)?;
    let human = human_summary(&inst, &truth, &land, epsilon, &dir);
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// The JSON summary (also `summary.json`): the study's summary with the instance descriptors.
fn summary_json(
    inst: &InstanceInfo,
    truth: &Truth,
    land: &ExactLandscape,
    epsilon: Option<f64>,
) -> Result<serde_json::Value> {
    let mut json = land.summary(truth, epsilon);
    json["command"] = "landscape exact".into();
    if let (Some(a), serde_json::Value::Object(b)) = (json.as_object_mut(), serde_json::to_value(inst)?) {
        a.extend(b);
    }
    Ok(json)
}

/// `profile.png`: `φ` over the polar angle with the critical points marked.
fn draw_profile(out: &OutputDir, inst: &InstanceInfo, land: &ExactLandscape) -> Result<()> {
    let curve: Vec<(f64, f64)> = (0..=PROFILE_SAMPLES)
        .map(|i| {
            let t = std::f64::consts::TAU * i as f64 / PROFILE_SAMPLES as f64;
            (t, land.profile(t))
        })
        .collect();
    let dots = |kind: PointType, label: &str| Series {
        label: label.into(),
        points: (land.points.iter())
            .filter(|p| p.kind == kind)
            .map(|p| (p.angle, p.phi))
            .collect(),
    };
    line_plot_with_dots(
        &out.file("profile.png"),
        &format!(
            "profile phi = min_r f(r u) — widths {}, m = {}, seed {}",
            inst.widths, inst.m, inst.seed
        ),
        "polar angle of u (rad)",
        "phi(u) = min_r f(r u) (units of b²)",
        &[Series {
            label: "phi".into(),
            points: curve,
        }],
        &[
            dots(PointType::LocalMin, "local minima"),
            dots(PointType::Saddle, "saddles (maxima of phi)"),
            dots(PointType::Flat, "flat cones (start)"),
        ],
    )
}

/// `plane.png`: `f` on the plane (closed form on each sector) with the critical points.
fn draw_plane(
    out: &OutputDir,
    inst: &InstanceInfo,
    truth: &Truth,
    land: &ExactLandscape,
    args: &LandscapeExactArgs,
) -> Result<()> {
    let n = args.grid;
    let axis: Vec<f64> = (0..n)
        .map(|i| -args.range + 2.0 * args.range * i as f64 / (n - 1) as f64)
        .collect();
    let mut values = Vec::with_capacity(n * n);
    let mut logs = Vec::with_capacity(n * n);
    for y in &axis {
        for x in &axis {
            let v = land.value(&[x * truth.norm, y * truth.norm]);
            values.push(v);
            logs.push((v.max(0.0) + 1e-12 * land.f_origin).log10());
        }
    }
    let scaled = |p: &CriticalPoint| (p.x[0] / truth.norm, p.x[1] / truth.norm);
    let overlay = |label: &str, keep: &dyn Fn(&CriticalPoint) -> bool| Overlay {
        label: label.into(),
        points: land.points.iter().filter(|p| keep(p)).map(scaled).collect(),
    };
    let overlays = [
        overlay("spurious local minima", &|p| p.spurious),
        overlay("saddles", &|p| p.kind == PointType::Saddle),
    ];
    let markers: Vec<Marker> = [
        ("x0", (truth.x0[0] / truth.norm, truth.x0[1] / truth.norm)),
        ("-rho_d x0", (truth.neg[0] / truth.norm, truth.neg[1] / truth.norm)),
    ]
    .into_iter()
    .map(|(label, (x, y))| Marker {
        label: label.into(),
        x,
        y,
    })
    .collect();
    let layers = Layers {
        markers: &markers,
        overlays: &overlays,
        outlines: &[],
    };
    heatmap_pair(
        &out.file("plane.png"),
        &format!(
            "f with its critical points — widths {}, m = {}, seed {}",
            inst.widths, inst.m, inst.seed
        ),
        "x_1 (units of |x0|)",
        "x_2 (units of |x0|)",
        &axis,
        &axis,
        [
            Panel {
                title: "f",
                value_label: "f(x) (units of b²)",
                values: &values,
            },
            Panel {
                title: "log10 f",
                value_label: "log10 f(x) (f in units of b²)",
                values: &logs,
            },
        ],
        &layers,
    )
}

fn human_summary(
    inst: &InstanceInfo,
    truth: &Truth,
    land: &ExactLandscape,
    epsilon: Option<f64>,
    dir: &std::path::Path,
) -> String {
    let c = &land.counts;
    let mut h = format!(
        "exact landscape of {} network {} (weights {}), m = {}, d = {} → {}\n  \
         x0 = ({:.6}, {:.6}), ‖x0‖ = {:.6}, ρ_d = {:.10}\n  \
         {} sectors (breakpoints: {}); narrowest {:.3e} rad at {:.6}; {} coincident breakpoints (angle tolerance {:.1e})\n",
        inst.source,
        inst.widths,
        inst.weight_scale,
        inst.m,
        inst.d,
        dir.display(),
        truth.x0[0],
        truth.x0[1],
        truth.norm,
        truth.rho,
        land.sectors,
        land.per_source
            .iter()
            .map(|s| format!("{} {}", s.source, s.breakpoints))
            .collect::<Vec<_>>()
            .join(", "),
        land.narrowest_width,
        land.narrowest_angle,
        land.coincidences,
        land.angle_tolerance,
    );
    h += &format!(
        "  critical points of f besides the origin (a local maximum, f(0) = {:.6e}): {} local minima ({} spurious), \
         {} saddles, {} flat cones; {} undecided; minima at measurement kinks: {}\n",
        land.f_origin, c.local_min, c.spurious_min, c.saddle, c.flat, c.undecided, c.min_at_measurement_kink
    );
    h += &format!(
        "  global minimum: {}; x0 among the minima: {}\n",
        match (land.global_is_x0, land.global_unique) {
            (true, true) => "x0, unique",
            (true, false) => "x0, tied with another minimum",
            (false, _) => "NOT x0",
        },
        land.x0_found
    );
    if let Some(e) = epsilon {
        h += &format!("  WDC ε ≥ {e:.4} (sampled lower bound); K₂ columns are upper estimates\n");
    }
    h += "    #  type       status      site         angle     radius   f            depth       dist_x0  dist_neg  ∠(x,−x0)  f(−x)<f(x)\n";
    for (i, p) in land.points.iter().enumerate().take(LISTED) {
        let opt = |v: Option<f64>, w: usize| v.map_or_else(|| format!("{:>w$}", "—"), |v| format!("{v:>w$.4}"));
        h += &format!(
            "  {:>3}  {:<9}  {:<10}  {:<11}  {:>7.4}  {}  {:>11.4e}  {:>10}  {:>7.4}  {:>8.4}  {:>8.2}°  {}\n",
            i,
            p.kind.name(),
            p.status.name(),
            p.site,
            p.angle,
            opt(p.radius, 7),
            p.f,
            p.depth.map_or_else(|| "—".into(), |d| format!("{d:.3e}")),
            p.dist_x0,
            p.dist_neg,
            p.angle_neg_x0.to_degrees(),
            p.negation_helps,
        );
    }
    if land.points.len() > LISTED {
        h += &format!("    … {} more in critical_points.csv\n", land.points.len() - LISTED);
    }
    h
}
