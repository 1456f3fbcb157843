//! The bit-division volume codec (BD-LVIC, arXiv 2410.17814): lossless, byte-exact.
//!
//! Owns the compression of a volume of stored pixel words into a Strata container and
//! back. Words become values `v = s - min` ([`sample`]); `v` is split into the MSBV
//! (`v >> d`, coded per slice with JPEG-LS or JPEG XL, [`msbv`]) and the LSBV (the low `d`
//! bits, coded plane by plane with probabilities from a [`model::ProbabilityModel`],
//! [`lsbv`]). Slices are grouped into chunks ([`chunk`]) that decode independently and in
//! parallel (rayon); the container layout is in [`container`] and `docs/format.md`.
//!
//! Pure functions over sample buffers: no I/O, no DICOM parser, no sockets.
//!
//! Invariant: `decode(encode(v)) == v` word for word; decoding returns identical words
//! whatever the thread count; a corrupt container gives an error, never wrong words.

pub mod chunk;
pub mod container;
pub mod error;
pub mod lsbv;
pub mod model;
pub mod msbv;
pub mod order;
pub mod sample;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

pub use container::{Header, Limits};
pub use error::{CodecError, CorruptError, LimitError, MisuseError, Result};
pub use model::context::{CONTEXT_MODEL_ID, ContextModelFactory};
pub use model::{ModelFactory, ModelId, ProbabilityModel};
pub use msbv::MsbvCodec;
pub use sample::{SampleFormat, VolumeView};

use chunk::ChunkParams;
use container::ChunkEntry;

/// Default slices per chunk, at most (see [`balanced_chunk_slices`]).
pub const DEFAULT_CHUNK_SLICES: usize = 16;

/// The slices per chunk the encoder uses for `z` slices and at most `max` per chunk:
/// as many chunks as `max` gives (`ceil(z / max)`), with the slices spread evenly over
/// them, so that a 20-slice series is two chunks of 10 rather than 16 and 4 and decodes
/// on two threads in the time of 10 slices. Depends on `z` and `max` only, never on the
/// thread count.
pub fn balanced_chunk_slices(z: usize, max: usize) -> usize {
    let max = max.clamp(1, z.max(1));
    z.max(1).div_ceil(z.max(1).div_ceil(max))
}
/// Largest `d` the automatic choice tries: a speed/size trade-off (on the noisiest CT a
/// larger `d` is up to 0.7 % smaller but decodes 2x slower, see `docs/benchmarks.md`).
pub const AUTO_MAX_LSB_BITS: u8 = 4;
/// JPEG XL effort of an automatically chosen MSBV codec, unless set otherwise.
pub const DEFAULT_JXL_EFFORT: u8 = 7;

/// Slices (from the middle of the volume) the automatic choice of `d` trial-encodes.
pub const AUTO_TRIAL_SLICES: usize = 4;

/// Encoder settings.
#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    /// LSBV planes `d`; `None` trial-encodes a few middle slices with each `d` in
    /// `0..=AUTO_MAX_LSB_BITS` and keeps the smallest result.
    pub lsb_bits: Option<u8>,
    /// Slices per chunk, at most: the encoder spreads the slices evenly over
    /// `ceil(z / chunk_slices)` chunks ([`balanced_chunk_slices`]).
    pub chunk_slices: usize,
    /// MSBV codec (ignored when the MSBV has zero bits); `None` picks JPEG-LS or JPEG XL
    /// (at `jxl_effort`) together with `d` by the same trial encoding.
    pub msbv: Option<MsbvCodec>,
    /// JPEG XL effort (1-10) when `msbv` is `None`: 9 is a few percent smaller than the
    /// default 7 where JPEG XL codes most of the value, at about 4x the encode time
    /// (`docs/benchmarks.md`); decoding speed does not depend on it.
    pub jxl_effort: u8,
    /// Worker threads; `None` uses rayon's global pool.
    pub threads: Option<usize>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            lsb_bits: None,
            chunk_slices: DEFAULT_CHUNK_SLICES,
            msbv: None,
            jxl_effort: DEFAULT_JXL_EFFORT,
            threads: None,
        }
    }
}

/// A decoded volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedVolume {
    /// Slices, rows, columns.
    pub dims: [usize; 3],
    /// How words are stored.
    pub format: SampleFormat,
    /// The words, exactly as encoded.
    pub words: Vec<u16>,
}

/// The models this build can decode with.
pub fn builtin_models() -> Vec<&'static dyn ModelFactory> {
    static CTX: ContextModelFactory = ContextModelFactory;
    vec![&CTX]
}

