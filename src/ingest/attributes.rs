//! Reading the attributes the index needs from a received copy. Only the
//! elements before Pixel Data are parsed; nothing is written back.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::dataset::{self, Scanner, TransferSyntax};
use crate::index::NewInstance;

/// Bytes read per step while looking for the pixel data.
const SCAN_CHUNK: usize = 256 * 1024;

/// A received copy the index cannot describe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    #[error("unknown transfer syntax {0}")]
    UnknownTransferSyntax(String),
    #[error("cannot read data set {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("malformed data set {path}: {source}")]
    Layout {
        path: PathBuf,
        source: dataset::Error,
    },
    #[error("data set {path} lacks {name} {tag}")]
    Missing {
        path: PathBuf,
        name: &'static str,
        tag: Tag,
    },
}

/// Parses the data set of `path` starting at `offset` in transfer syntax
/// `ts_uid`, up to its top-level pixel data, and fills the descriptive fields
/// of a [`NewInstance`]. The whole data set is first checked to be well
/// formed, so a truncated or inconsistent one is refused here.
pub fn read(path: &Path, offset: u64, ts_uid: &str) -> Result<NewInstance, AttributeError> {
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| AttributeError::UnknownTransferSyntax(ts_uid.to_owned()))?;
    let parse_err = |message: String| AttributeError::Parse {
        path: path.to_owned(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| parse_err(e.to_string()))?;
    let header_end = header_end(&mut file, offset, ts_uid).map_err(|source| match source {
        ScanFailure::Io(e) => parse_err(e.to_string()),
        ScanFailure::Layout(source) => AttributeError::Layout {
            path: path.to_owned(),
            source,
        },
    })?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| parse_err(e.to_string()))?;
    let reader = std::io::BufReader::new(file);
    let object = match header_end {
        Some(end) => InMemDicomObject::read_dataset_with_ts(reader.take(end), ts),
        None => InMemDicomObject::read_dataset_with_ts(reader, ts),
    }
    .map_err(|e| parse_err(e.to_string()))?;
    describe(&object, path)
}

enum ScanFailure {
    Io(std::io::Error),
    Layout(dataset::Error),
}

/// Streams the data set through the layout scanner and returns the length
/// of what precedes its top-level pixel data (the whole data set when it has
/// none); `None` for deflated data sets, which only a full parse can read.
fn header_end(
    file: &mut std::fs::File,
    offset: u64,
    ts_uid: &str,
) -> Result<Option<u64>, ScanFailure> {
    let syntax = TransferSyntax::from_uid(ts_uid);
    if syntax.is_deflated() {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(ScanFailure::Io)?;
    let mut scanner = Scanner::new(syntax, dataset::Limits::default());
    let mut chunk = vec![0u8; SCAN_CHUNK];
    loop {
        let n = file.read(&mut chunk).map_err(ScanFailure::Io)?;
        if n == 0 {
            break;
        }
        scanner.feed(&chunk[..n]).map_err(ScanFailure::Layout)?;
    }
    let layout = scanner.finish().map_err(ScanFailure::Layout)?;
    Ok(Some(
        layout
            .pixel_data()
            .map_or(layout.len(), |pixel| pixel.header_offset),
    ))
}

fn describe(o: &InMemDicomObject, path: &Path) -> Result<NewInstance, AttributeError> {
    let required = |tag: Tag, name: &'static str| {
        let value = text(o, tag);
        if value.is_empty() {
            Err(AttributeError::Missing {
                path: path.to_owned(),
                name,
                tag,
            })
        } else {
            Ok(value)
        }
    };
    Ok(NewInstance {
        sop_instance_uid: required(tags::SOP_INSTANCE_UID, "SOP Instance UID")?,
        sop_class_uid: required(tags::SOP_CLASS_UID, "SOP Class UID")?,
        study_instance_uid: required(tags::STUDY_INSTANCE_UID, "Study Instance UID")?,
        series_instance_uid: required(tags::SERIES_INSTANCE_UID, "Series Instance UID")?,
        patient_id: text(o, tags::PATIENT_ID),
        issuer_of_patient_id: text(o, tags::ISSUER_OF_PATIENT_ID),
        patient_name: text(o, tags::PATIENT_NAME),
        birth_date: text(o, tags::PATIENT_BIRTH_DATE),
        sex: text(o, tags::PATIENT_SEX),
        study_date: text(o, tags::STUDY_DATE),
        study_time: text(o, tags::STUDY_TIME),
        accession_number: text(o, tags::ACCESSION_NUMBER),
        study_id: text(o, tags::STUDY_ID),
        study_description: text(o, tags::STUDY_DESCRIPTION),
        referring_physician: text(o, tags::REFERRING_PHYSICIAN_NAME),
        character_set: text(o, tags::SPECIFIC_CHARACTER_SET),
        modality: text(o, tags::MODALITY),
        series_number: text(o, tags::SERIES_NUMBER),
        series_description: text(o, tags::SERIES_DESCRIPTION),
        series_date: text(o, tags::SERIES_DATE),
        series_time: text(o, tags::SERIES_TIME),
        body_part: text(o, tags::BODY_PART_EXAMINED),
        instance_number: text(o, tags::INSTANCE_NUMBER),
        rows: int(o, tags::ROWS),
        columns: int(o, tags::COLUMNS),
        samples_per_pixel: int(o, tags::SAMPLES_PER_PIXEL),
        bits_allocated: int(o, tags::BITS_ALLOCATED),
        bits_stored: int(o, tags::BITS_STORED),
        pixel_representation: int(o, tags::PIXEL_REPRESENTATION),
        number_of_frames: int(o, tags::NUMBER_OF_FRAMES).max(1),
        image_position: text(o, tags::IMAGE_POSITION_PATIENT),
        image_orientation: text(o, tags::IMAGE_ORIENTATION_PATIENT),
        ..NewInstance::default()
    })
}

/// The value as text without padding; empty when absent. A value the
/// sender encoded as UN (or OB) is read as the text its bytes hold.
fn text(o: &InMemDicomObject, tag: Tag) -> String {
    let Some(element) = o.element_opt(tag).ok().flatten() else {
        return String::new();
    };
    let raw = match element.value().primitive() {
        Some(dicom_core::PrimitiveValue::U8(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => element.to_str().map(|s| s.into_owned()).unwrap_or_default(),
    };
    raw.trim_end_matches(['\0', ' ']).trim_start().to_owned()
}

/// The first value as an integer; 0 when absent or not numeric.
fn int(o: &InMemDicomObject, tag: Tag) -> i64 {
    o.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok())
        .unwrap_or(0)
}
