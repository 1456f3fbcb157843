//! NIfTI-1 single-file images (`.nii`, `.nii.gz`): reader and writer.
//!
//! Owns the mapping of the NIfTI-1 header (`sizeof_hdr = 348`, `dim[1..3] = x, y, z`,
//! `datatype`, `vox_offset`) and its x-fastest data to a [`Volume`] `(z, y, x)`. The
//! scaling fields (`scl_slope`, `scl_inter`) are not applied: stored integers are kept.
//!
//! Invariant: `read(write(v))` returns `v`'s words and signedness.

use std::io::Write;
use std::path::Path;

use super::{Result, Volume, VolumeError, io_err, read_maybe_gz, words_from_le};

const HDR: usize = 348;

fn malformed(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::Malformed {
        path: path.to_path_buf(),
        kind: "NIfTI-1",
        reason: reason.into(),
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a NIfTI-1 file (little-endian).
pub fn read(path: &Path) -> Result<Volume> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < HDR
        || i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != HDR as i32
    {
        return Err(malformed(path, "not a little-endian NIfTI-1 header"));
    }
    let ndim = i16_at(&bytes, 40);
    if !(1..=7).contains(&ndim) {
        return Err(malformed(path, format!("dim[0] = {ndim}")));
    }
    let dim = |i: usize| {
        if (i as i16) <= ndim {
            i16_at(&bytes, 40 + 2 * i).max(1) as usize
        } else {
            1
        }
    };
    if (4..=7).any(|i| dim(i) > 1) {
        return Err(VolumeError::Unsupported {
            path: path.to_path_buf(),
            reason: "more than 3 dimensions".into(),
        });
    }
    let (bytes_per, signed) = match i16_at(&bytes, 70) {
        2 => (1, false),
        256 => (1, true),
        4 => (2, true),
        512 => (2, false),
        8 => (4, true),
        768 => (4, false),
        t => {
            return Err(VolumeError::Unsupported {
                path: path.to_path_buf(),
                reason: format!("datatype {t}"),
            });
        }
    };
    let vox_offset = f32::from_le_bytes([bytes[108], bytes[109], bytes[110], bytes[111]]) as usize;
    let dims = [dim(3), dim(2), dim(1)];
    let n: usize = dims.iter().product();
    let data = bytes
        .get(vox_offset..vox_offset + n * bytes_per)
        .ok_or_else(|| malformed(path, "truncated data"))?;
    let (words, format) = words_from_le(path, data, bytes_per, signed)?;
    Ok(Volume {
        dims,
        format,
        words,
    })
}

/// Serializes a volume as NIfTI-1 (`n+1`, vox_offset 352, unit pixdim).
pub fn to_bytes(vol: &Volume) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&(HDR as i32).to_le_bytes());
    let [z, y, x] = vol.dims;
    for (i, v) in [3usize, x, y, z, 1, 1, 1, 1].iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&(*v as i16).to_le_bytes());
    }
    let (datatype, bitpix): (i16, i16) = match (vol.format.bits_allocated, vol.format.signed) {
        (8, false) => (2, 8),
        (8, true) => (256, 8),
        (_, false) => (512, 16),
        (_, true) => (4, 16),
    };
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    for i in 0..8 {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1.0f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352.0f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    if vol.format.bits_allocated == 8 {
        h.extend(vol.words.iter().map(|&w| w as u8));
    } else {
        h.extend(vol.words.iter().flat_map(|w| w.to_le_bytes()));
    }
    h
}

/// Writes NIfTI-1, gzipped when the name ends `.gz`. Dimensions above 32767 are unsupported.
pub fn write(path: &Path, vol: &Volume) -> Result<()> {
    if vol.dims.iter().any(|&d| d > i16::MAX as usize) {
        return Err(VolumeError::Unsupported {
            path: path.to_path_buf(),
            reason: "dimension > 32767".into(),
        });
    }
    let bytes = to_bytes(vol);
    if path.extension().is_some_and(|e| e == "gz") {
        let f = std::fs::File::create(path).map_err(io_err(path))?;
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::new(6));
        enc.write_all(&bytes).map_err(io_err(path))?;
        enc.finish().map_err(io_err(path))?;
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(io_err(path))
}
