//! The claims `dpr-audit verify` checks, one module each, with their specs in `verify/`
//! (one TOML file per claim: parameters for the quick and the full protocol, and the pass
//! criterion in words). The specs are compiled into the binary so `verify` needs nothing
//! beyond the repository; `verify --specs DIR` is not needed to run the defaults.

pub mod c0_expectation;
pub mod c10_image_error;
pub mod c1_expected_landscape;
pub mod c2_wdc_scaling;
pub mod c3_rrcp_scaling;
pub mod c4_spread_trend;
pub mod c5_negation_premise;
pub mod c6_figure1;
pub mod c7_sample_complexity;
pub mod c8_negation_check;
pub mod c9_image_ssim;
pub mod image_experiment;
pub mod verdicts;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::report::output::OutputDir;
use crate::report::plot::{Series, figure_names, line_plot};
use crate::solvers::instance::InstanceKey;
use crate::sweep::{Completed, SweepConfig, load_into, run_into};

/// The shipped specs: `(file name, contents)`.
pub const SPECS: &[(&str, &str)] = &[
    (
        "C0-expectation-identities.toml",
        include_str!("../../verify/C0-expectation-identities.toml"),
    ),
    (
        "C1-expected-landscape.toml",
        include_str!("../../verify/C1-expected-landscape.toml"),
    ),
    ("C2-wdc-scaling.toml", include_str!("../../verify/C2-wdc-scaling.toml")),
    (
        "C3-rrcp-scaling.toml",
        include_str!("../../verify/C3-rrcp-scaling.toml"),
    ),
    (
        "C4-spread-trend.toml",
        include_str!("../../verify/C4-spread-trend.toml"),
    ),
    (
        "C5-negation-premise.toml",
        include_str!("../../verify/C5-negation-premise.toml"),
    ),
    ("C6-figure1.toml", include_str!("../../verify/C6-figure1.toml")),
    (
        "C7-sample-complexity.toml",
        include_str!("../../verify/C7-sample-complexity.toml"),
    ),
    (
        "C8-negation-check.toml",
        include_str!("../../verify/C8-negation-check.toml"),
    ),
    ("C9-image-ssim.toml", include_str!("../../verify/C9-image-ssim.toml")),
    (
        "C10-image-error.toml",
        include_str!("../../verify/C10-image-error.toml"),
    ),
];

/// A claim's spec file.
#[derive(Clone, Debug, Deserialize)]
pub struct Spec {
    /// Short id (`C0`, `C1`, …).
    pub id: String,
    /// One-line statement of the claim.
    pub title: String,
    /// Where the claim comes from.
    pub source: String,
    /// The pass criterion in words.
    pub criterion: String,
    /// Parameters of the quick protocol.
    pub quick: toml::Table,
    /// Parameters of the full protocol.
    pub full: toml::Table,
}

impl Spec {
    /// Parses a spec; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::toml(name, Some(text), &e, "the other specs in verify/"))
    }

    /// The parameters of the chosen protocol as the claim's typed struct.
    pub fn params<T: DeserializeOwned>(&self, full: bool) -> Result<T> {
        let table = if full { &self.full } else { &self.quick };
        table.clone().try_into().map_err(|e: toml::de::Error| {
            let section = format!("verify/{} [{}]", self.id, if full { "full" } else { "quick" });
            Error::toml(section, None, &e, "the claim's module docs in src/claims/")
        })
    }
}

/// The level of every claim's test: the probability of a wrong PASS (or a wrong FAIL) under
/// the null hypothesis the claim's spec states is at most 5% overall per claim, with a
/// multiple-comparison correction wherever several grid points are judged (docs/THEORY.md §15).
pub const ALPHA: f64 = 0.05;

/// Outcome of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The data support the claim.
    Pass,
    /// The data contradict the claim (a valid, reportable result).
    Fail,
    /// The data cannot decide.
    Inconclusive,
}

impl Verdict {
    /// `PASS`, `FAIL` or `INCONCLUSIVE`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// `Pass` when `ok`, else `Fail`.
    pub fn from_bool(ok: bool) -> Self {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }
}

