//! `dpr-audit check-certificate FILE`: the independent check of a WDC box certificate
//! (docs/THEORY.md §14.6). Exit 0 when every leaf bound is confirmed, 3 when the certificate
//! is refused, 2 for unreadable input.

use super::cli::CheckCertificateArgs;
use super::context::{Context, Outcome};
use super::inputs::network;
use crate::conditions::certify::{FILE_FORMAT as K2_FORMAT, K2CertificateFile};
use crate::conditions::certify_check::{CertificateFile, check};
use crate::conditions::certify_k2_check::check_k2;
use crate::conditions::certify_range::{FILE_FORMAT as RANGE_FORMAT, RangeCertificateFile};
use crate::conditions::certify_range_check::check_range;
use crate::core::network::Network;
use crate::error::{Error, Result};
use faer::MatRef;

/// Runs `dpr-audit check-certificate`.
pub fn run(ctx: &Context, args: CheckCertificateArgs) -> Result<Outcome> {
    let path = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|source| Error::MissingInput {
        path: args.file.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::param(
            "FILE",
            &path,
            format!("not a certificate written by `wdc --certify --certificate` ({e})"),
        )
    })?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(RANGE_FORMAT) => return check_range_file(ctx, &args, &path, value),
        Some(K2_FORMAT) => return check_k2_file(ctx, &args, &path, value),
        _ => {}
    }
    let file: CertificateFile = serde_json::from_value(value).map_err(|e| {
        Error::param(
            "FILE",
            &path,
            format!("not a certificate written by `wdc --certify --certificate` ({e})"),
        )
    })?;
    // Random layers are redrawn exactly as `wdc` drew them (same experiment and trial).
    let (net, _) = network(&args.source, ctx.seed, "wdc", 0)?;
    let w = layer_weights(&net, file.layer, &path)?;
    let checked = check(w, &file).map(|report| {
        (
            format!(
                "ε of layer {} ∈ [{:.6}, {:.6}] (certified_interval): {} nodes replayed, {} leaf bounds recomputed (largest {:.6}), ‖D‖ = {:.6} at the arg-max pair",
                file.layer, file.lower, file.upper, report.nodes, report.leaves, report.max_recomputed, report.value_at_argmax
            ),
            serde_json::json!(report),
        )
    });
    Ok(verdict(&path, (file.layer, file.lower, file.upper), checked))
}

/// The weights of layer `layer` (1-based) of `net`, or a usage error naming the file.
fn layer_weights<'a>(net: &'a Network, layer: usize, path: &str) -> Result<MatRef<'a, f64>> {
    if layer == 0 || layer > net.depth() {
        return Err(Error::param(
            "FILE",
            path,
            format!("the certificate is for layer {layer}, the network has {}", net.depth()),
        ));
    }
    Ok(net.layers()[layer - 1].weight.as_ref())
}

/// Checks a `k = 2` full-domain certificate (docs/THEORY.md §17.9).
fn check_k2_file(ctx: &Context, args: &CheckCertificateArgs, path: &str, value: serde_json::Value) -> Result<Outcome> {
    let file: K2CertificateFile = serde_json::from_value(value).map_err(|e| {
        Error::param(
            "FILE",
            path,
            format!("not a k = 2 certificate written by `wdc --certify --certificate` ({e})"),
        )
    })?;
    let (net, _) = network(&args.source, ctx.seed, "wdc", 0)?;
    let w = layer_weights(&net, file.layer, path)?;
    let checked = check_k2(w, &file).map(|report| {
        (
            format!(
                "ε of layer {} ∈ [{:.6}, {:.6}] (certified_interval): {} cells checked, {} leaf bounds recomputed (largest {:.6}), ‖D‖ = {:.6} at the arg-max pair",
                file.layer, file.lower, file.upper, report.cells, report.leaves, report.max_recomputed, report.value_at_argmax
            ),
            serde_json::json!(report),
        )
    });
    Ok(verdict(path, (file.layer, file.lower, file.upper), checked))
}

/// ACCEPTED with what the check established (exit 0), or REFUSED with the first reason
/// (exit 3).
fn verdict(
    path: &str,
    (layer, lower, upper): (usize, f64, f64),
    checked: std::result::Result<(String, serde_json::Value), String>,
) -> Outcome {
    match checked {
        Ok((detail, report)) => Outcome {
            human: format!("certificate {path}: ACCEPTED — {detail}\n"),
            json: serde_json::json!({"command": "check-certificate", "file": path, "accepted": true,
                "layer": layer, "lower": lower, "upper": upper, "report": report}),
            exit_code: 0,
        },
        Err(reason) => Outcome {
            human: format!("certificate {path}: REFUSED — {reason}\n"),
            json: serde_json::json!({"command": "check-certificate", "file": path, "accepted": false, "reason": reason}),
            exit_code: 3,
        },
    }
}

/// Checks a range-restricted certificate (docs/THEORY.md §17.8).
fn check_range_file(
    ctx: &Context,
    args: &CheckCertificateArgs,
    path: &str,
    value: serde_json::Value,
) -> Result<Outcome> {
    let file: RangeCertificateFile = serde_json::from_value(value).map_err(|e| {
        Error::param(
            "FILE",
            path,
            format!("not a range certificate written by `wdc --domain range --certify --certificate` ({e})"),
        )
    })?;
    let (net, _) = network(&args.source, ctx.seed, "wdc", 0)?;
    let weights: Vec<_> = net.layers().iter().map(|l| l.weight.as_ref()).collect();
    let checked = check_range(&weights, &file).map(|report| {
        (
            format!(
                "ε_range of layer {} ∈ [{:.6}, {:.6}] (certified_interval): {} cells checked, {} leaf bounds recomputed (largest {:.6}), value {:.6} at the arg-max pair",
                file.layer, file.lower, file.upper, report.cells, report.leaves, report.max_recomputed, report.value_at_argmax
            ),
            serde_json::json!(report),
        )
    });
    Ok(verdict(path, (file.layer, file.lower, file.upper), checked))
}
