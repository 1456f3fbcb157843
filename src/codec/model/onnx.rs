//! Learned networks run by ONNX Runtime.
//!
//! Owns the loading of a model file (its sha256 is the model id written into
//! containers), the pool of inference sessions of a model (built once, reused by every
//! chunk that codes with it, one session per chunk in flight) and the call of the graph.
//!
//! The graph takes `features` (`uint8`, `[rows, 32]`) and returns `logits` (`int32`,
//! `[rows, 1]`); it is built only of exact integer operations (`MatMulInteger` with
//! 7-bit inputs and weights in `-127..=127`, `Add`, `Div` by a power of two, `Clip`,
//! `Cast`), so its output does not depend on the execution provider, the thread count
//! or the graph optimisation level (see `docs/format.md`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};

use super::learned::{FEATURES, Network, NetworkSource};
use super::{ModelId, id_to_string};
use crate::runtime::Runtime;

/// A model file and its sessions.
pub struct OnnxSource {
    runtime: Runtime,
    path: PathBuf,
    id: ModelId,
    threads: usize,
    optimize: bool,
    /// The file's bytes as hashed: every session is built from them.
    bytes: Arc<[u8]>,
    pool: Arc<Mutex<Vec<Session>>>,
}

impl std::fmt::Debug for OnnxSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxSource")
            .field("path", &self.path)
            .field("id", &id_to_string(&self.id))
            .finish()
    }
}

impl OnnxSource {
    /// Reads the model file, hashes it and builds a first session (so that a broken
    /// file fails here, naming it). Sessions use `threads` intra-op threads (0 = the
    /// runtime's default) and full or no graph optimisation.
    pub fn load(
        runtime: &Runtime,
        path: &Path,
        threads: usize,
        optimize: bool,
    ) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read model {}: {e}", path.display()))?;
        let id: ModelId = Sha256::digest(&bytes).into();
        let mut source = OnnxSource {
            runtime: runtime.clone(),
            path: path.to_owned(),
            id,
            threads,
            optimize,
            bytes: bytes.into(),
            pool: Arc::new(Mutex::new(Vec::new())),
        };
        let session = source.session()?;
        source.pool = Arc::new(Mutex::new(vec![session]));
        Ok(source)
    }

    /// A new session of the hashed bytes.
    fn session(&self) -> Result<Session, String> {
        self.runtime
            .session_from_memory(
                &self.path.display().to_string(),
                &self.bytes,
                self.threads,
                self.optimize,
            )
            .map_err(|e| e.to_string())
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl NetworkSource for OnnxSource {
    fn id(&self) -> ModelId {
        self.id
    }

    fn name(&self) -> String {
        let file = self.path.file_name().unwrap_or_default().to_string_lossy();
        format!("{file} (sha256 {})", id_to_string(&self.id))
    }

    fn network(&self) -> Result<Box<dyn Network>, String> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let session = match pooled {
            Some(s) => s,
            None => self.session()?,
        };
        Ok(Box::new(OnnxNetwork {
            session: Some(session),
            pool: self.pool.clone(),
        }))
    }
}

/// A session borrowed from the pool; it goes back when the model is dropped.
struct OnnxNetwork {
    session: Option<Session>,
    pool: Arc<Mutex<Vec<Session>>>,
}

impl Drop for OnnxNetwork {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        }
    }
}

impl Network for OnnxNetwork {
    fn run(&mut self, features: &[u8], rows: usize, out: &mut Vec<i32>) -> Result<(), String> {
        let session = self.session.as_mut().ok_or("session already returned")?;
        let input = TensorRef::from_array_view(([rows, FEATURES], features))
            .map_err(|e| format!("input tensor: {e}"))?;
        let outputs = session
            .run(ort::inputs!["features" => input])
            .map_err(|e| format!("ONNX Runtime: {e}"))?;
        let logits = outputs
            .get("logits")
            .ok_or("the model has no output named logits")?;
        let (_, data) = logits
            .try_extract_tensor::<i32>()
            .map_err(|e| format!("output logits: {e}"))?;
        out.clear();
        out.extend_from_slice(data);
        Ok(())
    }
}
