//! ONNX Runtime provisioning: finds `libonnxruntime.so`, loads it once per
//! process, and builds inference sessions on the configured device.
//!
//! `ort` is built with `load-dynamic`, so nothing is linked at build time.
//! The library is looked up, in order, at `ORT_DYLIB_PATH`, at
//! `codec.onnxruntime_library`, then in the project's `.runtime/` folder
//! (relative to the working directory, then to the source tree of this build).
//! When none exists the error says the exact command that installs it.
//!
//! Invariant: the library is loaded at most once per process; every session
//! is built by [`Runtime::session`], so the device policy (`auto|cpu|cuda`)
//! applies everywhere and the choice is logged.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::config::Device;

/// ONNX Runtime version this build is written against (`ort` feature `api-31`).
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";
/// Path of the library below a `.runtime/` folder filled by `make runtime`.
pub const RUNTIME_SUBPATH: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";
/// The command that installs the library where the locator looks.
pub const INSTALL_HINT: &str =
    "make runtime   (or: python3 -m pip install --no-deps --target .runtime onnxruntime==1.31.1)";

/// Errors of the runtime layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No library at any of the places looked at.
    #[error(
        "ONNX Runtime {ONNXRUNTIME_VERSION} not found (looked at: {looked}).\nInstall it with: {INSTALL_HINT}\nor point ORT_DYLIB_PATH at libonnxruntime.so"
    )]
    NotFound { looked: String },
    /// A library file exists but cannot be loaded.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Load { path: PathBuf, message: String },
    /// `codec.device = "cuda"` but the CUDA execution provider is unusable.
    #[error(
        "codec.device = \"cuda\" but the CUDA execution provider is unavailable in {path}: {message}\nInstall the GPU build (pip wheel onnxruntime-gpu=={ONNXRUNTIME_VERSION}) or set codec.device = \"auto\""
    )]
    CudaUnavailable { path: PathBuf, message: String },
    /// Building or running a session failed.
    #[error("ONNX Runtime session for {model}: {message}")]
    Session { model: String, message: String },
}

/// A loaded ONNX Runtime and the device sessions run on.
#[derive(Clone)]
pub struct Runtime {
    library: PathBuf,
    environment: Environment,
    device: ResolvedDevice,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("device", &self.device)
            .finish()
    }
}

/// The device actually used after resolving `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedDevice {
    Cpu,
    Cuda,
}

impl std::fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResolvedDevice::Cpu => "cpu",
            ResolvedDevice::Cuda => "cuda",
        })
    }
}

/// The library the process loaded and its environment; set once.
static LOADED: OnceLock<(PathBuf, Environment)> = OnceLock::new();

/// The project folders looked at when nothing is set explicitly: `.runtime/`
/// below the working directory, then below the source tree of this build.
fn default_paths() -> Vec<PathBuf> {
    vec![
        Path::new(".runtime").join(RUNTIME_SUBPATH),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".runtime")
            .join(RUNTIME_SUBPATH),
    ]
}

/// Finds the library without loading it. An explicit setting
/// (`ORT_DYLIB_PATH` or `codec.onnxruntime_library`) that names a missing file
/// is an error rather than a silent fall-back.
pub fn locate(configured: &Path) -> Result<PathBuf, RuntimeError> {
    let explicit = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| (!configured.as_os_str().is_empty()).then(|| configured.to_owned()));
    let paths = match explicit {
        Some(path) => vec![path],
        None => default_paths(),
    };
    paths
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::NotFound {
            looked: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl Runtime {
    /// Locates and loads the library (once per process) and resolves the
    /// device policy.
    pub fn load(configured: &Path, device: Device) -> Result<Runtime, RuntimeError> {
        let (library, environment) = match LOADED.get() {
            Some(loaded) => loaded.clone(),
            None => load_library(locate(configured)?)?,
        };
        let device = resolve_device(&library, device)?;
        tracing::info!(library = %library.display(), %device, "ONNX Runtime ready");
        Ok(Runtime {
            library,
            environment,
            device,
        })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The device sessions run on.
    pub fn device(&self) -> ResolvedDevice {
        self.device
    }

    /// Builds a session for the model file with `threads` intra-op threads
    /// (0 = runtime default) and the given graph optimisation.
    pub fn session(
        &self,
        model: &Path,
        threads: usize,
        optimize: bool,
    ) -> Result<Session, RuntimeError> {
        let name = model.display().to_string();
        let mut builder = self.builder(&name, threads, optimize)?;
        builder
            .commit_from_file(model)
            .map_err(|e| session_error(&name, e))
    }

    /// Builds a session for a model held in memory (`name` labels errors): the
    /// bytes that were hashed are the bytes that run, whatever happens to the
    /// file afterwards.
    pub fn session_from_memory(
        &self,
        name: &str,
        model: &[u8],
        threads: usize,
        optimize: bool,
    ) -> Result<Session, RuntimeError> {
        let mut builder = self.builder(name, threads, optimize)?;
        builder
            .commit_from_memory(model)
            .map_err(|e| session_error(name, e))
    }

    fn builder(
        &self,
        name: &str,
        threads: usize,
        optimize: bool,
    ) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
        let err = |e: ort::Error| session_error(name, e);
        let level = if optimize {
            GraphOptimizationLevel::All
        } else {
            GraphOptimizationLevel::Disable
        };
        let mut builder = Session::builder(&self.environment)
            .map_err(err)?
            .with_optimization_level(level)
            .map_err(|e| err(e.into()))?
            .with_intra_threads(threads)
            .map_err(|e| err(e.into()))?;
        if self.device == ResolvedDevice::Cuda {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| err(e.into()))?;
        }
        Ok(builder)
    }
}

fn session_error(model: &str, e: ort::Error) -> RuntimeError {
    RuntimeError::Session {
        model: model.to_owned(),
        message: e.to_string(),
    }
}

fn load_library(path: PathBuf) -> Result<(PathBuf, Environment), RuntimeError> {
    let load_err = |message: String| RuntimeError::Load {
        path: path.clone(),
        message,
    };
    let environment = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("strata")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    Ok(LOADED.get_or_init(|| (path.clone(), environment)).clone())
}

fn resolve_device(library: &Path, wanted: Device) -> Result<ResolvedDevice, RuntimeError> {
    let cuda = ort::ep::CUDA::is_available();
    match (wanted, cuda) {
        (Device::Cpu, _) => Ok(ResolvedDevice::Cpu),
        (_, Ok(true)) => Ok(ResolvedDevice::Cuda),
        (Device::Auto, Ok(false)) => {
            tracing::info!("CUDA execution provider not in this ONNX Runtime build; using CPU");
            Ok(ResolvedDevice::Cpu)
        }
        (Device::Auto, Err(e)) => {
            tracing::warn!(error = %e, "cannot query CUDA execution provider; using CPU");
            Ok(ResolvedDevice::Cpu)
        }
        (Device::Cuda, Ok(false)) => Err(RuntimeError::CudaUnavailable {
            path: library.to_owned(),
            message: "this build has no CUDA execution provider".to_owned(),
        }),
        (Device::Cuda, Err(e)) => Err(RuntimeError::CudaUnavailable {
            path: library.to_owned(),
            message: e.to_string(),
        }),
    }
}
