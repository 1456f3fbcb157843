//! The LSBV bit-plane coder: one chunk of slices to one range-coded bitstream and back.
//!
//! Owns the visiting order (slice by slice; the (plane, phase) steps in the model's
//! [`ScanOrder`](super::order::ScanOrder); batches) and the entropy coding with `constriction`'s range
//! coder. The probabilities come from a [`ProbabilityModel`] as 16-bit fixed-point
//! integers and enter the coder through [`BitModel`], an exact integer two-symbol
//! distribution: no floating point touches the coded probabilities.
//!
//! Invariant: the decoder drives the model with exactly the inputs the encoder used, so
//! decoding reproduces the encoder's bits whatever the thread count.

use std::borrow::Borrow;
use std::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use super::model::{GroupInput, ModelFactory, PROB_BITS, Prob, ProbabilityModel};
use super::order::{PHASES, phase_pixels};

/// A two-symbol distribution with `P(0) = p0 / 2^16`, `0 < p0 < 2^16`.
#[derive(Clone, Copy, Debug)]
pub struct BitModel {
    p0: u32,
}

impl BitModel {
    /// From a model's `P(1)`; values are clamped into the open interval.
    #[inline]
    pub fn from_p1(p1: Prob) -> Self {
        let p1 = (p1 as u32).clamp(1, (1 << PROB_BITS) - 1);
        BitModel {
            p0: (1 << PROB_BITS) - p1,
        }
    }
}

#[inline]
fn nz(v: u32) -> NonZeroU32 {
    // p0 and 2^16 - p0 are both in 1..2^16 by construction of `BitModel`.
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

impl EntropyModel<16> for BitModel {
    type Symbol = u8;
    type Probability = u32;
}

impl EncoderModel<16> for BitModel {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<u8>,
    ) -> Option<(u32, NonZeroU32)> {
        match *symbol.borrow() {
            0 => Some((0, nz(self.p0))),
            1 => Some((self.p0, nz((1 << 16) - self.p0))),
            _ => None,
        }
    }
}

impl DecoderModel<16> for BitModel {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (u8, u32, NonZeroU32) {
        if quantile < self.p0 {
            (0, 0, nz(self.p0))
        } else {
            (1, self.p0, nz((1 << 16) - self.p0))
        }
    }
}

/// Geometry and parameters shared by the encoder and decoder of one chunk.
#[derive(Clone, Copy, Debug)]
pub struct PlaneGeometry {
    /// Slices in this chunk.
    pub slices: usize,
    /// Rows per slice.
    pub height: usize,
    /// Columns per slice.
    pub width: usize,
    /// LSBV planes `d`.
    pub lsb_bits: u8,
}

/// Visits every batch of a chunk in coding order, calling `code` to produce its bits.
///
/// `values` holds the chunk's values; on entry only the bits `>= d` (MSBV) must be valid
/// (the decoder fills in the rest through `code`). `code(probs, bits_in_out, input)` gets
/// the model's probabilities and must leave the true bits in `bits_in_out`.
fn drive<F, E>(
    geo: &PlaneGeometry,
    factory: &dyn ModelFactory,
    values: &mut [u32],
    mut code: F,
) -> Result<(), E>
where
    F: FnMut(&GroupInput<'_>, &[Prob], &mut [u8]) -> Result<(), E>,
    E: From<String>,
{
    let (h, w, d) = (geo.height, geo.width, geo.lsb_bits);
    let hw = h * w;
    let mut model: Box<dyn ProbabilityModel> = factory.new_model()?;
    let phases: Vec<Vec<u32>> = (0..PHASES).map(|p| phase_pixels(h, w, p)).collect();
    let steps = factory.order().steps(d);
    let batch = factory.batch_size().max(1);
    let mut probs = vec![0 as Prob; batch];
    let mut bits = vec![0u8; batch];
    let mask = !((1u32 << d) - 1);
    let mut partial = vec![0u32; hw];
    let mut next_msb = vec![0u32; hw];
    for z in 0..geo.slices {
        let (before, rest) = values.split_at_mut(z * hw);
        let (slice, after) = rest.split_at_mut(hw);
        let prev = (z > 0).then(|| &before[(z - 1) * hw..]);
        for (p, &v) in partial.iter_mut().zip(slice.iter()) {
            *p = v & mask;
        }
        // The encoder holds full values of later slices, the decoder only their MSBV.
        let next = (z + 1 < geo.slices).then(|| {
            for (n, &v) in next_msb.iter_mut().zip(&after[..hw]) {
                *n = v & mask;
            }
            &next_msb[..]
        });
        model.begin_slice(w, h, prev);
        for &(b, phase) in &steps {
            let pixels = &phases[phase as usize];
            {
                for group in pixels.chunks(batch) {
                    let n = group.len();
                    let input = GroupInput {
                        width: w,
                        height: h,
                        lsb_bits: d,
                        plane: b,
                        phase,
                        partial: &partial,
                        prev,
                        next,
                        pixels: group,
                    };
                    model.predict(&input, &mut probs[..n])?;
                    for (bit, &i) in bits.iter_mut().zip(group) {
                        *bit = ((slice[i as usize] >> b) & 1) as u8;
                    }
                    code(&input, &probs[..n], &mut bits[..n])?;
                    model.update(&input, &bits[..n]);
                    for (&bit, &i) in bits.iter().zip(group) {
                        partial[i as usize] |= (bit as u32) << b;
                    }
                }
            }
        }
        slice.copy_from_slice(&partial);
    }
    Ok(())
}

/// Encodes the LSBV of a chunk of values (`slices * height * width`). Fails only when the
/// model fails.
pub fn encode(
    geo: &PlaneGeometry,
    factory: &dyn ModelFactory,
    values: &[u32],
) -> Result<Vec<u8>, String> {
    let mut enc = DefaultRangeEncoder::new();
    let mut work = values.to_vec();
    drive(geo, factory, &mut work, |_, probs, bits| {
        for (&p, &bit) in probs.iter().zip(bits.iter()) {
            // Cannot fail: the symbol is 0 or 1 and both have non-zero probability.
            let _ = enc.encode_symbol(bit, BitModel::from_p1(p));
        }
        Ok::<(), String>(())
    })?;
    let words = enc.into_compressed().unwrap_or_default();
    Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

/// Why a chunk's LSBV did not decode.
#[derive(Debug)]
pub enum DecodeError {
    /// The model failed (its message).
    Model(String),
    /// The stream is malformed.
    Stream(String),
}

impl From<String> for DecodeError {
    fn from(message: String) -> Self {
        DecodeError::Model(message)
    }
}

/// Decodes the LSBV of a chunk into `values`, whose MSBV bits (`>= d`) are already set.
pub fn decode(
    geo: &PlaneGeometry,
    factory: &dyn ModelFactory,
    data: &[u8],
    values: &mut [u32],
) -> Result<(), DecodeError> {
    if !data.len().is_multiple_of(4) {
        return Err(DecodeError::Stream(format!(
            "LSBV stream length {} is not a multiple of 4",
            data.len()
        )));
    }
    let words: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut dec = DefaultRangeDecoder::from_compressed(words)
        .map_err(|_| DecodeError::Stream("LSBV stream too short".to_string()))?;
    drive(geo, factory, values, |_, probs, bits| {
        for (&p, bit) in probs.iter().zip(bits.iter_mut()) {
            *bit = dec
                .decode_symbol(BitModel::from_p1(p))
                .map_err(|e| DecodeError::Stream(format!("LSBV range decoder: {e}")))?;
        }
        Ok(())
    })
}
