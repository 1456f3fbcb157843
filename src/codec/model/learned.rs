//! The learned LSBV model: an integer network's prediction, refined online by the
//! built-in model's adaptive counters.
//!
//! Owns the learned model's features, the way its network output becomes a coded
//! probability, and the recording of training samples.
//!
//! The model codes phase-major ([`ScanOrder::PhaseMajor`]): every plane of phase 0, then
//! of phase 1, ..., so that phases 1-3 see the full values of earlier phases. When a step
//! (plane `b`, phase) starts, every pixel of the phase is described by [`FEATURES`] small
//! integers (0..=127; [`features`]): its neighbours' values estimated inside their known
//! intervals (8 at distance 1, 4 at distance 2), the spatial and inter-slice predictions
//! of the built-in model, the co-located pixels of the previous slice and of the next
//! slice's MSBV, all as signed distances from the split point `lo + 2^b` in quarter units
//! of `2^b`; local activity and texture; the phase, the plane and the two known bits above
//! it; the slice's noise level; and the built-in model's three adaptive counter estimates
//! at that moment. The [`Network`] (an ONNX graph of integer operations run by ONNX
//! Runtime, see [`super::onnx`]) maps each row to an integer logit, once per step: the
//! costly part runs `4 d` times per slice, not per pixel batch. A logistic mixer then
//! combines the network's logit, an adaptive counter indexed by it, and the built-in
//! model's three counters as they stand at each batch, learning online which to trust.
//!
//! Invariant: the features depend only on what the decoder knows at the start of the
//! phase (the pixels of the phase are independent of each other at plane `b`); the
//! network's output is an integer computed exactly; everything after it is the integer
//! arithmetic of [`super::logistic`]. Encoder and decoder therefore see identical
//! probabilities on every machine, thread count and execution provider.

use std::sync::{Arc, Mutex};

use super::context::{CELLS, ContextModel, Pending};
use super::logistic::{Counter, Mixer, Squash, Stretch};
use super::{GroupInput, ModelFactory, ModelId, Prob, ProbabilityModel, builtin_id};
use crate::codec::order::{ScanOrder, phase_of, phase_pixels};

/// Features per pixel (network input columns).
pub const FEATURES: usize = 32;
/// The network's logit is in units of `2^-LOGIT_SHIFT` nats.
pub const LOGIT_SHIFT: u32 = 11;

const PLANES: usize = 12;
const PHASES: usize = 4;
const SETS: usize = PLANES * PHASES;
const APM_BINS: usize = 32;
const MIX_RATE: i32 = 6;
const BATCH: usize = 1024;
const LIMIT: u32 = 255;
/// The learned model codes phase by phase (see [`ScanOrder::PhaseMajor`]).
pub const ORDER: ScanOrder = ScanOrder::PhaseMajor;

/// Runs a learned network: `rows` rows of [`FEATURES`] bytes in, one logit per row out.
pub trait Network: Send {
    /// Fills `out` with `rows` logits (units of `2^-LOGIT_SHIFT` nats).
    fn run(&mut self, features: &[u8], rows: usize, out: &mut Vec<i32>) -> Result<(), String>;
}

/// Where networks come from: one per model instance (per chunk in flight).
pub trait NetworkSource: Send + Sync {
    /// The model id (sha256 of the model file).
    fn id(&self) -> ModelId;
    /// Human-readable name.
    fn name(&self) -> String;
    /// A network ready to run.
    fn network(&self) -> Result<Box<dyn Network>, String>;
}

/// Factory of [`LearnedModel`]s over a network source.
pub struct LearnedModelFactory<S: NetworkSource> {
    source: S,
}

impl<S: NetworkSource> LearnedModelFactory<S> {
    /// A factory whose models run `source`'s networks.
    pub fn new(source: S) -> Self {
        LearnedModelFactory { source }
    }

    /// The network source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<S: NetworkSource> ModelFactory for LearnedModelFactory<S> {
    fn id(&self) -> ModelId {
        self.source.id()
    }
    fn name(&self) -> String {
        self.source.name()
    }
    fn new_model(&self) -> Result<Box<dyn ProbabilityModel>, String> {
        Ok(Box::new(LearnedModel::new(
            Some(self.source.network()?),
            None,
        )))
    }
    fn batch_size(&self) -> usize {
        BATCH
    }
    fn order(&self) -> ScanOrder {
        ORDER
    }
}

