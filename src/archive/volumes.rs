//! Volumes in compressed storage: the spooled instances of a series that can
//! be slices (one frame, one sample per pixel, native 8- or 16-bit pixel
//! data in a little-endian syntax) are assembled into volumes
//! ([`crate::volume::assembly`]) and compressed with the bit-division codec;
//! the bytes around each slice's pixel values go into a headers blob. A
//! multi-frame instance is a volume of its own, frames in stored order.
//!
//! Invariant: for every slice, headers prefix + the decoded words as
//! little-endian bytes + headers suffix is the received copy, byte for byte;
//! the archive checks this against the received sha256 before it lets the
//! spool copy go.

use crate::codec::{self, EncodeOptions, SampleFormat, VolumeView};
use crate::dataset::{self, Length, TransferSyntax};
use crate::index::SpooledInstance;
use crate::volume::assembly::Candidate;

use super::headers::SliceHeader;

/// Kind of a blob holding a codec container.
pub const VOLUME: &str = "volume";
/// Kind of a blob holding the headers of a volume's slices.
pub const HEADERS: &str = "headers";

/// One slice cut out of its received copy.
#[derive(Debug, Clone)]
pub struct Slice {
    pub instance: SpooledInstance,
    pub header: SliceHeader,
    pub words: Vec<u16>,
}

/// Whether the index attributes allow the pixel data of `instance` to go
/// into the codec: native little-endian, one sample per pixel, 8 or 16 bits.
pub fn codable(instance: &SpooledInstance) -> bool {
    let native = matches!(
        TransferSyntax::from_uid(&instance.transfer_syntax_uid),
        TransferSyntax::ImplicitVrLittleEndian | TransferSyntax::ExplicitVrLittleEndian
    );
    native
        && instance.samples_per_pixel == 1
        && matches!(instance.bits_allocated, 8 | 16)
        && (1..=instance.bits_allocated).contains(&instance.bits_stored)
        && instance.rows > 0
        && instance.columns > 0
}

/// A multi-frame instance is a volume of its own, its frames the slices in
/// their stored order (reordering them would change the bytes).
pub fn is_multiframe(instance: &SpooledInstance) -> bool {
    instance.number_of_frames > 1
}

/// The assembly candidate of a single-frame codable instance.
pub fn candidate(instance: &SpooledInstance) -> Option<Candidate> {
    let fits = codable(instance) && !is_multiframe(instance);
    fits.then(|| Candidate {
        id: instance.id,
        rows: instance.rows as u32,
        columns: instance.columns as u32,
        bits_allocated: instance.bits_allocated as u16,
        bits_stored: instance.bits_stored as u16,
        pixel_representation: instance.pixel_representation as u16,
        orientation: instance.image_orientation.clone(),
        position: instance.image_position.clone(),
        instance_number: instance.instance_number.clone(),
        sop_instance_uid: instance.sop_instance_uid.clone(),
    })
}

/// Cuts the pixel values out of a received copy; `None` when its pixel
/// data is not what the attributes promise (the instance is then stored
/// whole instead).
pub fn cut(instance: &SpooledInstance, received: &[u8]) -> Option<Slice> {
    let offset = usize::try_from(instance.data_set_offset).ok()?;
    let data_set = received.get(offset..)?;
    let syntax = TransferSyntax::from_uid(&instance.transfer_syntax_uid);
    let layout = dataset::scan(syntax, data_set, dataset::Limits::default()).ok()?;
    let pixel = layout.pixel_data()?;
    if pixel.encapsulated.is_some() || pixel.tag != dataset::Tag::PIXEL_DATA {
        return None;
    }
    let Length::Defined(length) = pixel.length else {
        return None;
    };
    let bytes_per_word = (instance.bits_allocated / 8) as usize;
    let frames = instance.number_of_frames.max(1) as usize;
    let needed = (instance.rows * instance.columns) as usize * frames * bytes_per_word;
    if (length as usize) < needed {
        return None;
    }
    let start = offset + pixel.value_offset as usize;
    let end = start + needed;
    let pixels = received.get(start..end)?;
    let words = if bytes_per_word == 2 {
        pixels
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect()
    } else {
        pixels.iter().map(|b| u16::from(*b)).collect()
    };
    Some(Slice {
        instance: instance.clone(),
        header: SliceHeader {
            prefix: received[..start].to_vec(),
            suffix: received[end..].to_vec(),
        },
        words,
    })
}

/// Encodes the slices (in volume order) into a codec container.
pub fn encode(
    slices: &[Slice],
    options: &EncodeOptions,
    model: &dyn codec::ModelFactory,
) -> Result<Vec<u8>, codec::CodecError> {
    let first = &slices[0].instance;
    let format = SampleFormat {
        bits_allocated: first.bits_allocated as u8,
        bits_stored: first.bits_stored as u8,
        signed: first.pixel_representation == 1,
    };
    let mut words = Vec::new();
    for slice in slices {
        words.extend_from_slice(&slice.words);
    }
    let plane = (first.rows * first.columns) as usize;
    let dims = [
        words.len() / plane,
        first.rows as usize,
        first.columns as usize,
    ];
    let view = VolumeView {
        dims,
        format,
        words: &words,
    };
    codec::encode_with(&view, options, model)
}

/// Rebuilds a received copy from its headers entry and its decoded slice.
pub fn splice(header: &SliceHeader, words: &[u16], bits_allocated: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.prefix.len() + words.len() * 2 + header.suffix.len());
    out.extend_from_slice(&header.prefix);
    if bits_allocated == 8 {
        out.extend(words.iter().map(|w| *w as u8));
    } else {
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.extend_from_slice(&header.suffix);
    out
}
