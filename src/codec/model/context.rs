//! The built-in LSBV model: adaptive binary context mixing, no training needed.
//!
//! Owns the probability of each LSBV bit from what the decoder already knows: the MSBV and
//! higher planes of every pixel of the slice, the current plane of pixels in earlier
//! phases, and the full previous slice of the chunk. For pixel `p` at plane `b` the
//! known bits confine its value to `[lo, lo + 2^(b+1))`; the bit is 1 iff
//! `v >= split = lo + 2^b`. Neighbour values are estimated inside their own known
//! intervals (the previous slice's value clamped into the interval, else its midpoint),
//! three predictions of `v` are formed (spatial 3x3 stencil, spatial + inter-slice
//! gradient, previous slice) and the distance of each from `split`, in units of `2^b`,
//! selects an adaptive counter together with the plane, phase and local activity. A
//! logistic mixer chosen by plane and phase combines the three counters.
//!
//! Invariant: integer arithmetic only; the same calls give the same probabilities on every
//! machine. Counters and mixer weights are frozen during a batch and updated afterwards,
//! so encoder and decoder stay in lock-step.

use super::logistic::{Counter, Mixer, Squash, Stretch};
use super::{GroupInput, ModelFactory, ModelId, Prob, ProbabilityModel, builtin_id};
use crate::codec::order::{ScanOrder, phase_of};

/// Id written into containers coded with this model.
pub const CONTEXT_MODEL_ID: ModelId = builtin_id(b"strata-builtin-ctxmix-v1");

const PLANES: usize = 12;
const PHASES: usize = 4;
const ERR_BINS: usize = 24;
const ACT_BINS: usize = 8;
const SETS: usize = PLANES * PHASES;
const CTX1: usize = SETS * ERR_BINS * ACT_BINS;
const CTX2: usize = 2 * SETS * ERR_BINS * ACT_BINS;
const CTX3: usize = SETS * 16 * (ERR_BINS + 1);
const LIMIT: u32 = 255;
const MIX_RATE: i32 = 6;
const BATCH: usize = 1024;

/// Factory of [`ContextModel`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextModelFactory;

impl ModelFactory for ContextModelFactory {
    fn id(&self) -> ModelId {
        CONTEXT_MODEL_ID
    }
    fn name(&self) -> String {
        "built-in context mixing v1".into()
    }
    fn new_model(&self) -> Result<Box<dyn ProbabilityModel>, String> {
        Ok(Box::new(ContextModel::new()))
    }
    fn batch_size(&self) -> usize {
        BATCH
    }
}

/// Window cells of the 8 neighbours: NW, N, NE, W, E, SW, S, SE.
pub(crate) const CELLS: [(usize, usize); 8] = [
    (0, 0),
    (0, 1),
    (0, 2),
    (1, 0),
    (1, 2),
    (2, 0),
    (2, 1),
    (2, 2),
];

/// `KNOWN_AT_PLANE[phase][cell]`: whether that neighbour's phase is coded before `phase`,
/// so that its bit of the current plane is already known.
pub(crate) const KNOWN_AT_PLANE: [[bool; 8]; 4] = known_table();

const fn known_table() -> [[bool; 8]; 4] {
    // Parity (y, x) of each phase, from `order::phase_of`.
    const PARITY: [(usize, usize); 4] = [(0, 0), (1, 1), (0, 1), (1, 0)];
    let mut t = [[false; 8]; 4];
    let mut p = 0;
    while p < 4 {
        let mut i = 0;
        while i < 8 {
            let y = PARITY[p].0 + 2 + CELLS[i].0 - 1;
            let x = PARITY[p].1 + 2 + CELLS[i].1 - 1;
            t[p][i] = phase_of(y, x) < p as u8;
            i += 1;
        }
        p += 1;
    }
    t
}

/// Per-pixel state kept between `predict` and `update`: the counters' contexts, the
/// mixer's weight set and its inputs (three stretched counter probabilities and a bias).
#[derive(Clone, Copy, Default)]
pub(crate) struct Pending {
    pub(crate) ctx: [u32; 3],
    pub(crate) set: u32,
    pub(crate) x: [i32; 4],
}

/// The built-in adaptive context-mixing model.
pub struct ContextModel {
    order: ScanOrder,
    stretch: Stretch,
    squash: Squash,
    counters: [Vec<Counter>; 3],
    mixer: Mixer<4>,
    /// 3x3 stencil of the previous slice (x16), empty when there is none.
    prev_stencil: Vec<i32>,
    pending: Vec<Pending>,
}

impl Default for ContextModel {
    fn default() -> Self {
        Self::new()
    }
}

/// The 3x3 neighbourhood of a pixel, as clamped coordinates.
struct Window {
    rows: [usize; 3],
    cols: [usize; 3],
}

