//! Plots for the audit report: heat maps of a scalar field on a 2-D grid, line plots (with
//! optional spread bars) and grids of grey-scale images.
//!
//! The output format follows the file extension: `.png` (bitmap) or `.svg` (vector); any
//! other extension is an error. A figure requested as `NAME.png` is written as the process's
//! [`FigureFormat`] says (the CLI's `--figure-format`, default both): `NAME.png`, `NAME.svg`
//! or both ([`figure_files`]); the PNG bytes do not depend on it. DejaVu Sans is compiled into the binary and registered as
//! the `sans-serif` family, so PNG text renders on a machine without system fonts.
//!
//! Every failure, including inconsistent arguments, is reported as [`Error::Plot`] naming
//! the output path and what is wrong; nothing here panics on bad input.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering as AtomicOrdering};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// DejaVu Sans, bundled so text renders without system fonts (licence beside the file).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The font family every text style uses; the embedded font is registered under it.
const FONT_FAMILY: &str = "sans-serif";
/// Pixel size of heat maps.
const HEATMAP_SIZE: (u32, u32) = (900, 700);
/// Pixel size of two heat maps side by side, with the legend strip under them.
const HEATMAP_PAIR_SIZE: (u32, u32) = (1800, 860);
/// Height of the legend strip under a pair of heat maps (four rows).
const LEGEND_STRIP_HEIGHT: u32 = 4 * LEGEND_ROW_HEIGHT as u32;
/// Height of one legend row in the strip.
const LEGEND_ROW_HEIGHT: i32 = 28;
/// Legend entries per row of the strip.
const LEGEND_STRIP_COLUMNS: i32 = 3;
/// Pixel size of line plots.
const LINE_PLOT_SIZE: (u32, u32) = (900, 600);
/// Width of the colour-bar panel to the right of a heat map.
const COLOUR_BAR_WIDTH: u32 = 140;
/// Width of the tick and value labels right of the colour bar.
const COLOUR_BAR_LABEL_AREA: u32 = 72;
/// Height of the label area under the x axis (shared by the heat map and its colour bar).
const X_LABEL_AREA: u32 = 55;
/// Width of the label area left of the y axis.
const Y_LABEL_AREA: u32 = 80;
/// Margin around each chart.
const MARGIN: u32 = 12;
/// Colour of grid cells whose value is NaN or infinite.
const NON_FINITE_COLOUR: RGBColor = RGBColor(160, 160, 160);
/// Number of bands the colour bar is drawn with.
const COLOUR_BAR_STEPS: usize = 256;
/// Radius in pixels of a marker symbol on a heat map.
const MARKER_RADIUS: f64 = 8.0;
/// Half-size in pixels of an overlay symbol (small, to leave the field visible).
const OVERLAY_RADIUS: i32 = 3;

/// Viridis (matplotlib) sampled at 0, 0.1, …, 1; [`viridis`] interpolates linearly.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// Line colours (Tableau 10), cycled over the series of a line plot.
const SERIES_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colours of overlay symbols and outlines, chosen to stand out against viridis and against
/// the white legend strip.
const OVERLAY_COLOURS: [RGBColor; 4] = [
    RGBColor(228, 26, 28),
    RGBColor(0, 190, 255),
    RGBColor(255, 127, 0),
    RGBColor(255, 0, 255),
];

/// Fill colours of heat-map markers, chosen to stand out against viridis.
const MARKER_COLOURS: [RGBColor; 5] = [
    RGBColor(228, 26, 28),
    RGBColor(255, 255, 255),
    RGBColor(255, 0, 255),
    RGBColor(255, 127, 0),
    RGBColor(0, 255, 255),
];

/// A labelled point drawn on top of a plot (e.g. the critical points x0, −ρ_d x0, 0).
#[derive(Clone, Debug)]
pub struct Marker {
    /// Legend text.
    pub label: String,
    /// Horizontal coordinate, in data units.
    pub x: f64,
    /// Vertical coordinate, in data units.
    pub y: f64,
}

/// One named curve.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// The points `(x, y)`, joined in the given order.
    pub points: Vec<(f64, f64)>,
}

/// A heat map of `values` on a regular grid: `values[iy * xs.len() + ix]` is the value at `(xs[ix], ys[iy])`.
/// Non-finite values are drawn in grey. A colour bar with `value_label` is drawn on the right; markers are drawn as
/// distinct symbols with a legend. `title` on top, axis labels `x_label`, `y_label`.
///
/// `xs` and `ys` must be finite, strictly increasing and hold at least two points each; each
/// value fills the cell reaching halfway to its neighbours. Colours span the finite values
/// (viridis); a constant field gets a small symmetric range around its value.
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    value_label: &str,
    xs: &[f64],
    ys: &[f64],
    values: &[f64],
    markers: &[Marker],
) -> Result<()> {
    let fail = |reason: String| plot_error(path, reason);
    output_format(path).map_err(fail)?;
    check_units(&[x_label, y_label, value_label]).map_err(fail)?;
    let layers = Layers {
        markers,
        ..Layers::default()
    };
    let labels = Labels {
        title,
        x: x_label,
        y: y_label,
    };
    let figure = HeatMap::new(labels, value_label, xs, ys, values, &layers).map_err(fail)?;
    render(path, HEATMAP_SIZE, &figure)
}

/// Points drawn over a heat map with one small symbol (e.g. the probe points of one class).
#[derive(Clone, Debug)]
pub struct Overlay {
    /// Legend text.
    pub label: String,
    /// The points, in data units; those outside the grid's cells are not drawn.
    pub points: Vec<(f64, f64)>,
}

/// A curve drawn over a heat map (e.g. the boundary of a ball), joined in the given order;
/// the parts outside the grid's cells are not drawn.
#[derive(Clone, Debug)]
pub struct Outline {
    /// Legend text.
    pub label: String,
    /// The vertices, in data units.
    pub points: Vec<(f64, f64)>,
}

/// What is drawn on top of every panel of a heat map: markers (large symbols), overlays
/// (small symbols) and outlines (curves), each with a legend entry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Layers<'a> {
    /// Labelled single points.
    pub markers: &'a [Marker],
    /// Point sets.
    pub overlays: &'a [Overlay],
    /// Curves.
    pub outlines: &'a [Outline],
}

/// One panel of [`heatmap_pair`]: a field on the shared grid with its own title and colour bar.
#[derive(Clone, Copy, Debug)]
pub struct Panel<'a> {
    /// Title above the panel.
    pub title: &'a str,
    /// Label of the panel's colour bar.
    pub value_label: &'a str,
    /// `values[iy * xs.len() + ix]` is the value at `(xs[ix], ys[iy])`.
    pub values: &'a [f64],
}

/// Two heat maps side by side on the same grid (e.g. an empirical field and its expectation),
/// each with its own colour bar, under a common `title`, with the same `layers` drawn on both.
/// The grid rules of [`heatmap`] apply to each panel.
#[allow(clippy::too_many_arguments)]
pub fn heatmap_pair<'a>(
    path: &Path,
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    xs: &[f64],
    ys: &[f64],
    panels: [Panel<'a>; 2],
    layers: &Layers<'a>,
) -> Result<()> {
    let fail = |reason: String| plot_error(path, reason);
    output_format(path).map_err(fail)?;
    check_units(&[x_label, y_label, panels[0].value_label, panels[1].value_label]).map_err(fail)?;
    let map = |p: Panel<'a>| {
        let labels = Labels {
            title: p.title,
            x: x_label,
            y: y_label,
        };
        HeatMap::new(labels, p.value_label, xs, ys, p.values, layers).map(|map| HeatMap { legend: false, ..map })
    };
    let [left, right] = panels;
    let figure = HeatMapPair {
        title,
        maps: [map(left).map_err(fail)?, map(right).map_err(fail)?],
    };
    render(path, HEATMAP_PAIR_SIZE, &figure)
}

