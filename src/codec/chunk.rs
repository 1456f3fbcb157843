//! One chunk: `K` consecutive slices coded independently of every other chunk.
//!
//! Owns the payload layout of a chunk (slice count, MSBV stream lengths, MSBV streams,
//! LSBV stream) and the split of values into MSBV (`v >> d`) and LSBV (`v & (2^d - 1)`).
//!
//! Invariant: `decode(encode(values)) == values`; a payload that does not decode is an
//! error carrying the chunk index.

use rayon::prelude::*;

use super::error::{CorruptError, Result};
use super::lsbv::{self, PlaneGeometry};
use super::model::ModelFactory;
use super::msbv::{self, MsbvCodec, MsbvSlice};

/// Parameters shared by all chunks of a volume.
#[derive(Clone, Copy)]
pub struct ChunkParams<'a> {
    /// Rows per slice.
    pub height: usize,
    /// Columns per slice.
    pub width: usize,
    /// Value bit length `n`.
    pub value_bits: u8,
    /// LSBV planes `d`.
    pub lsb_bits: u8,
    /// MSBV codec.
    pub msbv: MsbvCodec,
    /// LSBV model.
    pub model: &'a dyn ModelFactory,
}

impl ChunkParams<'_> {
    fn msbv_slice(&self) -> MsbvSlice {
        MsbvSlice {
            height: self.height,
            width: self.width,
            bits: self.value_bits - self.lsb_bits,
        }
    }
    fn planes(&self, slices: usize) -> PlaneGeometry {
        PlaneGeometry {
            slices,
            height: self.height,
            width: self.width,
            lsb_bits: self.lsb_bits,
        }
    }
}

/// Encodes the values of `slices` slices into a chunk payload.
pub fn encode(p: &ChunkParams<'_>, values: &[u32]) -> Result<Vec<u8>> {
    let hw = p.height * p.width;
    let slices = values.len() / hw;
    let geo = p.msbv_slice();
    let d = p.lsb_bits;
    let streams = values
        .par_chunks_exact(hw)
        .map(|s| {
            let high: Vec<u32> = s.iter().map(|&v| v >> d).collect();
            msbv::encode(p.msbv, &geo, &high)
        })
        .collect::<Result<Vec<_>>>()?;
    let lsbv = lsbv::encode(&p.planes(slices), p.model, values).map_err(|message| {
        super::error::CodecError::Model {
            model: p.model.name(),
            message,
        }
    })?;
    let mut out = Vec::new();
    out.extend_from_slice(&(slices as u32).to_le_bytes());
    for s in &streams {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for s in &streams {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&lsbv);
    Ok(out)
}

fn payload_err(chunk: usize, reason: impl Into<String>) -> super::error::CodecError {
    CorruptError::ChunkPayload {
        chunk,
        reason: reason.into(),
    }
    .into()
}

fn read_u32(data: &[u8], at: usize, chunk: usize) -> Result<u32> {
    data.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| payload_err(chunk, format!("truncated at payload offset {at}")))
}

/// Decodes chunk `chunk` (holding `slices` slices) into `values`.
pub fn decode(p: &ChunkParams<'_>, chunk: usize, data: &[u8], values: &mut [u32]) -> Result<()> {
    let hw = p.height * p.width;
    let slices = values.len() / hw;
    if read_u32(data, 0, chunk)? as usize != slices {
        return Err(payload_err(chunk, "slice count does not match the header"));
    }
    let mut pos = 4 + 4 * slices;
    let geo = p.msbv_slice();
    for (s, out) in values.chunks_exact_mut(hw).enumerate() {
        let len = read_u32(data, 4 + 4 * s, chunk)? as usize;
        let stream = pos
            .checked_add(len)
            .and_then(|end| data.get(pos..end))
            .ok_or_else(|| payload_err(chunk, format!("MSBV stream of slice {s} out of bounds")))?;
        msbv::decode(p.msbv, &geo, stream, out)
            .map_err(|e| payload_err(chunk, format!("slice {s}: {e}")))?;
        pos += len;
    }
    let d = p.lsb_bits;
    for v in values.iter_mut() {
        *v <<= d;
    }
    if d == 0 {
        return Ok(());
    }
    lsbv::decode(&p.planes(slices), p.model, &data[pos..], values).map_err(|e| match e {
        lsbv::DecodeError::Stream(reason) => payload_err(chunk, reason),
        lsbv::DecodeError::Model(message) => super::error::CodecError::Model {
            model: p.model.name(),
            message,
        },
    })
}