/// Training samples: feature rows and the bits that were coded.
#[derive(Default, Debug)]
pub struct Recording {
    /// `FEATURES` bytes per sample.
    pub features: Vec<u8>,
    /// The coded bit of each sample.
    pub bits: Vec<u8>,
    /// The recording model's own `P(bit = 1)` (units of `2^-16`): with its null network
    /// this is the built-in model's counters mixed, the reference a network must beat.
    pub probs: Vec<u16>,
}

/// A factory whose models code with a null network and record a sample of their
/// features and bits: the training data of the learned model, produced by the very code
/// that computes the features when coding.
pub struct FeatureRecorder {
    every: u32,
    recording: Arc<Mutex<Recording>>,
}

impl FeatureRecorder {
    /// Keeps about one pixel bit in `every`.
    pub fn new(every: u32) -> Self {
        FeatureRecorder {
            every: every.max(1),
            recording: Arc::default(),
        }
    }

    /// Takes what was recorded so far.
    pub fn take(&self) -> Recording {
        std::mem::take(&mut *self.recording.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl ModelFactory for FeatureRecorder {
    fn id(&self) -> ModelId {
        builtin_id(b"strata-feature-recorder")
    }
    fn name(&self) -> String {
        "feature recorder".into()
    }
    fn new_model(&self) -> Result<Box<dyn ProbabilityModel>, String> {
        let rec = Recorder {
            every: self.every,
            state: 0x853c_49e6_748f_ea9b,
            local: Recording::default(),
            sink: self.recording.clone(),
        };
        Ok(Box::new(LearnedModel::new(None, Some(rec))))
    }
    fn batch_size(&self) -> usize {
        BATCH
    }
    fn order(&self) -> ScanOrder {
        ORDER
    }
}

struct Recorder {
    every: u32,
    state: u64,
    local: Recording,
    sink: Arc<Mutex<Recording>>,
}

impl Recorder {
    fn keep(&mut self) -> bool {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.state >> 33) as u32).is_multiple_of(self.every)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.features.append(&mut self.local.features);
        sink.bits.append(&mut self.local.bits);
        sink.probs.append(&mut self.local.probs);
    }
}

/// Per-pixel state kept between `predict` and `update`.
#[derive(Clone, Copy, Default)]
struct LearnedPending {
    base: Pending,
    apm: u32,
    x: [i32; 6],
    row: u32,
    p: Prob,
}

/// The learned model (see the module documentation).
pub struct LearnedModel {
    ctx: ContextModel,
    network: Option<Box<dyn Network>>,
    recorder: Option<Recorder>,
    mixer: Mixer<6>,
    apm: Vec<Counter>,
    stretch: Stretch,
    squash: Squash,
    /// The (plane, phase) whose rows are in `features` and `logits`.
    key: Option<(u8, u8)>,
    rows: Vec<u32>,
    /// The built-in model's contexts of each row (they do not change within a phase).
    bases: Vec<Pending>,
    /// Mean absolute difference (x16) between the previous slice and its 3x3 stencil.
    noise16: u64,
    features: Vec<u8>,
    logits: Vec<i32>,
    cursor: usize,
    pending: Vec<LearnedPending>,
}

impl LearnedModel {
    fn new(network: Option<Box<dyn Network>>, recorder: Option<Recorder>) -> Self {
        LearnedModel {
            ctx: ContextModel::with_order(ORDER),
            network,
            recorder,
            // It starts as the built-in model's mixer plus the network's logit as a
            // correction (weight 1.0): the network is trained as exactly that correction.
            mixer: Mixer::new(SETS, [22000, 22000, 22000, 65536, 0, 0], MIX_RATE),
            apm: vec![Counter::INIT; SETS * APM_BINS],
            stretch: Stretch::new(),
            squash: Squash::new(),
            key: None,
            rows: Vec::new(),
            bases: Vec::new(),
            noise16: 0,
            features: Vec::new(),
            logits: Vec::new(),
            cursor: 0,
            pending: Vec::new(),
        }
    }