/// Refuses an axis or colour-bar label that does not end with its unit in parentheses: every
/// figure says what its numbers measure, e.g. `"m (measurements)"`, `"x_1 (units of |x0|)"`,
/// `"epsilon (dimensionless)"`, `"angle (rad)"`.
fn check_units(labels: &[&str]) -> std::result::Result<(), String> {
    // The final parenthesised group, set off by a space: "F (units of b²)" has a unit, "F(x)"
    // (an argument list) has none.
    let has_unit = |label: &str| {
        let label = label.trim_end();
        let mut depth = 0usize;
        for (i, c) in label.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 1 => return label.ends_with(')') && label[..i].ends_with(' '),
                '(' => depth = depth.saturating_sub(1),
                _ if depth == 0 => return false,
                _ => {}
            }
        }
        false
    };
    match labels.iter().find(|l| !has_unit(l)) {
        Some(label) => Err(format!(
            "axis label {label:?} names no unit: end it with the unit in parentheses, e.g. \"m (measurements)\", \
             \"epsilon (dimensionless)\", \"angle (rad)\""
        )),
        None => Ok(()),
    }
}

/// Line plot of several series with points marked and a legend; optional log10 axes (then non-positive points are skipped).
/// Every axis label ends with its unit in parentheses (`"m (measurements)"`), else the plot
/// is refused; the same holds for the axis and colour-bar labels of [`heatmap`] and [`heatmap_pair`].
///
/// Non-finite points are always skipped; a series left without points is left out (also from
/// the legend). It is an error when `series` is empty or no series has a point to draw.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
    log_y: bool,
) -> Result<()> {
    let curves = series
        .iter()
        .map(|s| Curve {
            label: &s.label,
            points: drawable_points(&s.points, log_x, log_y),
            bars: Vec::new(),
            joined: true,
        })
        .collect();
    draw_line_plot(path, [title, x_label, y_label], curves, (log_x, log_y), false)
}

/// [`line_plot`] (linear axes) of the curves `lines`, with the point sets `dots` drawn on top
/// as unjoined dots (e.g. a function and its critical points).
pub fn line_plot_with_dots(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Series],
    dots: &[Series],
) -> Result<()> {
    fn curve(s: &Series, joined: bool) -> Curve<'_> {
        Curve {
            label: &s.label,
            points: drawable_points(&s.points, false, false),
            bars: Vec::new(),
            joined,
        }
    }
    let curves = (lines.iter().map(|s| curve(s, true)))
        .chain(dots.iter().map(|s| curve(s, false)))
        .collect();
    draw_line_plot(path, [title, x_label, y_label], curves, (false, false), false)
}

/// A curve with a spread at every point (e.g. the mean over images with their minimum and
/// maximum).
#[derive(Clone, Debug)]
pub struct SpreadSeries {
    /// Legend text.
    pub label: String,
    /// The points `(x, y, lo, hi)`: the curve passes through `(x, y)`; a vertical bar with caps
    /// spans `lo..hi` at `x`.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// [`line_plot`] with a vertical bar from `lo` to `hi` at every point (the legend says what
/// the bars are). A point is drawn when `(x, y)` is; a bar end that cannot be drawn (not
/// finite, or ≤ 0 on a log axis) is clamped to `y`.
pub fn line_plot_with_spread(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[SpreadSeries],
    log_x: bool,
    log_y: bool,
) -> Result<()> {
    let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let curves = series
        .iter()
        .map(|s| {
            let kept: Vec<(f64, f64, f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y, _, _)| ok(x, log_x) && ok(y, log_y))
                .collect();
            let end = |y: f64, v: f64| if ok(v, log_y) { v } else { y };
            Curve {
                label: &s.label,
                points: kept.iter().map(|&(x, y, _, _)| (x, y)).collect(),
                bars: kept.iter().map(|&(x, y, lo, hi)| (x, end(y, lo), end(y, hi))).collect(),
                joined: true,
            }
        })
        .collect();
    draw_line_plot(path, [title, x_label, y_label], curves, (log_x, log_y), true)
}

/// Checks the format and that there are series, drops the curves left without drawable
/// points, validates the axes (bars included) and draws; `[title, x label, y label]`. The
/// legend goes top right, or (`place_legend`) in the right-hand corner with fewer points.
fn draw_line_plot(
    path: &Path,
    [title, x_label, y_label]: [&str; 3],
    curves: Vec<Curve<'_>>,
    (log_x, log_y): (bool, bool),
    place_legend: bool,
) -> Result<()> {
    let fail = |reason: String| plot_error(path, reason);
    output_format(path).map_err(fail)?;
    check_units(&[x_label, y_label]).map_err(fail)?;
    if curves.is_empty() {
        return Err(fail("no series to plot".into()));
    }
    let curves: Vec<Curve<'_>> = curves.into_iter().filter(|c| !c.points.is_empty()).collect();
    let labels = Labels {
        title,
        x: x_label,
        y: y_label,
    };
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let bar_ends = || curves.iter().flat_map(|c| c.bars.iter().flat_map(|b| [b.1, b.2]));
    let (Some(x_range), Some(y_range)) = (
        axis_range(all().map(|p| p.0), log_x),
        axis_range(all().map(|p| p.1).chain(bar_ends()), log_y),
    ) else {
        let why = if log_x || log_y {
            "no series has a finite point (log axes also drop values <= 0)"
        } else {
            "no series has a finite point"
        };
        return Err(fail(why.into()));
    };
    drawable_span("x", &x_range).map_err(fail)?;
    drawable_span("y", &y_range).map_err(fail)?;
    let (x, y) = (
        Axis {
            range: x_range,
            log: log_x,
        },
        Axis {
            range: y_range,
            log: log_y,
        },
    );
    let legend = if place_legend {
        emptier_right_corner(&curves, &x, &y)
    } else {
        LegendCorner::UpperRight
    };
    let figure = LinePlot {
        labels,
        curves,
        x,
        y,
        legend,
    };
    render(path, LINE_PLOT_SIZE, &figure)
}

/// Errors inside the drawing code are plain messages; the public functions add the path.
type DrawResult<T = ()> = std::result::Result<T, String>;

/// Wraps a message into [`Error::Plot`] for `path`.
fn plot_error(path: &Path, reason: String) -> Error {
    Error::Plot {
        path: PathBuf::from(path),
        reason,
    }
}

/// Turns a plotters error into a message.
fn draw_error(error: impl std::fmt::Display) -> String {
    format!("drawing failed: {error}")
}

/// The two supported output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

/// The output format named by the extension of `path` (case-insensitive).
fn output_format(path: &Path) -> DrawResult<Format> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "png" => Ok(Format::Png),
        "svg" => Ok(Format::Svg),
        _ => Err(format!("unsupported file extension {ext:?}; use .png or .svg")),
    }
}

/// The files a figure requested as `NAME.png` becomes: the bitmap, the vector image, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureFormat {
    /// `NAME.png` only.
    Png,
    /// `NAME.svg` only.
    Svg,
    /// `NAME.png` and `NAME.svg`.
    #[default]
    Both,
}

/// The process's figure format, as the discriminant of a [`FigureFormat`] (set once by the
/// CLI before any figure is drawn, like the global thread pool).
static FIGURE_FORMAT: AtomicU8 = AtomicU8::new(FigureFormat::Both as u8);

/// Sets the format of every figure requested as `NAME.png` from now on.
pub fn set_figure_format(format: FigureFormat) {
    FIGURE_FORMAT.store(format as u8, AtomicOrdering::Relaxed);
}

