//! A sweep's figures: success rate against m per method (one curve per k and whatever else
//! varies), a k × m phase diagram per method and network, and `m*` against k with the fitted
//! power laws.

use std::path::Path;

use super::config::Grid;
use super::summary::{Analysis, FitRow, SuccessRow, TransitionRow, layers_label};
use super::trial::snr_label;
use crate::error::Result;
use crate::report::output::OutputDir;
use crate::report::plot::{Series, heatmap, line_plot};
use crate::solvers::{Method, Selection};

/// Which grid axes besides m take several values (they label the curves).
struct Varying {
    k: bool,
    network: bool,
    snr: bool,
    restarts: bool,
}

impl Varying {
    fn of(grid: &Grid) -> Self {
        let c = &grid.config;
        let networks = c.layer_widths.as_ref().map_or_else(
            || c.d.as_ref().map_or(1, Vec::len) * c.n.as_ref().map_or(1, Vec::len),
            Vec::len,
        );
        Self {
            k: c.k.len() > 1,
            network: networks > 1,
            snr: c.snr_db.len() > 1,
            restarts: c.restarts.len() > 1,
        }
    }

    /// The label of a curve: the varying parameters (k when nothing varies).
    fn label(&self, k: usize, widths: &str, snr: Option<f64>, restarts: usize) -> String {
        let mut parts = Vec::new();
        if self.k || !(self.network || self.snr || self.restarts) {
            parts.push(format!("k = {k}"));
        }
        if self.network {
            parts.push(format!("net {}", layers_label(widths)));
        }
        if self.snr {
            parts.push(format!("snr {}", snr_label(snr)));
        }
        if self.restarts {
            parts.push(format!("{restarts} restarts"));
        }
        parts.join(", ")
    }

    /// A file-name suffix for the non-k parameters that vary.
    fn suffix(&self, widths: &str, snr: Option<f64>, restarts: usize) -> String {
        let mut s = String::new();
        if self.network {
            s += &format!("_{}", layers_label(widths));
        }
        if self.snr {
            s += &format!("_snr-{}", snr.map_or_else(|| "none".into(), |db| db.to_string()));
        }
        if self.restarts {
            s += &format!("_r{restarts}");
        }
        s
    }
}

fn relative(prefix: &Path, file: &str) -> String {
    prefix.join(file).to_string_lossy().into_owned()
}

/// The x coordinate of a setting: m, or m/n when the grid is relative.
fn x_of(grid: &Grid, s: &SuccessRow) -> f64 {
    if grid.relative_m() { s.m_over_n } else { s.m as f64 }
}

/// Whether x values span more than a factor 8 (then drawn on a log axis, where a geometric
/// grid has equal spacing).
fn wide_grid(xs: impl Iterator<Item = f64> + Clone) -> bool {
    let lo = xs.clone().fold(f64::INFINITY, f64::min);
    let hi = xs.fold(0.0, f64::max);
    hi > 8.0 * lo
}

fn x_label(grid: &Grid) -> &'static str {
    if grid.relative_m() { "m / n" } else { "m" }
}

/// [`x_label`] with its unit, for an axis.
fn axis_label(grid: &Grid) -> &'static str {
    if grid.relative_m() {
        "m / n (measurements per output)"
    } else {
        "m (measurements)"
    }
}

fn same_curve(s: &SuccessRow, t: &TransitionRow) -> bool {
    s.k == t.k && s.widths == t.widths && s.snr_db == t.snr_db && s.restarts == t.restarts && s.method == t.method
}

/// What tells the figures of one selection rule apart when a sweep writes both: a file-name
/// suffix (`_oracle`) and a title suffix; both empty for a single rule.
struct Tag {
    file: String,
    title: String,
}

impl Tag {
    fn of(selection: Selection, both: bool) -> Self {
        if both {
            Self {
                file: format!("_{}", selection.name()),
                title: format!(" ({} selection)", selection.name()),
            }
        } else {
            Self {
                file: String::new(),
                title: String::new(),
            }
        }
    }
}

fn success_figure(
    out: &OutputDir,
    prefix: &Path,
    (grid, a, tag): (&Grid, &Analysis, &Tag),
    method: Method,
) -> Result<String> {
    let vary = Varying::of(grid);
    let series: Vec<Series> = a
        .transitions
        .iter()
        .filter(|t| t.method == method)
        .map(|t| {
            let mut points: Vec<(f64, f64)> = a
                .success
                .iter()
                .filter(|s| same_curve(s, t))
                .map(|s| (x_of(grid, s), s.success_rate))
                .collect();
            points.sort_by(|p, q| p.0.total_cmp(&q.0));
            Series {
                label: vary.label(t.k, &t.widths, t.snr_db, t.restarts),
                points,
            }
        })
        .collect();
    let rel = relative(prefix, &format!("success_{}{}.png", method.name(), tag.file));
    line_plot(
        &out.file(&rel),
        &format!(
            "{}{}: success rate (estimate; Wilson 95% in success.csv)",
            method.name(),
            tag.title
        ),
        axis_label(grid),
        "success rate (fraction of trials, estimate)",
        &series,
        wide_grid(a.success.iter().map(|s| x_of(grid, s))),
        false,
    )?;
    Ok(rel)
}

