//! Limits checked before a run allocates or starts: a memory estimate against a budget, a cap
//! on worker threads, and the largest depths and grids that can finish.
//!
//! Every subcommand adds up the memory of its largest objects from the sizes it was given —
//! dense `f64` matrices (weights `n_i × n_{i−1}`, `A` with `m` rows, one column per start,
//! pair or probe point) and the rows it keeps for its CSV files — in a [`Footprint`], and
//! checks it against the [`MemoryBudget`] before anything of that size exists. A run over the
//! budget is refused, naming the parameter that contributes most and the estimate. The
//! estimate is an order of magnitude (the big objects, not every temporary): its job is to
//! refuse in a millisecond what cannot fit, instead of aborting out of memory after minutes.
//!
//! | limit | value | reason |
//! |---|---|---|
//! | memory budget | [`MEMORY_FRACTION`] of `MemTotal` (`--max-memory` changes it) | leaves the rest to the OS and to other jobs |
//! | worker threads | [`THREADS_PER_CORE`] × cores | more threads than that only add scheduling cost |
//! | depth `d` of the closed forms | [`MAX_DEPTH`] | they cost `O(d)` per point |
//! | grid points per axis | [`MAX_GRID`] | `MAX_GRID²` points is far past any figure's resolution |

use std::fmt::Display;

use crate::error::{Error, Result};

/// The default memory budget is this fraction of the machine's memory (`MemTotal` of
/// `/proc/meminfo`): the rest is left to the system and to other jobs.
pub const MEMORY_FRACTION: f64 = 0.5;
/// The memory assumed where `/proc/meminfo` cannot be read (4 GiB, a small laptop's).
pub const FALLBACK_MEMORY: u64 = 4 << 30;
/// At most this many worker threads per core: the kernels are CPU-bound, so more threads
/// only add scheduling cost (and 10⁵ threads take minutes just to start).
pub const THREADS_PER_CORE: usize = 4;
/// Largest depth `d` of the exact closed forms (`expected`): each value iterates the angle
/// map `d` times, and the theorem's hypothesis `K_1 d⁸ ε^{1/4} ≤ 1` rules out such depths
/// for any network that fits in memory.
pub const MAX_DEPTH: usize = 10_000;
/// Most grid points per axis (`MAX_GRID²` points per grid): far past any figure's resolution,
/// and the grid of a probe costs a forward and backward pass per point.
pub const MAX_GRID: usize = 10_000;
/// Bytes of one `f64`.
const WORD: f64 = 8.0;

/// How much memory a run may plan to use, and where that number came from.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryBudget {
    bytes: u64,
    origin: String,
}

impl MemoryBudget {
    /// [`MEMORY_FRACTION`] of the machine's memory ([`FALLBACK_MEMORY`] where it is unknown).
    pub fn of_machine() -> Self {
        let total = machine_memory();
        let origin = match total {
            Some(_) => format!("{}% of this machine's memory", (MEMORY_FRACTION * 100.0).round()),
            None => format!(
                "{}% of an assumed {} (MemTotal unreadable)",
                (MEMORY_FRACTION * 100.0).round(),
                format_bytes(FALLBACK_MEMORY as f64)
            ),
        };
        Self {
            bytes: (total.unwrap_or(FALLBACK_MEMORY) as f64 * MEMORY_FRACTION) as u64,
            origin,
        }
    }