/// The process's figure format ([`set_figure_format`]; default [`FigureFormat::Both`]).
pub fn figure_format() -> FigureFormat {
    match FIGURE_FORMAT.load(AtomicOrdering::Relaxed) {
        f if f == FigureFormat::Png as u8 => FigureFormat::Png,
        f if f == FigureFormat::Svg as u8 => FigureFormat::Svg,
        _ => FigureFormat::Both,
    }
}

/// The files written for a figure requested as `name` under `format`: a `.png` name becomes
/// the PNG, the SVG beside it, or both (PNG first); any other name is written as it is.
pub fn figure_files_as(format: FigureFormat, name: &Path) -> Vec<PathBuf> {
    let is_png = name
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    match (is_png, format) {
        (false, _) | (true, FigureFormat::Png) => vec![name.to_path_buf()],
        (true, FigureFormat::Svg) => vec![name.with_extension("svg")],
        (true, FigureFormat::Both) => vec![name.to_path_buf(), name.with_extension("svg")],
    }
}

/// [`figure_files_as`] under the process's [`figure_format`].
pub fn figure_files(name: &Path) -> Vec<PathBuf> {
    figure_files_as(figure_format(), name)
}

/// [`figure_files`] of relative names (as the claims list their files), as strings.
pub fn figure_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| figure_files(Path::new(n)))
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Registers the embedded font as `sans-serif` (once per process).
fn ensure_font() -> DrawResult {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be loaded".into())
    }
}

/// A text style in the embedded font.
fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(FontDesc::new(FontFamily::Name(FONT_FAMILY), size, FontStyle::Normal))
}

/// Something that can draw itself onto any plotters backend.
trait Figure {
    /// Draws the figure on `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// Draws `figure` into each of [`figure_files`] of `path`.
fn render(path: &Path, size: (u32, u32), figure: &impl Figure) -> Result<()> {
    figure_files(path)
        .iter()
        .try_for_each(|file| render_file(file, size, figure))
}

/// Draws `figure` into `path` with the backend the extension selects. A file left half
/// written by a failed drawing is removed.
fn render_file(path: &Path, size: (u32, u32), figure: &impl Figure) -> Result<()> {
    let fail = |reason: String| plot_error(path, reason);
    let format = output_format(path).map_err(fail)?;
    ensure_font().map_err(fail)?;
    let outcome = match format {
        Format::Png => draw_on(BitMapBackend::new(path, size).into_drawing_area(), figure),
        Format::Svg => draw_on(SVGBackend::new(path, size).into_drawing_area(), figure),
    };
    outcome.map_err(|reason| {
        let _ = std::fs::remove_file(path);
        fail(reason)
    })
}

/// Fills `root` white, draws `figure` and writes the result out.
fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &impl Figure) -> DrawResult {
    root.fill(&WHITE).map_err(draw_error)?;
    figure.draw(&root)?;
    root.present().map_err(draw_error)
}

/// Title and axis labels of a chart.
struct Labels<'a> {
    title: &'a str,
    x: &'a str,
    y: &'a str,
}

/// Checks the grid of [`heatmap`]: sizes agree, and both axes are finite and increasing.
fn check_grid(xs: &[f64], ys: &[f64], values: &[f64]) -> DrawResult {
    check_axis("xs", xs)?;
    check_axis("ys", ys)?;
    let expected = xs.len().checked_mul(ys.len());
    if expected != Some(values.len()) {
        return Err(format!(
            "values has {} entries but xs.len() * ys.len() = {} * {} = {}",
            values.len(),
            xs.len(),
            ys.len(),
            expected.map_or_else(|| "overflow".to_string(), |n| n.to_string())
        ));
    }
    Ok(())
}

/// Checks one grid axis: at least two points, finite, strictly increasing.
fn check_axis(name: &str, axis: &[f64]) -> DrawResult {
    if axis.len() < 2 {
        return Err(format!(
            "{name} has {} point(s); a heat map needs at least 2 per axis",
            axis.len()
        ));
    }
    if let Some(i) = axis.iter().position(|v| !v.is_finite()) {
        return Err(format!("{name}[{i}] = {} is not finite", axis[i]));
    }
    if let Some(i) = axis.windows(2).position(|w| w[1] <= w[0]) {
        return Err(format!(
            "{name} must be strictly increasing, but {name}[{}] = {} >= {name}[{}] = {}",
            i,
            axis[i],
            i + 1,
            axis[i + 1]
        ));
    }
    Ok(())
}

/// Checks that every marker has finite coordinates.
fn check_markers(markers: &[Marker]) -> DrawResult {
    match markers.iter().find(|m| !(m.x.is_finite() && m.y.is_finite())) {
        Some(m) => Err(format!(
            "marker {:?} is at ({}, {}); coordinates must be finite",
            m.label, m.x, m.y
        )),
        None => Ok(()),
    }
}

/// Checks that `range` is non-empty and its width is a finite number, so that plotters
/// can map it to pixels (values near `f64::MAX` overflow).
fn drawable_span(name: &str, range: &Range<f64>) -> DrawResult {
    let width = range.end - range.start;
    if width.is_finite() && width > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "the {name} range {:e}..{:e} is too wide to draw",
            range.start, range.end
        ))
    }
}

/// Cell boundaries of a grid axis: midpoints between neighbours, and half a step beyond
/// each end. Needs at least two points.
fn cell_edges(centres: &[f64]) -> Vec<f64> {
    let n = centres.len();
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(centres[0] - 0.5 * (centres[1] - centres[0]));
    edges.extend(centres.windows(2).map(|w| 0.5 * (w[0] + w[1])));
    edges.push(centres[n - 1] + 0.5 * (centres[n - 1] - centres[n - 2]));
    edges
}

/// The range the colours span: min..max of the finite values, widened when it is empty
/// (constant field) so it never divides by zero; `0..1` when nothing is finite.
fn colour_range(values: &[f64]) -> Range<f64> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    if hi - lo > f64::EPSILON * lo.abs().max(hi.abs()) {
        return lo..hi;
    }
    let pad = if lo == 0.0 { 0.5 } else { 0.05 * lo.abs() };
    (lo - pad)..(hi + pad)
}

/// Viridis at `t` in `[0, 1]` (clamped), linearly interpolated between the table entries.
fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let scaled = t * (VIRIDIS.len() - 1) as f64;
    let i = (scaled.floor() as usize).min(VIRIDIS.len() - 2);
    let f = scaled - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of `value` on the colour scale `range`; grey for non-finite values.
fn value_colour(value: f64, range: &Range<f64>) -> RGBColor {
    if value.is_finite() {
        viridis((value - range.start) / (range.end - range.start))
    } else {
        NON_FINITE_COLOUR
    }
}

/// A readable tick label: plain decimals for moderate magnitudes, scientific otherwise.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        return "0".into();
    }
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.to_string();
    }
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exp}")
        }
        None => s,
    }
}

/// A validated heat map, ready to draw.
struct HeatMap<'a> {
    labels: Labels<'a>,
    value_label: &'a str,
    x_edges: Vec<f64>,
    y_edges: Vec<f64>,
    nx: usize,
    values: &'a [f64],
    colour_range: Range<f64>,
    layers: Layers<'a>,
    /// Whether the chart draws its own legend box (a pair draws one strip for both panels).
    legend: bool,
}

impl<'a> HeatMap<'a> {
    /// Validates the grid and the layers and fixes the colour range.
    fn new(
        labels: Labels<'a>,
        value_label: &'a str,
        xs: &[f64],
        ys: &[f64],
        values: &'a [f64],
        layers: &Layers<'a>,
    ) -> DrawResult<Self> {
        check_grid(xs, ys, values)?;
        check_markers(layers.markers)?;
        let (x_edges, y_edges) = (cell_edges(xs), cell_edges(ys));
        let colour_range = colour_range(values);
        drawable_span("x", &(x_edges[0]..x_edges[xs.len()]))?;
        drawable_span("y", &(y_edges[0]..y_edges[ys.len()]))?;
        drawable_span("value", &colour_range)?;
        Ok(Self {
            labels,
            value_label,
            x_edges,
            y_edges,
            nx: xs.len(),
            values,
            colour_range,
            layers: *layers,
            legend: true,
        })
    }
}

