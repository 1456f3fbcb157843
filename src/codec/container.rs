//! The Strata volume container: header, chunk table and their sans-IO parser.
//!
//! Owns the byte layout documented in `docs/format.md` (version 1): a fixed 96-byte
//! header, a table of 32-byte chunk entries, a checksum over both, then chunk payloads.
//! [`parse`] reads from a `&[u8]`, checks every size against the input length and the
//! caller's [`Limits`] before anything is allocated from it.
//!
//! Invariant: a header that parses is self-consistent (geometry, chunk count, value bits,
//! payload bounds), so later stages can index without panicking.

use xxhash_rust::xxh3::xxh3_64;

use super::error::{CorruptError, LimitError, Result};
use super::model::ModelId;
use super::msbv::MsbvCodec;
use super::sample::SampleFormat;

/// First 8 bytes of every container.
pub const MAGIC: [u8; 8] = *b"\x89STRATA\n";
/// The container version this code writes and reads.
pub const VERSION: u16 = 1;
/// Size of the fixed header, checksum included.
pub const HEADER_LEN: usize = 96;
/// Size of one chunk table entry.
pub const ENTRY_LEN: usize = 32;

/// Budgets checked before allocating from sizes read off the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest volume (z * y * x) accepted.
    pub max_voxels: u64,
    /// Largest estimated decoder working memory in bytes.
    pub max_decoder_memory: u64,
    /// Largest number of chunks.
    pub max_chunks: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_voxels: 1 << 32,
            max_decoder_memory: 32 << 30,
            max_chunks: 1 << 20,
        }
    }
}

/// One chunk table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    /// Absolute offset of the payload.
    pub offset: u64,
    /// Payload length in bytes.
    pub length: u64,
    /// xxh3-64 of the payload bytes (detects any flipped byte before decoding).
    pub payload_checksum: u64,
    /// xxh3-64 of the chunk's decoded words as little-endian u16.
    pub checksum: u64,
}

/// Everything the header says about the volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Slices, rows, columns.
    pub dims: [usize; 3],
    /// How words are stored.
    pub format: SampleFormat,
    /// Bit length `n` of the value range.
    pub value_bits: u8,
    /// The minimum integer sample; values are `s - offset`.
    pub offset: i32,
    /// LSBV planes `d` (`0 <= d <= n`).
    pub lsb_bits: u8,
    /// The MSBV codec.
    pub msbv: MsbvCodec,
    /// Slices per chunk `K`.
    pub chunk_slices: usize,
    /// Largest model batch the coder used.
    pub batch: usize,
    /// LSBV model id.
    pub model: ModelId,
    /// The chunk table.
    pub chunks: Vec<ChunkEntry>,
}

impl Header {
    /// Voxels in the volume.
    pub fn voxels(&self) -> u64 {
        self.dims.iter().map(|&d| d as u64).product()
    }

    /// Slices `[start, end)` of chunk `c`.
    pub fn chunk_range(&self, c: usize) -> (usize, usize) {
        let start = c * self.chunk_slices;
        (start, (start + self.chunk_slices).min(self.dims[0]))
    }

    /// Bytes of header and table.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.chunks.len() * ENTRY_LEN
    }

    /// Serializes header and table (payloads follow).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.encoded_len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        for d in self.dims {
            b.extend_from_slice(&(d as u32).to_le_bytes());
        }
        let f = &self.format;
        b.extend_from_slice(&[
            f.bits_allocated,
            f.bits_stored,
            f.signed as u8,
            self.value_bits,
        ]);
        b.extend_from_slice(&self.offset.to_le_bytes());
        b.extend_from_slice(&[self.lsb_bits, self.msbv.id(), 0, 0]);
        b.extend_from_slice(&(self.chunk_slices as u32).to_le_bytes());
        b.extend_from_slice(&(self.batch as u32).to_le_bytes());
        b.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.model);
        b.extend_from_slice(&[0u8; 8]);
        for c in &self.chunks {
            b.extend_from_slice(&c.offset.to_le_bytes());
            b.extend_from_slice(&c.length.to_le_bytes());
            b.extend_from_slice(&c.payload_checksum.to_le_bytes());
            b.extend_from_slice(&c.checksum.to_le_bytes());
        }
        let sum = xxh3_64(&b);
        b.splice(88..88, sum.to_le_bytes());
        b
    }
}

