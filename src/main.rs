//! The `dpr-audit` binary: parse the command line, run, map errors to exit codes
//! (2 for the caller's input, 1 for the machine, 3 for `verify --strict` with a failing claim).

use clap::Parser;
use dpr_audit::app::{self, Cli};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (quiet, json) = (cli.global.quiet, cli.global.json);
    match app::run(cli, std::env::args().collect()) {
        Ok(outcome) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome.json)?);
            } else if !quiet {
                print!("{}", outcome.human);
            }
            std::process::exit(outcome.exit_code);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(if err.is_usage() { 2 } else { 1 });
        }
    }
}