/// Two validated heat maps side by side under one title.
struct HeatMapPair<'a> {
    title: &'a str,
    maps: [HeatMap<'a>; 2],
}

impl Figure for HeatMapPair<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = root
            .margin(MARGIN, 0, 0, 0)
            .titled(self.title, font(30.0))
            .map_err(draw_error)?;
        let (width, height) = body.dim_in_pixel();
        let (panels, strip) = body.split_vertically(height.saturating_sub(LEGEND_STRIP_HEIGHT));
        let (left, right) = panels.split_horizontally(width / 2);
        self.maps[0].draw(&left)?;
        self.maps[1].draw(&right)?;
        draw_legend_strip(&strip, &self.maps[0].layers)
    }
}

/// The legend of a pair, as rows of [`LEGEND_STRIP_COLUMNS`] entries under the panels (so it
/// covers no data): markers, then overlays (with their point counts), then outlines.
fn draw_legend_strip<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, layers: &Layers<'_>) -> DrawResult {
    let column_width = area.dim_in_pixel().0 as i32 / LEGEND_STRIP_COLUMNS;
    let slot = |n: usize| {
        let (row, col) = (n as i32 / LEGEND_STRIP_COLUMNS, n as i32 % LEGEND_STRIP_COLUMNS);
        (col * column_width + 40, row * LEGEND_ROW_HEIGHT + LEGEND_ROW_HEIGHT / 2)
    };
    let text = |at: BackendCoord, label: &str| Text::new(label.to_string(), (at.0 + 18, at.1 - 10), font(19.0));
    let mut n = 0;
    for (i, m) in layers.markers.iter().enumerate() {
        let at = slot(n);
        area.draw(&marker_glyph::<BackendCoord, DB>(i, at, MARKER_RADIUS - 1.0))
            .map_err(draw_error)?;
        area.draw(&text(at, &m.label)).map_err(draw_error)?;
        n += 1;
    }
    for (i, o) in layers.overlays.iter().enumerate() {
        let at = slot(n);
        area.draw(&overlay_glyph::<BackendCoord, DB>(i, at))
            .map_err(draw_error)?;
        area.draw(&text(at, &format!("{} ({})", o.label, o.points.len())))
            .map_err(draw_error)?;
        n += 1;
    }
    for (i, o) in layers.outlines.iter().enumerate() {
        let at = slot(n);
        let style = OVERLAY_COLOURS[(i + 1) % OVERLAY_COLOURS.len()].stroke_width(3);
        area.draw(&PathElement::new(vec![(at.0 - 12, at.1), (at.0 + 12, at.1)], style))
            .map_err(draw_error)?;
        area.draw(&text(at, &o.label)).map_err(draw_error)?;
        n += 1;
    }
    Ok(())
}

impl Figure for HeatMap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let body = root
            .margin(MARGIN, 0, 0, 0)
            .titled(self.labels.title, font(30.0))
            .map_err(draw_error)?;
        let width = body.dim_in_pixel().0;
        let (field, bar) = body.split_horizontally(width.saturating_sub(COLOUR_BAR_WIDTH));
        self.draw_field(&field)?;
        self.draw_colour_bar(&bar)
    }
}

impl HeatMap<'_> {
    /// The grid cells, the axes and the markers with their legend.
    fn draw_field<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let (xe, ye) = (&self.x_edges, &self.y_edges);
        let mut chart = ChartBuilder::on(area)
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(xe[0]..xe[xe.len() - 1], ye[0]..ye[ye.len() - 1])
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.labels.x)
            .y_desc(self.labels.y)
            .axis_desc_style(font(22.0))
            .label_style(font(18.0))
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(draw_error)?;
        chart.draw_series(self.cells()).map_err(draw_error)?;
        let inside =
            |&(x, y): &(f64, f64)| (xe[0]..=xe[xe.len() - 1]).contains(&x) && (ye[0]..=ye[ye.len() - 1]).contains(&y);
        for (i, outline) in self.layers.outlines.iter().enumerate() {
            draw_outline(
                &mut chart,
                outline,
                OVERLAY_COLOURS[(i + 1) % OVERLAY_COLOURS.len()],
                &inside,
            )?;
        }
        for (i, overlay) in self.layers.overlays.iter().enumerate() {
            draw_overlay(&mut chart, overlay, i, &inside)?;
        }
        draw_markers(&mut chart, self.layers.markers)?;
        let layers = &self.layers;
        let any = !(layers.markers.is_empty() && layers.overlays.is_empty() && layers.outlines.is_empty());
        if self.legend && any {
            draw_legend(&mut chart)?;
        }
        Ok(())
    }

    /// One filled rectangle per grid value.
    fn cells(&self) -> impl Iterator<Item = Rectangle<(f64, f64)>> + '_ {
        self.values.iter().enumerate().map(move |(k, &v)| {
            let (ix, iy) = (k % self.nx, k / self.nx);
            let corners = [
                (self.x_edges[ix], self.y_edges[iy]),
                (self.x_edges[ix + 1], self.y_edges[iy + 1]),
            ];
            Rectangle::new(corners, value_colour(v, &self.colour_range).filled())
        })
    }

    /// The colour bar: a vertical strip of the colour map with a value axis on its right,
    /// aligned with the plotting area of the field, plus a note when grey cells occur.
    fn draw_colour_bar<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let range = self.colour_range.clone();
        let mut chart = ChartBuilder::on(area)
            .margin_top(MARGIN)
            .margin_bottom(MARGIN)
            .margin_left(20)
            .margin_right(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .right_y_label_area_size(COLOUR_BAR_LABEL_AREA)
            .build_cartesian_2d(0.0..1.0, range.clone())
            .map_err(draw_error)?;
        let step = (range.end - range.start) / COLOUR_BAR_STEPS as f64;
        let bands = (0..COLOUR_BAR_STEPS).map(|k| {
            let y0 = range.start + k as f64 * step;
            let colour = viridis((k as f64 + 0.5) / COLOUR_BAR_STEPS as f64);
            Rectangle::new([(0.0, y0), (1.0, y0 + step)], colour.filled())
        });
        chart.draw_series(bands).map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .set_tick_mark_size(LabelAreaPosition::Right, 6)
            .y_desc(self.value_label)
            .axis_desc_style(font(22.0))
            .label_style(font(18.0))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(draw_error)?;
        let frame = Rectangle::new([(0.0, range.start), (1.0, range.end)], BLACK.stroke_width(1));
        chart.draw_series([frame]).map_err(draw_error)?;
        if self.values.iter().any(|v| !v.is_finite()) {
            self.draw_non_finite_note(area)?;
        }
        Ok(())
    }

    /// A grey swatch under the colour bar explaining grey cells.
    fn draw_non_finite_note<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let (_, h) = area.dim_in_pixel();
        let y = h as i32 - MARGIN as i32 - X_LABEL_AREA as i32 / 2 - 7;
        let swatch = Rectangle::new([(10, y), (24, y + 14)], NON_FINITE_COLOUR.filled());
        area.draw(&swatch).map_err(draw_error)?;
        let text = Text::new("non-finite", (30, y), font(18.0));
        area.draw(&text).map_err(draw_error)
    }
}

