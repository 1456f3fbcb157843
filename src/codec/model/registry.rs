//! The set of LSBV models a process can code with: the built-in context model and the
//! learned models found in the models folder.
//!
//! Owns model lookup: by a user's selection (`builtin`, `learned` for the default learned
//! model, a file name or path) for encoding, and by the id a container records for
//! decoding. A learned model's id is the sha256 of its file, so a container decodes only
//! with the exact file that wrote it; a missing one is an error naming that hash.
//!
//! Invariant: every model that ever wrote data stays in the folder (`models/README.md`);
//! the set loads all of them, so old containers keep decoding after a newer default.

use std::path::{Path, PathBuf};

use super::context::ContextModelFactory;
use super::learned::LearnedModelFactory;
use super::onnx::OnnxSource;
use super::{ModelFactory, ModelId, id_to_string};
use crate::runtime::Runtime;

/// File name of the default learned model in the models folder.
pub const DEFAULT_LEARNED_MODEL: &str = "strata-lvic-v1.onnx";

/// Loaded models.
#[derive(Default)]
pub struct ModelSet {
    builtin: ContextModelFactory,
    learned: Vec<LearnedModelFactory<OnnxSource>>,
}

impl std::fmt::Debug for ModelSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.learned.iter().map(|m| m.source().path().to_owned()))
            .finish()
    }
}

/// Where the models folder is when nothing is configured: `models/` below the working
/// directory, else below the source tree of this build.
pub fn default_models_dir() -> PathBuf {
    let here = Path::new("models");
    if here.join(DEFAULT_LEARNED_MODEL).is_file() {
        return here.to_owned();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

impl ModelSet {
    /// Only the built-in model (no ONNX Runtime needed).
    pub fn builtin_only() -> Self {
        ModelSet::default()
    }

    /// The built-in model and every `*.onnx` file of `dir`, with sessions of `threads`
    /// intra-op threads (0 = runtime default) and full or no graph optimisation.
    pub fn load_dir(
        runtime: &Runtime,
        dir: &Path,
        threads: usize,
        optimize: bool,
    ) -> Result<Self, String> {
        let mut set = ModelSet::default();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot list the models folder {}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
            .collect();
        files.sort();
        for file in files {
            set.add_file(runtime, &file, threads, optimize)?;
        }
        Ok(set)
    }

    /// Loads one model file (if a file with the same content is not loaded yet).
    pub fn add_file(
        &mut self,
        runtime: &Runtime,
        path: &Path,
        threads: usize,
        optimize: bool,
    ) -> Result<&dyn ModelFactory, String> {
        let source = OnnxSource::load(runtime, path, threads, optimize)?;
        let id = super::learned::NetworkSource::id(&source);
        let at = match self.learned.iter().position(|m| m.id() == id) {
            Some(at) => at,
            None => {
                self.learned.push(LearnedModelFactory::new(source));
                self.learned.len() - 1
            }
        };
        Ok(&self.learned[at])
    }

    /// Every model, the built-in one first.
    pub fn all(&self) -> Vec<&dyn ModelFactory> {
        let mut out: Vec<&dyn ModelFactory> = vec![&self.builtin];
        out.extend(self.learned.iter().map(|m| m as &dyn ModelFactory));
        out
    }

    /// The model with this id.
    pub fn by_id(&self, id: &ModelId) -> Option<&dyn ModelFactory> {
        self.all().into_iter().find(|m| m.id() == *id)
    }

    /// The model a user selects: `builtin`, `learned` (the default learned model), a
    /// loaded model's sha256 (hex), or a model file's name or path among those loaded.
    pub fn select(&self, selection: &str) -> Result<&dyn ModelFactory, String> {
        let want = match selection {
            "builtin" => return Ok(&self.builtin),
            "learned" => DEFAULT_LEARNED_MODEL,
            other => other,
        };
        if let Some(m) = self.learned.iter().find(|m| id_to_string(&m.id()) == want) {
            return Ok(m);
        }
        let name = Path::new(want).file_name().unwrap_or_default();
        self.learned
            .iter()
            .find(|m| m.source().path().file_name() == Some(name))
            .map(|m| m as &dyn ModelFactory)
            .ok_or_else(|| {
                let loaded: Vec<String> = self
                    .learned
                    .iter()
                    .map(|m| m.source().path().display().to_string())
                    .collect();
                format!(
                    "LSBV model {selection:?} is not loaded (loaded: builtin{}{})",
                    if loaded.is_empty() { "" } else { ", " },
                    loaded.join(", ")
                )
            })
    }

    /// Describes the loaded learned models (`name = sha256`).
    pub fn describe(&self) -> Vec<String> {
        self.learned
            .iter()
            .map(|m| {
                format!(
                    "{} = {}",
                    m.source().path().display(),
                    id_to_string(&m.id())
                )
            })
            .collect()
    }
}