    /// An explicit budget, e.g. `2G`, `512M`, `1.5GiB` or a number of bytes (binary units:
    /// K = 2¹⁰, M = 2²⁰, G = 2³⁰, T = 2⁴⁰). `name` is the parameter it came from.
    pub fn parse(name: &'static str, text: &str) -> Result<Self> {
        let bytes = parse_bytes(text).ok_or_else(|| {
            Error::param(
                name,
                text,
                "give a positive size such as 2G, 512M or 1073741824 (bytes)",
            )
        })?;
        Ok(Self {
            bytes,
            origin: format!("set by {name}"),
        })
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Refuses `need` when its estimate exceeds the budget, naming the parameter that
    /// contributes most, its value and the estimate.
    pub fn check(&self, need: &Footprint) -> Result<()> {
        let total = need.total_bytes();
        if total <= self.bytes as f64 {
            return Ok(());
        }
        let top = need
            .terms
            .iter()
            .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
            .expect("a footprint over a budget has a term");
        Err(Error::param(
            top.parameter,
            &top.value,
            format!(
                "the run would need about {} of memory ({} for {}), over the limit of {} ({}); \
                 lower {} or raise the limit with --max-memory",
                format_bytes(total),
                format_bytes(top.bytes),
                top.what,
                format_bytes(self.bytes as f64),
                self.origin,
                top.parameter
            ),
        ))
    }
}

/// `MemTotal` of `/proc/meminfo` in bytes, where readable.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a size with an optional binary unit (`K`, `M`, `G`, `T`, optionally followed by
/// `B` or `iB`); `None` unless it is a positive finite size below 2⁶⁴ bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let value: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let scale = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0_f64.powi(2),
        "G" => 1024.0_f64.powi(3),
        "T" => 1024.0_f64.powi(4),
        _ => return None,
    };
    let bytes = value * scale;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A size for people: `3.0 GiB`, `512.0 MiB`, `1.2e6 TiB`.
