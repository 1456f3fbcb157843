//! `strata runtime`: finds and loads ONNX Runtime exactly as `serve` does and
//! reports what it found, so a user can check an installation.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata::config::{Config, Device, LogFormat};
use strata::runtime::Runtime;

#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Configuration file (for `codec.onnxruntime_library` and `codec.device`).
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Device policy, overriding `codec.device`.
    #[arg(long, value_enum)]
    device: Option<DeviceArg>,
    /// An ONNX model to open; its inputs and outputs are listed.
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl RuntimeArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = Config::load(self.config.as_deref(), std::env::vars())?;
        strata::logging::init(log_format.unwrap_or(config.log.format), &config.log.level);
        let device = match self.device {
            Some(DeviceArg::Auto) => Device::Auto,
            Some(DeviceArg::Cpu) => Device::Cpu,
            Some(DeviceArg::Cuda) => Device::Cuda,
            None => config.codec.device,
        };
        let runtime = Runtime::load(&config.codec.onnxruntime_library, device)?;
        println!("library: {}", runtime.library().display());
        println!("device:  {}", runtime.device());
        println!("build:   {}", ort::info());
        if let Some(model) = &self.model {
            let session = runtime
                .session(model, 1, true)
                .with_context(|| format!("cannot open model {}", model.display()))?;
            for input in session.inputs() {
                println!("input:   {} {:?}", input.name(), input.dtype());
            }
            for output in session.outputs() {
                println!("output:  {} {:?}", output.name(), output.dtype());
            }
        }
        Ok(())
    }
}