/// How often a claim's verdict agrees with itself across replicates (master seeds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Claim id.
    pub claim: String,
    /// Replicates.
    pub replicates: usize,
    /// PASS count.
    pub pass: usize,
    /// FAIL count.
    pub fail: usize,
    /// INCONCLUSIVE count.
    pub inconclusive: usize,
    /// The most frequent verdict (ties: FAIL before INCONCLUSIVE before PASS, the cautious
    /// reading).
    pub modal_verdict: Verdict,
    /// Share of replicates with the modal verdict (exact: a count ratio).
    pub agreement: f64,
}

/// The [`Agreement`] of one claim's verdicts over its replicates (nonempty).
pub fn agreement(claim: &str, verdicts: &[Verdict]) -> Agreement {
    let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
    let (pass, fail, inconclusive) = (count(Verdict::Pass), count(Verdict::Fail), count(Verdict::Inconclusive));
    let modal_verdict = [
        (fail, Verdict::Fail),
        (inconclusive, Verdict::Inconclusive),
        (pass, Verdict::Pass),
    ]
    .into_iter()
    .fold(
        (0, Verdict::Fail),
        |best, (n, v)| if n > best.0 { (n, v) } else { best },
    )
    .1;
    Agreement {
        claim: claim.to_string(),
        replicates: verdicts.len(),
        pass,
        fail,
        inconclusive,
        modal_verdict,
        agreement: count(modal_verdict) as f64 / verdicts.len().max(1) as f64,
    }
}

/// What a claim reports for the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimReport {
    /// Claim id.
    pub id: String,
    /// Claim statement.
    pub title: String,
    /// What was measured, with its kind (exact, estimate ± SE, lower bound).
    pub measured: String,
    /// The pass criterion.
    pub criterion: String,
    /// The test statistic behind the verdict with its p-value or interval (empty where a
    /// claim does not state one).
    pub statistic: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Files written, relative to the verify folder.
    pub files: Vec<String>,
    /// Figures among them.
    pub figures: Vec<String>,
}

impl ClaimReport {
    /// The report of the claim `spec` (its id, statement and criterion) with what was measured,
    /// the verdict and the files written; a figure named `NAME.png` stands for the files the
    /// figure format writes ([`crate::report::plot::figure_names`]).
    pub fn new(spec: &Spec, measured: String, verdict: Verdict, files: Vec<String>, figures: Vec<String>) -> Self {
        Self {
            id: spec.id.clone(),
            title: spec.title.clone(),
            measured,
            criterion: spec.criterion.clone(),
            statistic: String::new(),
            verdict,
            files: figure_names(&files),
            figures: figure_names(&figures),
        }
    }

    /// The same report with the test statistic (and its p-value or interval) behind the
    /// verdict.
    pub fn with_statistic(self, statistic: String) -> Self {
        Self { statistic, ..self }
    }
}

/// One standard instance size of a claim's spec.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Instance {
    /// Widths `[k, n_1, …, n_d]`.
    pub widths: Vec<usize>,
    /// Measurements.
    pub m: usize,
}

/// Where a claim writes: its own sub-folder of the verify output.
pub struct ClaimDir<'a> {
    /// The verify output folder.
    pub out: &'a OutputDir,
    /// The claim's sub-folder name (e.g. `C0-expectation-identities`).
    pub name: String,
    /// `verify --from-merged DIR`: the sweep claims read each sweep's rows from
    /// `DIR/<claim folder>/<part>` (the folder `merge` wrote for its shards) instead of running it.
    pub merged: Option<&'a Path>,
}

