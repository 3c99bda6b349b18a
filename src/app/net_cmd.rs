//! `dpr-audit net`: make or load a network, describe it, optionally save it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cli::NetArgs;
use super::context::{Context, Outcome};
use super::inputs::network_within;
use crate::core::network::Network;
use crate::core::weights;
use crate::error::Result;
use crate::limits::Footprint;
use crate::report::widths_label;

/// One row of `layers.csv`: a layer's shape and weight statistics.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    /// `"random"` or the weights file.
    pub source: String,
    /// Weight variance convention (`normalized`, `unit`, or from the file).
    pub weight_scale: String,
    /// Master seed (used only for random networks).
    pub seed: u64,
    /// Layer index i (1-based).
    pub layer: usize,
    /// `n_i` (rows of W_i).
    pub n_out: usize,
    /// `n_{i−1}` (columns of W_i).
    pub n_in: usize,
    /// Activation name.
    pub activation: String,
    /// Whether the layer has a bias vector.
    pub has_bias: bool,
    /// Expansivity ratio `n_i / (n_{i−1} ln n_{i−1})` (infinite when `n_{i−1} = 1`).
    pub expansivity_ratio: f64,
    /// Sample mean of the entries of W_i.
    pub weight_mean: f64,
    /// Sample standard deviation of the entries of W_i.
    pub weight_std: f64,
    /// The theorems' standard deviation `1/√n_i`.
    pub theory_std: f64,
}

/// Per-layer statistics of a network.
pub fn layer_rows(net: &Network, source: &str, weight_scale: &str, seed: u64) -> Vec<LayerRow> {
    net.layers()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (rows, cols) = (l.weight.nrows(), l.weight.ncols());
            let values: Vec<f64> = (0..cols).flat_map(|j| l.weight.col_as_slice(j).to_vec()).collect();
            let count = values.len() as f64;
            let mean = values.iter().sum::<f64>() / count;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0).max(1.0);
            LayerRow {
                source: source.to_string(),
                weight_scale: weight_scale.to_string(),
                seed,
                layer: i + 1,
                n_out: rows,
                n_in: cols,
                activation: l.activation.name().to_string(),
                has_bias: l.bias.is_some(),
                expansivity_ratio: rows as f64 / (cols as f64 * (cols as f64).ln()),
                weight_mean: mean,
                weight_std: var.sqrt(),
                theory_std: 1.0 / (rows as f64).sqrt(),
            }
        })
        .collect()
}

/// Runs `dpr-audit net`.
pub fn run(ctx: &Context, args: NetArgs) -> Result<Outcome> {
    let (net, origin) = network_within(
        &args.source,
        &ctx.budget,
        |widths| Footprint::new().network("--widths", widths),
        (ctx.seed, "net", 0),
    )?;
    let rows = layer_rows(&net, &origin.source, &origin.weight_scale, ctx.seed);
    let out = ctx.create_out(&ctx.out_dir("net"))?;
    out.write_csv("layers.csv", &rows)?;
    if let Some(path) = &args.save {
        let meta = BTreeMap::from([
            ("weight_scale".to_string(), origin.weight_scale.clone()),
            ("seed".to_string(), ctx.seed.to_string()),
            ("source".to_string(), origin.source.clone()),
        ]);
        weights::save(&net, path, &meta)?;
    }
    let dir = ctx.finish(out, "net", &args)?;
    let violations = net.theory_violations();
    let mut human = format!(
        "network {} ({}, weights {}) → {}\n  layer  n_out  n_in  activation  bias  n_i/(n_(i-1) ln n_(i-1))  mean        std         1/sqrt(n_i)\n",
        widths_label(&net.widths()),
        origin.source,
        origin.weight_scale,
        dir.display()
    );
    for r in &rows {
        human += &format!(
            "  {:>5}  {:>5}  {:>4}  {:<10}  {:<4}  {:>24.3}  {:>+.3e}  {:.3e}  {:.3e}\n",
            r.layer,
            r.n_out,
            r.n_in,
            r.activation,
            r.has_bias,
            r.expansivity_ratio,
            r.weight_mean,
            r.weight_std,
            r.theory_std
        );
    }
    if violations.is_empty() {
        human += "  bias-free ReLU: the theory's architecture hypotheses hold\n";
    } else {
        human += &format!("  not a bias-free ReLU network: {}\n", violations.join("; "));
    }
    if let Some(path) = &args.save {
        human += &format!("  saved to {}\n", path.display());
    }
    let json = serde_json::json!({
        "command": "net", "out": dir, "widths": net.widths(), "layers": rows,
        "theory_violations": violations, "saved": args.save,
    });
    Ok(Outcome {
        human,
        json,
        exit_code: 0,
    })
}
