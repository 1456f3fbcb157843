//! Volumes of stored pixel words and their file formats.
//!
//! Owns the [`Volume`] type (geometry `z, y, x`, sample format, the raw words), the
//! readers and writers: NumPy `.npy`, NIfTI-1 (`.nii`, `.nii.gz`), NRRD (`.nrrd`, raw or
//! gzip) and DICOM series folders (slices ordered along the slice normal), and the
//! archive's series-to-volume [`assembly`].
//!
//! Invariant: a reader returns the words exactly as the file stores them (no rescale, no
//! masking of bits above Bits Stored); a writer followed by its reader is the identity.

pub mod assembly;
pub mod dicom;
pub mod nifti;
pub mod npy;
pub mod nrrd;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::codec::{SampleFormat, VolumeView};

/// A volume of raw pixel words, slice-major `(z, y, x)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Slices, rows, columns.
    pub dims: [usize; 3],
    /// How the words are stored.
    pub format: SampleFormat,
    /// The words; 8-bit samples use the low byte.
    pub words: Vec<u16>,
}

impl Volume {
    /// Borrows the volume for the codec.
    pub fn view(&self) -> VolumeView<'_> {
        VolumeView {
            dims: self.dims,
            format: self.format,
            words: &self.words,
        }
    }

    /// Bytes of the raw samples (1 or 2 per voxel).
    pub fn raw_bytes(&self) -> usize {
        self.words.len() * (self.format.bits_allocated as usize / 8)
    }
}

/// Errors of the volume readers and writers.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file's content is malformed.
    #[error("{path}: malformed {kind}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The format.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The file is well formed but holds something unsupported.
    #[error("{path}: unsupported: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
}

/// Shorthand result.
pub type Result<T> = std::result::Result<T, VolumeError>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a file, gunzipping when its name ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        let mut dec = flate2::read::GzDecoder::new(&raw[..]);
        std::io::Read::read_to_end(&mut dec, &mut out).map_err(io_err(path))?;
        return Ok(out);
    }
    Ok(raw)
}

/// The kinds of input `read` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// NumPy array.
    Npy,
    /// NIfTI-1.
    Nifti,
    /// NRRD.
    Nrrd,
    /// A folder of DICOM files, or one (multi-frame) DICOM file.
    Dicom,
}

/// Guesses the kind from the path.
pub fn input_kind(path: &Path) -> InputKind {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".npy") {
        InputKind::Npy
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        InputKind::Nifti
    } else if name.ends_with(".nrrd") {
        InputKind::Nrrd
    } else {
        InputKind::Dicom
    }
}

/// Reads a volume of any supported kind.
pub fn read(path: &Path) -> Result<Volume> {
    match input_kind(path) {
        InputKind::Npy => npy::read(path),
        InputKind::Nifti => nifti::read(path),
        InputKind::Nrrd => nrrd::read(path),
        InputKind::Dicom if path.is_dir() => dicom::read_series(path),
        InputKind::Dicom => dicom::read_file(path),
    }
}

/// Writes a volume as NIfTI when the name ends `.nii`/`.nii.gz`, else as `.npy`.
pub fn write(path: &Path, vol: &Volume) -> Result<()> {
    match input_kind(path) {
        InputKind::Nifti => nifti::write(path, vol),
        _ => npy::write(path, vol),
    }
}

/// Converts little-endian integers of `bytes_per` bytes to words; wider integers must fit
/// in 16 bits (as signed or unsigned) or the volume is unsupported.
pub(crate) fn words_from_le(
    path: &Path,
    data: &[u8],
    bytes_per: usize,
    signed: bool,
) -> Result<(Vec<u16>, SampleFormat)> {
    let unsupported = |reason: String| VolumeError::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    match (bytes_per, signed) {
        (1, _) => Ok((data.iter().map(|&b| b as u16).collect(), fmt(8, signed))),
        (2, _) => Ok((
            data.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
            fmt(16, signed),
        )),
        (4, true) => {
            let vals: Vec<i32> = data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if vals
                .iter()
                .any(|&v| v < i16::MIN as i32 || v > i16::MAX as i32)
            {
                return Err(unsupported("int32 values outside the int16 range".into()));
            }
            Ok((
                vals.iter().map(|&v| v as i16 as u16).collect(),
                fmt(16, true),
            ))
        }
        (4, false) => {
            let vals: Vec<u32> = data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if vals.iter().any(|&v| v > u16::MAX as u32) {
                return Err(unsupported("uint32 values above 65535".into()));
            }
            Ok((vals.iter().map(|&v| v as u16).collect(), fmt(16, false)))
        }
        _ => Err(unsupported(format!("{bytes_per}-byte samples"))),
    }
}

fn fmt(bits: u8, signed: bool) -> SampleFormat {
    SampleFormat {
        bits_allocated: bits,
        bits_stored: bits,
        signed,
    }
}