impl ClaimDir<'_> {
    /// The sweep `config` of the claim's part `part` (e.g. `k_sweep`) with master seed `seed`,
    /// written into the claim's sub-folder `part`: run here, or with `verify --from-merged DIR`
    /// read from `DIR/<claim folder>/<part>` ([`crate::sweep::load_into`]: same configuration
    /// and seed checked, the same analysis of the same rows). `source` names the spec in errors.
    pub fn sweep(&self, part: &str, config: SweepConfig, source: &Path, seed: u64) -> Result<Completed> {
        let prefix = Path::new(&self.name).join(part);
        match self.merged {
            None => run_into(self.out, &prefix, config, source, seed),
            Some(dir) => load_into(self.out, &prefix, config, (source, seed), &dir.join(&prefix)),
        }
    }

    /// Path of `file` inside the claim's folder (in the staging area).
    pub fn file(&self, file: &str) -> PathBuf {
        self.out.file(&self.relative(file))
    }

    /// `name/file`, as listed in the summary.
    pub fn relative(&self, file: &str) -> String {
        Path::new(&self.name).join(file).to_string_lossy().into_owned()
    }

    /// Draws a line plot (`axes` = x and y labels, `log` = log scales) into the claim's folder;
    /// returns its relative name.
    pub fn line_figure(
        &self,
        file: &str,
        title: &str,
        axes: (&str, &str),
        series: &[Series],
        log: (bool, bool),
    ) -> Result<String> {
        let rel = self.relative(file);
        line_plot(&self.out.file(&rel), title, axes.0, axes.1, series, log.0, log.1)?;
        Ok(rel)
    }

    /// Writes the instance behind a verdict (weights, `A`, `x0`, `b`) as an instance
    /// safetensors file ([`crate::core::instance`]) into the claim's folder, with the seed and
    /// the random-stream key in its metadata; returns its relative name. Call it after a CSV
    /// write (which creates the folder).
    pub fn save_instance(
        &self,
        file: &str,
        inst: &crate::solvers::instance::Instance,
        key: &InstanceKey<'_>,
    ) -> Result<String> {
        let rel = self.relative(file);
        let metadata = [
            ("seed", key.seed.to_string()),
            ("experiment", key.experiment.to_string()),
            ("trial", key.trial.to_string()),
            ("weight_scale", "normalized".to_string()),
            ("measurement_scale", "normalized".to_string()),
            ("written_by", format!("dpr-audit verify ({})", self.name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        crate::core::instance::save_instance(&inst.problem, &inst.x0, &self.out.file(&rel), &metadata)?;
        Ok(rel)
    }

    /// Writes a CSV file into the claim's folder; returns its relative name.
    pub fn write_csv<T: Serialize>(&self, file: &str, rows: &[T]) -> Result<String> {
        let rel = self.relative(file);
        self.out.write_csv(&rel, rows)?;
        Ok(rel)
    }
}

/// Runs the claim of `spec`.
pub fn run(spec: &Spec, full: bool, seed: u64, dir: &ClaimDir<'_>) -> Result<ClaimReport> {
    match spec.id.as_str() {
        "C0" => c0_expectation::run(spec, spec.params(full)?, seed, dir),
        "C1" => c1_expected_landscape::run(spec, spec.params(full)?, seed, dir),
        "C2" => c2_wdc_scaling::run(spec, spec.params(full)?, seed, dir),
        "C3" => c3_rrcp_scaling::run(spec, spec.params(full)?, seed, dir),
        "C4" => c4_spread_trend::run(spec, spec.params(full)?, seed, dir),
        "C5" => c5_negation_premise::run(spec, spec.params(full)?, seed, dir),
        "C6" => c6_figure1::run(spec, spec.params(full)?, seed, dir),
        "C7" => c7_sample_complexity::run(spec, spec.params(full)?, seed, dir),
        "C8" => c8_negation_check::run(spec, spec.params(full)?, seed, dir),
        "C9" => c9_image_ssim::run(spec, spec.params(full)?, seed, dir),
        "C10" => c10_image_error::run(spec, spec.params(full)?, seed, dir),
        other => Err(Error::Config {
            path: PathBuf::from(format!("verify/{other}")),
            reason: format!("no claim implements id {other:?}; known ids: C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_the_modal_verdict_and_breaks_ties_cautiously() {
        use Verdict::{Fail, Inconclusive, Pass};
        // The C8 over seeds 1-4: FAIL, PASS, FAIL, PASS: a coin flip, read as FAIL.
        let flip = agreement("C8", &[Fail, Pass, Fail, Pass]);
        assert_eq!((flip.modal_verdict, flip.pass, flip.fail), (Fail, 2, 2));
        assert!((flip.agreement - 0.5).abs() < 1e-15);
        let stable = agreement("C0", &[Pass, Pass, Pass, Inconclusive, Pass]);
        assert_eq!(stable.modal_verdict, Pass);
        assert!((stable.agreement - 0.8).abs() < 1e-15);
        assert_eq!(agreement("C9", &[Pass, Inconclusive]).modal_verdict, Inconclusive);
    }
}
