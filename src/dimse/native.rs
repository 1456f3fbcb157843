//! The native form of an outgoing data set, for a C-STORE sub-operation
//! whose peer did not accept the transfer syntax the instance was received
//! in (PS3.5 8.2 and annex A).
//!
//! What enters: one data set as it was received, its transfer syntax, the
//! native syntax to send it in, and the size limit. What leaves: a new data
//! set in Explicit or Implicit VR Little Endian.
//!
//! Two conversions. Between the native little-endian syntaxes the elements
//! are re-encoded and their values kept. From an encapsulated syntax the
//! Pixel Data is decoded with `dicom-pixeldata` into native samples (OB for
//! 8 bits allocated or fewer, OW otherwise), the attributes that describe the
//! samples are made to match what the decoder gave (Photometric
//! Interpretation, Planar Configuration), and the attributes that only
//! encapsulated Pixel Data may carry are removed.
//!
//! Invariant: the received bytes are never touched; conversion works on a
//! copy, on the way out only, and never allocates decoded Pixel Data larger
//! than `limits.max_data_set_bytes`.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::{TransferSyntax, TransferSyntaxIndex};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Native syntaxes an instance may be sent in when its own was not
/// accepted, the preferred one first.
pub const NATIVE_LE: [&str; 2] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

/// Attributes that only encapsulated Pixel Data may carry (PS3.3 C.7.6.3):
/// Extended Offset Table, its lengths, and the Encapsulated Pixel Data
/// Value Total Length.
const ENCAPSULATION_ONLY: [Tag; 3] = [
    tags::EXTENDED_OFFSET_TABLE,
    tags::EXTENDED_OFFSET_TABLE_LENGTHS,
    tags::ENCAPSULATED_PIXEL_DATA_VALUE_TOTAL_LENGTH,
];

/// Why a data set could not be converted. The peer is not at fault: the
/// sub-operation fails and the retrieve goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("unknown transfer syntax {0}")]
    UnknownSyntax(String),
    #[error("cannot read the stored data set: {0}")]
    Read(String),
    #[error("cannot decode {transfer_syntax_uid}: {message}")]
    Decode {
        transfer_syntax_uid: String,
        message: String,
    },
    #[error("decoded pixel data of {bytes} bytes over limits.max_data_set_bytes ({limit})")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("cannot encode the data set: {0}")]
    Write(String),
}

/// Re-encodes a native little-endian data set in the other native syntax.
pub fn reencode(data_set: &[u8], from: &str, to: &str) -> Result<Vec<u8>, ConvertError> {
    let object = read(data_set, from)?;
    write(&object, to, data_set.len())
}

/// Decodes the encapsulated Pixel Data of a data set received in `from`
/// and encodes the whole data set in the native syntax `to`.
pub fn decode(data_set: &[u8], from: &str, to: &str, limit: u64) -> Result<Vec<u8>, ConvertError> {
    let mut object = read(data_set, from)?;
    let bytes = decoded_size(&object);
    if bytes > limit {
        return Err(ConvertError::TooLarge { bytes, limit });
    }
    let native = decode_pixel_data(object.clone(), from)?;
    if native.data.len() as u64 != bytes {
        return Err(ConvertError::Decode {
            transfer_syntax_uid: from.to_owned(),
            message: format!(
                "{} bytes decoded where the image attributes call for {bytes}",
                native.data.len()
            ),
        });
    }
    native.apply(&mut object, from);
    write(&object, to, bytes as usize + data_set.len())
}

/// Reads a data set for conversion, without its Group Length elements
/// (gggg,0000): they are retired outside the command and meta groups
/// (PS3.5 7.2) and their values would be wrong once elements are re-encoded.
fn read(data_set: &[u8], uid: &str) -> Result<InMemDicomObject, ConvertError> {
    let ts = syntax(uid)?;
    let mut object = InMemDicomObject::read_dataset_with_ts(data_set, ts)
        .map_err(|e| ConvertError::Read(e.to_string()))?;
    let group_lengths: Vec<Tag> = object
        .tags()
        .filter(|t| t.element() == 0 && t.group() > 0x0002)
        .collect();
    for tag in group_lengths {
        object.remove_element(tag);
    }
    Ok(object)
}

fn write(object: &InMemDicomObject, uid: &str, capacity: usize) -> Result<Vec<u8>, ConvertError> {
    let ts = syntax(uid)?;
    let mut out = Vec::with_capacity(capacity);
    object
        .write_dataset_with_ts(&mut out, ts)
        .map_err(|e| ConvertError::Write(e.to_string()))?;
    Ok(out)
}

fn syntax(uid: &str) -> Result<&'static TransferSyntax, ConvertError> {
    TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| ConvertError::UnknownSyntax(uid.to_owned()))
}

fn int_of(object: &InMemDicomObject, tag: Tag) -> Option<u64> {
    let element = object.element_opt(tag).ok().flatten()?;
    element.to_int::<u64>().ok()
}

/// Bytes of native Pixel Data the image attributes call for (PS3.5 8.1.1):
/// Rows x Columns x Samples per Pixel x Number of Frames x whole bytes per
/// sample, computed before anything is decoded.
fn decoded_size(object: &InMemDicomObject) -> u64 {
    let get = |tag, default| int_of(object, tag).unwrap_or(default);
    let frames = get(tags::NUMBER_OF_FRAMES, 1).max(1);
    let bytes_per_sample = get(tags::BITS_ALLOCATED, 8).div_ceil(8);
    [
        get(tags::ROWS, 0),
        get(tags::COLUMNS, 0),
        get(tags::SAMPLES_PER_PIXEL, 1),
        frames,
        bytes_per_sample,
    ]
    .into_iter()
    .fold(1u64, u64::saturating_mul)
}

