//! The range-restricted WDC certificate of `k = 2` networks (docs/THEORY.md §17) against an
//! evaluation written independently of the search code: `G_{i−1}(u)` and `Λ_{i−1}` from the
//! network's own forward pass and Jacobian (`Network::generate`, `Network::active_product`),
//! `U_s` by Gram–Schmidt here, the full `n_{i−1} × n_{i−1}` matrix `D_i(x, y)` with
//! `q_matrix`, and the `2 × 2` norm from the eigenvalues of `PᵀP`.

mod common;
use common::{assert_ok, run};

use dpr_audit::conditions::certify_boxes::{Budget, Stop, Tolerance};
use dpr_audit::conditions::certify_range::{RangeCertificate, RangeLayer, RangeSearch, certify_range};
use dpr_audit::core::expected::q_matrix;
use dpr_audit::core::network::{Network, WeightScale};
use dpr_audit::rng::{Stream, stream};
use rand::RngExt;

fn network(widths: &[usize], seed: u64) -> Network {
    let mut rng = stream(seed, "wdc-range-test", 0, Stream::Block(0));
    Network::gaussian(widths, WeightScale::Normalized, &mut rng)
}

/// What the independent evaluation needs at one latent angle: the unit `x = G_{i−1}(u)/‖·‖`,
/// an orthonormal basis `U` of `span Λ_{i−1}(u)` and the rows of `W_i U` active at `x`.
struct Point {
    x: Vec<f64>,
    basis: [Vec<f64>; 2],
    rows: Vec<Option<[f64; 2]>>,
}

fn point(net: &Network, layer: usize, angle: f64) -> Point {
    let prefix = Network::from_layers(net.layers()[..layer].to_vec()).unwrap();
    let u = [angle.cos(), angle.sin()];
    let g = prefix.generate(&u);
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let lambda = prefix.active_product(&u);
    let n = lambda.nrows();
    let a: Vec<f64> = (0..n).map(|i| lambda[(i, 0)]).collect();
    let b: Vec<f64> = (0..n).map(|i| lambda[(i, 1)]).collect();
    let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(s, t)| s * t).sum::<f64>();
    let na = dot(&a, &a).sqrt();
    let e1: Vec<f64> = a.iter().map(|v| v / na).collect();
    let c = dot(&e1, &b);
    let r: Vec<f64> = b.iter().zip(&e1).map(|(v, e)| v - c * e).collect();
    let nr = dot(&r, &r).sqrt();
    assert!(nr > 1e-8 * na, "Λ of rank 2 at every grid angle of these networks");
    let e2: Vec<f64> = r.iter().map(|v| v / nr).collect();
    let w = &net.layers()[layer].weight;
    let rows = (0..w.nrows())
        .map(|row| {
            let wr: Vec<f64> = (0..n).map(|j| w[(row, j)]).collect();
            (dot(&wr, &g) > 0.0).then(|| [dot(&wr, &e1), dot(&wr, &e2)])
        })
        .collect();
    Point {
        x: g.iter().map(|v| v / norm).collect(),
        basis: [e1, e2],
        rows,
    }
}

/// `‖U_xᵀ D_i(x, y) U_y‖`, independently of the library's search code.
fn value(p: &Point, q: &Point) -> f64 {
    let n = p.x.len();
    let mut m = [[0.0; 2]; 2];
    for (a, b) in p.rows.iter().zip(&q.rows) {
        if let (Some(a), Some(b)) = (a, b) {
            (0..2).for_each(|i| (0..2).for_each(|j| m[i][j] += a[i] * b[j]));
        }
    }
    let qm = q_matrix(&p.x, &q.x);
    for (row_m, left) in m.iter_mut().zip(&p.basis) {
        for (entry, right) in row_m.iter_mut().zip(&q.basis) {
            let mut s = 0.0;
            for r in 0..n {
                let row: f64 = (0..n).map(|c| qm[(r, c)] * right[c]).sum();
                s += left[r] * row;
            }
            *entry -= s;
        }
    }
    // σ_max² is the larger eigenvalue of PᵀP: (F + √(F² − 4 det²))/2 with F = ‖P‖_F².
    let f: f64 = m.iter().flatten().map(|v| v * v).sum();
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    ((f + (f * f - 4.0 * det * det).max(0.0).sqrt()) / 2.0).sqrt()
}