impl Window {
    #[inline]
    fn new(y: usize, x: usize, h: usize, w: usize) -> Self {
        Window {
            rows: [y.saturating_sub(1), y, (y + 1).min(h - 1)],
            cols: [x.saturating_sub(1), x, (x + 1).min(w - 1)],
        }
    }
}

/// Weighted 3x3 stencil `3 * (N+S+W+E) + (NW+NE+SW+SE)`, i.e. 16 x a local mean.
#[inline]
fn stencil(n: &[i32; 8]) -> i32 {
    3 * (n[1] + n[3] + n[4] + n[6]) + (n[0] + n[2] + n[5] + n[7])
}

/// The stencil of phase 1, whose diagonal neighbours are already known at this plane:
/// `(N+S+W+E) + 3 * (NW+NE+SW+SE)`, 16 x a local mean.
#[inline]
fn diagonal_stencil(n: &[i32; 8]) -> i32 {
    4 * (n[0] + n[2] + n[5] + n[7])
}

/// The stencil of phase 2, whose direct neighbours are known at this plane and diagonal
/// ones are not: `4 * (N+S+W+E)`, 16 x a local mean.
#[inline]
fn direct_stencil(n: &[i32; 8]) -> i32 {
    4 * (n[1] + n[3] + n[4] + n[6])
}

/// Signed distance `e` (x16) in quarter units of `2^b`, clamped to the error bins.
#[inline]
fn err_bin(e: i32, b: u32) -> u32 {
    ((e >> (b + 2)).clamp(-12, 11) + 12) as u32
}

/// `floor(log2(a / 2^b + 1))`, capped to the activity bins.
#[inline]
fn act_bin(a: i32, b: u32) -> u32 {
    let r = (a.unsigned_abs() >> b) + 1;
    (31 - r.leading_zeros()).min(ACT_BINS as u32 - 1)
}

impl ContextModel {
    /// A model in its initial state.
    pub fn new() -> Self {
        Self::with_order(ScanOrder::PlaneMajor)
    }

