//! Which trials one process runs: shard `i` of `N` owns the trials whose id is `i` modulo `N`
//! (round robin, so every shard gets a mix of cheap and expensive settings).
//!
//! `--shard i/N` wins; without it, inside a Slurm job array the shard is
//! `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`, so one sbatch line
//! `--array=0-(N−1)` runs the whole study.
//!
//! These defaults are only taken from an array whose ids are one contiguous range of at least
//! two tasks (`SLURM_ARRAY_TASK_MAX − SLURM_ARRAY_TASK_MIN + 1 = SLURM_ARRAY_TASK_COUNT ≥ 2`).
//! Anything else is refused, because it is what a *partial resubmission* looks like: rerunning
//! task 1 alone (`--array=1`) would otherwise become shard 0 of 1, the whole study, and
//! `--array=1,3` shards 0 and 1 of 2, a different split. Arrays with a step (`--array=0-9:2`)
//! are refused for the same reason. A resubmission passes `--shard i/N` explicitly, as
//! `verify/slurm/sweep.sbatch` always does. (A contiguous sub-range such as `--array=2-3` of a
//! 4-task study cannot be told apart from a 2-task study; `merge` then refuses the mixed
//! splits, since every trial must be present exactly once.)

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Shard `index` of `count` (`index < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u64,
    /// How many shards the study is split into (≥ 1).
    pub count: u64,
}

/// Slurm's array variables, in the order they are read.
pub const SLURM_VARS: [&str; 4] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
];

impl Shard {
    /// The whole study as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Checks `index < count` and `count ≥ 1`; `name` and `shown` describe the source in errors.
    fn checked(index: u64, count: u64, name: &'static str, shown: &str) -> Result<Self> {
        if count == 0 {
            return Err(Error::param(
                name,
                shown,
                "the number of shards N must be at least 1, e.g. --shard 0/4",
            ));
        }
        if index >= count {
            return Err(Error::param(
                name,
                shown,
                format!(
                    "the shard index must be below the number of shards: give i/N with 0 ≤ i < N, e.g. --shard {}/{count}",
                    count - 1
                ),
            ));
        }
        Ok(Self { index, count })
    }

    /// Parses `i/N`.
    pub fn parse(text: &str) -> Result<Self> {
        let malformed = || {
            Error::param(
                "--shard",
                text,
                "write the shard as i/N with integers 0 ≤ i < N, e.g. --shard 0/4",
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(malformed)?;
        let index: u64 = i.trim().parse().map_err(|_| malformed())?;
        let count: u64 = n.trim().parse().map_err(|_| malformed())?;
        Self::checked(index, count, "--shard", text)
    }

    /// The shard of a Slurm array task from `var` (an environment lookup), or `None` outside an
    /// array job (`SLURM_ARRAY_TASK_ID` unset). See the module doc for which arrays qualify.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(id) = var(SLURM_VARS[0]) else { return Ok(None) };
        let read = |name: &'static str, value: Option<String>| -> Result<u64> {
            let value = value.ok_or_else(|| {
                Error::param(
                    name,
                    "unset",
                    "Slurm sets it for array jobs; outside one, pass --shard i/N",
                )
            })?;
            value
                .trim()
                .parse()
                .map_err(|_| Error::param(name, &value, "expected a non-negative integer; or pass --shard i/N"))
        };
        let id = read(SLURM_VARS[0], Some(id))?;
        let min = read(SLURM_VARS[1], var(SLURM_VARS[1]))?;
        let max = read(SLURM_VARS[2], var(SLURM_VARS[2]))?;
        let count = read(SLURM_VARS[3], var(SLURM_VARS[3]))?;
        let shown = format!("task {id} of an array of {count} task(s) with ids {min}..={max}");
        let contiguous = max.checked_sub(min).is_some_and(|span| span + 1 == count);
        if count < 2 || !contiguous || id < min || id > max {
            return Err(Error::param(
                "SLURM_ARRAY_TASK_ID",
                &shown,
                "the shard is only read from a whole array of N ≥ 2 tasks with consecutive ids (e.g. \
                 --array=0-7); this looks like a partial resubmission or a stepped array, where the \
                 defaults would pick a different split: pass --shard i/N explicitly",
            ));
        }
        Self::checked(id - min, count, "SLURM_ARRAY_TASK_COUNT", &shown).map(Some)
    }

    /// `--shard` if given, else the Slurm array defaults, else `None` (an unsharded run).
    pub fn resolve(arg: Option<&str>) -> Result<Option<Self>> {
        match arg {
            Some(text) => Self::parse(text).map(Some),
            None => Self::from_slurm(|name| std::env::var(name).ok()),
        }
    }

    /// Whether trial `id` belongs to this shard.
    pub fn owns(&self, id: u64) -> bool {
        id % self.count == self.index
    }

    /// The ids of this shard's trials among `0..total`, in order.
    pub fn ids(&self, total: u64) -> Vec<u64> {
        (self.index..total).step_by(self.count as usize).collect()
    }

    /// The shard's folder name, `shard-<i>-of-<N>`.
    pub fn folder_name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// `i/N`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_valid_shards_and_owns_round_robin() {
        let s = Shard::parse("1/3").unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!(s.ids(8), vec![1, 4, 7]);
        assert!(s.owns(4) && !s.owns(5));
        assert_eq!(Shard::WHOLE.ids(3), vec![0, 1, 2]);
        assert_eq!(Shard::parse("2/3").unwrap().ids(2), Vec::<u64>::new());
        assert_eq!(s.folder_name(), "shard-1-of-3");
    }

    #[test]
    fn rejects_bad_shards_with_the_fix() {
        for (text, needle) in [
            ("3/2", "below the number of shards"),
            ("2/2", "below the number of shards"),
            ("0/0", "at least 1"),
            ("1", "i/N"),
            ("a/3", "i/N"),
            ("-1/3", "i/N"),
            ("1/3/4", "i/N"),
            ("", "i/N"),
        ] {
            let err = Shard::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("--shard"), "{text}: {err}");
        }
    }

    #[test]
    fn slurm_array_defaults() {
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let array = |id: &'static str, min: &'static str, max: &'static str, count: &'static str| {
            [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", min),
                ("SLURM_ARRAY_TASK_MAX", max),
                ("SLURM_ARRAY_TASK_COUNT", count),
            ]
        };
        assert_eq!(
            Shard::from_slurm(env(&array("12", "10", "13", "4"))).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::from_slurm(env(&array("0", "0", "1", "2"))).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
        // A stepped array (0-9:2), task 1 resubmitted alone, tasks 1 and 3 resubmitted.
        for vars in [
            array("8", "0", "8", "5"),
            array("1", "1", "1", "1"),
            array("0", "0", "0", "1"),
            array("1", "1", "3", "2"),
        ] {
            let err = Shard::from_slurm(env(&vars)).unwrap_err().to_string();
            assert!(
                err.contains("partial resubmission") && err.contains("--shard i/N"),
                "{vars:?}: {err}"
            );
        }
        let unset = [("SLURM_ARRAY_TASK_ID", "1")];
        assert!(
            Shard::from_slurm(env(&unset))
                .unwrap_err()
                .to_string()
                .contains("SLURM_ARRAY_TASK_MIN")
        );
        let garbage = array("x", "0", "1", "2");
        assert!(Shard::from_slurm(env(&garbage)).is_err());
    }
}