fn certify(net: &Network, layer: usize, tol: f64, budget: Budget, keep: bool) -> RangeCertificate {
    let weights: Vec<_> = net.layers().iter().map(|l| l.weight.as_ref()).collect();
    let prepared = RangeLayer::new(&weights, layer).unwrap();
    let search = RangeSearch {
        tolerance: Tolerance::Absolute(tol),
        budget,
        keep_leaves: keep,
    };
    certify_range(&prepared, layer, &search, &mut |_| {})
}

/// Points on the diagonal `u = u′` of the grid: a 1-D grid this fine resolves cells far
/// narrower than the 2-D grid's spacing (the arg-max of `2-20-50`, seed 11, is `u = u′` in a
/// cell 0.0022 rad wide, which a 400 × 400 grid misses).
const DIAGONAL: usize = 20_000;

/// The maximum over an `N × N` grid of latent angles (both orders, so the symmetry of the
/// certificate is not assumed) and over [`DIAGONAL`] points of the diagonal.
fn grid_max(net: &Network, layer: usize, n: usize) -> f64 {
    let angle = |j: usize, n: usize| (j as f64 + 0.5) * std::f64::consts::TAU / n as f64;
    let points: Vec<Point> = (0..n).map(|j| point(net, layer, angle(j, n))).collect();
    let mut best = f64::NEG_INFINITY;
    for p in &points {
        for q in &points {
            best = best.max(value(p, q));
        }
    }
    (0..DIAGONAL)
        .map(|j| {
            let p = point(net, layer, angle(j, DIAGONAL));
            value(&p, &p)
        })
        .fold(best, f64::max)
}

/// The grid brackets: its maximum is a value of the objective, so it is at most `upper`
/// (up to the rounding of the two evaluations, 1e-9). The grid's resolution slack: the
/// certificate's arg-max lies within `π/N` of a grid point in each angle, where the objective
/// is at most `2 κ_max / N` lower (docs/THEORY.md §17.2) — provided that grid point lies in
/// the arg-max's own cell pair (the objective jumps between cells). That holds for these
/// networks (with the diagonal grid); a failure means a wrong `lower` or a wrong Lipschitz
/// factor, or an arg-max cell narrower than the grid spacing (then the message says so).
fn brackets(widths: &[usize], seed: u64, n: usize) {
    let net = network(widths, seed);
    let cert = certify(&net, 1, 1e-2, Budget::Unlimited, false);
    assert_eq!(cert.stop, Stop::Converged);
    assert!(cert.gap() <= 1e-2 + 1e-12);
    // The arg-max pair itself, evaluated independently, attains `lower` (up to the rounding
    // bound the certificate subtracted).
    let at = value(&point(&net, 1, cert.argmax_alpha), &point(&net, 1, cert.argmax_beta));
    assert!(
        at >= cert.lower - 1e-9 && at <= cert.upper + 1e-9,
        "{at} outside [{}, {}]",
        cert.lower,
        cert.upper
    );
    let grid = grid_max(&net, 1, n);
    let slack = 2.0 * cert.kappa_max / n as f64;
    assert!(
        grid <= cert.upper + 1e-9,
        "{widths:?}: grid {grid} above upper {}",
        cert.upper
    );
    assert!(
        grid >= cert.lower - slack,
        "{widths:?}: grid {grid} below lower {} − slack {slack}",
        cert.lower
    );
}

#[test]
fn the_certificate_brackets_a_dense_grid_on_2_20_50() {
    brackets(&[2, 20, 50], 11, 400);
}

#[test]
fn the_certificate_brackets_a_dense_grid_on_2_50_200() {
    brackets(&[2, 50, 200], 12, 240);
}

