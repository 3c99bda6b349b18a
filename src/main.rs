//! The `dpr-audit` binary: parse the command line, run, map errors to exit codes
//! (2 for the caller's input, 1 for the machine, 3 for `verify --strict` with a failing claim).

use clap::Parser;
use clap::error::ErrorKind;
use dpr_audit::app::{self, Cli};

fn main() -> anyhow::Result<()> {
    let cli = Cli::try_parse().unwrap_or_else(|err| match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            err.exit()
        }
        _ => {
            eprintln!("{}", one_line(&err.to_string()));
            std::process::exit(2);
        }
    });
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

/// A clap usage error on one line: its lines up to the usage block, joined with `; `
/// (`error: unexpected argument '--x' found; see dpr-audit --help`).
fn one_line(message: &str) -> String {
    let lines = message
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty());
    let mut text = String::new();
    for line in lines.chain(["see dpr-audit --help"]) {
        if !text.is_empty() {
            // A list introduced by a colon continues the sentence.
            text += if text.ends_with(':') { " " } else { "; " };
        }
        text += line;
    }
    text
}