fn in_pool<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        None => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| MisuseError::Option {
                    name: "threads",
                    reason: e.to_string(),
                })?;
            Ok(pool.install(f))
        }
    }
}

/// The split `d` and MSBV codec used for the volume: the requested ones, else the cheapest
/// pair on a trial encoding of a few middle slices (ties go to the smaller, faster `d`, then
/// to JPEG-LS).
fn choose_split(
    view: &VolumeView<'_>,
    range: sample::ValueRange,
    opts: &EncodeOptions,
    model: &dyn ModelFactory,
) -> Result<(u8, MsbvCodec)> {
    if let Some(d) = opts.lsb_bits.filter(|&d| d > 16) {
        let reason = format!("{d} > 16");
        return Err(MisuseError::Option {
            name: "lsb_bits",
            reason,
        }
        .into());
    }
    let ds: Vec<u8> = match opts.lsb_bits {
        Some(d) => vec![d.min(range.bits)],
        None => (0..=range.bits.min(AUTO_MAX_LSB_BITS)).collect(),
    };
    let effort = match opts.msbv {
        Some(MsbvCodec::JpegXl { effort }) => effort,
        _ => opts.jxl_effort,
    };
    if !(1..=10).contains(&effort) {
        return Err(MisuseError::Option {
            name: "jxl_effort",
            reason: format!("JPEG XL effort {effort} is outside 1 to 10"),
        }
        .into());
    }
    let codecs = match opts.msbv {
        Some(c) => vec![c],
        None => vec![MsbvCodec::JpegLs, MsbvCodec::JpegXl { effort }],
    };
    let mut candidates = Vec::new();
    for (rank, &c) in codecs.iter().enumerate() {
        for &d in &ds {
            let c = if range.bits == d { MsbvCodec::Empty } else { c };
            candidates.push((d, rank, c));
        }
    }
    if candidates.len() == 1 {
        return Ok((candidates[0].0, candidates[0].2));
    }
    trial_split(view, range, &candidates, model)
}

/// Encodes the middle `AUTO_TRIAL_SLICES` slices with each candidate; returns the smallest.
fn trial_split(
    view: &VolumeView<'_>,
    range: sample::ValueRange,
    candidates: &[(u8, usize, MsbvCodec)],
    model: &dyn ModelFactory,
) -> Result<(u8, MsbvCodec)> {
    let [z, y, x] = view.dims;
    let take = z.min(AUTO_TRIAL_SLICES);
    let start = (z - take) / 2;
    let words = &view.words[start * y * x..(start + take) * y * x];
    let mut values = vec![0u32; words.len()];
    sample::to_values(&view.format, range, words, &mut values);
    let sizes: Vec<Result<(usize, u8, usize, u8)>> = candidates
        .par_iter()
        .map(|&(d, rank, msbv)| {
            let value_bits = range.bits;
            let params = ChunkParams {
                height: y,
                width: x,
                value_bits,
                lsb_bits: d,
                msbv,
                model,
            };
            Ok((chunk::encode(&params, &values)?.len(), d, rank, msbv.id()))
        })
        .collect();
    let sizes = sizes.into_iter().collect::<Result<Vec<_>>>()?;
    let best = sizes
        .into_iter()
        .min()
        .map_or((0, 0), |(_, d, rank, _)| (d, rank));
    let found = candidates.iter().find(|c| (c.0, c.1) == best);
    Ok(found.map_or((0, MsbvCodec::JpegLs), |c| (c.0, c.2)))
}

/// Checksum of a run of words (xxh3-64 of their little-endian bytes).
pub fn words_checksum(words: &[u16]) -> u64 {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    xxh3_64(&bytes)
}

/// Called once per finished chunk (for progress reporting), from any worker thread.
pub type ChunkObserver<'a> = &'a (dyn Fn() + Sync);

/// Compresses a volume with the given LSBV model.
pub fn encode_with(
    view: &VolumeView<'_>,
    opts: &EncodeOptions,
    model: &dyn ModelFactory,
) -> Result<Vec<u8>> {
    encode_observed(view, opts, model, &|| {})
}

