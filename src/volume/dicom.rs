//! DICOM series folders and single (multi-frame) files to volumes.
//!
//! Owns reading the Image Pixel Module (PS3.3 C.7.6.3) of grey images (Samples per Pixel
//! = 1) with `dicom-object`/`dicom-pixeldata`, and ordering a series' slices along the
//! slice normal: `n = row × column` of Image Orientation (Patient) (0020,0037), key
//! `n · Image Position (Patient)` (0020,0032), then Instance Number (0020,0013), then SOP
//! Instance UID (0008,0018). Native pixel data is taken word for word (bits above Bits
//! Stored included); encapsulated data (JPEG 2000 via the pure-Rust `openjp2` feature,
//! JPEG lossless, RLE) is decoded by `dicom-pixeldata`.
//!
//! Invariant: slices of one series only, all with the same rows, columns and format.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions, open_file};
use dicom_pixeldata::PixelDecoder;

use super::{Result, Volume, VolumeError, io_err};
use crate::codec::SampleFormat;

/// One file's frames and ordering keys.
struct Instance {
    path: PathBuf,
    rows: usize,
    cols: usize,
    frames: usize,
    format: SampleFormat,
    series: String,
    position: Option<f64>,
    instance_number: i64,
    sop_uid: String,
    words: Vec<u16>,
}

fn unsupported(path: &Path, reason: impl Into<String>) -> VolumeError {
    VolumeError::Unsupported {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn malformed(path: &Path, reason: impl std::fmt::Display) -> VolumeError {
    VolumeError::Malformed {
        path: path.to_path_buf(),
        kind: "DICOM",
        reason: reason.to_string(),
    }
}

fn int(obj: &DefaultDicomObject, tag: dicom_object::Tag) -> Option<i64> {
    obj.get(tag)?.to_int::<i64>().ok()
}

fn text(obj: &DefaultDicomObject, tag: dicom_object::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

fn floats(obj: &DefaultDicomObject, tag: dicom_object::Tag) -> Option<Vec<f64>> {
    obj.get(tag)?.to_multi_float64().ok()
}

/// Position along the slice normal (the cross product of the orientation's row and column).
fn normal_position(obj: &DefaultDicomObject) -> Option<f64> {
    let o = floats(obj, tags::IMAGE_ORIENTATION_PATIENT)?;
    let p = floats(obj, tags::IMAGE_POSITION_PATIENT)?;
    if o.len() != 6 || p.len() != 3 {
        return None;
    }
    let n = [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ];
    Some(n[0] * p[0] + n[1] * p[1] + n[2] * p[2])
}

fn sample_format(path: &Path, obj: &DefaultDicomObject) -> Result<SampleFormat> {
    let alloc =
        int(obj, tags::BITS_ALLOCATED).ok_or_else(|| malformed(path, "no Bits Allocated"))?;
    let stored = int(obj, tags::BITS_STORED).unwrap_or(alloc);
    let signed = int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    if int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) != 1 {
        return Err(unsupported(path, "Samples per Pixel != 1 (colour)"));
    }
    if alloc != 8 && alloc != 16 {
        return Err(unsupported(path, format!("Bits Allocated {alloc}")));
    }
    Ok(SampleFormat {
        bits_allocated: alloc as u8,
        bits_stored: stored.clamp(1, alloc) as u8,
        signed,
    })
}

/// Opens a file; when that fails and the file has bytes after a native Pixel Data
/// (7FE0,0010) element of explicit VR little endian (seen in the wild: megabytes of zero
/// padding after the data set), retries with the data set cut at the end of Pixel Data.
fn open(path: &Path) -> Result<DefaultDicomObject> {
    let first = match open_file(path) {
        Ok(obj) => return Ok(obj),
        Err(e) => malformed(path, e),
    };
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let Some(end) = pixel_data_end(&bytes) else {
        return Err(first);
    };
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Always)
        .from_reader(&bytes[..end])
        .map_err(|_| first)
}

/// End offset of the last defined-length explicit-VR-LE Pixel Data element, if it ends
/// before the end of the file.
fn pixel_data_end(bytes: &[u8]) -> Option<usize> {
    let at = bytes
        .windows(8)
        .rposition(|w| w == b"\xe0\x7f\x10\x00OW\0\0" || w == b"\xe0\x7f\x10\x00OB\0\0")?;
    let len = bytes.get(at + 8..at + 12)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    let end = (at + 12).checked_add(len as usize)?;
    (len != u32::MAX && end < bytes.len()).then_some(end)
}

fn read_instance(path: &Path) -> Result<Instance> {
    let obj = open(path)?;
    let format = sample_format(path, &obj)?;
    let rows = int(&obj, tags::ROWS).ok_or_else(|| malformed(path, "no Rows"))? as usize;
    let cols = int(&obj, tags::COLUMNS).ok_or_else(|| malformed(path, "no Columns"))? as usize;
    let frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let decoded = obj.decode_pixel_data().map_err(|e| malformed(path, e))?;
    let data = decoded.data();
    let n = rows * cols * frames;
    let words: Vec<u16> = if format.bits_allocated == 8 {
        data.iter().take(n).map(|&b| b as u16).collect()
    } else {
        data.chunks_exact(2)
            .take(n)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    };
    if words.len() != n {
        return Err(malformed(
            path,
            format!("pixel data holds {} samples, expected {n}", words.len()),
        ));
    }
    Ok(Instance {
        path: path.to_path_buf(),
        rows,
        cols,
        frames,
        format,
        series: text(&obj, tags::SERIES_INSTANCE_UID),
        position: normal_position(&obj),
        instance_number: int(&obj, tags::INSTANCE_NUMBER).unwrap_or(0),
        sop_uid: text(&obj, tags::SOP_INSTANCE_UID),
        words,
    })
}

/// Reads one DICOM file (all frames) as a volume.
pub fn read_file(path: &Path) -> Result<Volume> {
    let i = read_instance(path)?;
    Ok(Volume {
        dims: [i.frames, i.rows, i.cols],
        format: i.format,
        words: i.words,
    })
}

/// Reads every DICOM file of a folder (non-DICOM files are skipped) as one series.
pub fn read_series(dir: &Path) -> Result<Volume> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut instances = Vec::new();
    for f in &files {
        match read_instance(f) {
            Ok(i) => instances.push(i),
            Err(VolumeError::Malformed { .. }) if !looks_like_dicom(f) => continue,
            Err(e) => return Err(e),
        }
    }
    assemble(dir, instances)
}

