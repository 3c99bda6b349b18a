//! `dpr-audit expected rho` and `dpr-audit expected landscape`: the closed forms of
//! docs/THEORY.md §3–4 as tables and the paper's Figure 1.

use serde::Serialize;

use super::cli::{ExpectedCommand, ExpectedLandscapeArgs, RhoArgs};
use super::context::{Context, Outcome};
use super::inputs::{at_least, latent_code, positive};
use crate::core::expected::{expected_grid, expected_objective, grid_axis, rho_cs, rho_pr, theta_check};
use crate::core::vector::scale;
use crate::error::Result;
use crate::limits::{Footprint, MemoryBudget, check_depth, check_grid};
use crate::report::plot::{Marker, heatmap};

/// Runs `expected rho` or `expected landscape`.
pub fn run(ctx: &Context, cmd: ExpectedCommand) -> Result<Outcome> {
    match cmd {
        ExpectedCommand::Rho(args) => rho(ctx, args),
        ExpectedCommand::Landscape(args) => landscape(ctx, args),
    }
}

/// One row of `rho.csv` (all exact closed forms, evaluated in f64).
#[derive(Clone, Debug, Serialize)]
pub struct RhoRow {
    /// Depth d.
    pub d: usize,
    /// `θ̌_d`.
    pub theta_check: f64,
    /// `ρ_d^{CS} = cos θ̌_d`.
    pub rho_cs: f64,
    /// `ρ_d = κ(θ̌_d)` (phase retrieval).
    pub rho_pr: f64,
}

/// The ρ_d table for d = 1..d_max.
pub fn rho_table(d_max: usize) -> Vec<RhoRow> {
    (1..=d_max)
        .map(|d| RhoRow {
            d,
            theta_check: theta_check(d),
            rho_cs: rho_cs(d),
            rho_pr: rho_pr(d),
        })
        .collect()
}

fn rho(ctx: &Context, args: RhoArgs) -> Result<Outcome> {
    at_least("--d-max", args.d_max, 1, "give a depth of at least 1, e.g. --d-max 10")?;
    check_depth("--d-max", args.d_max)?;
    let rows = rho_table(args.d_max);
    let out = ctx.create_out(&ctx.out_dir("expected-rho"))?;
    out.write_csv("rho.csv", &rows)?;
    let dir = ctx.finish(out, "expected rho", &args)?;
    let mut human = format!(
        "ρ_d (exact closed forms, docs/THEORY.md §3) → {}\n   d   θ̌_d          ρ_d^CS        ρ_d (PR)\n",
        dir.display()
    );
    for r in &rows {
        human += &format!(
            "{:>4}   {:.10}  {:.10}  {:.10}\n",
            r.d, r.theta_check, r.rho_cs, r.rho_pr
        );
    }
    let json = serde_json::json!({ "command": "expected rho", "out": dir, "kind": "exact", "rows": rows });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}

/// One row of `landscape.csv`: the expected objective and gradient at a grid point.
#[derive(Clone, Debug, Serialize)]
pub struct LandscapeRow {
    /// Depth d.
    pub d: usize,
    /// First coordinate of x0.
    pub x0_1: f64,
    /// Second coordinate of x0.
    pub x0_2: f64,
    /// First coordinate of the grid point x.
    pub x_1: f64,
    /// Second coordinate of the grid point x.
    pub x_2: f64,
    /// `F(x)`.
    pub f_expected: f64,
    /// `‖h_{x,x0}‖` (empty at x = 0, where F is not differentiable).
    pub h_norm: Option<f64>,
}

fn validate_landscape(args: &ExpectedLandscapeArgs, budget: &MemoryBudget) -> Result<()> {
    at_least("--d", args.d, 1, "the network depth must be at least 1, e.g. --d 2")?;
    check_depth("--d", args.d)?;
    at_least(
        "--grid",
        args.grid,
        2,
        "a grid needs at least 2 points per axis, e.g. --grid 201",
    )?;
    check_grid("--grid", args.grid)?;
    positive("--range", args.range)?;
    latent_code("--x0", &args.x0, 2, true)?;
    let points = (args.grid as f64).powi(2);
    // Per point: a row of 7 numbers and the heat map's value.
    budget.check(&Footprint::new().words("--grid", args.grid, "the grid's rows", 8.0 * points))
}

fn landscape(ctx: &Context, args: ExpectedLandscapeArgs) -> Result<Outcome> {
    validate_landscape(&args, &ctx.budget)?;
    let (d, x0, n) = (args.d, [args.x0[0], args.x0[1]], args.grid);
    let axis = grid_axis(n, args.range);
    let rows: Vec<LandscapeRow> = expected_grid(&x0, d, args.grid, args.range)
        .into_iter()
        .map(|p| LandscapeRow {
            d,
            x0_1: x0[0],
            x0_2: x0[1],
            x_1: p.x_1,
            x_2: p.x_2,
            f_expected: p.f_expected,
            h_norm: p.h_norm,
        })
        .collect();
    let neg = scale(-rho_pr(d), &x0);
    let markers = [
        Marker {
            label: "x0".into(),
            x: x0[0],
            y: x0[1],
        },
        Marker {
            label: format!("-rho_{d} x0"),
            x: neg[0],
            y: neg[1],
        },
        Marker {
            label: "0".into(),
            x: 0.0,
            y: 0.0,
        },
    ];
    let out = ctx.create_out(&ctx.out_dir("expected-landscape"))?;
    out.write_csv("landscape.csv", &rows)?;
    let values: Vec<f64> = rows.iter().map(|r| r.f_expected).collect();
    let title = format!("Expected objective F, d = {d}, x0 = ({}, {})", x0[0], x0[1]);
    heatmap(
        &out.file("landscape.png"),
        &title,
        "x_1 (latent units)",
        "x_2 (latent units)",
        "F(x) (units of |x0|²)",
        &axis,
        &axis,
        &values,
        &markers,
    )?;
    let dir = ctx.finish(out, "expected landscape", &args)?;
    let f_neg = expected_objective(&neg, &x0, d);
    let human = format!(
        "expected landscape (exact closed forms, docs/THEORY.md §4), d = {d}, {n}×{n} grid on [-{r}, {r}]² → {}\n  F(x0) = {:.3e}   F(-ρ_d x0) = {:.6}   F(0) = {:.6}   ρ_d = {:.10}\n",
        dir.display(),
        expected_objective(&x0, &x0, d),
        f_neg,
        expected_objective(&[0.0, 0.0], &x0, d),
        rho_pr(d),
        r = args.range,
    );
    let json = serde_json::json!({
        "command": "expected landscape", "out": dir, "kind": "exact", "d": d, "rho_pr": rho_pr(d),
        "f_at_x0": expected_objective(&x0, &x0, d), "f_at_neg_rho_x0": f_neg,
        "f_at_origin": expected_objective(&[0.0, 0.0], &x0, d),
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}