/// [`encode_with`], calling `on_chunk` after each chunk is encoded.
pub fn encode_observed(
    view: &VolumeView<'_>,
    opts: &EncodeOptions,
    model: &dyn ModelFactory,
    on_chunk: ChunkObserver<'_>,
) -> Result<Vec<u8>> {
    view.validate()?;
    if opts.chunk_slices == 0 || opts.chunk_slices > u32::MAX as usize {
        let reason = "must be in 1..2^32".to_string();
        return Err(MisuseError::Option {
            name: "chunk_slices",
            reason,
        }
        .into());
    }
    let range = sample::value_range(&view.format, view.words);
    let (d, msbv) = in_pool(opts.threads, || choose_split(view, range, opts, model))??;
    let [z, y, x] = view.dims;
    let params = ChunkParams {
        height: y,
        width: x,
        value_bits: range.bits,
        lsb_bits: d,
        msbv,
        model,
    };
    let k = balanced_chunk_slices(z, opts.chunk_slices);
    let slice_words = y * x;
    let payloads: Vec<Result<(Vec<u8>, u64)>> = in_pool(opts.threads, || {
        view.words
            .par_chunks(k.min(z) * slice_words)
            .map(|words| {
                let mut values = vec![0u32; words.len()];
                sample::to_values(&view.format, range, words, &mut values);
                let payload = chunk::encode(&params, &values)?;
                on_chunk();
                Ok((payload, words_checksum(words)))
            })
            .collect()
    })?;
    let mut header = Header {
        dims: view.dims,
        format: view.format,
        value_bits: range.bits,
        offset: range.offset,
        lsb_bits: d,
        msbv,
        chunk_slices: k,
        batch: model.batch_size(),
        model: model.id(),
        chunks: Vec::with_capacity(z.div_ceil(k)),
    };
    let payloads = payloads.into_iter().collect::<Result<Vec<_>>>()?;
    let mut offset = (container::HEADER_LEN + payloads.len() * container::ENTRY_LEN) as u64;
    for (p, checksum) in &payloads {
        let payload_checksum = xxh3_64(p);
        header.chunks.push(ChunkEntry {
            offset,
            length: p.len() as u64,
            payload_checksum,
            checksum: *checksum,
        });
        offset += p.len() as u64;
    }
    let mut out = header.to_bytes();
    for (p, _) in payloads {
        out.extend_from_slice(&p);
    }
    Ok(out)
}

/// Compresses a volume with the built-in context model.
pub fn encode(view: &VolumeView<'_>, opts: &EncodeOptions) -> Result<Vec<u8>> {
    encode_with(view, opts, &ContextModelFactory)
}

/// Parses the header and chunk table.
pub fn read_header(bytes: &[u8], limits: &Limits) -> Result<Header> {
    container::parse(bytes, limits)
}

fn find_model<'m>(
    header: &Header,
    models: &[&'m dyn ModelFactory],
) -> Result<&'m dyn ModelFactory> {
    let found = models.iter().find(|m| m.id() == header.model).copied();
    found.ok_or_else(|| CorruptError::UnknownModel(model::id_to_string(&header.model)).into())
}

/// Estimated peak decoder memory for `parallel` chunks in flight (saturating: sizes come
/// from untrusted headers).
fn decoder_memory(h: &Header, parallel: u64) -> u64 {
    let slice = (h.dims[1] as u64).saturating_mul(h.dims[2] as u64);
    let chunk_slices = h.chunk_slices.min(h.dims[0]) as u64;
    let per_chunk = slice
        .saturating_mul(chunk_slices)
        .saturating_mul(8)
        .saturating_add(slice.saturating_mul(8))
        .saturating_add(8 << 20);
    h.voxels()
        .saturating_mul(2)
        .saturating_add(parallel.saturating_mul(per_chunk))
}

/// Decodes chunk `c` into its words, checking its checksum.
fn decode_chunk(
    bytes: &[u8],
    h: &Header,
    model: &dyn ModelFactory,
    c: usize,
    out: &mut [u16],
) -> Result<()> {
    let e = &h.chunks[c];
    let data = &bytes[e.offset as usize..(e.offset + e.length) as usize];
    if xxh3_64(data) != e.payload_checksum {
        return Err(CorruptError::PayloadChecksum {
            chunk: c,
            offset: e.offset,
        }
        .into());
    }
    let params = ChunkParams {
        height: h.dims[1],
        width: h.dims[2],
        value_bits: h.value_bits,
        lsb_bits: h.lsb_bits,
        msbv: h.msbv,
        model,
    };
    let mut values = vec![0u32; out.len()];
    chunk::decode(&params, c, data, &mut values)?;
    sample::to_words(&h.format, h.offset, &values, out);
    let decoded = words_checksum(out);
    if decoded != e.checksum {
        return Err(CorruptError::ChunkChecksum {
            chunk: c,
            stored: e.checksum,
            decoded,
        }
        .into());
    }
    Ok(())
}