/// A little-endian cursor over `&[u8]` that reports truncation with offsets.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let available = self.bytes.len().saturating_sub(self.pos);
        if available < n {
            let offset = self.pos;
            return Err(CorruptError::Truncated {
                offset,
                needed: n,
                available,
            }
            .into());
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

fn invalid(field: &'static str, value: u64) -> super::error::CodecError {
    CorruptError::InvalidField { field, value }.into()
}

/// Parses and validates header and chunk table.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Header> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8)? != MAGIC {
        return Err(CorruptError::BadMagic.into());
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(CorruptError::UnsupportedVersion(version).into());
    }
    let header_len = r.u16()?;
    if header_len as usize != HEADER_LEN {
        return Err(invalid("header_len", header_len as u64));
    }
    let dims = [r.u32()? as usize, r.u32()? as usize, r.u32()? as usize];
    let format = SampleFormat {
        bits_allocated: r.u8()?,
        bits_stored: r.u8()?,
        signed: r.u8()? != 0,
    };
    let value_bits = r.u8()?;
    let offset = r.u32()? as i32;
    let lsb_bits = r.u8()?;
    let msbv_id = r.u8()?;
    r.take(2)?;
    let chunk_slices = r.u32()? as usize;
    let batch = r.u32()? as usize;
    let chunk_count = r.u32()? as u64;
    let mut model = [0u8; 32];
    model.copy_from_slice(r.take(32)?);
    r.take(8)?;
    let stored_sum = r.u64()?;
    check_geometry(dims, &format, value_bits, lsb_bits, limits)?;
    let msbv = MsbvCodec::from_id(msbv_id).ok_or(CorruptError::UnknownMsbvCodec(msbv_id))?;
    if chunk_slices == 0 || batch == 0 {
        return Err(invalid("chunk_slices/batch", 0));
    }
    if chunk_count > limits.max_chunks {
        return Err(LimitError::Chunks {
            chunks: chunk_count,
            limit: limits.max_chunks,
        }
        .into());
    }
    if chunk_count != dims[0].div_ceil(chunk_slices) as u64 {
        return Err(invalid("chunk_count", chunk_count));
    }
    let table = r.take(chunk_count as usize * ENTRY_LEN)?;
    let mut summed = bytes[..88].to_vec();
    summed.extend_from_slice(table);
    if xxh3_64(&summed) != stored_sum {
        return Err(CorruptError::HeaderChecksum.into());
    }
    let chunks = parse_table(table, bytes.len())?;
    Ok(Header {
        dims,
        format,
        value_bits,
        offset,
        lsb_bits,
        msbv,
        chunk_slices,
        batch,
        model,
        chunks,
    })
}

fn check_geometry(
    dims: [usize; 3],
    format: &SampleFormat,
    n: u8,
    d: u8,
    limits: &Limits,
) -> Result<()> {
    if dims.contains(&0) {
        return Err(invalid("dims", 0));
    }
    let voxels: u64 = dims.iter().map(|&d| d as u64).product();
    if voxels > limits.max_voxels {
        return Err(LimitError::Voxels {
            voxels,
            limit: limits.max_voxels,
        }
        .into());
    }
    if format.validate().is_err() {
        return Err(invalid(
            "bits_allocated/bits_stored",
            format.bits_allocated as u64,
        ));
    }
    if n > format.bits_allocated {
        return Err(invalid("value_bits", n as u64));
    }
    if d > n {
        return Err(invalid("lsb_bits", d as u64));
    }
    Ok(())
}

fn parse_table(table: &[u8], total: usize) -> Result<Vec<ChunkEntry>> {
    let mut r = Reader {
        bytes: table,
        pos: 0,
    };
    let mut chunks = Vec::with_capacity(table.len() / ENTRY_LEN);
    for chunk in 0..table.len() / ENTRY_LEN {
        let e = ChunkEntry {
            offset: r.u64()?,
            length: r.u64()?,
            payload_checksum: r.u64()?,
            checksum: r.u64()?,
        };
        let end = e.offset.checked_add(e.length);
        if end.is_none_or(|end| end > total as u64) {
            let (offset, length) = (e.offset, e.length);
            return Err(CorruptError::ChunkOutOfBounds {
                chunk,
                offset,
                length,
            }
            .into());
        }
        chunks.push(e);
    }
    Ok(chunks)
}