    /// A model in its initial state for a coder visiting (plane, phase) steps in `order`.
    pub fn with_order(order: ScanOrder) -> Self {
        ContextModel {
            order,
            stretch: Stretch::new(),
            squash: Squash::new(),
            counters: [
                vec![Counter::INIT; CTX1],
                vec![Counter::INIT; CTX2],
                vec![Counter::INIT; CTX3],
            ],
            mixer: Mixer::new(SETS, [22000, 22000, 22000, 0], MIX_RATE),
            prev_stencil: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Estimates of the 8 neighbours (NW, N, NE, W, E, SW, S, SE) inside their intervals.
    ///
    /// A neighbour's known resolution follows from its position relative to the pixel
    /// (its phase); at the slice border the clamped neighbour keeps the resolution of the
    /// position it stands in for, identically in encoder and decoder.
    #[inline]
    fn neighbours(&self, inp: &GroupInput<'_>, win: &Window) -> [i32; 8] {
        if self.order != ScanOrder::PlaneMajor {
            return Self::neighbours_by_phase(self.order, inp, win);
        }
        let b = inp.plane as u32;
        let known = &KNOWN_AT_PLANE[inp.phase as usize];
        let mut out = [0i32; 8];
        match inp.prev {
            Some(prev) => {
                for (i, o) in out.iter_mut().enumerate() {
                    let (r, c) = CELLS[i];
                    let q = win.rows[r] * inp.width + win.cols[c];
                    let k = b + 1 - known[i] as u32;
                    let lo = inp.partial[q];
                    *o = prev[q].clamp(lo, lo + ((1u32 << k) - 1)) as i32;
                }
            }
            None => {
                for (i, o) in out.iter_mut().enumerate() {
                    let (r, c) = CELLS[i];
                    let q = win.rows[r] * inp.width + win.cols[c];
                    let k = b + 1 - known[i] as u32;
                    *o = (inp.partial[q] + ((1u32 << k) >> 1)) as i32;
                }
            }
        }
        out
    }

    /// [`Self::neighbours`] for any order: each neighbour's known bits follow from the
    /// phase of the pixel actually read (after clamping at the border).
    #[inline]
    fn neighbours_by_phase(order: ScanOrder, inp: &GroupInput<'_>, win: &Window) -> [i32; 8] {
        let mut out = [0i32; 8];
        for (i, o) in out.iter_mut().enumerate() {
            let (r, c) = CELLS[i];
            let (y, x) = (win.rows[r], win.cols[c]);
            let q = y * inp.width + x;
            let k = order.unknown_bits(inp.phase, phase_of(y, x), inp.plane, inp.lsb_bits);
            let lo = inp.partial[q];
            *o = match inp.prev {
                Some(prev) => prev[q].clamp(lo, lo + ((1u32 << k) - 1)) as i32,
                None => (lo + ((1u32 << k) >> 1)) as i32,
            };
        }
        out
    }

    /// Contexts and mixer inputs of one pixel.
    #[inline]
    pub(crate) fn contexts(&self, inp: &GroupInput<'_>, idx: usize) -> Pending {
        let (y, x) = (idx / inp.width, idx % inp.width);
        let win = Window::new(y, x, inp.height, inp.width);
        let n = self.neighbours(inp, &win);
        let b = inp.plane as u32;
        let set = (inp.plane as usize).min(PLANES - 1) * PHASES + inp.phase as usize;
        let split16 = ((inp.partial[idx] + (1u32 << b)) as i32) << 4;
        let ps16 = match inp.phase {
            1 => diagonal_stencil(&n),
            2 => direct_stencil(&n),
            _ => stencil(&n),
        };
        let act =
            (n[1] - n[6]).abs() + (n[3] - n[4]).abs() + (n[0] - n[7]).abs() + (n[2] - n[5]).abs();
        let q1 = err_bin(ps16 - split16, b);
        let qa = act_bin(act, b);
        let ctx1 = ((set as u32 * ERR_BINS as u32 + q1) * ACT_BINS as u32) + qa;
        let above = |v: i32| (v >= (split16 >> 4)) as u32;
        let pattern = above(n[1]) | above(n[3]) << 1 | above(n[4]) << 2 | above(n[6]) << 3;
        let (ctx2, q3) = match inp.prev {
            Some(prev) => {
                let pt16 = (prev[idx] as i32) << 4;
                let pps16 = self.prev_stencil[idx];
                let q2 = err_bin(pt16 + ps16 - pps16 - split16, b);
                let qt = act_bin((ps16 - pps16) >> 4, b);
                let c = ((set as u32 * ERR_BINS as u32 + q2) * ACT_BINS as u32) + qt;
                (c, err_bin(pt16 - split16, b))
            }
            None => (CTX1 as u32 + ctx1, ERR_BINS as u32),
        };
        let ctx3 = (set as u32 * 16 + pattern) * (ERR_BINS as u32 + 1) + q3;
        let ctx = [ctx1, ctx2, ctx3];
        let mut xs = [0i32; 4];
        for i in 0..3 {
            xs[i] = self.stretch.get(self.counters[i][ctx[i] as usize].p12());
        }
        xs[3] = 256;
        Pending {
            ctx,
            set: set as u32,
            x: xs,
        }
    }
}

impl ContextModel {
    /// The 3x3 stencil (x16) of the previous slice set by `begin_slice`; empty when the
    /// slice has no previous slice in its chunk.
    pub(crate) fn prev_stencil(&self) -> &[i32] {
        &self.prev_stencil
    }

    /// Sets a pixel's mixer inputs from the counters' current state.
    #[inline]
    pub(crate) fn refresh(&self, pend: &mut Pending) {
        for i in 0..3 {
            pend.x[i] = self
                .stretch
                .get(self.counters[i][pend.ctx[i] as usize].p12());
        }
    }

    /// Moves the three counters of a pixel toward its coded bit.
    #[inline]
    pub(crate) fn learn_counters(&mut self, pend: &Pending, bit: u8) {
        for i in 0..3 {
            self.counters[i][pend.ctx[i] as usize].update(bit, LIMIT);
        }
    }
}

impl ProbabilityModel for ContextModel {
    fn begin_slice(&mut self, width: usize, height: usize, prev: Option<&[u32]>) {
        self.prev_stencil.clear();
        let Some(prev) = prev else { return };
        self.prev_stencil.reserve(width * height);
        for y in 0..height {
            for x in 0..width {
                let win = Window::new(y, x, height, width);
                let at = |r: usize, c: usize| prev[win.rows[r] * width + win.cols[c]] as i32;
                let n = [
                    at(0, 0),
                    at(0, 1),
                    at(0, 2),
                    at(1, 0),
                    at(1, 2),
                    at(2, 0),
                    at(2, 1),
                    at(2, 2),
                ];
                self.prev_stencil.push(stencil(&n));
            }
        }
    }

    fn predict(&mut self, input: &GroupInput<'_>, out: &mut [Prob]) -> Result<(), String> {
        self.pending.clear();
        for (o, &pix) in out.iter_mut().zip(input.pixels) {
            let pend = self.contexts(input, pix as usize);
            let p12 = self.squash.get(self.mixer.dot(pend.set as usize, &pend.x));
            *o = ((p12 << 4) as u32).clamp(16, 65520) as Prob;
            self.pending.push(pend);
        }
        Ok(())
    }

    fn update(&mut self, _input: &GroupInput<'_>, bits: &[u8]) {
        let pending = std::mem::take(&mut self.pending);
        for (pend, &bit) in pending.iter().zip(bits) {
            self.learn_counters(pend, bit);
            self.mixer.train(pend.set as usize, &pend.x, bit);
        }
        self.pending = pending;
    }
}