/// Decodes a whole volume with the given models available.
pub fn decode_with(
    bytes: &[u8],
    limits: &Limits,
    models: &[&dyn ModelFactory],
    threads: Option<usize>,
) -> Result<DecodedVolume> {
    decode_observed(bytes, limits, models, threads, &|| {})
}

/// [`decode_with`], calling `on_chunk` after each chunk is decoded.
pub fn decode_observed(
    bytes: &[u8],
    limits: &Limits,
    models: &[&dyn ModelFactory],
    threads: Option<usize>,
    on_chunk: ChunkObserver<'_>,
) -> Result<DecodedVolume> {
    let h = read_header(bytes, limits)?;
    let model = find_model(&h, models)?;
    let parallel = threads.unwrap_or_else(rayon::current_num_threads) as u64;
    let need = decoder_memory(&h, parallel.min(h.chunks.len() as u64));
    if need > limits.max_decoder_memory {
        return Err(LimitError::DecoderMemory {
            bytes: need,
            limit: limits.max_decoder_memory,
        }
        .into());
    }
    let mut words = vec![0u16; h.voxels() as usize];
    let per_chunk = h.chunk_slices.min(h.dims[0]) * h.dims[1] * h.dims[2];
    let results: Vec<Result<()>> = in_pool(threads, || {
        words
            .par_chunks_mut(per_chunk)
            .enumerate()
            .map(|(c, out)| {
                let r = decode_chunk(bytes, &h, model, c, out);
                on_chunk();
                r
            })
            .collect()
    })?;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(DecodedVolume {
        dims: h.dims,
        format: h.format,
        words,
    })
}

/// Decodes a whole volume with the built-in models.
pub fn decode(bytes: &[u8], limits: &Limits, threads: Option<usize>) -> Result<DecodedVolume> {
    decode_with(bytes, limits, &builtin_models(), threads)
}

/// Decodes one slice, touching only its chunk.
pub fn decode_slice(
    bytes: &[u8],
    limits: &Limits,
    models: &[&dyn ModelFactory],
    z: usize,
) -> Result<Vec<u16>> {
    let h = read_header(bytes, limits)?;
    if z >= h.dims[0] {
        return Err(MisuseError::SliceOutOfRange {
            index: z,
            slices: h.dims[0],
        }
        .into());
    }
    let c = z / h.chunk_slices;
    let (start, _) = h.chunk_range(c);
    let (_, words) = decode_one_chunk(bytes, limits, models, c)?;
    let hw = h.dims[1] * h.dims[2];
    let at = (z - start) * hw;
    Ok(words[at..at + hw].to_vec())
}

/// Decodes chunk `c` alone: its slices' words, slice-major, with the
/// container header (whose [`Header::chunk_range`] says which slices).
pub fn decode_one_chunk(
    bytes: &[u8],
    limits: &Limits,
    models: &[&dyn ModelFactory],
    c: usize,
) -> Result<(Header, Vec<u16>)> {
    let h = read_header(bytes, limits)?;
    if c >= h.chunks.len() {
        return Err(MisuseError::SliceOutOfRange {
            index: c.saturating_mul(h.chunk_slices),
            slices: h.dims[0],
        }
        .into());
    }
    let model = find_model(&h, models)?;
    let need = decoder_memory(&h, 1).saturating_sub(h.voxels().saturating_mul(2));
    if need > limits.max_decoder_memory {
        return Err(LimitError::DecoderMemory {
            bytes: need,
            limit: limits.max_decoder_memory,
        }
        .into());
    }
    let (start, end) = h.chunk_range(c);
    let hw = h.dims[1] * h.dims[2];
    let mut out = vec![0u16; (end - start) * hw];
    decode_chunk(bytes, &h, model, c, &mut out)?;
    Ok((h, out))
}

#[cfg(test)]
mod tests {
    use super::balanced_chunk_slices;

    #[test]
    fn chunks_are_balanced_without_changing_their_count() {
        assert_eq!(balanced_chunk_slices(20, 16), 10);
        assert_eq!(balanced_chunk_slices(23, 16), 12);
        assert_eq!(balanced_chunk_slices(48, 16), 16);
        assert_eq!(balanced_chunk_slices(61, 16), 16);
        assert_eq!(balanced_chunk_slices(1, 16), 1);
        assert_eq!(balanced_chunk_slices(7, 3), 3);
        assert_eq!(balanced_chunk_slices(5, 4), 3);
        for z in 1..300 {
            for max in 1..40 {
                let k = balanced_chunk_slices(z, max);
                assert!((1..=max).contains(&k), "z {z} max {max}: {k}");
                assert_eq!(z.div_ceil(k), z.div_ceil(max), "z {z} max {max}");
            }
        }
    }
}
