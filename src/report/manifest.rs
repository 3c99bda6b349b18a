//! The JSON manifest written beside every CSV: what was run, with which version and
//! parameters. Timestamps live here and only here, so CSV files stay byte-identical across
//! runs, thread counts and shard splits.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// `manifest.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// Always `"dpr-audit"`.
    pub tool: &'static str,
    /// The crate version.
    pub version: &'static str,
    /// The subcommand (e.g. `"expected rho"`).
    pub command: String,
    /// The full command line as given.
    pub command_line: Vec<String>,
    /// The master seed.
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
    /// Every parameter of the subcommand, defaults included.
    pub parameters: serde_json::Value,
    /// The files written, relative to the output folder.
    pub files: Vec<String>,
    /// Start time, UTC, ISO 8601.
    pub started_utc: String,
    /// End time, UTC, ISO 8601.
    pub finished_utc: String,
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_420), (2025, 11, 28));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