/// The symbol of overlay `index`: a cross (×, then +, alternating) in its colour.
fn overlay_glyph<C, DB: DrawingBackend>(
    index: usize,
    at: C,
) -> ComposedElement<C, DB, PathElement<BackendCoord>, PathElement<BackendCoord>> {
    let r = OVERLAY_RADIUS;
    let colour = OVERLAY_COLOURS[index % OVERLAY_COLOURS.len()].stroke_width(2);
    let (a, b) = if index.is_multiple_of(2) {
        ([(-r, -r), (r, r)], [(-r, r), (r, -r)])
    } else {
        ([(-r, 0), (r, 0)], [(0, -r), (0, r)])
    };
    EmptyElement::at(at) + PathElement::new(a.to_vec(), colour) + PathElement::new(b.to_vec(), colour)
}

/// Draws the overlay's points that lie inside the grid, with its legend entry (also when none
/// is inside, so the legend always lists what was looked for).
fn draw_overlay<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    overlay: &Overlay,
    index: usize,
    inside: &dyn Fn(&(f64, f64)) -> bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let glyphs = overlay
        .points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && inside(p))
        .map(|&p| overlay_glyph::<(f64, f64), DB>(index, p));
    chart
        .draw_series(glyphs)
        .map_err(draw_error)?
        .label(format!("{} ({})", overlay.label, overlay.points.len()))
        .legend(move |at| overlay_glyph::<BackendCoord, DB>(index, at));
    Ok(())
}

/// Draws the runs of consecutive outline vertices inside the grid, with a legend entry.
fn draw_outline<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    outline: &Outline,
    colour: RGBColor,
    inside: &dyn Fn(&(f64, f64)) -> bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = colour.stroke_width(2);
    let runs = outline
        .points
        .split(|p| !(p.0.is_finite() && p.1.is_finite() && inside(p)))
        .filter(|run| run.len() >= 2)
        .map(|run| PathElement::new(run.to_vec(), style));
    chart
        .draw_series(runs)
        .map_err(draw_error)?
        .label(outline.label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x - 12, y), (x + 12, y)], style));
    Ok(())
}

/// A pixel position or offset (plotters' backend coordinate).
type BackendCoord = (i32, i32);

/// A marker symbol: a filled polygon with a black outline, at `at`, in pixel offsets.
type Glyph<C, DB> = ComposedElement<C, DB, Polygon<BackendCoord>, PathElement<BackendCoord>>;

/// Vertices of symbol `shape` (circle, triangle, square, diamond, inverted triangle, cycling)
/// with circumradius `r` pixels, centred on the origin.
fn symbol_outline(shape: usize, r: f64) -> Vec<BackendCoord> {
    let (n, start_deg) = match shape % 5 {
        0 => (32, 0.0),
        1 => (3, -90.0),
        2 => (4, 45.0),
        3 => (4, 0.0),
        _ => (3, 90.0),
    };
    let r = if n == 32 { 0.85 * r } else { r };
    (0..n)
        .map(|k| {
            let a = (start_deg + 360.0 * k as f64 / n as f64).to_radians();
            ((r * a.cos()).round() as i32, (r * a.sin()).round() as i32)
        })
        .collect()
}

/// The marker symbol number `index` (shape and colour cycle) centred at `at`.
fn marker_glyph<C, DB: DrawingBackend>(index: usize, at: C, radius: f64) -> Glyph<C, DB> {
    let outline = symbol_outline(index, radius);
    let mut closed = outline.clone();
    closed.push(outline[0]);
    let fill = MARKER_COLOURS[index % MARKER_COLOURS.len()].filled();
    EmptyElement::at(at) + Polygon::new(outline, fill) + PathElement::new(closed, BLACK.stroke_width(2))
}

/// Draws each marker with its own symbol and adds the legend (when there are markers).
fn draw_markers<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>, markers: &[Marker]) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, m) in markers.iter().enumerate() {
        let glyph: Glyph<(f64, f64), DB> = marker_glyph(i, (m.x, m.y), MARKER_RADIUS);
        chart
            .draw_series([glyph])
            .map_err(draw_error)?
            .label(m.label.clone())
            .legend(move |at| marker_glyph::<BackendCoord, DB>(i, at, MARKER_RADIUS - 1.0));
    }
    Ok(())
}

/// The legend box of a chart, top right, over a translucent white background.
fn draw_legend<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    draw_legend_at(chart, LegendCorner::UpperRight)
}

/// Where a line plot's legend goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LegendCorner {
    UpperRight,
    LowerRight,
}

/// The right-hand corner where the legend covers fewer points and bar ends (ties: upper): of
/// the right 40% of the plot, the top and the bottom 35%, in the axes' own (log or linear)
/// coordinates.
fn emptier_right_corner(curves: &[Curve<'_>], x: &Axis, y: &Axis) -> LegendCorner {
    let unit = |v: f64, a: &Axis| {
        let map = |t: f64| if a.log { t.log10() } else { t };
        (map(v) - map(a.range.start)) / (map(a.range.end) - map(a.range.start))
    };
    let points = curves.iter().flat_map(|c| {
        let bar_ends = c.bars.iter().flat_map(|b| [(b.0, b.1), (b.0, b.2)]);
        c.points.iter().copied().chain(bar_ends)
    });
    let right: Vec<f64> = points.filter(|p| unit(p.0, x) > 0.6).map(|p| unit(p.1, y)).collect();
    let upper = right.iter().filter(|&&v| v > 0.65).count();
    let lower = right.iter().filter(|&&v| v < 0.35).count();
    if upper > lower {
        LegendCorner::LowerRight
    } else {
        LegendCorner::UpperRight
    }
}

/// The legend box at `corner`, over a translucent white background.
fn draw_legend_at<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>, corner: LegendCorner) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let position = match corner {
        LegendCorner::UpperRight => SeriesLabelPosition::UpperRight,
        LegendCorner::LowerRight => SeriesLabelPosition::LowerRight,
    };
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(font(19.0))
        .margin(10)
        .draw()
        .map_err(draw_error)
}

/// One series after filtering, ready to draw.
struct Curve<'a> {
    label: &'a str,
    points: Vec<(f64, f64)>,
    /// Vertical bars `(x, lo, hi)` (empty for a plain curve).
    bars: Vec<(f64, f64, f64)>,
    /// Whether the points are joined by a line (`false`: dots only).
    joined: bool,
}

/// One axis of a line plot.
struct Axis {
    range: Range<f64>,
    log: bool,
}

/// A validated line plot, ready to draw.
struct LinePlot<'a> {
    labels: Labels<'a>,
    curves: Vec<Curve<'a>>,
    x: Axis,
    y: Axis,
    legend: LegendCorner,
}

/// The points that can be drawn: finite, and positive on a log axis.
fn drawable_points(points: &[(f64, f64)], log_x: bool, log_y: bool) -> Vec<(f64, f64)> {
    let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    points
        .iter()
        .copied()
        .filter(|&(x, y)| ok(x, log_x) && ok(y, log_y))
        .collect()
}

/// The displayed range of an axis holding `values`, padded by 5 % (in decades on a log
/// axis) and widened when all values coincide; `None` when there are no values.
fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> Option<Range<f64>> {
    let map = |v: f64| if log { v.log10() } else { v };
    let (lo, hi) = values
        .map(map)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else if log || lo == 0.0 {
        0.5
    } else {
        0.1 * lo.abs()
    };
    let (lo, hi) = (lo - pad, hi + pad);
    Some(if log {
        let (min, max) = (f64::MIN_POSITIVE.log10(), f64::MAX.log10());
        let lo = 10f64.powf(lo.max(min)).max(f64::MIN_POSITIVE);
        lo..10f64.powf(hi.min(max)).min(f64::MAX)
    } else {
        lo..hi
    })
}