/// What the decoder gave: the samples and how to read them.
struct Native {
    data: Vec<u8>,
    bits_allocated: u16,
    samples_per_pixel: u16,
    photometric: PhotometricInterpretation,
}

fn decode_pixel_data(object: InMemDicomObject, from: &str) -> Result<Native, ConvertError> {
    let err = |message: String| ConvertError::Decode {
        transfer_syntax_uid: from.to_owned(),
        message,
    };
    let file = object
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(from))
        .map_err(|e| err(e.to_string()))?;
    let decoded = file.decode_pixel_data().map_err(|e| err(e.to_string()))?;
    Ok(Native {
        bits_allocated: decoded.bits_allocated(),
        samples_per_pixel: decoded.samples_per_pixel(),
        photometric: decoded.photometric_interpretation().clone(),
        data: decoded.data().to_vec(),
    })
}

impl Native {
    /// Puts the native Pixel Data into `object` and makes the attributes
    /// that describe it agree.
    fn apply(self, object: &mut InMemDicomObject, from: &str) {
        for tag in ENCAPSULATION_ONLY {
            object.remove_element(tag);
        }
        if self.samples_per_pixel > 1 {
            // The decoders give colour-by-pixel samples.
            object.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ));
        }
        if transforms_colour(from) {
            object.put(DataElement::new(
                tags::PHOTOMETRIC_INTERPRETATION,
                VR::CS,
                PrimitiveValue::from(self.photometric.to_string()),
            ));
        }
        let vr = if self.bits_allocated <= 8 {
            VR::OB
        } else {
            VR::OW
        };
        let mut data = self.data;
        if data.len() % 2 == 1 {
            // Values have even length (PS3.5 7.1.1); the pad follows the
            // last sample.
            data.push(0);
        }
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            vr,
            PrimitiveValue::U8(data.into()),
        ));
    }
}

/// Whether decoding `from` may change the colour space of the samples, so
/// that the Photometric Interpretation must be the decoder's: JPEG
/// (YCbCr to RGB) and JPEG 2000 (inverse multi-component transform). RLE,
/// JPEG-LS and the deflated or uncompressed frames give the samples as they
/// were encoded, in the stored colour space.
fn transforms_colour(from: &str) -> bool {
    !matches!(
        from,
        uids::RLE_LOSSLESS
            | uids::JPEGLS_LOSSLESS
            | uids::JPEGLS_NEAR_LOSSLESS
            | uids::DEFLATED_IMAGE_FRAME_COMPRESSION
            | uids::ENCAPSULATED_UNCOMPRESSED_EXPLICIT_VR_LITTLE_ENDIAN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(rows: u16, columns: u16, frames: Option<&str>) -> InMemDicomObject {
        let mut object = InMemDicomObject::from_element_iter([
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(columns)),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        ]);
        if let Some(n) = frames {
            object.put(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(n),
            ));
        }
        object
    }

    #[test]
    fn decoded_size_counts_every_sample_of_every_frame() {
        assert_eq!(decoded_size(&image(10, 20, None)), 10 * 20 * 3 * 2);
        assert_eq!(decoded_size(&image(10, 20, Some("4"))), 10 * 20 * 3 * 2 * 4);
        // Sizes read off the input saturate instead of wrapping round.
        let huge = image(u16::MAX, u16::MAX, Some("2147483647"));
        assert_eq!(decoded_size(&huge), u64::MAX);
    }

    #[test]
    fn decoding_over_the_limit_is_refused_before_decoding() {
        let mut object = image(512, 512, Some("100"));
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![0u8; 2]),
        ));
        let mut bytes = Vec::new();
        object
            .write_dataset_with_ts(
                &mut bytes,
                &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
            )
            .unwrap();
        let err = decode(
            &bytes,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(err, ConvertError::TooLarge { .. }), "{err}");
    }

    /// A Group Length received with the data set is not sent on in a
    /// converted copy: its value would no longer match the group's bytes.
    #[test]
    fn converted_copies_carry_no_group_length() {
        let mut object = image(2, 2, None);
        object.put(DataElement::new(
            Tag(0x0028, 0x0000),
            VR::UL,
            PrimitiveValue::from(40u32),
        ));
        let explicit = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        let mut bytes = Vec::new();
        object.write_dataset_with_ts(&mut bytes, &explicit).unwrap();
        let out = reencode(
            &bytes,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
        )
        .unwrap();
        let back = read(&out, uids::IMPLICIT_VR_LITTLE_ENDIAN).unwrap();
        assert_eq!(int_of(&back, tags::ROWS), Some(2));
        assert!(
            !out.starts_with(&[0x28, 0x00, 0x00, 0x00]),
            "group length written: {out:02x?}"
        );
    }

    #[test]
    fn rle_and_jpeg_ls_keep_the_stored_colour_space() {
        assert!(!transforms_colour(uids::RLE_LOSSLESS));
        assert!(!transforms_colour(uids::JPEGLS_LOSSLESS));
        assert!(transforms_colour(uids::JPEG_BASELINE8_BIT));
        assert!(transforms_colour(uids::JPEG2000));
    }
}
