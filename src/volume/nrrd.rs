//! NRRD (`.nrrd`, attached data, raw or gzip, little-endian integers) reader.
//!
//! Owns the mapping of a 3-D NRRD (`sizes: x y z`, fastest axis first) to a [`Volume`]
//! `(z, y, x)`.
//!
//! Invariant: samples are returned exactly as stored (no space/origin interpretation).

use std::io::Read;
use std::path::Path;

use super::{Result, Volume, VolumeError, io_err, words_from_le};

fn malformed(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::Malformed {
        path: path.to_path_buf(),
        kind: "NRRD",
        reason: reason.into(),
    }
}

/// Reads an NRRD file.
pub fn read(path: &Path) -> Result<Volume> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| malformed(path, "no header end"))?;
    let header = String::from_utf8_lossy(&bytes[..split]);
    if !header.starts_with("NRRD") {
        return Err(malformed(path, "bad magic"));
    }
    let field = |name: &str| {
        header.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::trim)
        })
    };
    let ty = field("type").ok_or_else(|| malformed(path, "no type"))?;
    let (bytes_per, signed) = sample_type(ty).ok_or_else(|| VolumeError::Unsupported {
        path: path.to_path_buf(),
        reason: format!("type {ty}"),
    })?;
    if bytes_per > 1 && field("endian").is_some_and(|e| e != "little") {
        return Err(VolumeError::Unsupported {
            path: path.to_path_buf(),
            reason: "big endian".into(),
        });
    }
    let sizes: Vec<usize> = field("sizes")
        .ok_or_else(|| malformed(path, "no sizes"))?
        .split_whitespace()
        .map(|s| s.parse().map_err(|_| malformed(path, "bad sizes")))
        .collect::<Result<_>>()?;
    let dims = match sizes.as_slice() {
        [x, y] => [1, *y, *x],
        [x, y, z] => [*z, *y, *x],
        _ => {
            return Err(VolumeError::Unsupported {
                path: path.to_path_buf(),
                reason: "need 2 or 3 axes".into(),
            });
        }
    };
    let data = &bytes[split + 2..];
    let raw = match field("encoding").unwrap_or("raw") {
        "raw" => data.to_vec(),
        "gzip" | "gz" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(io_err(path))?;
            out
        }
        other => {
            return Err(VolumeError::Unsupported {
                path: path.to_path_buf(),
                reason: format!("encoding {other}"),
            });
        }
    };
    let n: usize = dims.iter().product();
    if raw.len() < n * bytes_per {
        return Err(malformed(path, "truncated data"));
    }
    let (words, format) = words_from_le(path, &raw[..n * bytes_per], bytes_per, signed)?;
    Ok(Volume {
        dims,
        format,
        words,
    })
}

fn sample_type(ty: &str) -> Option<(usize, bool)> {
    Some(match ty {
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => (1, false),
        "signed char" | "int8" | "int8_t" => (1, true),
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            (2, true)
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => (2, false),
        "int" | "signed int" | "int32" | "int32_t" => (4, true),
        "uint" | "unsigned int" | "uint32" | "uint32_t" => (4, false),
        _ => return None,
    })
}
