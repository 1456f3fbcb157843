//! The LSBV models of a configuration: which models this process can code with
//! (`codec.model`, `codec.models_dir`, `codec.device`), loaded once and shared by every
//! compression job, retrieval and command.
//!
//! Owns the step from configuration to a [`ModelSet`]; the codec itself knows nothing of
//! configuration files. Invariant: one set per distinct codec configuration per process,
//! so ONNX Runtime sessions are built once and reused.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::codec::model::{ModelSet, default_models_dir};
use crate::config::CodecConfig;
use crate::runtime::Runtime;

/// The models of a configuration: the built-in one, plus every learned model of
/// `codec.models_dir` when the selected model is a learned one or the folder holds
/// any (ONNX Runtime is then loaded as `codec.device` says). Sessions get one
/// intra-op thread: chunks already run in parallel.
pub fn from_config(codec: &CodecConfig) -> Result<ModelSet, String> {
    let dir = if codec.models_dir.as_os_str().is_empty() {
        default_models_dir()
    } else {
        codec.models_dir.clone()
    };
    let has_files = std::fs::read_dir(&dir).is_ok_and(|mut e| {
        e.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "onnx")))
    });
    if codec.model == "builtin" && !has_files {
        return Ok(ModelSet::builtin_only());
    }
    let runtime =
        Runtime::load(&codec.onnxruntime_library, codec.device).map_err(|e| e.to_string())?;
    let set = ModelSet::load_dir(&runtime, &dir, 1, true)?;
    set.select(&codec.model)?;
    Ok(set)
}

/// The model set of a configuration, loaded once per process and shared (sessions are
/// expensive to build; every archive job and retrieval of the process reuses them). A
/// failure is kept too: a command decoding many chunks reports it for each without
/// loading ONNX Runtime again each time.
pub fn shared(codec: &CodecConfig) -> Result<Arc<ModelSet>, String> {
    type Key = (PathBuf, String, String, PathBuf);
    type Loaded = Result<Arc<ModelSet>, String>;
    static SETS: Mutex<Vec<(Key, Loaded)>> = Mutex::new(Vec::new());
    let key: Key = (
        codec.models_dir.clone(),
        codec.model.clone(),
        format!("{:?}", codec.device),
        codec.onnxruntime_library.clone(),
    );
    let mut sets = SETS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, loaded)) = sets.iter().find(|(k, _)| *k == key) {
        return loaded.clone();
    }
    let loaded = from_config(codec).map(Arc::new);
    match &loaded {
        Ok(set) => {
            tracing::info!(model = %codec.model, learned = ?set.describe(), "LSBV models loaded")
        }
        Err(e) => tracing::error!(model = %codec.model, error = %e, "LSBV models not loaded"),
    }
    sets.push((key, loaded.clone()));
    loaded
}