    /// Computes the features (and the network's logits) of every pixel of the phase.
    fn start_phase(&mut self, inp: &GroupInput<'_>) -> Result<(), String> {
        self.rows = phase_pixels(inp.height, inp.width, inp.phase);
        let n = self.rows.len();
        self.features.clear();
        self.features.resize(n * FEATURES, 0);
        self.bases.clear();
        let prev_stencil = self.ctx.prev_stencil();
        let noise = (self.noise16 >> (inp.plane as u32 + 1)).min(127) as u8;
        for (row, &pix) in self.features.chunks_exact_mut(FEATURES).zip(&self.rows) {
            let base = self.ctx.contexts(inp, pix as usize);
            features(inp, prev_stencil, pix as usize, row);
            row[28] = noise;
            for i in 0..3 {
                row[29 + i] = ((base.x[i] + 2048) >> 5).clamp(0, 127) as u8;
            }
            self.bases.push(base);
        }
        self.logits.clear();
        match self.network.as_mut() {
            Some(net) => {
                net.run(&self.features, n, &mut self.logits)?;
                if self.logits.len() != n {
                    return Err(format!(
                        "network returned {} logits for {n} rows",
                        self.logits.len()
                    ));
                }
            }
            None => self.logits.resize(n, 0),
        }
        self.key = Some((inp.plane, inp.phase));
        self.cursor = 0;
        Ok(())
    }
}

impl ProbabilityModel for LearnedModel {
    fn begin_slice(&mut self, width: usize, height: usize, prev: Option<&[u32]>) {
        self.ctx.begin_slice(width, height, prev);
        self.key = None;
        self.noise16 = match prev {
            Some(prev) => {
                let st = self.ctx.prev_stencil();
                let sum: u64 = prev
                    .iter()
                    .zip(st)
                    .map(|(&v, &s)| (v as i64 * 16 - s as i64).unsigned_abs())
                    .sum();
                sum / prev.len().max(1) as u64
            }
            None => 0,
        };
    }

    fn predict(&mut self, input: &GroupInput<'_>, out: &mut [Prob]) -> Result<(), String> {
        if self.key != Some((input.plane, input.phase)) {
            self.start_phase(input)?;
        }
        self.pending.clear();
        for (o, &pix) in out.iter_mut().zip(input.pixels) {
            let row = self.cursor;
            self.cursor += 1;
            if self.rows.get(row) != Some(&pix) {
                return Err(format!("pixel {pix} out of the phase's order"));
            }
            let mut base = self.bases[row];
            self.ctx.refresh(&mut base);
            let nn = (self.logits[row] >> (LOGIT_SHIFT - 8)).clamp(-2047, 2047);
            let bin = ((nn + 2048) >> 7) as u32;
            let apm = base.set * APM_BINS as u32 + bin;
            let x = [
                base.x[0],
                base.x[1],
                base.x[2],
                nn,
                self.stretch.get(self.apm[apm as usize].p12()),
                256,
            ];
            let p12 = self.squash.get(self.mixer.dot(base.set as usize, &x));
            *o = ((p12 << 4) as u32).clamp(16, 65520) as Prob;
            self.pending.push(LearnedPending {
                base,
                apm,
                x,
                row: row as u32,
                p: *o,
            });
        }
        Ok(())
    }

