//! The assumption audit of Theorem II.1 (docs/THEORY.md §5): for a given network, each hypothesis of
//! the theorem with a status (holds, fails, cannot be checked) and the number behind it.
//!
//! | hypothesis | what is measured | kind |
//! |---|---|---|
//! | depth `d ≥ 2` | `d` | exact |
//! | bias-free | the largest absolute bias entry per layer | exact |
//! | ReLU activations | each layer's activation | exact |
//! | expansivity `n_i ≥ C n_{i−1} log n_{i−1}` | `n_i/(n_{i−1} ln n_{i−1})`: the largest `C` the layer allows (no `C` is published) | exact |
//! | iid `N(0, 1/n_i)` weights | Kolmogorov–Smirnov test against the **hypothesised** `N(0, 1/n_i)`; fitted `σ̂²` beside `1/n_i` | estimate |
//! | WDC with constant `ε` (docs/THEORY.md §2) | sampled `ε_i` per layer, as given and after rescaling to variance `1/n_i` | lower bound |
//! | `K_1 d⁸ ε^{1/4} ≤ 1` | the largest compatible `K_1 = 1/(d⁸ ε^{1/4})` (no `K_1` is published) | upper bound |
//! | HLV Prop. 1, used by the proof: `24π d⁶ √ε ≤ 1` | `24π d⁶ √ε` | lower bound |
//! | RRCP of `A` | not a property of the network (see `dpr-audit rrcp`) | — |
//!
//! **Lower bounds.** Every `ε` comes from [`estimate_layer`] over all nonzero inputs
//! ([`Domain::Full`], what the theorem needs): a sampled supremum, hence a lower bound on the
//! layer's true WDC constant. Consequences run one way only: `K_1 ≤ 1/(d⁸ ε^{1/4})` computed
//! from the lower bound is an upper bound on the largest admissible `K_1` (the true bound "can
//! only be smaller": "at most"), and `24π d⁶ √ε > 1` computed from it is a definite failure,
//! while `≤ 1` certifies nothing.
//!
//! **As given and rescaled.** The WDC is stated for `W_i` with iid `N(0, 1/n_i)` entries; a
//! trained or unit-variance layer has another scale, and `W_{+,x}ᵀ W_{+,y}` scales with it
//! while `Q_{x,y}` does not. The audit therefore reports `ε` twice: for the weights **as
//! given**, and after **rescaling** each layer to the theorem's variance, `W_i ← c_i W_i` with
//! `c_i = √(1/n_i)/σ̂_i` (the activation masks are invariant under a positive scale, and both
//! searches sample the same pairs). They answer different questions: the first is about the
//! network you have, the second about whether its *shape* (the directions of the rows) is
//! WDC-like once the scale the theorem fixes is restored.
//!
//! **A network outside the theorem** (biases, softplus, sigmoid, …) is audited all the same:
//! the hypotheses it breaks are reported as failures, the theorem's quantities are computed on
//! the weight matrices alone (with ReLU masks), and [`AuditReport::warnings`] says so.
//!
//! **Use.** [`audit`] (or [`audit_observed`] with a progress callback) runs everything and
//! returns an [`AuditReport`]: typed per-layer results ([`LayerAudit`]), the network-level
//! consequences of `ε` ([`EpsilonConsequences`]), [`AuditReport::verdicts`] (one status per
//! hypothesis), [`AuditReport::checks`] (the tidy rows of `audit.csv`) and
//! [`AuditReport::summary`] (human lines). A caller that already ran the WDC searches builds
//! the report with [`AuditReport::from_estimates`] (the rescaled network is
//! [`rescale_to_theory`]). The audit never prints.

use std::f64::consts::PI;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use super::wdc::{Domain, WdcEstimate, WdcSearch, estimate_layer};
use crate::core::network::{Activation, Layer, Network};

/// Significance level of the per-layer Kolmogorov–Smirnov test: a layer whose entries give
/// `p < 0.01` against `N(0, 1/n_i)` fails the Gaussian-weights hypothesis. One level per
/// layer, no multiple-testing correction (at most a few layers; the p-values are reported).
pub const KS_SIGNIFICANCE: f64 = 0.01;

/// Experiment name of the audit's random streams (the WDC search).
pub const AUDIT_EXPERIMENT: &str = "audit";

/// The constant of HLV Prop. 1's hypothesis `24π d⁶ √ε ≤ 1` (docs/THEORY.md §5).
pub const PROP1_CONSTANT: f64 = 24.0 * PI;

/// Below this `λ` the Kolmogorov survival function is evaluated by its theta-function form,
/// above by the alternating series: both then converge to double precision in four terms
/// (Numerical Recipes, 3rd ed., §6.14).
const KOLMOGOROV_SWITCH: f64 = 1.18;

