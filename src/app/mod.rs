//! The subcommands behind the `dpr-audit` binary: parse → typed options → run → report.
//!
//! Each subcommand validates its options first (before any file is touched), computes, then
//! writes its CSV files, plots and `manifest.json` into a staging folder that is committed in
//! one rename ([`crate::report::output::OutputDir`]).

pub mod audit_cmd;
pub mod census_cmd;
pub mod check_certificate_cmd;
pub mod cli;
pub mod context;
pub mod exact_cmd;
pub mod exact_sweep_cmd;
pub mod expected_cmd;
pub mod inputs;
pub mod landscape_cmd;
pub mod landscape_sweep_cmd;
pub mod merge_cmd;
pub mod mnist_audit_cmd;
pub mod mnist_cmd;
pub mod mnist_reconstruct_cmd;
pub mod mnist_synthetic_cmd;
pub mod net_cmd;
pub mod rrcp_cmd;
pub mod scaleout;
pub mod solve_cmd;
pub mod sweep_cmd;
pub mod verify_cmd;
pub mod wdc_cmd;

pub use cli::{Cli, Command};
pub use context::{Context, Outcome};

use crate::error::Result;

/// Runs a parsed command line.
pub fn run(cli: Cli, command_line: Vec<String>) -> Result<Outcome> {
    let ctx = Context::new(&cli.global, command_line)?;
    match cli.command {
        Command::Expected(args) => expected_cmd::run(&ctx, args),
        Command::Net(args) => net_cmd::run(&ctx, args),
        Command::Wdc(args) => wdc_cmd::run(&ctx, args),
        Command::CheckCertificate(args) => check_certificate_cmd::run(&ctx, args),
        Command::Rrcp(args) => rrcp_cmd::run(&ctx, args),
        Command::Audit(args) => audit_cmd::run(&ctx, args),
        Command::Solve(args) => solve_cmd::run(&ctx, args),
        Command::Landscape(args) => landscape_cmd::run(&ctx, *args),
        Command::Verify(args) => verify_cmd::run(&ctx, args),
        Command::Sweep(args) => sweep_cmd::run(&ctx, args),
        Command::Merge(args) => merge_cmd::run(&ctx, args),
        Command::Mnist(command) => mnist_cmd::run(&ctx, command),
    }
}