    fn update(&mut self, _input: &GroupInput<'_>, bits: &[u8]) {
        for (pend, &bit) in self.pending.iter().zip(bits) {
            self.ctx.learn_counters(&pend.base, bit);
            self.apm[pend.apm as usize].update(bit, LIMIT);
            self.mixer.train(pend.base.set as usize, &pend.x, bit);
            if let Some(rec) = self.recorder.as_mut()
                && rec.keep()
            {
                let at = pend.row as usize * FEATURES;
                rec.local
                    .features
                    .extend_from_slice(&self.features[at..at + FEATURES]);
                rec.local.bits.push(bit);
                rec.local.probs.push(pend.p);
            }
        }
    }
}

/// Signed distance of `v` from `split` in quarter units of `2^b`, clamped and offset into
/// `1..=127`.
#[inline]
fn q(v: i64, split: i64, b: u32) -> u8 {
    ((((v - split) * 4) >> b).clamp(-63, 63) + 64) as u8
}

const ON: u8 = 127;

/// Writes the [`FEATURES`] features of pixel `idx` for the group described by `inp`.
///
/// `prev_stencil` is the built-in model's 3x3 stencil (x16) of the previous slice (empty
/// when there is none). Columns 28-31 are left to the caller: the slice's noise level and
/// the built-in model's three counter estimates at the start of the phase.
pub fn features(inp: &GroupInput<'_>, prev_stencil: &[i32], idx: usize, out: &mut [u8]) {
    let (w, h) = (inp.width, inp.height);
    let (y, x) = (idx / w, idx % w);
    let b = inp.plane as u32;
    let lo = inp.partial[idx];
    let split = (lo + (1u32 << b)) as i64;
    // A neighbour's value estimated inside its interval of `2^k` values, `k` its unknown
    // low bits at this step.
    let est = |qy: usize, qx: usize| -> i64 {
        let q_idx = qy * w + qx;
        let k = ORDER.unknown_bits(inp.phase, phase_of(qy, qx), inp.plane, inp.lsb_bits);
        let base = inp.partial[q_idx];
        match inp.prev {
            Some(prev) => prev[q_idx].clamp(base, base + ((1u32 << k) - 1)) as i64,
            None => (base + ((1u32 << k) >> 1)) as i64,
        }
    };
    let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)];
    let cols = [x.saturating_sub(1), x, (x + 1).min(w - 1)];
    let mut n = [0i64; 8];
    for (i, &(r, c)) in CELLS.iter().enumerate() {
        n[i] = est(rows[r], cols[c]);
        out[i] = q(n[i], split, b);
    }
    let far = [
        (y.saturating_sub(2), x),
        (y, x.saturating_sub(2)),
        (y, (x + 2).min(w - 1)),
        ((y + 2).min(h - 1), x),
    ];
    for (i, &(fy, fx)) in far.iter().enumerate() {
        out[8 + i] = q(est(fy, fx), split, b);
    }
    let ps16 = match inp.phase {
        1 => 4 * (n[0] + n[2] + n[5] + n[7]),
        2 => 4 * (n[1] + n[3] + n[4] + n[6]),
        _ => 3 * (n[1] + n[3] + n[4] + n[6]) + (n[0] + n[2] + n[5] + n[7]),
    };
    out[12] = q(ps16 >> 4, split, b);
    match inp.prev {
        Some(prev) => {
            let pt = prev[idx] as i64;
            let pps16 = prev_stencil.get(idx).copied().unwrap_or(0) as i64;
            out[13] = q(pt, split, b);
            out[14] = q((pt * 16 + ps16 - pps16) >> 4, split, b);
            out[15] = ((pt * 16 - pps16).unsigned_abs() >> (b + 2)).min(127) as u8;
            out[23] = ON;
        }
        None => {
            out[13] = 64;
            out[14] = 64;
            out[15] = 0;
            out[23] = 0;
        }
    }
    let act = (n[1] - n[6]).abs() + (n[3] - n[4]).abs() + (n[0] - n[7]).abs() + (n[2] - n[5]).abs();
    let r = (act.unsigned_abs() >> b) + 1;
    out[16] = ((63 - r.leading_zeros()).min(7) * 16) as u8;
    match inp.next {
        Some(next) => {
            let half = (1u32 << inp.lsb_bits) >> 1;
            out[17] = q((next[idx] + half) as i64, split, b);
            out[24] = ON;
        }
        None => {
            out[17] = 64;
            out[24] = 0;
        }
    }
    for p in 0..4 {
        out[18 + p] = if inp.phase as usize == p { ON } else { 0 };
    }
    out[22] = (b.min(7) * 16) as u8;
    out[25] = (((lo >> (b + 1)) & 1) as u8) * ON;
    out[26] = (((lo >> (b + 2)) & 1) as u8) * ON;
    out[27] = ((inp.lsb_bits as u32 - 1 - b.min(inp.lsb_bits as u32 - 1)).min(7) * 16) as u8;
}