pub fn format_bytes(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 1e4 {
        format!("{value:.1e} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// One parameter's share of a run's memory.
#[derive(Clone, Debug)]
struct Term {
    parameter: &'static str,
    value: String,
    what: &'static str,
    bytes: f64,
}

/// The memory a run plans to use, term by term, each tied to the parameter that sets its
/// size. Counts are `f64` products, so no size can overflow them.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    terms: Vec<Term>,
}

impl Footprint {
    /// An empty footprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `count` `f64` words for `what`, sized by `parameter = value`.
    pub fn words(mut self, parameter: &'static str, value: impl Display, what: &'static str, count: f64) -> Self {
        self.terms.push(Term {
            parameter,
            value: value.to_string(),
            what,
            bytes: count * WORD,
        });
        self
    }

    /// Adds `A` (`m × n`, with `b` and `A G(x)`), charged to the larger of its two sizes: `m`
    /// (parameter `m_name`) or the network's output width (`--widths`).
    pub fn measurements(self, m_name: &'static str, m: usize, widths: &[usize]) -> Self {
        let n = widths.last().copied().unwrap_or(0);
        let words = measurement_words(m, n);
        if m >= n {
            self.words(m_name, m, "A and its products", words)
        } else {
            self.words("--widths", comma_list(widths), "A and its products", words)
        }
    }

    /// Adds the weights of a network of these widths (sized by `parameter`).
    pub fn network(self, parameter: &'static str, widths: &[usize]) -> Self {
        self.words(
            parameter,
            comma_list(widths),
            "the network's weights",
            network_words(widths),
        )
    }

    /// The estimate in bytes.
    pub fn total_bytes(&self) -> f64 {
        self.terms.iter().map(|t| t.bytes).sum()
    }
}

/// Widths as the command line writes them: `2,500,1000`.
pub fn comma_list(widths: &[usize]) -> String {
    widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",")
}

/// Words of a dense network of widths `k, n_1, …, n_d`: every `W_i` (`n_i × n_{i−1}`) plus
/// one activation vector per layer.
pub fn network_words(widths: &[usize]) -> f64 {
    widths.windows(2).map(|w| w[1] as f64 * (w[0] as f64 + 1.0)).sum()
}

/// The sum of the output widths `n_1 + … + n_d` (the activations one forward pass keeps).
pub fn activation_words(widths: &[usize]) -> f64 {
    widths.iter().skip(1).map(|&w| w as f64).sum()
}

/// Numbers kept per CSV row: a row has up to ~30 fields, text cells counted as a few words.
pub const ROW_WORDS: f64 = 32.0;

/// Words of `A` (`m × n`) and of the amplitudes `b` and `A G(x)`.
pub fn measurement_words(m: usize, n: usize) -> f64 {
    m as f64 * (n as f64 + 2.0)
}

/// Words of the exact `k = 2` enumeration (`landscape::exact`) on a network of these widths
/// with `m` measurements: the sectors (at most two breakpoints per unit and per measurement, a
/// few dozen words each) and the blocked `A Λ` products of one chunk of layer-1 sectors.
pub fn exact_enumeration_words(widths: &[usize], m: usize) -> f64 {
    let units: f64 = activation_words(widths);
    let n = widths.last().copied().unwrap_or(0) as f64;
    128.0 * (units + m as f64) + 32.0 * (m as f64 + n)
}

/// Words of `runs` gradient runs in lock-step through a network of these widths with `m`
/// measurements: per run the iterate, its direction and step, the activations of every layer
/// forward and backward, and `A G(x)` with its residual.
pub fn lockstep_words(runs: f64, widths: &[usize], m: usize) -> f64 {
    let k = widths.first().copied().unwrap_or(0) as f64;
    runs * (4.0 * k + 3.0 * activation_words(widths) + 2.0 * m as f64)
}

/// Words of the WDC pair search on a layer with `k` inputs (`conditions::wdc`): every block
/// of [`crate::conditions::wdc::BLOCK`] pairs keeps a trace point and its `refine_starts` best
/// pairs (`2k + 1` words each).
pub fn wdc_search_words(pairs: usize, refine_starts: usize, k: usize) -> f64 {
    let blocks = (pairs as f64 / crate::conditions::wdc::BLOCK as f64).ceil();
    blocks * (2.0 + refine_starts.max(1) as f64 * (2.0 * k as f64 + 1.0))
}

/// Words of the RRCP tuple search (`conditions::rrcp`, subspace mode) with `tuples` sampled
/// tuples on a network of these widths with `m` measurements: every sampled tuple is kept
/// (6 latent points and a sign) until the refinement picks its starts, and one block of at
/// most [`crate::conditions::rrcp::SUBSPACE_BLOCK`] tuples holds 4 points' activations,
/// outputs `A G`, and `k`-column bases with their products `A B` (`m × k`) per point.
pub fn rrcp_search_words(tuples: usize, widths: &[usize], m: usize) -> f64 {
    if tuples == 0 {
        return 0.0;
    }
    let k = widths.first().copied().unwrap_or(0) as f64;
    let n = widths.last().copied().unwrap_or(0) as f64;
    let point = activation_words(widths) + (m as f64 + n) * (k + 1.0);
    let block = tuples.min(crate::conditions::rrcp::SUBSPACE_BLOCK) as f64;
    tuples as f64 * (6.0 * k + 2.0) + 4.0 * block * point
}

/// Words of one worker of the WDC pair search on a layer with `n` outputs: two `n × BLOCK`
/// matrices of pre-activations.
pub fn wdc_workspace_words(n: usize) -> f64 {
    2.0 * n as f64 * crate::conditions::wdc::BLOCK as f64
}

/// Words of the exact `k = 2` certificate of a layer with `n` rows (`conditions::certify`):
/// `2n` activation cells with one flag byte per row, and a row of 2×2 Gram matrices per cell.
pub fn certificate_words(n: usize) -> f64 {
    let cells = 2.0 * n as f64;
    cells * n as f64 / WORD + 3.0 * cells * cells
}

/// Words of a `k = 2` certificate file of a layer with `n` rows (`conditions::certify`), on top
/// of [`certificate_words`]: the leaves kept for the file (7 words each) and their JSON text
/// (about 100 bytes, 13 words, each), counted as one leaf per cell pair `i ≤ j` of the `2n`
/// cells (refinement splits only the pairs near the maximum).
pub fn k2_certificate_file_words(n: usize) -> f64 {
    let cells = 2.0 * n as f64;
    20.0 * cells * (cells + 1.0) / 2.0
}

/// Words of the range-restricted certificate of the last layer `i` of a `k = 2` network of
/// these widths (`conditions::certify_range`), with at most two breakpoints per unit (as in
/// [`exact_enumeration_words`]): the sectors of layers `1 … i` with their `Λ_i` (`2 n_i`
/// words) and active flags, the planes of layers `1 … i − 1` (`U_s`, `W_i U_s`), and the open
/// rectangles of the search (16 words each, counted as one per cell pair: the first pass keeps at
/// most one per pair, and refinement only splits the few that survive it).
pub fn range_certificate_words(widths: &[usize]) -> f64 {
    let d = widths.len() - 1;
    let (n_in, n_out) = (widths[d - 1] as f64, widths[d] as f64);
    let cells = 2.0 * widths[1..].iter().sum::<usize>() as f64;
    let planes = 2.0 * widths[1..d].iter().sum::<usize>() as f64;
    cells * (2.0 * n_out + n_out / WORD + 4.0) + planes * (2.0 * n_in + 2.0 * n_out + 8.0) + 16.0 * cells * cells / 2.0
}

/// Words of `points` probe points in `k` dimensions, each with its result row.
pub fn probe_words(points: f64, k: usize) -> f64 {
    points * (k as f64 + ROW_WORDS)
}

/// Words of `trials` trials that keep `rows_each` CSV rows each, and the trial list.
pub fn trial_words(trials: f64, rows_each: f64) -> f64 {
    trials * (1.0 + rows_each * ROW_WORDS)
}

/// The largest worker-thread count for `cores` cores.
pub fn thread_cap(cores: usize) -> usize {
    THREADS_PER_CORE * cores.max(1)
}

/// Refuses more than [`thread_cap`] threads.
pub fn check_threads(name: &'static str, threads: usize, cores: usize) -> Result<()> {
    let cap = thread_cap(cores);
    if threads > cap {
        return Err(Error::param(
            name,
            threads,
            format!(
                "at most {THREADS_PER_CORE} threads per core ({cap} on this machine's {cores} cores) are useful; \
                 give a smaller count, or 0 for one per core"
            ),
        ));
    }
    Ok(())
}

/// Refuses a depth of the closed forms above [`MAX_DEPTH`].
pub fn check_depth(name: &'static str, d: usize) -> Result<()> {
    if d > MAX_DEPTH {
        return Err(Error::param(
            name,
            d,
            format!(
                "the closed forms iterate d times per value; give a depth of at most {MAX_DEPTH} \
                 (the theorem needs K_1 d⁸ ε^(1/4) ≤ 1, out of reach far below that)"
            ),
        ));
    }
    Ok(())
}

/// Refuses more than [`MAX_GRID`] points per axis.
pub fn check_grid(name: &'static str, points: usize) -> Result<()> {
    if points > MAX_GRID {
        return Err(Error::param(
            name,
            points,
            format!("give at most {MAX_GRID} points per axis ({MAX_GRID}² points per grid)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units_and_bad_ones_are_refused() {
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("1kb"), Some(1024));
        for bad in ["", "0", "-1G", "2X", "G", "1e400", "nan", "99999999T"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_footprint_over_the_budget_names_its_largest_term() {
        let budget = MemoryBudget::parse("--max-memory", "1M").unwrap();
        let small = Footprint::new().words("--m", 10, "A", 1000.0);
        assert!(budget.check(&small).is_ok());
        let big = small
            .network("--widths", &[2, 1_000_000_000])
            .words("--pairs", 5, "pairs", 10.0);
        let err = budget.check(&big).unwrap_err().to_string();
        assert!(err.starts_with("invalid --widths = 2,1000000000:"), "{err}");
        assert!(err.contains("22.4 GiB") && err.contains("1.0 MiB"), "{err}");
    }

    #[test]
    fn network_words_count_weights_and_activations() {
        assert_eq!(network_words(&[2, 3, 4]), (3 * 3 + 4 * 4) as f64);
        assert_eq!(activation_words(&[2, 3, 4]), 7.0);
    }

    #[test]
    fn caps_refuse_above_and_accept_at_the_limit() {
        assert!(check_threads("--threads", thread_cap(2), 2).is_ok());
        assert!(check_threads("--threads", thread_cap(2) + 1, 2).is_err());
        assert!(check_depth("--d", MAX_DEPTH).is_ok());
        assert!(check_depth("--d", MAX_DEPTH + 1).is_err());
        assert!(check_grid("--grid", MAX_GRID).is_ok());
        assert!(check_grid("--grid", MAX_GRID + 1).is_err());
    }
}