/// The verdict on one hypothesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The hypothesis holds (for a statistical test: it is not rejected).
    Holds,
    /// The hypothesis fails (for a statistical test: it is rejected at [`KS_SIGNIFICANCE`]).
    Fails,
    /// The data cannot decide it: an unpublished constant, or a lower bound on the wrong side.
    CannotBeChecked,
}

impl Status {
    /// Words for the human summary.
    pub fn label(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::Fails => "FAILS",
            Self::CannotBeChecked => "cannot be checked",
        }
    }
}

/// What kind of number a row's value is (STYLE.md rule 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Computed exactly from the network (widths, biases, the KS statistic of the sample).
    Exact,
    /// A statistic standing for a population quantity: fitted `σ̂²`, sample mean, the
    /// asymptotic KS p-value.
    Estimate,
    /// A sampled supremum, or a quantity increasing in one: the truth is at least this.
    LowerBound,
    /// A quantity decreasing in a sampled supremum (`K_1` max): the truth is at most this.
    UpperBound,
}

/// Which weights a WDC quantity was computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// The weights as stored.
    AsGiven,
    /// Each layer multiplied by `c_i = √(1/n_i)/σ̂_i`, so that its fitted variance is `1/n_i`.
    Rescaled,
}

/// The hypotheses of Theorem II.1 (and the explicit condition of HLV Prop. 1 its proof uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hypothesis {
    /// `d ≥ 2`.
    Depth,
    /// No layer has a nonzero bias.
    BiasFree,
    /// Every activation is ReLU.
    Relu,
    /// `n_i ≥ C n_{i−1} log n_{i−1}`.
    Expansivity,
    /// `W_i` has iid `N(0, 1/n_i)` entries.
    GaussianWeights,
    /// Every layer satisfies the WDC with constant `ε`.
    Wdc,
    /// `K_1 d⁸ ε^{1/4} ≤ 1`.
    K1Requirement,
    /// `24π d⁶ √ε ≤ 1` (HLV Prop. 1, explicit constant).
    Prop1Requirement,
    /// `A` satisfies the RRCP (a property of the measurements, not of the network).
    Rrcp,
}

impl Hypothesis {
    /// Words for the human summary.
    pub fn label(self) -> &'static str {
        match self {
            Self::Depth => "depth d ≥ 2",
            Self::BiasFree => "bias-free",
            Self::Relu => "ReLU activations",
            Self::Expansivity => "expansive n_i ≥ C n_(i-1) log n_(i-1)",
            Self::GaussianWeights => "iid N(0, 1/n_i) weights",
            Self::Wdc => "WDC with constant ε",
            Self::K1Requirement => "K_1 d^8 ε^(1/4) ≤ 1",
            Self::Prop1Requirement => "24π d^6 √ε ≤ 1 (HLV Prop. 1)",
            Self::Rrcp => "RRCP of A",
        }
    }
}

/// A one-sample, two-sided Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct KsTest {
    /// Sample size `N`.
    pub samples: usize,
    /// `D = sup_t |F_N(t) − F(t)|` (exact for the sample).
    pub statistic: f64,
    /// Asymptotic p-value `Q_KS((√N + 0.12 + 0.11/√N) D)` (an approximation, good for `N ≥ 5`).
    pub p_value: f64,
}

/// `D = sup_t |F_N(t) − F(t)|` of a sample against a continuous CDF: the supremum is attained
/// at a sample point, approached from the left or the right, so with the sample sorted,
/// `D = max_i max(i/N − F(x_(i)), F(x_(i)) − (i−1)/N)` (ties are handled by the same formula).
pub fn ks_statistic(values: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted.iter().enumerate().fold(0.0, |d, (i, &x)| {
        let f = cdf(x);
        d.max((i + 1) as f64 / n - f).max(f - i as f64 / n)
    })
}

/// The Kolmogorov survival function `Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²}
/// = 1 − (√(2π)/λ) Σ_{j≥1} e^{−(2j−1)²π²/(8λ²)}`, the limit of `P(√N D > λ)`.
pub fn kolmogorov_survival(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    let q = if lambda < KOLMOGOROV_SWITCH {
        let y = (-PI * PI / (8.0 * lambda * lambda)).exp();
        1.0 - (2.0 * PI).sqrt() / lambda * (y + y.powi(9) + y.powi(25) + y.powi(49))
    } else {
        let x = (-2.0 * lambda * lambda).exp();
        2.0 * (x - x.powi(4) + x.powi(9) - x.powi(16))
    };
    q.clamp(0.0, 1.0)
}

/// The asymptotic p-value of a KS statistic `D` from `N` samples, with Stephens' small-sample
/// correction `λ = (√N + 0.12 + 0.11/√N) D`.
pub fn ks_p_value(statistic: f64, samples: usize) -> f64 {
    let root = (samples as f64).sqrt();
    kolmogorov_survival((root + 0.12 + 0.11 / root) * statistic)
}