/// Labelled (bold) and grid-only (light) ticks of a log axis over `range` (positive):
/// powers of ten, with 2 and 5 (or every digit) in between when the axis spans few decades,
/// and evenly spaced round numbers when the range holds fewer than two of those.
fn log_ticks(range: &Range<f64>) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = (range.start, range.end);
    let decades = hi.log10() - lo.log10();
    let bold_mantissas: &[f64] = if decades <= 1.0 {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    } else if decades <= 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let every = (decades / 8.0).ceil().max(1.0) as i32;
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let at = |mantissas: &'static [f64], step: i32| -> Vec<f64> {
        (first..=last)
            .filter(|e| e.rem_euclid(step) == 0)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(inside)
            .collect()
    };
    let mut bold = at(bold_mantissas, every);
    if bold.len() < 2 {
        bold = linear_ticks(lo, hi);
    }
    let light = if decades <= 6.0 {
        at(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1)
    } else {
        at(&[1.0], 1)
    };
    (bold, light)
}

/// About five round, evenly spaced values (steps of 1, 2 or 5 times a power of ten) in
/// `[lo, hi]`.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

impl Figure for LinePlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let linear = |a: &Axis| RangedCoordf64::from(a.range.clone());
        let log = |a: &Axis| {
            let (bold, light) = log_ticks(&a.range);
            LogCoord::<f64>::from(a.range.clone().log_scale())
                .with_key_points(bold)
                .with_light_points(light)
        };
        match (self.x.log, self.y.log) {
            (false, false) => self.draw_chart(root, linear(&self.x), linear(&self.y)),
            (false, true) => self.draw_chart(root, linear(&self.x), log(&self.y)),
            (true, false) => self.draw_chart(root, log(&self.x), linear(&self.y)),
            (true, true) => self.draw_chart(root, log(&self.x), log(&self.y)),
        }
    }
}

impl LinePlot<'_> {
    /// Axes, grid, curves and legend on the given coordinate types (linear or log).
    fn draw_chart<DB, X, Y>(&self, root: &DrawingArea<DB, Shift>, x: X, y: Y) -> DrawResult
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(self.labels.title, font(30.0))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x, y)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(205, 205, 205))
            .x_desc(self.labels.x)
            .y_desc(self.labels.y)
            .axis_desc_style(font(22.0))
            .label_style(font(18.0))
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(draw_error)?;
        for (i, curve) in self.curves.iter().enumerate() {
            draw_curve(&mut chart, curve, SERIES_COLOURS[i % SERIES_COLOURS.len()])?;
        }
        draw_legend_at(&mut chart, self.legend)
    }
}

/// One curve: the joining line, a dot on every point, and its legend entry.
fn draw_curve<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    curve: &Curve<'_>,
    colour: RGBColor,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let line = colour.stroke_width(2);
    let dots = curve.points.iter().map(|&p| Circle::new(p, 3, colour.filled()));
    if curve.joined {
        chart
            .draw_series(LineSeries::new(curve.points.iter().copied(), line))
            .map_err(draw_error)?
            .label(curve.label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(-12, 0), (12, 0)], line)
                    + Circle::new((0, 0), 3, colour.filled())
            });
        chart.draw_series(dots).map_err(draw_error)?;
    } else {
        chart
            .draw_series(dots)
            .map_err(draw_error)?
            .label(curve.label)
            .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
    }
    // Spread bars: a vertical line from lo to hi with a short cap at each end.
    let thin = colour.stroke_width(1);
    let spans = curve
        .bars
        .iter()
        .map(|&(x, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], thin));
    chart.draw_series(spans).map_err(draw_error)?;
    let caps = curve
        .bars
        .iter()
        .flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)])
        .map(|p| EmptyElement::at(p) + PathElement::new(vec![(-4, 0), (4, 0)], thin));
    chart.draw_series(caps).map_err(draw_error)?;
    Ok(())
}

/// Screen pixels per image pixel in [`image_grid`].
const GRID_PIXEL_SCALE: u32 = 3;
/// Gap between two images of [`image_grid`], in screen pixels.
const GRID_GAP: u32 = 6;
/// Width of the row-label column of [`image_grid`].
const GRID_LABEL_WIDTH: u32 = 260;
/// Height of the title band of [`image_grid`].
const GRID_TITLE_HEIGHT: u32 = 48;
/// Height of the column-label band of [`image_grid`].
const GRID_HEADER_HEIGHT: u32 = 28;

/// One row of an [`image_grid`]: a label and one square grey-scale image per column
/// (row-major, `side²` values, 0 = black, 1 = white, clamped); `None` draws the blank (all
/// black) image.
#[derive(Clone, Debug)]
pub struct GridRow {
    /// Text left of the row.
    pub label: String,
    /// One image per column.
    pub images: Vec<Option<Vec<f64>>>,
}

/// A grid of grey-scale images (e.g. digits and their reconstructions): `title` on top,
/// `column_labels` above the columns, one labelled row per [`GridRow`]. Every image is
/// `side × side`; non-finite pixels are drawn grey. Errors when a row does not have one
/// image per column or an image has the wrong size.
pub fn image_grid(path: &Path, title: &str, side: usize, column_labels: &[String], rows: &[GridRow]) -> Result<()> {
    let fail = |reason: String| plot_error(path, reason);
    output_format(path).map_err(fail)?;
    if rows.is_empty() || column_labels.is_empty() || side == 0 {
        return Err(fail(
            "an image grid needs at least one row, one column and a positive side".into(),
        ));
    }
    for row in rows {
        if row.images.len() != column_labels.len() {
            return Err(fail(format!(
                "row {:?} has {} images for {} columns",
                row.label,
                row.images.len(),
                column_labels.len()
            )));
        }
        if let Some(bad) = row.images.iter().flatten().find(|im| im.len() != side * side) {
            return Err(fail(format!(
                "row {:?} has an image of {} pixels; a {side}×{side} image has {}",
                row.label,
                bad.len(),
                side * side
            )));
        }
    }
    let cell = side as u32 * GRID_PIXEL_SCALE;
    // About 0.55 em per character of the 24-pixel title.
    let title_width = 2 * MARGIN + (title.chars().count() as f64 * 13.5) as u32;
    let size = (
        (GRID_LABEL_WIDTH + column_labels.len() as u32 * (cell + GRID_GAP) + MARGIN).max(title_width),
        GRID_TITLE_HEIGHT + GRID_HEADER_HEIGHT + rows.len() as u32 * (cell + GRID_GAP) + MARGIN,
    );
    let figure = ImageGrid {
        title,
        side,
        cell,
        column_labels,
        rows,
    };
    render(path, size, &figure)
}

/// A validated image grid, ready to draw.
struct ImageGrid<'a> {
    title: &'a str,
    side: usize,
    cell: u32,
    column_labels: &'a [String],
    rows: &'a [GridRow],
}

impl ImageGrid<'_> {
    /// Top-left screen corner of the image at (`row`, `column`).
    fn corner(&self, row: usize, column: usize) -> (i32, i32) {
        let step = self.cell + GRID_GAP;
        (
            (GRID_LABEL_WIDTH + column as u32 * step) as i32,
            (GRID_TITLE_HEIGHT + GRID_HEADER_HEIGHT + row as u32 * step) as i32,
        )
    }

    /// Draws one image (or the blank one) with its top-left corner at `at`.
    fn draw_image<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        at: (i32, i32),
        image: Option<&[f64]>,
    ) -> DrawResult {
        let scale = GRID_PIXEL_SCALE as i32;
        for r in 0..self.side {
            for c in 0..self.side {
                let colour = match image.map(|im| im[r * self.side + c]) {
                    None => BLACK,
                    Some(v) if !v.is_finite() => NON_FINITE_COLOUR,
                    Some(v) => {
                        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                        RGBColor(g, g, g)
                    }
                };
                let (x, y) = (at.0 + c as i32 * scale, at.1 + r as i32 * scale);
                root.draw(&Rectangle::new([(x, y), (x + scale, y + scale)], colour.filled()))
                    .map_err(draw_error)?;
            }
        }
        Ok(())
    }
}