/// Phase diagrams (k × m heat maps of the success rate), one per method and non-k setting
/// with at least two k and two m values.
fn phase_figures(out: &OutputDir, prefix: &Path, (grid, a, tag): (&Grid, &Analysis, &Tag)) -> Result<Vec<String>> {
    let vary = Varying::of(grid);
    let mut files = Vec::new();
    let mut done: Vec<(Method, String, Option<u64>, usize)> = Vec::new();
    for s in &a.success {
        let key = (
            s.method,
            layers_label(&s.widths).to_string(),
            s.snr_db.map(f64::to_bits),
            s.restarts,
        );
        if done.contains(&key) {
            continue;
        }
        done.push(key.clone());
        let members: Vec<&SuccessRow> = a
            .success
            .iter()
            .filter(|r| {
                (
                    r.method,
                    layers_label(&r.widths).to_string(),
                    r.snr_db.map(f64::to_bits),
                    r.restarts,
                ) == key
            })
            .collect();
        let mut xs: Vec<f64> = members.iter().map(|r| x_of(grid, r)).collect();
        let mut ks: Vec<usize> = members.iter().map(|r| r.k).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        ks.sort_unstable();
        ks.dedup();
        if xs.len() < 2 || ks.len() < 2 {
            continue;
        }
        let mut values = vec![f64::NAN; xs.len() * ks.len()];
        for r in &members {
            let ix = xs.iter().position(|&x| x == x_of(grid, r)).expect("x is on the grid");
            let iy = ks.iter().position(|&k| k == r.k).expect("k is on the grid");
            values[iy * xs.len() + ix] = r.success_rate;
        }
        let ys: Vec<f64> = ks.iter().map(|&k| k as f64).collect();
        // A grid spanning more than a factor 8 is drawn on a log10 axis (equal cells for a
        // geometric grid).
        let log_axis = wide_grid(xs.iter().copied());
        let axis = if log_axis {
            format!("log10 {}", axis_label(grid))
        } else {
            axis_label(grid).to_string()
        };
        let cells: Vec<f64> = if log_axis {
            xs.iter().map(|x| x.log10()).collect()
        } else {
            xs.clone()
        };
        let rel = relative(
            prefix,
            &format!(
                "phase_{}{}{}.png",
                s.method.name(),
                vary.suffix(&s.widths, s.snr_db, s.restarts),
                tag.file
            ),
        );
        heatmap(
            &out.file(&rel),
            &format!(
                "{}{}: success rate over k and {}",
                s.method.name(),
                tag.title,
                x_label(grid)
            ),
            &axis,
            "latent dimension k (count)",
            "success rate (fraction of trials, estimate)",
            &cells,
            &ys,
            &values,
            &[],
        )?;
        files.push(rel);
    }
    Ok(files)
}

/// `m*` against k with the fitted power laws (only when some fit against k exists).
fn m_star_figure(out: &OutputDir, prefix: &Path, (grid, a, tag): (&Grid, &Analysis, &Tag)) -> Result<Option<String>> {
    let vary = Varying::of(grid);
    let fits: Vec<&FitRow> = a
        .fits
        .iter()
        .filter(|f| f.variable == "k" && f.exponent.is_some())
        .collect();
    if fits.is_empty() {
        return Ok(None);
    }
    let mut series = Vec::new();
    for f in fits {
        let members: Vec<&TransitionRow> = a
            .transitions
            .iter()
            .filter(|t| {
                t.method == f.method
                    && t.snr_db == f.snr_db
                    && t.restarts == f.restarts
                    && Some(layers_label(&t.widths)) == f.layer_widths.as_deref()
            })
            .collect();
        let points: Vec<(f64, f64)> = members
            .iter()
            .filter_map(|t| t.m_star.map(|m| (t.k as f64, m)))
            .collect();
        let name = format!(
            "{}{}",
            f.method.name(),
            members.first().map_or_else(String::new, |t| {
                let label = Varying { k: false, ..vary }.label(t.k, &t.widths, t.snr_db, t.restarts);
                if vary.network || vary.snr || vary.restarts {
                    format!(", {label}")
                } else {
                    String::new()
                }
            })
        );
        let (b, c) = (f.exponent.unwrap_or(f64::NAN), f.fit_constant.unwrap_or(f64::NAN));
        let line: Vec<(f64, f64)> = points.iter().map(|&(k, _)| (k, c * k.powf(b))).collect();
        series.push(Series {
            label: format!("{name}: m* (estimate)"),
            points,
        });
        series.push(Series {
            label: format!(
                "{name}: fit m* = {c:.3} k^{b:.3} [{:.3}, {:.3}]",
                f.exponent_lo.unwrap_or(f64::NAN),
                f.exponent_hi.unwrap_or(f64::NAN)
            ),
            points: line,
        });
    }
    let rel = relative(prefix, &format!("m_star_vs_k{}.png", tag.file));
    line_plot(
        &out.file(&rel),
        &format!(
            "m* (50% success) against k{}, log-log, with least-squares fits",
            tag.title
        ),
        "latent dimension k (count)",
        "m* (measurements)",
        &series,
        true,
        true,
    )?;
    Ok(Some(rel))
}

/// Draws every figure of a sweep into `prefix` inside `out`; returns their relative names.
/// With both selection rules, each figure is drawn once per rule (file names end in
/// `_objective` / `_oracle`).
pub fn draw(out: &OutputDir, prefix: &Path, grid: &Grid, a: &Analysis) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let selections = grid.config.selection.selections();
    for &selection in &selections {
        let part = a.only(selection);
        let tag = Tag::of(selection, selections.len() > 1);
        for &method in &grid.config.methods {
            files.push(success_figure(out, prefix, (grid, &part, &tag), method)?);
        }
        files.extend(phase_figures(out, prefix, (grid, &part, &tag))?);
        files.extend(m_star_figure(out, prefix, (grid, &part, &tag))?);
    }
    Ok(files)
}
