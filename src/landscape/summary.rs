//! Judging the claim on the probes: each point's region relative to the
//! balls fixed beforehand, the counterexamples (`no_descent` outside both balls, not the
//! origin), and counts per set.

use super::classify::Class;
use super::neighbourhoods::{Balls, EmpiricalRadii, Region, empirical_radii};
use super::probes::{ProbePoint, SetKind};
use super::{Measured, Truth};
use crate::core::expected::expected_objective;

/// Points per class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClassCounts {
    /// `descent`.
    pub descent: usize,
    /// `no_descent`.
    pub no_descent: usize,
    /// `critical`.
    pub critical: usize,
}

impl ClassCounts {
    fn add(&mut self, class: Class) {
        match class {
            Class::Descent => self.descent += 1,
            Class::NoDescent => self.no_descent += 1,
            Class::Critical => self.critical += 1,
        }
    }
}

/// The judgement of one probe set (or of all of them).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SetSummary {
    /// The set's name, or `all`.
    pub set: &'static str,
    /// Probe points.
    pub points: usize,
    /// Points per class.
    pub counts: ClassCounts,
    /// Points at the origin (excluded from the claim).
    pub origin_points: usize,
    /// Points with `‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`.
    pub exceptional: usize,
    /// Points inside the ball around `x0`.
    pub in_ball_pos: usize,
    /// Points inside the ball around `−ρ_d x0`.
    pub in_ball_neg: usize,
    /// `no_descent` points outside both balls, not the origin: counterexamples to the claim.
    pub counterexamples: usize,
    /// `critical` points (`v = 0` within tolerance) outside both balls, not the origin.
    pub critical_outside: usize,
    /// `exceptional` points (`‖v‖ ≤ τ 2^{−d} max(‖x‖, ‖x0‖)`) outside both balls, not the
    /// origin: not counterexamples, but where the landscape is nearly flat beyond the balls.
    pub exceptional_outside: usize,
    /// The smallest `v_ratio` over the points outside both balls (the margin by which the
    /// probes keep away from a critical point there); `None` when no point is outside.
    pub min_v_ratio_outside: Option<f64>,
    /// Mean of `|f − F| / F(0)` over the set (`F(0) = ‖x0‖²/2^{d+1}`): how far the empirical
    /// landscape is from the expected one.
    pub mean_f_gap: f64,
    /// The empirical radii over the set's points.
    pub empirical: EmpiricalRadii,
}

/// The region of every point, from balls fixed before the probes were evaluated.
pub fn judge(results: &[Measured], balls: &Balls) -> Vec<Region> {
    results.iter().map(|m| balls.region(m)).collect()
}

/// Whether a point refutes Theorem II.1 on this instance: `no_descent` and outside both balls
/// (which excludes the origin).
pub fn is_counterexample(m: &Measured, region: Region) -> bool {
    region == Region::Outside && m.class == Class::NoDescent
}

/// Whether a point is outside both balls without strict descent (a counterexample, or a
/// critical point outside the balls, which the theorem also rules out).
pub fn is_exception(m: &Measured, region: Region) -> bool {
    region == Region::Outside && m.class != Class::Descent
}

fn summarise_selection<'a>(
    set: &'static str,
    f_origin: f64,
    selection: impl Iterator<Item = (&'a Measured, Region)> + Clone,
) -> SetSummary {
    let mut s = SetSummary {
        set,
        points: 0,
        counts: ClassCounts::default(),
        origin_points: 0,
        exceptional: 0,
        in_ball_pos: 0,
        in_ball_neg: 0,
        counterexamples: 0,
        critical_outside: 0,
        exceptional_outside: 0,
        min_v_ratio_outside: None,
        mean_f_gap: 0.0,
        empirical: empirical_radii(selection.clone().map(|(m, _)| m)),
    };
    let mut gap_sum = 0.0;
    for (m, region) in selection {
        s.points += 1;
        gap_sum += (m.value - m.expected_value).abs() / f_origin;
        s.counts.add(m.class);
        s.exceptional += usize::from(m.exceptional);
        match region {
            Region::Origin => s.origin_points += 1,
            Region::BallPos => s.in_ball_pos += 1,
            Region::BallNeg => s.in_ball_neg += 1,
            Region::Outside => {
                s.counterexamples += usize::from(is_counterexample(m, region));
                s.critical_outside += usize::from(m.class == Class::Critical);
                s.exceptional_outside += usize::from(m.exceptional);
                s.min_v_ratio_outside = Some(s.min_v_ratio_outside.map_or(m.v_ratio, |r: f64| r.min(m.v_ratio)));
            }
        }
    }
    s.mean_f_gap = gap_sum / s.points.max(1) as f64;
    s
}

/// One summary per probe set present (in [`SetKind::ALL`] order), then `all`.
pub fn summarise(points: &[ProbePoint], results: &[Measured], regions: &[Region], truth: &Truth) -> Vec<SetSummary> {
    let f_origin = expected_objective(&vec![0.0; truth.x0.len()], &truth.x0, truth.d);
    let rows = || points.iter().zip(results).zip(regions.iter().copied());
    let mut out: Vec<SetSummary> = SetKind::ALL
        .iter()
        .filter(|&&kind| points.iter().any(|p| p.set == kind))
        .map(|&kind| {
            summarise_selection(
                kind.name(),
                f_origin,
                rows()
                    .filter(move |((p, _), _)| p.set == kind)
                    .map(|((_, m), r)| (m, r)),
            )
        })
        .collect();
    out.push(summarise_selection("all", f_origin, rows().map(|((_, m), r)| (m, r))));
    out
}
