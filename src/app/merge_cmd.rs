//! `dpr-audit merge DIR…`: the final outputs of a sharded run, byte-identical to an unsharded
//! run, after checking that the shards ran one configuration and hold every trial exactly once
//! (missing or duplicated trials are listed, exit code 2). The study is rebuilt from the
//! configuration recorded in the shard manifests; the kind recorded there picks the finaliser.

use super::cli::MergeArgs;
use super::context::{Context, Outcome};
use super::sweep_cmd::{finalize, summary};
use crate::error::{Error, Result};
use crate::exec::merge::{ShardFolder, read_folders};
use crate::exec::store::MANIFEST_FILE;
use crate::report::output::check_inputs;
use crate::sweep::SweepStudy;

/// The study plan recorded in a shard folder's manifest.
fn recorded_plan<T: serde::de::DeserializeOwned>(first: &ShardFolder) -> Result<T> {
    serde_json::from_value(first.manifest.config.clone()).map_err(|e| Error::Trials {
        path: first.dir.join(MANIFEST_FILE),
        reason: format!(
            "its {} configuration does not fit this version ({e})",
            first.manifest.kind
        ),
    })
}

/// Runs `dpr-audit merge`.
pub fn run(ctx: &Context, args: MergeArgs) -> Result<Outcome> {
    // The output folder first: it must neither be nor hold a shard folder it reads.
    let out = ctx.out_dir("merge");
    let staging = ctx.create_out(&out)?;
    check_inputs(&out, &args.dirs)?;
    let folders = read_folders(&args.dirs)?;
    let first = &folders[0];
    match first.manifest.kind.as_str() {
        "sweep" => {
            let study = SweepStudy::from_recorded(&first.manifest.config, &first.dir.join(MANIFEST_FILE))?;
            let done = finalize(ctx, &study, &folders, staging, "merge", (None, false))?;
            let header = format!(
                "merge: {} shard folders, {} trials, each exactly once (config hash {}) → {}\n",
                folders.len(),
                done.trials,
                first.manifest.config_hash,
                done.dir.display()
            );
            let extra = serde_json::json!({"command": "merge", "shards": folders.len()});
            Ok(summary(&done, header, extra))
        }
        "wdc-scaling" => super::wdc_cmd::merge(ctx, &folders, staging),
        "rrcp" => super::rrcp_cmd::merge(ctx, &folders, staging),
        "landscape-sweep" => {
            let study = crate::landscape::sweep::LandscapeSweep {
                plan: recorded_plan(first)?,
            };
            super::landscape_sweep_cmd::finalize(ctx, &study, &folders, staging, "merge")
        }
        crate::landscape::exact::sweep::EXPERIMENT => {
            let study = crate::landscape::exact::sweep::ExactSweep {
                plan: recorded_plan(first)?,
            };
            super::exact_sweep_cmd::finalize(ctx, &study, &folders, staging, "merge")
        }
        other => Err(Error::Trials {
            path: first.dir.clone(),
            reason: format!(
                "holds a study of kind {other:?}, which this version cannot merge (known: sweep, wdc-scaling, rrcp, landscape-sweep, landscape-exact-sweep)"
            ),
        }),
    }
}