/// KS test of `values` against `N(0, sd²)` with `sd` **given in advance**.
///
/// The hypothesised variance must not be fitted from the same sample: with `σ̂` estimated from
/// the data, `D` is stochastically smaller than under a fixed law and the Kolmogorov p-value
/// is invalid (too large; the Lilliefors correction would be needed). The audit tests the
/// theorem's exact `N(0, 1/n_i)`, which is a fixed law, and reports `σ̂²` only beside it.
///
/// # Panics
/// If `sd` is not finite and positive, or `values` is empty (caller bugs).
#[track_caller]
pub fn ks_test_normal(values: &[f64], sd: f64) -> KsTest {
    assert!(
        sd.is_finite() && sd > 0.0,
        "standard deviation must be finite and positive, got {sd}"
    );
    assert!(!values.is_empty(), "a KS test needs at least one value");
    let normal = Normal::new(0.0, sd).expect("checked above");
    let statistic = ks_statistic(values, |x| normal.cdf(x));
    KsTest {
        samples: values.len(),
        statistic,
        p_value: ks_p_value(statistic, values.len()),
    }
}

/// All entries of `W_i`, column by column.
fn entries(layer: &Layer) -> Vec<f64> {
    (0..layer.weight.ncols())
        .flat_map(|j| layer.weight.col_as_slice(j).to_vec())
        .collect()
}

/// `σ̂² = (1/N) Σ w²`: the maximum-likelihood variance in the theorem's family `N(0, σ²)`
/// (zero mean: the second moment is what `W_{+,x}ᵀ W_{+,y}` sees).
pub fn fitted_variance(layer: &Layer) -> f64 {
    let values = entries(layer);
    values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64
}

/// The network with each layer rescaled to the theorem's variance, and the factors used.
#[derive(Clone, Debug)]
pub struct Rescaled {
    /// `W_i ← c_i W_i`; biases and activations unchanged (the WDC sees only `W_i`).
    pub net: Network,
    /// `c_i = √(1/n_i)/σ̂_i`; `None` where a layer cannot be rescaled (all entries 0, or the
    /// scaled entries overflow) and was left as given.
    pub factors: Vec<Option<f64>>,
}

/// Multiplies each `W_i` by `c_i = √(1/n_i)/σ̂_i`, so that its fitted variance
/// ([`fitted_variance`]) becomes `1/n_i`.
pub fn rescale_to_theory(net: &Network) -> Rescaled {
    let mut factors = Vec::with_capacity(net.depth());
    let layers: Vec<Layer> = net
        .layers()
        .iter()
        .map(|layer| {
            let c = (1.0 / layer.weight.nrows() as f64).sqrt() / fitted_variance(layer).sqrt();
            let scaled = Layer {
                weight: &layer.weight * faer::Scale(c),
                ..layer.clone()
            };
            let finite =
                (0..scaled.weight.ncols()).all(|j| scaled.weight.col_as_slice(j).iter().all(|v| v.is_finite()));
            if c.is_finite() && c > 0.0 && finite {
                factors.push(Some(c));
                scaled
            } else {
                factors.push(None);
                layer.clone()
            }
        })
        .collect();
    let net = Network::from_layers(layers).expect("finite positive rescaling of a valid network is valid");
    Rescaled { net, factors }
}

/// The audit of one layer.
#[derive(Clone, Debug, Serialize)]
pub struct LayerAudit {
    /// Layer index `i` (1-based).
    pub layer: usize,
    /// `n_{i−1}`.
    pub n_in: usize,
    /// `n_i`.
    pub n_out: usize,
    /// `σ_i`.
    pub activation: Activation,
    /// `max |b_i|`; `None` when the layer has no bias vector.
    pub max_abs_bias: Option<f64>,
    /// `n_i / (n_{i−1} ln n_{i−1})`: the largest `C` for which this layer is expansive
    /// (infinite when `n_{i−1} = 1`).
    pub expansivity_ratio: f64,
    /// Sample mean of the entries.
    pub weight_mean: f64,
    /// `σ̂² = (1/N) Σ w²` ([`fitted_variance`]).
    pub fitted_variance: f64,
    /// The theorem's variance `1/n_i`.
    pub theory_variance: f64,
    /// KS test of the entries against `N(0, 1/n_i)` (as given).
    pub ks: KsTest,
    /// `c_i = √(1/n_i)/σ̂_i`; `None` when the layer could not be rescaled.
    pub rescale_factor: Option<f64>,
    /// Lower bound on the layer's WDC constant, weights as given.
    pub epsilon_given: f64,
    /// Lower bound on the layer's WDC constant after rescaling.
    pub epsilon_rescaled: f64,
}

