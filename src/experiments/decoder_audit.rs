//! How far the trained decoders are from Theorem II.1's hypotheses (docs/THEORY.md §5): the
//! assumption audit ([`crate::conditions::audit`]: architecture, weight statistics, sampled
//! WDC constants as given and rescaled, and their consequences) and sampled RRCP lower bounds
//! ([`crate::conditions::rrcp`]) for each decoder, beside a random bias-free ReLU network of
//! the same widths with `N(0, 1/n_i)` weights (the theorem's model).
//!
//! Every ε is a **lower bound** (a sampled supremum): a large one refutes a claimed ε; a small
//! one certifies nothing. The RRCP is a property of `A` on the range of `G`: all networks are
//! searched with the same `A` (`m × 784`, `N(0, 1/m)`, the RRCP's convention; the paper's
//! `N(0, 1)` matrix is this one times `√m`), drawn from `stream(seed, "mnist-audit/m=<m>", 0,
//! Measurements)`. The random network comes from `stream(seed, "mnist-audit", 0, Network)`; the
//! WDC searches use the audit's own streams ([`crate::conditions::audit::AUDIT_EXPERIMENT`]).

use serde::Serialize;

use crate::conditions::audit::{AuditReport, Hypothesis, Kind, Scaling, Status, audit};
use crate::conditions::rrcp::{SearchMode, SearchOutcome, SearchSettings, StreamKey, search};
use crate::conditions::wdc::{Domain, WdcSearch};
use crate::core::measure::{MeasurementScale, Measurements};
use crate::core::network::{Network, WeightScale};
use crate::error::{Error, Result};
use crate::report::widths_label;
use crate::rng::{Stream, stream};

/// Experiment name of the random network's and `A`'s streams.
pub const EXPERIMENT: &str = "mnist-audit";
pub use crate::conditions::rrcp::RRCP_CONSTANT;

/// How hard to search.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `wdc` | 2000 pairs, 2 refined × 30 steps | WDC search per layer (as given and rescaled) | pairs ≥ 1 |
/// | `rrcp_m` | 200 | rows of `A` (the paper's claim is about m = 200) | ≥ 1 |
/// | `rrcp` | 256 tuples, 2 refined × 20 steps, per mode (random and subspace) | RRCP search | tuples ≥ 1, refined ≤ tuples |
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Settings {
    /// The WDC search (domain: all nonzero inputs, as the theorem needs).
    pub wdc: WdcSearch,
    /// Rows of `A` for the RRCP search.
    pub rrcp_m: usize,
    /// The RRCP search, per mode.
    pub rrcp: SearchSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            wdc: WdcSearch {
                pairs: 2000,
                domain: Domain::Full,
                refine_starts: 2,
                refine_steps: 30,
            },
            rrcp_m: 200,
            rrcp: SearchSettings {
                tuples: 256,
                refine_starts: 2,
                refine_steps: 20,
            },
        }
    }
}

impl Settings {
    /// Checks the search sizes; errors name the command-line option.
    pub fn check(&self) -> Result<()> {
        if self.wdc.pairs == 0 {
            return Err(Error::param(
                "--pairs",
                0,
                "sample at least one pair per layer, e.g. --pairs 2000",
            ));
        }
        if self.rrcp_m == 0 {
            return Err(Error::param(
                "--rrcp-m",
                0,
                "use at least one measurement, e.g. --rrcp-m 200",
            ));
        }
        if self.rrcp.tuples == 0 || self.rrcp.refine_starts > self.rrcp.tuples {
            return Err(Error::param(
                "--tuples",
                self.rrcp.tuples,
                "sample at least one tuple and no fewer than --refine-starts",
            ));
        }
        Ok(())
    }
}

/// A network to audit.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Name in reports (`vae`, `relu`, `random`).
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// The network.
    pub net: Network,
}

/// The random network the decoders are compared with: bias-free ReLU, the widths of
/// `like`, `N(0, 1/n_i)` weights, from `stream(seed, "mnist-audit", 0, Network)`.
pub fn random_like(like: &Network, seed: u64) -> Subject {
    let widths = like.widths();
    let net = Network::gaussian(
        &widths,
        WeightScale::Normalized,
        &mut stream(seed, EXPERIMENT, 0, Stream::Network),
    );
    Subject {
        name: "random".into(),
        source: format!("random {} N(0, 1/n_i), bias-free ReLU", widths_label(&widths)),
        net,
    }
}

