//! NumPy `.npy` (format 1.0/2.0/3.0) for 3-D (or 2-D) C-order integer arrays.
//!
//! Owns the mapping `shape (z, y, x)`, dtype `|u1 |i1 <u2 <i2` (read also `<i4 <u4` whose
//! values fit in 16 bits) to [`Volume`] and back.
//!
//! Invariant: `read(write(v))` returns `v`'s words and signedness (Bits Stored is not
//! representable in .npy and reads back as Bits Allocated).

use std::path::Path;

use super::{Result, Volume, VolumeError, io_err, words_from_le};

const MAGIC: &[u8] = b"\x93NUMPY";

fn malformed(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::Malformed {
        path: path.to_path_buf(),
        kind: "npy",
        reason: reason.into(),
    }
}

/// Reads an `.npy` file.
pub fn read(path: &Path) -> Result<Volume> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse(path, &bytes)
}

/// Parses `.npy` bytes.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Volume> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(malformed(path, "bad magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(malformed(path, "truncated header")),
    };
    let header = bytes
        .get(start..start + hlen)
        .ok_or_else(|| malformed(path, "truncated header"))?;
    let header = String::from_utf8_lossy(header);
    let descr = dict_value(&header, "descr").ok_or_else(|| malformed(path, "no descr"))?;
    if dict_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(VolumeError::Unsupported {
            path: path.to_path_buf(),
            reason: "Fortran order".into(),
        });
    }
    let shape = parse_shape(&header).ok_or_else(|| malformed(path, "bad shape"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (bytes_per, signed) = match descr {
        "|u1" | "u1" => (1, false),
        "|i1" | "i1" => (1, true),
        "<u2" => (2, false),
        "<i2" => (2, true),
        "<u4" => (4, false),
        "<i4" => (4, true),
        other => {
            return Err(VolumeError::Unsupported {
                path: path.to_path_buf(),
                reason: format!("dtype {other}"),
            });
        }
    };
    let dims = match shape.as_slice() {
        [x] => [1, 1, *x],
        [y, x] => [1, *y, *x],
        [z, y, x] => [*z, *y, *x],
        _ => return Err(malformed(path, "need 1-3 dimensions")),
    };
    let n: usize = dims.iter().product();
    let data = &bytes[start + hlen..];
    if data.len() < n * bytes_per {
        return Err(malformed(path, "truncated data"));
    }
    let (words, format) = words_from_le(path, &data[..n * bytes_per], bytes_per, signed)?;
    Ok(Volume {
        dims,
        format,
        words,
    })
}

/// The text following `'key':` up to the next `,` or `}` at depth 0.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let at = header.find("'shape'")?;
    let open = at + header[at..].find('(')?;
    let close = open + header[open..].find(')')?;
    header[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect()
}

/// Serializes a volume as `.npy` bytes (format 1.0, shape `(z, y, x)`).
pub fn to_bytes(vol: &Volume) -> Vec<u8> {
    let descr = match (vol.format.bits_allocated, vol.format.signed) {
        (8, false) => "|u1",
        (8, true) => "|i1",
        (_, false) => "<u2",
        (_, true) => "<i2",
    };
    let [z, y, x] = vol.dims;
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({z}, {y}, {x}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    if vol.format.bits_allocated == 8 {
        out.extend(vol.words.iter().map(|&w| w as u8));
    } else {
        out.extend(vol.words.iter().flat_map(|w| w.to_le_bytes()));
    }
    out
}

/// Writes a volume as `.npy`.
pub fn write(path: &Path, vol: &Volume) -> Result<()> {
    std::fs::write(path, to_bytes(vol)).map_err(io_err(path))
}