#[test]
fn every_leaf_bound_holds_at_random_points_inside_it() {
    // A tolerance small enough that the search refines (children are leaves too), on a
    // three-layer network (layer 3: planes of a two-layer prefix).
    let net = network(&[2, 12, 30, 40], 13);
    for layer in [1, 2] {
        let cert = certify(&net, layer, 2e-3, Budget::Unlimited, true);
        assert_eq!(cert.leaf_list.len() as u64, cert.leaves);
        assert!(cert.nodes > cert.leaves, "the search refined some rectangles");
        let mut rng = stream(14, "wdc-range-leaves", layer as u64, Stream::Block(0));
        for (i, leaf) in cert.leaf_list.iter().enumerate().filter(|(i, _)| i % 7 == 0) {
            let a = leaf.centre.0 + leaf.half.0 * rng.random_range(-1.0..1.0);
            let b = leaf.centre.1 + leaf.half.1 * rng.random_range(-1.0..1.0);
            let v = value(&point(&net, layer, a), &point(&net, layer, b));
            assert!(
                v <= leaf.bound,
                "layer {}: leaf {i} bound {} < value {v}",
                layer + 1,
                leaf.bound
            );
            assert!(leaf.bound <= cert.upper);
        }
    }
}

#[test]
fn a_budget_stops_the_search_with_an_honest_interval() {
    let net = network(&[2, 20, 50], 11);
    let full = certify(&net, 1, 1e-4, Budget::Unlimited, false);
    let cut = certify(&net, 1, 1e-4, Budget::Nodes(1), false);
    assert_eq!(cut.stop, Stop::Budget);
    assert!(cut.gap() > 1e-4);
    assert!(
        cut.lower <= full.lower && cut.upper >= full.upper,
        "the cut interval contains the finished one"
    );
}

#[test]
fn the_certificate_is_identical_for_any_thread_count() {
    let net = network(&[2, 30, 80], 15);
    let run_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| certify(&net, 1, 1e-3, Budget::Unlimited, true))
    };
    let (one, four) = (run_with(1), run_with(4));
    assert_eq!(one.lower.to_bits(), four.lower.to_bits());
    assert_eq!(one.upper.to_bits(), four.upper.to_bits());
    assert_eq!(
        (one.nodes, one.pruned, one.leaves),
        (four.nodes, four.pruned, four.leaves)
    );
    assert_eq!(one.argmax_alpha.to_bits(), four.argmax_alpha.to_bits());
    assert_eq!(one.leaf_list, four.leaf_list);
}

#[test]
fn the_command_reports_range_rows_beside_the_full_domain_and_the_csv_is_thread_independent() {
    let dir = common::scratch_dir("wdc-range", "cli");
    let csv = |threads: &str, out: &str| {
        let o = run(
            &dir,
            &[
                "--threads",
                threads,
                "--out",
                out,
                "wdc",
                "--widths",
                "2,20,50",
                "--domain",
                "range",
                "--certify",
                "--no-audit",
                "--tol",
                "1e-3",
            ],
        );
        assert_ok(&o);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(text.contains("range-restricted: ε_range ∈ ["), "{text}");
        assert!(text.contains("full domain: ε ≥"), "{text}");
        std::fs::read_to_string(dir.join(out).join("wdc.csv")).unwrap()
    };
    let one = csv("1", "one");
    assert_eq!(one, csv("3", "three"));
    let range_rows = one.lines().filter(|l| l.contains(",range,")).count();
    assert_eq!(range_rows, 1, "one range row (layer 2):\n{one}");
}

/// `--certificate` writes the cells and every leaf; `check-certificate` accepts it, and refuses
/// it with one leaf bound lowered, one leaf removed (from a refined cell pair and from a pair
/// with a single leaf), one cell removed or `upper` lowered (exit 3). A file the tool did not
/// write is never overwritten (exit 2, file untouched).
#[test]
fn certificate_files_are_checked_independently_and_tampering_is_refused() {
    let dir = common::scratch_dir("wdc-range", "files");
    let widths = ["--widths", "2,20,50"];
    let certify = [
        "wdc",
        widths[0],
        widths[1],
        "--domain",
        "range",
        "--certify",
        "--no-audit",
    ];
    let mut args = vec!["--out", "o"];
    args.extend_from_slice(&certify);
    args.extend_from_slice(&["--tol", "2e-3", "--certificate", "r.json"]);
    let o = run(&dir, &args);
    assert_ok(&o);
    let check = |name: &str| {
        let o = run(&dir, &["check-certificate", name, widths[0], widths[1]]);
        (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (code, text) = check("r.json");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ACCEPTED"), "{text}");
    common::assert_tampering_refused(&dir, "r.json", |_| 1e-3, &check);
    common::assert_foreign_file_kept(&dir, &certify);
}
