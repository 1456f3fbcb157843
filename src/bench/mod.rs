//! Side-by-side benchmark of strata against standard lossless codecs.
//!
//! Owns the measurement of one volume under each codec: compressed size (bits per voxel,
//! ratio to JPEG XL effort 9), encode and decode milliseconds per slice, peak memory
//! (growth of the process's peak resident set, Linux `VmHWM` reset through
//! `/proc/self/clear_refs`), and a bit-exact round-trip check of every codec.
//!
//! The standard image codecs (JPEG-LS, JPEG XL) get the best case strata also gets: each
//! slice as values `s - min` with the volume's bit length `n` (at least 2 bits for
//! JPEG-LS). zstd and zlib compress the raw little-endian words of the whole volume.
//!
//! Invariant: a codec whose round trip differs is reported as not lossless, never hidden.

use std::io::{Read, Write};
use std::time::Instant;

use crate::codec::{self, EncodeOptions, Limits, ModelFactory, msbv, sample};
use crate::volume::Volume;

/// One codec's result on one volume.
#[derive(Clone, Debug)]
pub struct CodecResult {
    /// Codec name.
    pub name: String,
    /// Compressed bytes.
    pub bytes: usize,
    /// Total encode time in milliseconds.
    pub encode_ms: f64,
    /// Total decode time in milliseconds.
    pub decode_ms: f64,
    /// Peak resident memory growth while encoding, bytes (0 if unknown).
    pub peak_encode: u64,
    /// Peak resident memory growth while decoding, bytes (0 if unknown).
    pub peak_decode: u64,
    /// Whether the round trip was bit-exact.
    pub lossless: bool,
}

/// Which codecs to run.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Strata encoder options.
    pub strata: EncodeOptions,
    /// Also run JPEG XL at effort 9 (slow).
    pub jxl_e9: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            strata: EncodeOptions::default(),
            jxl_e9: true,
        }
    }
}

/// Peak-RSS tracker over `/proc/self` (Linux); silently 0 elsewhere.
struct Peak {
    base: u64,
}

fn proc_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Peak {
    fn start() -> Self {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/clear_refs")
            .and_then(|mut f| f.write_all(b"5"));
        Peak {
            base: proc_kb("VmRSS:"),
        }
    }
    fn bytes(&self) -> u64 {
        proc_kb("VmHWM:").saturating_sub(self.base) * 1024
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, u64) {
    let peak = Peak::start();
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1e3, peak.bytes())
}