impl Figure for ImageGrid<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.draw(&Text::new(self.title, (MARGIN as i32, 10), font(24.0)))
            .map_err(draw_error)?;
        for (j, label) in self.column_labels.iter().enumerate() {
            let (x, y) = self.corner(0, j);
            root.draw(&Text::new(
                label.as_str(),
                (x, y - GRID_HEADER_HEIGHT as i32 + 4),
                font(16.0),
            ))
            .map_err(draw_error)?;
        }
        for (i, row) in self.rows.iter().enumerate() {
            let (_, y) = self.corner(i, 0);
            let label_y = y + self.cell as i32 / 2 - 8;
            root.draw(&Text::new(row.label.as_str(), (MARGIN as i32, label_y), font(16.0)))
                .map_err(draw_error)?;
            for (j, image) in row.images.iter().enumerate() {
                self.draw_image(root, self.corner(i, j), image.as_deref())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dpr-audit-plot-{}-{}-{name}", std::process::id(), n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn grid(n: usize) -> Vec<f64> {
        (0..n).map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64).collect()
    }

    fn field(xs: &[f64], ys: &[f64]) -> Vec<f64> {
        ys.iter()
            .flat_map(|&y| xs.iter().map(move |&x| x * x + y * y))
            .collect()
    }

    fn markers() -> Vec<Marker> {
        vec![
            Marker {
                label: "x0".into(),
                x: 0.5,
                y: 0.25,
            },
            Marker {
                label: "−ρ_d x0".into(),
                x: -0.4,
                y: -0.2,
            },
            Marker {
                label: "0".into(),
                x: 0.0,
                y: 0.0,
            },
        ]
    }

    fn series() -> Vec<Series> {
        vec![
            Series {
                label: "decay".into(),
                points: (1..=20).map(|k| (k as f64, (-0.3 * k as f64).exp())).collect(),
            },
            Series {
                label: "power".into(),
                points: (1..=20).map(|k| (k as f64, 1.0 / k as f64)).collect(),
            },
        ]
    }

    fn assert_written(path: &Path) {
        let bytes = std::fs::read(path).expect("plot file exists");
        assert!(!bytes.is_empty(), "{} is empty", path.display());
        if path.extension().is_some_and(|e| e == "png") {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        } else {
            assert!(String::from_utf8_lossy(&bytes).contains("<svg"), "not an SVG");
        }
    }

    fn assert_plot_error(result: Result<()>, needle: &str) {
        match result {
            Err(Error::Plot { reason, .. }) => {
                assert!(reason.contains(needle), "reason {reason:?} lacks {needle:?}")
            }
            other => panic!("expected Error::Plot containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn an_axis_label_without_a_unit_is_refused() {
        let dir = std::env::temp_dir().join(format!("dpr-audit-plot-units-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("u.png");
        let (xs, ys) = ([0.0, 1.0], [0.0, 1.0]);
        let series = [Series {
            label: "s".into(),
            points: vec![(1.0, 1.0), (2.0, 3.0)],
        }];
        assert_plot_error(
            line_plot(&png, "t", "n", "epsilon (dimensionless)", &series, false, false),
            "axis label \"n\" names no unit",
        );
        assert_plot_error(
            line_plot(&png, "t", "n (neurons)", "epsilon", &series, false, false),
            "axis label \"epsilon\" names no unit",
        );
        assert_plot_error(
            heatmap(&png, "t", "x (rad)", "y (rad)", "F(x)", &xs, &ys, &[0.0; 4], &[]),
            "axis label \"F(x)\" names no unit",
        );
        assert!(!png.exists(), "a refused figure leaves no file");
        line_plot(
            &png,
            "t",
            "n (neurons)",
            "epsilon (dimensionless)",
            &series,
            false,
            false,
        )
        .expect("labels with units");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_png_figure_becomes_the_files_of_the_format() {
        let png = Path::new("c2/fig.png");
        assert_eq!(figure_files_as(FigureFormat::Png, png), [PathBuf::from("c2/fig.png")]);
        assert_eq!(figure_files_as(FigureFormat::Svg, png), [PathBuf::from("c2/fig.svg")]);
        assert_eq!(
            figure_files_as(FigureFormat::Both, png),
            [PathBuf::from("c2/fig.png"), PathBuf::from("c2/fig.svg")]
        );
        // An explicit .svg (or any other name) is written as it is, whatever the format.
        for format in [FigureFormat::Png, FigureFormat::Svg, FigureFormat::Both] {
            assert_eq!(figure_files_as(format, Path::new("a.svg")), [PathBuf::from("a.svg")]);
            assert_eq!(figure_files_as(format, Path::new("t.csv")), [PathBuf::from("t.csv")]);
        }
    }

    #[test]
    fn heatmap_writes_png_and_svg() {
        let dir = temp_dir("heatmap");
        let (xs, ys) = (grid(21), grid(15));
        let values = field(&xs, &ys);
        for name in ["heat.png", "heat.svg"] {
            let path = dir.join(name);
            heatmap(
                &path,
                "f(x, y)",
                "x (latent units)",
                "y (latent units)",
                "f (units of b²)",
                &xs,
                &ys,
                &values,
                &markers(),
            )
            .expect("heat map renders");
            assert_written(&path);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn heatmap_pair_with_overlays_and_outlines_writes_png_and_svg() {
        let dir = temp_dir("pair");
        let (xs, ys) = (grid(21), grid(15));
        let values = field(&xs, &ys);
        let other: Vec<f64> = values.iter().map(|v| -v).collect();
        let overlays = [
            Overlay {
                label: "inside and outside".into(),
                points: vec![(0.1, 0.2), (5.0, 5.0), (f64::NAN, 0.0)],
            },
            Overlay {
                label: "none".into(),
                points: vec![],
            },
        ];
        let outlines = [Outline {
            label: "circle crossing the edge".into(),
            points: (0..=64)
                .map(|i| {
                    let a = std::f64::consts::TAU * i as f64 / 64.0;
                    (0.8 + 0.5 * a.cos(), 0.5 * a.sin())
                })
                .collect(),
        }];
        let markers = markers();
        let layers = Layers {
            markers: &markers,
            overlays: &overlays,
            outlines: &outlines,
        };
        let panels = [
            Panel {
                title: "f",
                value_label: "f (units of b²)",
                values: &values,
            },
            Panel {
                title: "-f",
                value_label: "-f (units of b²)",
                values: &other,
            },
        ];
        for name in ["pair.png", "pair.svg"] {
            let path = dir.join(name);
            heatmap_pair(
                &path,
                "two fields",
                "s (units of |x0|)",
                "t (units of |x0|)",
                &xs,
                &ys,
                panels,
                &layers,
            )
            .expect("pair renders");
            assert_written(&path);
        }
        let short = [
            Panel {
                values: &values[1..],
                ..panels[0]
            },
            panels[1],
        ];
        assert_plot_error(
            heatmap_pair(
                &dir.join("bad.png"),
                "t",
                "s (units of |x0|)",
                "t (units of |x0|)",
                &xs,
                &ys,
                short,
                &layers,
            ),
            "values has",
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn line_plot_writes_png_and_svg_on_all_axis_kinds() {
        let dir = temp_dir("lines");
        for (k, (log_x, log_y)) in [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            for ext in ["png", "svg"] {
                let path = dir.join(format!("lines{k}.{ext}"));
                line_plot(
                    &path,
                    "convergence",
                    "iteration (count)",
                    "error (dimensionless)",
                    &series(),
                    log_x,
                    log_y,
                )
                .expect("line plot renders");
                assert_written(&path);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn constant_and_non_finite_fields_render() {
        let dir = temp_dir("degenerate");
        let (xs, ys) = (grid(3), grid(2));
        let constant = vec![2.5; 6];
        heatmap(
            &dir.join("c.png"),
            "t",
            "x (latent units)",
            "y (latent units)",
            "v (dimensionless)",
            &xs,
            &ys,
            &constant,
            &[],
        )
        .expect("constant field renders");
        let zeros = vec![0.0; 6];
        heatmap(
            &dir.join("z.svg"),
            "t",
            "x (latent units)",
            "y (latent units)",
            "v (dimensionless)",
            &xs,
            &ys,
            &zeros,
            &[],
        )
        .expect("zero field renders");
        let holes = vec![1.0, f64::NAN, 3.0, f64::INFINITY, 5.0, f64::NEG_INFINITY];
        heatmap(
            &dir.join("n.png"),
            "t",
            "x (latent units)",
            "y (latent units)",
            "v (dimensionless)",
            &xs,
            &ys,
            &holes,
            &[],
        )
        .expect("field with holes renders");
        let nothing = vec![f64::NAN; 6];
        heatmap(
            &dir.join("all-nan.png"),
            "t",
            "x (latent units)",
            "y (latent units)",
            "v (dimensionless)",
            &xs,
            &ys,
            &nothing,
            &[],
        )
        .expect("all-NaN field renders");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn log_axes_skip_series_without_positive_points() {
        let dir = temp_dir("logskip");
        let mut s = series();
        s.push(Series {
            label: "negative".into(),
            points: vec![(1.0, -1.0), (2.0, 0.0), (3.0, f64::NAN)],
        });
        let path = dir.join("skip.png");
        line_plot(&path, "t", "x (latent units)", "y (dimensionless)", &s, true, true).expect("skips the bad series");
        assert_written(&path);
        let only_bad = &s[2..];
        assert_plot_error(
            line_plot(
                &dir.join("bad.png"),
                "t",
                "x (latent units)",
                "y (dimensionless)",
                only_bad,
                false,
                true,
            ),
            "no series has a finite point",
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_input_is_an_error() {
        let dir = temp_dir("bad");
        let (xs, ys) = (grid(4), grid(3));
        let png = dir.join("bad.png");
        // The heat map with fixed labels: only the path and the data vary below.
        let square = |path: &Path, xs: &[f64], ys: &[f64], values: &[f64], markers: &[Marker]| {
            heatmap(
                path,
                "t",
                "x (latent units)",
                "y (latent units)",
                "v (dimensionless)",
                xs,
                ys,
                values,
                markers,
            )
        };
        assert_plot_error(square(&png, &xs, &ys, &[0.0; 11], &[]), "values has 11 entries");
        assert_plot_error(square(&png, &xs[..1], &ys, &[0.0; 3], &[]), "at least 2");
        assert_plot_error(square(&png, &[1.0, 0.0], &ys, &[0.0; 6], &[]), "strictly increasing");
        let bad_marker = [Marker {
            label: "m".into(),
            x: f64::NAN,
            y: 0.0,
        }];
        assert_plot_error(square(&png, &xs, &ys, &[0.0; 12], &bad_marker), "finite");
        assert_plot_error(square(&dir.join("bad.jpg"), &xs, &ys, &[0.0; 12], &[]), "extension");
        assert_plot_error(
            line_plot(
                &dir.join("bad"),
                "t",
                "x (latent units)",
                "y (dimensionless)",
                &series(),
                false,
                false,
            ),
            "extension",
        );
        assert_plot_error(
            line_plot(&png, "t", "x (latent units)", "y (dimensionless)", &[], false, false),
            "no series",
        );
        let huge = [Series {
            label: "huge".into(),
            points: vec![(-1e308, 0.0), (1e308, 1.0)],
        }];
        assert_plot_error(
            line_plot(&png, "t", "x (latent units)", "y (dimensionless)", &huge, false, false),
            "too wide",
        );
        assert!(!png.exists(), "nothing is written for invalid input");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = temp_dir("missing");
        let path = dir.join("no-such-dir").join("p.png");
        let result = line_plot(
            &path,
            "t",
            "x (latent units)",
            "y (dimensionless)",
            &series(),
            false,
            false,
        );
        assert!(matches!(result, Err(Error::Plot { .. })), "{result:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn colour_helpers_are_robust() {
        assert_eq!(colour_range(&[3.0, 3.0]), 2.85..3.15);
        assert_eq!(colour_range(&[0.0]), -0.5..0.5);
        assert_eq!(colour_range(&[f64::NAN]), 0.0..1.0);
        assert_eq!(colour_range(&[1.0, f64::NAN, -2.0]), -2.0..1.0);
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(2.0), viridis(1.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(cell_edges(&[0.0, 1.0, 3.0]), vec![-0.5, 0.5, 2.0, 4.0]);
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(1e-6), "1e-6");
        assert_eq!(tick_label(123456.0), "1.23e5");
    }

    #[test]
    fn spread_plots_and_image_grids_render_and_check_their_input() {
        let dir = temp_dir("spread-grid");
        let rising = SpreadSeries {
            label: "rising".into(),
            points: vec![
                (1.0, 0.2, 0.1, 0.3),
                (10.0, 0.9, 0.8, 1.0),
                (100.0, 0.95, f64::NAN, 0.99),
            ],
        };
        let falling = SpreadSeries {
            label: "falling, one bar end below 0".into(),
            points: vec![(1.0, 0.5, -0.1, 0.6), (100.0, 0.01, 0.005, 0.02)],
        };
        for (log_y, ext) in [(false, "png"), (true, "svg")] {
            let path = dir.join(format!("spread.{ext}"));
            line_plot_with_spread(
                &path,
                "t",
                "m (measurements)",
                "y (dimensionless)",
                &[rising.clone(), falling.clone()],
                true,
                log_y,
            )
            .expect("spread plot renders");
            assert_written(&path);
        }
        // Rising curves fill the upper right: the legend moves down.
        let curve = |s: &SpreadSeries| Curve {
            label: "c",
            points: s.points.iter().map(|p| (p.0, p.1)).collect(),
            bars: Vec::new(),
            joined: true,
        };
        let axis = |range: Range<f64>, log: bool| Axis { range, log };
        let (x, y) = (axis(0.5..200.0, true), axis(0.0..1.0, false));
        assert_eq!(
            emptier_right_corner(&[curve(&rising)], &x, &y),
            LegendCorner::LowerRight
        );
        assert_eq!(
            emptier_right_corner(&[curve(&falling)], &x, &y),
            LegendCorner::UpperRight
        );
        assert_plot_error(
            line_plot_with_spread(
                &dir.join("none.png"),
                "t",
                "x (latent units)",
                "y (dimensionless)",
                &[],
                false,
                false,
            ),
            "no series",
        );

        let image = |v: f64| Some(vec![v; 9]);
        let rows = vec![
            GridRow {
                label: "truth".into(),
                images: vec![image(1.0), image(f64::NAN)],
            },
            GridRow {
                label: "estimate".into(),
                images: vec![None, image(0.5)],
            },
        ];
        let columns = vec!["a".to_string(), "b".to_string()];
        let png = dir.join("grid.png");
        image_grid(&png, "a grid", 3, &columns, &rows).expect("grid renders");
        assert_written(&png);
        assert_plot_error(image_grid(&png, "t", 3, &columns[..1], &rows), "2 images for 1 columns");
        assert_plot_error(image_grid(&png, "t", 4, &columns, &rows), "a 4×4 image has 16");
        assert_plot_error(image_grid(&png, "t", 3, &columns, &[]), "at least one row");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