fn looks_like_dicom(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head[128..132] == b"DICM")
}

fn assemble(dir: &Path, mut instances: Vec<Instance>) -> Result<Volume> {
    let first = instances
        .first()
        .ok_or_else(|| unsupported(dir, "no DICOM images in folder"))?;
    let (rows, cols, format, series) = (first.rows, first.cols, first.format, first.series.clone());
    for i in &instances {
        if i.series != series {
            return Err(unsupported(
                dir,
                format!("more than one series ({} and {})", series, i.series),
            ));
        }
        if (i.rows, i.cols, i.format) != (rows, cols, format) {
            return Err(unsupported(
                &i.path,
                "geometry or sample format differs from the first slice",
            ));
        }
    }
    instances.sort_by(|a, b| {
        let pos = a
            .position
            .unwrap_or(0.0)
            .total_cmp(&b.position.unwrap_or(0.0));
        pos.then(a.instance_number.cmp(&b.instance_number))
            .then(a.sop_uid.cmp(&b.sop_uid))
    });
    let z: usize = instances.iter().map(|i| i.frames).sum();
    let mut words = Vec::with_capacity(z * rows * cols);
    for i in instances {
        words.extend_from_slice(&i.words);
    }
    Ok(Volume {
        dims: [z, rows, cols],
        format,
        words,
    })
}