fn raw_le(vol: &Volume) -> Vec<u8> {
    if vol.format.bits_allocated == 8 {
        vol.words.iter().map(|&w| w as u8).collect()
    } else {
        vol.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Runs strata with each of `strata` (row name, LSBV model) and the reference codecs on
/// one volume; `models` are the models the decoder may need.
pub fn bench_volume(
    vol: &Volume,
    opts: &BenchOptions,
    strata: &[(String, &dyn ModelFactory)],
    models: &[&dyn ModelFactory],
) -> Vec<CodecResult> {
    let mut out: Vec<CodecResult> = strata
        .iter()
        .map(|(name, model)| bench_strata(vol, name, &opts.strata, *model, models))
        .collect();
    out.push(bench_slices(vol, "JPEG-LS (CharLS)", Slicer::JpegLs));
    out.push(bench_slices(vol, "JPEG XL e7", Slicer::Jxl(7)));
    if opts.jxl_e9 {
        out.push(bench_slices(vol, "JPEG XL e9", Slicer::Jxl(9)));
    }
    out.push(bench_zstd(vol));
    out.push(bench_zlib(vol));
    out
}

fn bench_strata(
    vol: &Volume,
    name: &str,
    opts: &EncodeOptions,
    model: &dyn ModelFactory,
    models: &[&dyn ModelFactory],
) -> CodecResult {
    let (enc, encode_ms, pe) = timed(|| codec::encode_with(&vol.view(), opts, model));
    let Ok(bytes) = enc else {
        return failed(name, encode_ms);
    };
    let (dec, decode_ms, pd) =
        timed(|| codec::decode_with(&bytes, &Limits::default(), models, opts.threads));
    let lossless = dec.is_ok_and(|d| d.words == vol.words && d.dims == vol.dims);
    // The split the encoder chose, from the container's own header.
    let name = match codec::read_header(&bytes, &Limits::default()) {
        Ok(h) => {
            let msbv = h.msbv.name().split(" (").next().unwrap_or_default();
            format!("{name}: d = {}, {msbv}", h.lsb_bits)
        }
        Err(_) => name.to_string(),
    };
    CodecResult {
        name,
        bytes: bytes.len(),
        encode_ms,
        decode_ms,
        peak_encode: pe,
        peak_decode: pd,
        lossless,
    }
}

fn failed(name: &str, encode_ms: f64) -> CodecResult {
    CodecResult {
        name: name.into(),
        bytes: 0,
        encode_ms,
        decode_ms: 0.0,
        peak_encode: 0,
        peak_decode: 0,
        lossless: false,
    }
}

#[derive(Clone, Copy)]
enum Slicer {
    JpegLs,
    Jxl(u8),
}

/// Values `s - min` per slice and the bit length used for the image codecs.
fn offset_values(vol: &Volume) -> (Vec<u32>, u8) {
    let range = sample::value_range(&vol.format, &vol.words);
    let mut v = vec![0u32; vol.words.len()];
    sample::to_values(&vol.format, range, &vol.words, &mut v);
    (v, range.bits.max(2))
}

fn bench_slices(vol: &Volume, name: &str, which: Slicer) -> CodecResult {
    use rayon::prelude::*;
    let (values, bits) = offset_values(vol);
    let [_, h, w] = vol.dims;
    let geo = msbv::MsbvSlice {
        height: h,
        width: w,
        bits,
    };
    let codec = match which {
        Slicer::JpegLs => msbv::MsbvCodec::JpegLs,
        Slicer::Jxl(e) => msbv::MsbvCodec::JpegXl { effort: e },
    };
    let (enc, encode_ms, pe) = timed(|| {
        values
            .par_chunks(h * w)
            .map(|s| msbv::encode(codec, &geo, s))
            .collect::<Result<Vec<_>, _>>()
    });
    let Ok(streams) = enc else {
        return failed(name, encode_ms);
    };
    let (dec, decode_ms, pd) = timed(|| {
        streams
            .par_iter()
            .map(|s| {
                let mut out = vec![0u32; h * w];
                msbv::decode(codec, &geo, s, &mut out).map(|_| out)
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let lossless = dec.is_ok_and(|d| d.concat() == values);
    let bytes = streams.iter().map(Vec::len).sum();
    CodecResult {
        name: name.into(),
        bytes,
        encode_ms,
        decode_ms,
        peak_encode: pe,
        peak_decode: pd,
        lossless,
    }
}

fn bench_zstd(vol: &Volume) -> CodecResult {
    let raw = raw_le(vol);
    let (enc, encode_ms, pe) = timed(|| zstd::bulk::compress(&raw, 19));
    let Ok(c) = enc else {
        return failed("zstd -19", encode_ms);
    };
    let (dec, decode_ms, pd) = timed(|| zstd::bulk::decompress(&c, raw.len()));
    let lossless = dec.is_ok_and(|d| d == raw);
    CodecResult {
        name: "zstd -19".into(),
        bytes: c.len(),
        encode_ms,
        decode_ms,
        peak_encode: pe,
        peak_decode: pd,
        lossless,
    }
}

fn bench_zlib(vol: &Volume) -> CodecResult {
    let raw = raw_le(vol);
    let (c, encode_ms, pe) = timed(|| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&raw).and_then(|_| e.finish())
    });
    let Ok(c) = c else {
        return failed("zlib-6", encode_ms);
    };
    let (dec, decode_ms, pd) = timed(|| {
        let mut out = Vec::with_capacity(raw.len());
        flate2::read::ZlibDecoder::new(&c[..])
            .read_to_end(&mut out)
            .map(|_| out)
    });
    let lossless = dec.is_ok_and(|d| d == raw);
    CodecResult {
        name: "zlib-6".into(),
        bytes: c.len(),
        encode_ms,
        decode_ms,
        peak_encode: pe,
        peak_decode: pd,
        lossless,
    }
}

/// Renders one volume's results as Markdown table rows.
pub fn table_rows(label: &str, vol: &Volume, results: &[CodecResult]) -> Vec<String> {
    let voxels = vol.words.len() as f64;
    let slices = vol.dims[0] as f64;
    let raw_mb = vol.raw_bytes() as f64 / 1e6;
    let e9 = results
        .iter()
        .find(|r| r.name == "JPEG XL e9")
        .map(|r| r.bytes as f64);
    results
        .iter()
        .map(|r| {
            let bpv = r.bytes as f64 * 8.0 / voxels;
            let ratio = e9.map_or("-".to_string(), |e| format!("{:.3}", r.bytes as f64 / e));
            format!(
                "| {label} | {} | {bpv:.3} | {ratio} | {:.1} | {:.1} | {:.1} | {:.0} / {:.0} | {} |",
                r.name,
                r.encode_ms / slices,
                r.decode_ms / slices,
                raw_mb / (r.decode_ms / 1e3).max(1e-9),
                r.peak_encode as f64 / 1e6,
                r.peak_decode as f64 / 1e6,
                if r.lossless { "yes" } else { "NO" }
            )
        })
        .collect()
}

/// Markdown table header matching [`table_rows`].
pub const TABLE_HEADER: &str = "| volume | codec | bits/voxel | size / JXL e9 | enc ms/slice | dec ms/slice | dec MB/s (raw) | peak MB enc / dec | lossless |\n|---|---|---|---|---|---|---|---|---|";
