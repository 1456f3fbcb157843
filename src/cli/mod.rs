//! Command-line interface: one file per subcommand, each an `Args` struct
//! with a `run` method. `anyhow` lives here and in `main` only.

mod archive;
mod codec;
mod runtime;
mod serve;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use strata::config::{Config, ConfigError, LogFormat};

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
    /// Import DICOM files and folders into the archive.
    Import(archive::ImportArgs),
    /// Print what the archive holds.
    Stats(archive::StatsArgs),
    /// Compress every series still in the spool now, without waiting for it
    /// to be stable.
    CompressPending(archive::CompressPendingArgs),
    /// Rebuild every instance (or one study's) and check it against the
    /// sha256 recorded when it was received.
    Verify(archive::VerifyArgs),
    /// Write instances as Part-10 files (imported files byte for byte).
    Export(archive::ExportArgs),
    /// Compress a volume (DICOM series folder, .npy, NIfTI, NRRD) into a
    /// Strata container.
    Compress(codec::CompressArgs),
    /// Decompress a Strata container to .npy or NIfTI.
    Decompress(codec::DecompressArgs),
    /// Print a container's header.
    Info(codec::InfoArgs),
    /// Benchmark strata against JPEG-LS, JPEG XL, zstd and zlib.
    Bench(codec::BenchArgs),
    /// Record training samples of the learned LSBV model (used by `make train`).
    #[command(hide = true)]
    TrainData(codec::TrainDataArgs),
    /// Locate and load ONNX Runtime, report its build and device, and
    /// optionally open a model.
    Runtime(runtime::RuntimeArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => args.run(self.log_format),
            Command::Import(args) => args.run(self.log_format),
            Command::Stats(args) => args.run(self.log_format),
            Command::CompressPending(args) => args.run(self.log_format),
            Command::Verify(args) => args.run(self.log_format),
            Command::Export(args) => args.run(self.log_format),
            Command::Runtime(args) => args.run(self.log_format),
            Command::Compress(args) => args.run(),
            Command::Decompress(args) => args.run(),
            Command::Info(args) => args.run(),
            Command::Bench(args) => args.run(),
            Command::TrainData(args) => args.run(),
        }
    }
}

/// Options every archive subcommand takes.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML, see config/strata.toml). Without it the
    /// built-in defaults apply; STRATA_* environment variables override both.
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (index, spool, store).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the configuration, applies `--data-dir` and starts logging.
    pub fn load(&self, log_format: Option<LogFormat>) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref(), std::env::vars())?;
        if let Some(dir) = &self.data_dir {
            config.storage.data_dir = dir.clone();
        }
        strata::logging::init(log_format.unwrap_or(config.log.format), &config.log.level);
        Ok(config)
    }
}

/// Runs `future` on a multi-threaded tokio runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}