impl LayerAudit {
    /// Whether the bias vector (if any) has a nonzero entry.
    pub fn has_nonzero_bias(&self) -> bool {
        self.max_abs_bias.is_some_and(|b| b > 0.0)
    }
}

/// The network-level consequences of the per-layer `ε` for one scaling.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EpsilonConsequences {
    /// `ε = max_i ε_i` (lower bound: the theorem takes one `ε` for all layers).
    pub epsilon: f64,
    /// The layer attaining it (1-based).
    pub worst_layer: usize,
    /// `1/(d⁸ ε^{1/4})`: the largest `K_1` compatible with `K_1 d⁸ ε^{1/4} ≤ 1` (upper bound).
    pub k1_max: f64,
    /// `24π d⁶ √ε` (lower bound; HLV Prop. 1 needs it `≤ 1`).
    pub prop1_lhs: f64,
}

impl EpsilonConsequences {
    fn new(depth: usize, epsilons: &[f64]) -> Self {
        let (worst, epsilon) = epsilons
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a network has at least one layer");
        let d = depth as f64;
        Self {
            epsilon,
            worst_layer: worst + 1,
            k1_max: 1.0 / (d.powi(8) * epsilon.powf(0.25)),
            prop1_lhs: PROP1_CONSTANT * d.powi(6) * epsilon.sqrt(),
        }
    }
}

/// One hypothesis, judged.
#[derive(Clone, Debug, Serialize)]
pub struct HypothesisVerdict {
    /// Which hypothesis.
    pub hypothesis: Hypothesis,
    /// Its status.
    pub status: Status,
    /// The number(s) behind the status, in words.
    pub evidence: String,
}

/// One tidy row of the audit: one number of one hypothesis, for one layer (or the network).
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Layer index (1-based); `None` for a network-level row.
    pub layer: Option<usize>,
    /// The hypothesis this number bears on.
    pub hypothesis: Hypothesis,
    /// What the number is (`d`, `max_abs_bias`, `ks_statistic`, `epsilon`, `k1_max`, …).
    pub quantity: &'static str,
    /// For WDC quantities: the weights it was computed on.
    pub scaling: Option<Scaling>,
    /// The number (`None` for a non-numeric row: the activation, the RRCP).
    pub value: Option<f64>,
    /// What kind of number it is.
    pub kind: Kind,
    /// The value the theorem compares it with, where there is one.
    pub reference: Option<f64>,
    /// The hypothesis' status as judged from this row.
    pub status: Status,
    /// A short explanation.
    pub note: String,
}

/// One step of the audit, for progress reporting (the audit never prints).
#[derive(Clone, Copy, Debug)]
pub struct AuditStep {
    /// WDC searches finished.
    pub done: usize,
    /// WDC searches in all (`2d`: as given and rescaled).
    pub total: usize,
}

/// The audit of a network against Theorem II.1.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// `[k, n_1, …, n_d]`.
    pub widths: Vec<usize>,
    /// `d`.
    pub depth: usize,
    /// The WDC search used (domain always [`Domain::Full`]).
    pub search: WdcSearch,
    /// Master seed of the WDC search.
    pub seed: u64,
    /// Per-layer results.
    pub layers: Vec<LayerAudit>,
    /// `ε = max_i ε_i` and its consequences, weights as given.
    pub given: EpsilonConsequences,
    /// The same after rescaling each layer to variance `1/n_i`.
    pub rescaled: EpsilonConsequences,
    /// Lines starting `WARNING:`: hypotheses the architecture breaks, layers not rescaled.
    pub warnings: Vec<String>,
    /// The full WDC estimates, as given (arg-max pairs, traces).
    #[serde(skip)]
    pub estimates_given: Vec<WdcEstimate>,
    /// The full WDC estimates after rescaling.
    #[serde(skip)]
    pub estimates_rescaled: Vec<WdcEstimate>,
}

/// Audits `net` (see the module doc). `search.domain` is ignored: the theorem needs
/// [`Domain::Full`], which is used. The WDC streams are keyed by [`AUDIT_EXPERIMENT`] and
/// `seed`, so the result is reproducible and independent of the thread count.
pub fn audit(net: &Network, search: &WdcSearch, seed: u64) -> AuditReport {
    audit_observed(net, search, seed, |_| {})
}