/// The audit of one network.
#[derive(Clone, Debug)]
pub struct Audited {
    /// The network audited.
    pub subject: Subject,
    /// The assumption audit.
    pub report: AuditReport,
    /// RRCP searches (random, subspace).
    pub rrcp: Vec<SearchOutcome>,
}

impl Audited {
    /// The largest RRCP lower bound over the modes (`sup`, a lower bound on `L ε`).
    pub fn rrcp_sup(&self) -> f64 {
        self.rrcp.iter().map(|o| o.sup).fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The RRCP matrix: `m × n`, `N(0, 1/m)`.
fn rrcp_matrix(seed: u64, m: usize, n: usize) -> faer::Mat<f64> {
    let mut rng = stream(seed, &format!("{EXPERIMENT}/m={m}"), 0, Stream::Measurements);
    Measurements::gaussian(m, n, MeasurementScale::Normalized, &mut rng).a
}

/// Audits every subject (one after another; each search is parallel inside). `tick` is called
/// after each subject.
pub fn run(subjects: &[Subject], settings: &Settings, seed: u64, tick: &dyn Fn()) -> Result<Vec<Audited>> {
    settings.check()?;
    let mut out = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let report = audit(&subject.net, &settings.wdc, seed);
        let a = rrcp_matrix(seed, settings.rrcp_m, subject.net.output_dim());
        let experiment = format!("{EXPERIMENT}/m={}", settings.rrcp_m);
        let key = StreamKey {
            seed,
            experiment: &experiment,
            trial: 0,
        };
        let rrcp = [SearchMode::Random, SearchMode::Subspace]
            .iter()
            .map(|&mode| search(&subject.net, a.as_ref(), mode, &settings.rrcp, &key, &|| {}))
            .collect();
        out.push(Audited {
            subject: subject.clone(),
            report,
            rrcp,
        });
        tick();
    }
    Ok(out)
}

/// One row of `decoder_audit.csv`: one number of one hypothesis for one network (the rows of
/// `audit.csv`, plus the RRCP search).
#[derive(Clone, Debug, Serialize)]
pub struct AuditRow {
    /// Master seed.
    pub seed: u64,
    /// `vae`, `relu` or `random`.
    pub network: String,
    /// Where it came from.
    pub source: String,
    /// Its widths.
    pub widths: String,
    /// Layer (1-based); empty for a network-level row.
    pub layer: Option<usize>,
    /// The hypothesis.
    pub hypothesis: Hypothesis,
    /// The quantity.
    pub quantity: &'static str,
    /// `as_given` or `rescaled` (WDC quantities); empty otherwise.
    pub scaling: Option<Scaling>,
    /// The number.
    pub value: Option<f64>,
    /// Its kind.
    pub kind: Kind,
    /// What the theorem compares it with.
    pub reference: Option<f64>,
    /// The hypothesis' status from this row.
    pub status: Status,
    /// A short explanation.
    pub note: String,
}

/// The tidy rows of every audit.
pub fn rows(audited: &[Audited], settings: &Settings, seed: u64) -> Vec<AuditRow> {
    let mut out = Vec::new();
    for a in audited {
        let widths = widths_label(&a.subject.net.widths());
        let row = |layer, hypothesis, quantity, scaling, value, kind, reference, status, note| AuditRow {
            seed,
            network: a.subject.name.clone(),
            source: a.subject.source.clone(),
            widths: widths.clone(),
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
        for c in a.report.checks() {
            out.push(row(
                c.layer,
                c.hypothesis,
                c.quantity,
                c.scaling,
                c.value,
                c.kind,
                c.reference,
                c.status,
                c.note,
            ));
        }
        for o in &a.rrcp {
            let note = format!(
                "{} search at m = {}, A with N(0, 1/m) entries: {} sampled tuples, {} refined × {} steps",
                o.mode.name(),
                settings.rrcp_m,
                settings.rrcp.tuples,
                settings.rrcp.refine_starts,
                settings.rrcp.refine_steps
            );
            let quantity = match o.mode {
                SearchMode::Random => "rrcp_epsilon_random",
                SearchMode::Subspace => "rrcp_epsilon_subspace",
            };
            out.push(row(
                None,
                Hypothesis::Rrcp,
                quantity,
                None,
                Some(o.sup / RRCP_CONSTANT),
                Kind::LowerBound,
                None,
                Status::CannotBeChecked,
                format!("sup / L with L = {RRCP_CONSTANT}; {note}"),
            ));
        }
    }
    out
}

/// A markdown table with one column per network and one row per quantity (each labelled with
/// its kind), for `decoder_audit.md`.
pub fn markdown(audited: &[Audited], settings: &Settings) -> String {
    let mut md = String::from("| quantity (kind) |");
    let mut rule = String::from("|---|");
    for a in audited {
        md += &format!(" {} |", a.subject.name);
        rule += "---|";
    }
    md += &format!("\n{rule}\n");
    let mut line = |label: String, cell: &dyn Fn(&Audited) -> String| {
        md += &format!("| {label} |");
        for a in audited {
            md += &format!(" {} |", cell(a));
        }
        md += "\n";
    };
    line("widths (exact)".into(), &|a| widths_label(&a.subject.net.widths()));
    line("activations (exact)".into(), &|a| {
        a.report
            .layers
            .iter()
            .map(|l| l.activation.name())
            .collect::<Vec<_>>()
            .join(", ")
    });
    line("max abs bias per layer (exact)".into(), &|a| {
        per_layer(a, |l| {
            l.max_abs_bias.map_or_else(|| "none".into(), |b| format!("{b:.3}"))
        })
    });
    line("n_i / (n_(i-1) ln n_(i-1)) per layer (exact)".into(), &|a| {
        per_layer(a, |l| format!("{:.3}", l.expansivity_ratio))
    });
    line("fitted σ̂² × n_i per layer (estimate; theorem: 1)".into(), &|a| {
        per_layer(a, |l| format!("{:.3}", l.fitted_variance / l.theory_variance))
    });
    line("KS p-value vs N(0, 1/n_i) per layer (estimate)".into(), &|a| {
        per_layer(a, |l| format!("{:.2e}", l.ks.p_value))
    });
    line("WDC ε per layer, as given (lower bound)".into(), &|a| {
        per_layer(a, |l| format!("{:.3}", l.epsilon_given))
    });
    line("WDC ε per layer, rescaled to 1/n_i (lower bound)".into(), &|a| {
        per_layer(a, |l| format!("{:.3}", l.epsilon_rescaled))
    });
    line("ε = max_i ε_i, rescaled (lower bound)".into(), &|a| {
        format!("{:.3}", a.report.rescaled.epsilon)
    });
    line(
        "largest K_1 with K_1 d⁸ ε^(1/4) ≤ 1, rescaled (upper bound)".into(),
        &|a| format!("{:.2e}", a.report.rescaled.k1_max),
    );
    line(
        "24π d⁶ √ε, rescaled (lower bound; HLV Prop. 1 needs ≤ 1)".into(),
        &|a| format!("{:.0}", a.report.rescaled.prop1_lhs),
    );
    line(
        format!(
            "RRCP ε = sup/{RRCP_CONSTANT} at m = {}, best of random and subspace search (lower bound)",
            settings.rrcp_m
        ),
        &|a| format!("{:.4}", a.rrcp_sup() / RRCP_CONSTANT),
    );
    line("hypotheses that fail".into(), &|a| {
        let f = a.report.failures();
        if f.is_empty() {
            "none definite".into()
        } else {
            f.iter().map(|h| h.label()).collect::<Vec<_>>().join("; ")
        }
    });
    md
}

/// One value per layer, joined by ` / `.
fn per_layer(a: &Audited, f: impl Fn(&crate::conditions::audit::LayerAudit) -> String) -> String {
    a.report.layers.iter().map(f).collect::<Vec<_>>().join(" / ")
}
