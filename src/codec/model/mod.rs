//! The probability-model interface of the LSBV bit-plane coder.
//!
//! Owns the contract between the coder and any model (the built-in context model, the
//! learned ONNX model of a later issue): for one group of pixels of one bit-plane the
//! model returns, in one batch, fixed-point probabilities `P(bit = 1)` in units of
//! 2^-16; after the group is coded the model is shown the true bits.
//!
//! Invariant: the encoder and the decoder call [`ProbabilityModel::predict`] and
//! [`ProbabilityModel::update`] in the same order with identical [`GroupInput`]s, so a
//! deterministic model yields identical probabilities on both sides. A model must use
//! integer arithmetic (or otherwise bit-reproducible arithmetic) for everything that
//! influences the returned probabilities.

pub mod context;
pub mod learned;
pub mod logistic;
pub mod onnx;
pub mod registry;

pub use context::ContextModel;
pub use learned::{FEATURES, FeatureRecorder, LearnedModelFactory};
pub use registry::{DEFAULT_LEARNED_MODEL, ModelSet, default_models_dir};

/// Fixed-point precision of probabilities handed to the entropy coder.
pub const PROB_BITS: u32 = 16;
/// Smallest probability a model may return (and `2^16 - PROB_MIN` the largest).
pub const PROB_MIN: u16 = 1;

/// `P(bit = 1)` in units of `2^-16`, in `1..=65535`.
pub type Prob = u16;

/// Identifies a model: the sha256 of a model file, or a built-in model's padded name.
pub type ModelId = [u8; 32];

/// Everything the coder knows when a group is about to be coded.
///
/// `partial[i]` holds the value of pixel `i` of the current slice with the bits not yet
/// decoded set to zero: bits `>= plane + 1` for every pixel, and bit `plane` too for
/// pixels of groups coded earlier in this plane (see [`crate::codec::order`]).
#[derive(Clone, Copy, Debug)]
pub struct GroupInput<'a> {
    /// Columns of the slice.
    pub width: usize,
    /// Rows of the slice.
    pub height: usize,
    /// Number of LSBV planes `d`.
    pub lsb_bits: u8,
    /// The plane being coded, `d - 1` down to `0`.
    pub plane: u8,
    /// The spatial group (phase) being coded in this plane.
    pub phase: u8,
    /// Known part of each value of the current slice.
    pub partial: &'a [u32],
    /// Fully decoded values of the previous slice of the chunk, if any.
    pub prev: Option<&'a [u32]>,
    /// The next slice of the chunk, if any, with only its MSBV bits (`>= d`) set: they
    /// are decoded before any LSBV plane.
    pub next: Option<&'a [u32]>,
    /// Pixel indices (row-major) of this batch, all of phase `phase`.
    pub pixels: &'a [u32],
}

/// A model of `P(bit = 1)` for LSBV bits.
pub trait ProbabilityModel: Send {
    /// Called once before the first group of each slice.
    fn begin_slice(&mut self, width: usize, height: usize, prev: Option<&[u32]>);
    /// Writes `P(bit = 1)` for each pixel of `input.pixels` into `out` (same length).
    /// An error (a learned model's runtime failing) ends the chunk's coding.
    fn predict(&mut self, input: &GroupInput<'_>, out: &mut [Prob]) -> Result<(), String>;
    /// Shows the model the true bits (`0`/`1`) of the group just predicted.
    fn update(&mut self, input: &GroupInput<'_>, bits: &[u8]);
}

/// Makes a fresh model state for each chunk (chunks decode independently).
pub trait ModelFactory: Sync {
    /// The id written into the container.
    fn id(&self) -> ModelId;
    /// Human-readable name.
    fn name(&self) -> String;
    /// A fresh model, in its initial state (an error when a learned model's runtime
    /// cannot run it).
    fn new_model(&self) -> Result<Box<dyn ProbabilityModel>, String>;
    /// Largest group batch the coder should hand to `predict`.
    fn batch_size(&self) -> usize;
    /// The order of the (plane, phase) steps this model codes in.
    fn order(&self) -> crate::codec::order::ScanOrder {
        crate::codec::order::ScanOrder::PlaneMajor
    }
}

/// Pads a short name into a [`ModelId`].
pub const fn builtin_id(name: &[u8]) -> ModelId {
    let mut id = [0u8; 32];
    let mut i = 0;
    while i < name.len() && i < 32 {
        id[i] = name[i];
        i += 1;
    }
    id
}

/// Renders a model id: printable built-in names as text, hashes as hex.
pub fn id_to_string(id: &ModelId) -> String {
    let end = id.iter().position(|&b| b == 0).unwrap_or(32);
    let printable = id[..end].iter().all(|b| b.is_ascii_graphic());
    let zero_tail = id[end..].iter().all(|&b| b == 0);
    if end > 0 && printable && zero_tail {
        return String::from_utf8_lossy(&id[..end]).into_owned();
    }
    id.iter().map(|b| format!("{b:02x}")).collect()
}
