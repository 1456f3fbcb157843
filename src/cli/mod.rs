//! Command-line interface: one file per subcommand, each an `Args` struct
//! with a `run` method. `anyhow` lives here and in `main` only.

mod runtime;
mod serve;

use clap::{Parser, Subcommand};

use strata::config::LogFormat;

/// Strata DICOM archive node.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format (overrides `log.format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the archive node (DICOM SCP).
    Serve(serve::ServeArgs),
    /// Locate and load ONNX Runtime, report its build and device, and
    /// optionally open a model.
    Runtime(runtime::RuntimeArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => args.run(self.log_format),
            Command::Runtime(args) => args.run(self.log_format),
        }
    }
}