/// [`audit`], calling `observer` after each of the `2d` WDC searches (for a progress bar).
///
/// # Panics
/// If `search.pairs` is 0 (a caller bug: the command line refuses it).
#[track_caller]
pub fn audit_observed(
    net: &Network,
    search: &WdcSearch,
    seed: u64,
    mut observer: impl FnMut(AuditStep),
) -> AuditReport {
    assert!(search.pairs >= 1, "the WDC search needs at least one pair per layer");
    let search = WdcSearch {
        domain: Domain::Full,
        ..*search
    };
    let rescaled = rescale_to_theory(net);
    let total = 2 * net.depth();
    let mut done = 0;
    let mut run = |n: &Network| -> Vec<WdcEstimate> {
        (0..n.depth())
            .map(|layer| {
                let estimate = estimate_layer(n, layer, &search, seed, AUDIT_EXPERIMENT, 0);
                done += 1;
                observer(AuditStep { done, total });
                estimate
            })
            .collect()
    };
    let given = run(net);
    let after = run(&rescaled.net);
    AuditReport::from_estimates(net, &search, seed, given, after)
}

impl AuditReport {
    /// Assembles the report from WDC estimates already computed (by a caller that ran
    /// [`estimate_layer`] itself on `net` and on [`rescale_to_theory`]`(net).net`).
    ///
    /// # Panics
    /// If either list does not have one estimate per layer (a caller bug).
    #[track_caller]
    pub fn from_estimates(
        net: &Network,
        search: &WdcSearch,
        seed: u64,
        estimates_given: Vec<WdcEstimate>,
        estimates_rescaled: Vec<WdcEstimate>,
    ) -> Self {
        let depth = net.depth();
        assert!(
            estimates_given.len() == depth && estimates_rescaled.len() == depth,
            "one WDC estimate per layer is needed ({depth} layers; got {} and {})",
            estimates_given.len(),
            estimates_rescaled.len()
        );
        let factors = rescale_to_theory(net).factors;
        let layers: Vec<LayerAudit> = net
            .layers()
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let (n_out, n_in) = (layer.weight.nrows(), layer.weight.ncols());
                let values = entries(layer);
                let theory_variance = 1.0 / n_out as f64;
                LayerAudit {
                    layer: i + 1,
                    n_in,
                    n_out,
                    activation: layer.activation,
                    max_abs_bias: layer
                        .bias
                        .as_ref()
                        .map(|b| b.iter().fold(0.0_f64, |m, v| m.max(v.abs()))),
                    expansivity_ratio: n_out as f64 / (n_in as f64 * (n_in as f64).ln()),
                    weight_mean: values.iter().sum::<f64>() / values.len() as f64,
                    fitted_variance: fitted_variance(layer),
                    theory_variance,
                    ks: ks_test_normal(&values, theory_variance.sqrt()),
                    rescale_factor: factors[i],
                    epsilon_given: estimates_given[i].lower_bound,
                    epsilon_rescaled: estimates_rescaled[i].lower_bound,
                }
            })
            .collect();
        let given = EpsilonConsequences::new(depth, &layers.iter().map(|l| l.epsilon_given).collect::<Vec<_>>());
        let rescaled = EpsilonConsequences::new(depth, &layers.iter().map(|l| l.epsilon_rescaled).collect::<Vec<_>>());
        let mut warnings = Vec::new();
        let violations = net.theory_violations();
        if !violations.is_empty() {
            warnings.push(format!(
                "WARNING: {}: Theorem II.1 does not apply to this network; the theorem's quantities below (KS, ε, K_1) are computed on the weight matrices alone, with ReLU activation masks",
                violations.join("; ")
            ));
        }
        if depth < 2 {
            warnings.push(format!("WARNING: depth d = {depth}: Theorem II.1 needs d ≥ 2"));
        }
        for l in layers.iter().filter(|l| l.rescale_factor.is_none()) {
            warnings.push(format!(
                "WARNING: layer {} (fitted σ² = {:e}) cannot be rescaled to variance 1/n_i; its 'rescaled' ε is for the weights as given",
                l.layer, l.fitted_variance
            ));
        }
        Self {
            widths: net.widths(),
            depth,
            search: *search,
            seed,
            layers,
            given,
            rescaled,
            warnings,
            estimates_given,
            estimates_rescaled,
        }
    }

    /// The consequences of `ε` for one scaling.
    pub fn consequences(&self, scaling: Scaling) -> &EpsilonConsequences {
        match scaling {
            Scaling::AsGiven => &self.given,
            Scaling::Rescaled => &self.rescaled,
        }
    }

    /// Every hypothesis with its status and evidence, in the order of the module doc.
    pub fn verdicts(&self) -> Vec<HypothesisVerdict> {
        let verdict = |hypothesis, status, evidence: String| HypothesisVerdict {
            hypothesis,
            status,
            evidence,
        };
        let list = |layers: Vec<String>| layers.join(", ");
        let d = self.depth;
        let mut out = vec![verdict(
            Hypothesis::Depth,
            if d >= 2 { Status::Holds } else { Status::Fails },
            format!("d = {d}"),
        )];
        let biased: Vec<&LayerAudit> = self.layers.iter().filter(|l| l.has_nonzero_bias()).collect();
        out.push(if biased.is_empty() {
            verdict(
                Hypothesis::BiasFree,
                Status::Holds,
                "no layer has a nonzero bias".into(),
            )
        } else {
            let worst = biased.iter().filter_map(|l| l.max_abs_bias).fold(0.0, f64::max);
            verdict(
                Hypothesis::BiasFree,
                Status::Fails,
                format!(
                    "nonzero bias in layer(s) {} (max |b| = {worst:.3e})",
                    list(biased.iter().map(|l| l.layer.to_string()).collect())
                ),
            )
        });
        let other: Vec<String> = self
            .layers
            .iter()
            .filter(|l| l.activation != Activation::Relu)
            .map(|l| format!("layer {}: {}", l.layer, l.activation.name()))
            .collect();
        out.push(if other.is_empty() {
            verdict(Hypothesis::Relu, Status::Holds, "every layer is relu".into())
        } else {
            verdict(Hypothesis::Relu, Status::Fails, list(other))
        });
        let (min_layer, min_ratio) = self
            .layers
            .iter()
            .map(|l| (l.layer, l.expansivity_ratio))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one layer");
        out.push(verdict(
            Hypothesis::Expansivity,
            Status::CannotBeChecked,
            format!(
                "n_i/(n_(i-1) ln n_(i-1)) = {}; smallest {min_ratio:.4} (layer {min_layer}): holds only for C ≤ {min_ratio:.4} (no C is published)",
                list(self.layers.iter().map(|l| format!("{:.4}", l.expansivity_ratio)).collect())
            ),
        ));
        let rejected: Vec<String> = self
            .layers
            .iter()
            .filter(|l| l.ks.p_value < KS_SIGNIFICANCE)
            .map(|l| {
                format!(
                    "layer {} (D = {:.4}, p = {:.2e})",
                    l.layer, l.ks.statistic, l.ks.p_value
                )
            })
            .collect();
        let min_p = self.layers.iter().map(|l| l.ks.p_value).fold(f64::INFINITY, f64::min);
        out.push(if rejected.is_empty() {
            verdict(
                Hypothesis::GaussianWeights,
                Status::Holds,
                format!(
                    "KS against N(0, 1/n_i) not rejected at the {KS_SIGNIFICANCE} level in any layer (smallest p = {min_p:.3}); independence is not tested"
                ),
            )
        } else {
            verdict(
                Hypothesis::GaussianWeights,
                Status::Fails,
                format!("KS against N(0, 1/n_i) rejects at the {KS_SIGNIFICANCE} level: {}", list(rejected)),
            )
        });
        out.push(verdict(
            Hypothesis::Wdc,
            Status::CannotBeChecked,
            format!(
                "ε ≥ {:.4} as given (layer {}), ε ≥ {:.4} rescaled to variance 1/n_i (layer {}): lower bounds; the requirement on ε is the next line",
                self.given.epsilon, self.given.worst_layer, self.rescaled.epsilon, self.rescaled.worst_layer
            ),
        ));
        out.push(verdict(
            Hypothesis::K1Requirement,
            Status::CannotBeChecked,
            format!(
                "needs K_1 ≤ 1/(d^8 ε^(1/4)): at most {:.3e} as given, at most {:.3e} rescaled (no K_1 is published; ε is a lower bound, so the true bound on K_1 can only be smaller; K_1 = 1 would need ε ≤ d^-32 = {:.1e})",
                self.given.k1_max,
                self.rescaled.k1_max,
                (d as f64).powi(-32)
            ),
        ));
        let prop1 = |c: &EpsilonConsequences| {
            if c.prop1_lhs > 1.0 {
                Status::Fails
            } else {
                Status::CannotBeChecked
            }
        };
        out.push(verdict(
            Hypothesis::Prop1Requirement,
            prop1(&self.given),
            format!(
                "24π d^6 √ε ≥ {:.3e} as given ({}), ≥ {:.3e} rescaled ({}); it needs ε ≤ (24π d^6)^-2 = {:.1e}; the proof of Theorem II.1 uses this proposition",
                self.given.prop1_lhs,
                prop1(&self.given).label(),
                self.rescaled.prop1_lhs,
                prop1(&self.rescaled).label(),
                (PROP1_CONSTANT * (d as f64).powi(6)).powi(-2)
            ),
        ));
        out.push(verdict(
            Hypothesis::Rrcp,
            Status::CannotBeChecked,
            "a property of the measurement matrix A, not of the network: see `dpr-audit rrcp`".into(),
        ));
        out
    }

    /// The hypotheses that fail (architecture, weights, or a definite `ε` violation).
    pub fn failures(&self) -> Vec<Hypothesis> {
        self.verdicts()
            .into_iter()
            .filter(|v| v.status == Status::Fails)
            .map(|v| v.hypothesis)
            .collect()
    }

    /// The tidy rows of `audit.csv`: one number each (see docs/COLUMNS.md).
    pub fn checks(&self) -> Vec<Check> {
        let d = self.depth;
        let mut rows = Vec::new();
        let row = |layer, hypothesis, quantity, scaling, value, kind, reference, status, note: String| Check {
            layer,
            hypothesis,
            quantity,
            scaling,
            value,
            kind,
            reference,
            status,
            note,
        };
        rows.push(row(
            None,
            Hypothesis::Depth,
            "d",
            None,
            Some(d as f64),
            Kind::Exact,
            Some(2.0),
            if d >= 2 { Status::Holds } else { Status::Fails },
            "Theorem II.1 needs d >= 2".into(),
        ));
        for l in &self.layers {
            let i = Some(l.layer);
            rows.push(row(
                i,
                Hypothesis::BiasFree,
                "max_abs_bias",
                None,
                Some(l.max_abs_bias.unwrap_or(0.0)),
                Kind::Exact,
                Some(0.0),
                if l.has_nonzero_bias() {
                    Status::Fails
                } else {
                    Status::Holds
                },
                if l.max_abs_bias.is_some() {
                    "bias vector present".into()
                } else {
                    "no bias vector".into()
                },
            ));
            rows.push(row(
                i,
                Hypothesis::Relu,
                "activation",
                None,
                None,
                Kind::Exact,
                None,
                if l.activation == Activation::Relu {
                    Status::Holds
                } else {
                    Status::Fails
                },
                l.activation.name().into(),
            ));
            rows.push(row(
                i,
                Hypothesis::Expansivity,
                "expansivity_ratio",
                None,
                Some(l.expansivity_ratio),
                Kind::Exact,
                None,
                Status::CannotBeChecked,
                "n_i/(n_(i-1) ln n_(i-1)): the layer is expansive for any C up to this value; no C is published".into(),
            ));
            let ks_status = if l.ks.p_value < KS_SIGNIFICANCE {
                Status::Fails
            } else {
                Status::Holds
            };
            rows.push(row(
                i,
                Hypothesis::GaussianWeights,
                "ks_statistic",
                Some(Scaling::AsGiven),
                Some(l.ks.statistic),
                Kind::Exact,
                None,
                ks_status,
                format!(
                    "Kolmogorov-Smirnov D of the {} entries against N(0, 1/n_i) (variance fixed, not fitted)",
                    l.ks.samples
                ),
            ));
            rows.push(row(
                i,
                Hypothesis::GaussianWeights,
                "ks_p_value",
                Some(Scaling::AsGiven),
                Some(l.ks.p_value),
                Kind::Estimate,
                Some(KS_SIGNIFICANCE),
                ks_status,
                "asymptotic Kolmogorov p-value, lambda = (sqrt(N) + 0.12 + 0.11/sqrt(N)) D; fails below the reference level".into(),
            ));
            rows.push(row(
                i,
                Hypothesis::GaussianWeights,
                "weight_mean",
                Some(Scaling::AsGiven),
                Some(l.weight_mean),
                Kind::Estimate,
                Some(0.0),
                ks_status,
                "sample mean of the entries (the theorem's mean is 0)".into(),
            ));
            rows.push(row(
                i,
                Hypothesis::GaussianWeights,
                "fitted_variance",
                Some(Scaling::AsGiven),
                Some(l.fitted_variance),
                Kind::Estimate,
                Some(l.theory_variance),
                ks_status,
                "mean of squared entries (MLE of sigma^2 in N(0, sigma^2)); reference is the theorem's 1/n_i".into(),
            ));
            rows.push(row(
                i,
                Hypothesis::GaussianWeights,
                "rescale_factor",
                Some(Scaling::Rescaled),
                l.rescale_factor,
                Kind::Exact,
                None,
                Status::CannotBeChecked,
                "c_i = sqrt(1/n_i)/sigma_hat_i applied to W_i for the rescaled rows; empty if the layer cannot be rescaled".into(),
            ));
            for (scaling, eps) in [
                (Scaling::AsGiven, l.epsilon_given),
                (Scaling::Rescaled, l.epsilon_rescaled),
            ] {
                rows.push(row(
                    i,
                    Hypothesis::Wdc,
                    "epsilon",
                    Some(scaling),
                    Some(eps),
                    Kind::LowerBound,
                    None,
                    Status::CannotBeChecked,
                    "sampled sup over all nonzero inputs of ||W_{+,x}^T W_{+,y} - Q_{x,y}||: a lower bound on the WDC constant".into(),
                ));
            }
        }
        for scaling in [Scaling::AsGiven, Scaling::Rescaled] {
            let c = self.consequences(scaling);
            rows.push(row(
                None,
                Hypothesis::Wdc,
                "epsilon",
                Some(scaling),
                Some(c.epsilon),
                Kind::LowerBound,
                None,
                Status::CannotBeChecked,
                format!(
                    "max over layers (layer {}): the theorem's single epsilon",
                    c.worst_layer
                ),
            ));
            rows.push(row(
                None,
                Hypothesis::K1Requirement,
                "k1_max",
                Some(scaling),
                Some(c.k1_max),
                Kind::UpperBound,
                None,
                Status::CannotBeChecked,
                "1/(d^8 eps^(1/4)): K_1 d^8 eps^(1/4) <= 1 needs K_1 at most this; no K_1 is published".into(),
            ));
            rows.push(row(
                None,
                Hypothesis::Prop1Requirement,
                "prop1_lhs",
                Some(scaling),
                Some(c.prop1_lhs),
                Kind::LowerBound,
                Some(1.0),
                if c.prop1_lhs > 1.0 {
                    Status::Fails
                } else {
                    Status::CannotBeChecked
                },
                "24 pi d^6 sqrt(eps) (HLV Prop. 1 needs <= 1): a lower bound, so > 1 is a definite failure".into(),
            ));
        }
        rows.push(row(
            None,
            Hypothesis::Rrcp,
            "rrcp",
            None,
            None,
            Kind::Exact,
            None,
            Status::CannotBeChecked,
            "a property of the measurement matrix A: see dpr-audit rrcp".into(),
        ));
        rows
    }

    /// Human lines: warnings, the hypotheses with their status and evidence, and a per-layer
    /// table (no trailing header; the caller adds the network's name and output folder).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for w in &self.warnings {
            s += &format!("  {w}\n");
        }
        let budgets: Vec<String> = self
            .estimates_given
            .iter()
            .map(|e| format!("{} + {}", e.pairs_evaluated, e.refine_evaluations))
            .collect();
        s += &format!(
            "  ε: WDC lower bounds over all nonzero inputs (sampled + refinement pairs per layer: {})\n",
            budgets.join(", ")
        );
        s += "  hypothesis                              status             evidence\n";
        for v in self.verdicts() {
            s += &format!(
                "  {:<38}  {:<17}  {}\n",
                v.hypothesis.label(),
                v.status.label(),
                v.evidence
            );
        }
        s += "  layer  n_in  n_out  activation  max|b|     n_i/(n_(i-1)ln n_(i-1))  KS D     KS p       σ̂²         1/n_i      ε as given (≥)  ε rescaled (≥)\n";
        for l in &self.layers {
            let bias = l
                .max_abs_bias
                .map_or_else(|| "none".to_string(), |b| format!("{b:.3e}"));
            s += &format!(
                "  {:>5}  {:>4}  {:>5}  {:<10}  {:<9}  {:>23.4}  {:.5}  {:<9.3e}  {:<9.3e}  {:<9.3e}  {:>14.4}  {:>14.4}\n",
                l.layer,
                l.n_in,
                l.n_out,
                l.activation.name(),
                bias,
                l.expansivity_ratio,
                l.ks.statistic,
                l.ks.p_value,
                l.fitted_variance,
                l.theory_variance,
                l.epsilon_given,
                l.epsilon_rescaled
            );
        }
        let failures = self.failures();
        s += &if failures.is_empty() {
            "  no hypothesis definitely fails; C, K_1 and the RRCP cannot be checked, so the theorem's applicability is not confirmed\n".to_string()
        } else {
            format!(
                "  failing: {}\n",
                failures.iter().map(|h| h.label()).collect::<Vec<_>>().join("; ")
            )
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolmogorov_survival_matches_reference_values() {
        // Reference values of Q_KS(λ) = 2 Σ (−1)^{j−1} e^{−2 j² λ²}, summed to 200 terms
        // in f64 independently of the switch: the two branches agree at the switch point.
        let series = |l: f64| {
            2.0 * (1..200)
                .map(|j| (-1f64).powi(j - 1) * (-2.0 * f64::from(j * j) * l * l).exp())
                .sum::<f64>()
        };
        for lambda in [0.5, 0.8, 1.0, 1.17, 1.19, 1.36, 1.63, 2.0, 3.0] {
            assert!(
                (kolmogorov_survival(lambda) - series(lambda)).abs() < 1e-12,
                "λ = {lambda}"
            );
        }
        // Classical critical values: Q(1.3581) ≈ 0.05, Q(1.6276) ≈ 0.01.
        assert!((kolmogorov_survival(1.3581) - 0.05).abs() < 1e-4);
        assert!((kolmogorov_survival(1.6276) - 0.01).abs() < 1e-4);
        assert_eq!(kolmogorov_survival(0.0), 1.0);
    }
}
