//! Cutting the pixel data value out of a data set and splicing it back.

use super::error::Error;
use super::layout::{Layout, slice};

/// A data set with its pixel data cut out: the bytes before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPart {
    /// Bytes before the cut range.
    pub prefix: Vec<u8>,
    /// Bytes after the cut range.
    pub suffix: Vec<u8>,
    /// Length of the bytes cut out.
    pub cut_len: u64,
}

/// Cut the top-level pixel data ([`Layout::pixel_data`],
/// [`ElementRange::cut_range`](super::ElementRange::cut_range)) out of the
/// bytes the layout was scanned from. Without pixel data the whole input is
/// the prefix and the cut is empty.
pub fn cut_pixel_data<'a>(
    bytes: &'a [u8],
    layout: &Layout,
) -> Result<(HeaderPart, &'a [u8]), Error> {
    if bytes.len() as u64 != layout.len() {
        return Err(Error::Misuse(format!(
            "layout covers {} bytes but {} bytes were given",
            layout.len(),
            bytes.len()
        )));
    }
    let range = match layout.pixel_data() {
        Some(e) => e.cut_range(),
        None => layout.len()..layout.len(),
    };
    let cut = || {
        Error::Misuse(format!(
            "cut range {range:?} outside the {} bytes given",
            bytes.len()
        ))
    };
    let prefix = slice(bytes, 0..range.start).ok_or_else(cut)?;
    let pixel = slice(bytes, range.clone()).ok_or_else(cut)?;
    let suffix = slice(bytes, range.end..layout.len()).ok_or_else(cut)?;
    Ok((
        HeaderPart {
            prefix: prefix.to_vec(),
            suffix: suffix.to_vec(),
            cut_len: pixel.len() as u64,
        },
        pixel,
    ))
}

/// Put the cut bytes back: `prefix ++ pixel ++ suffix`, byte for byte the
/// input of [`cut_pixel_data`]. Refuses a pixel value of another length.
pub fn splice(header: &HeaderPart, pixel: &[u8]) -> Result<Vec<u8>, Error> {
    if pixel.len() as u64 != header.cut_len {
        return Err(Error::Misuse(format!(
            "pixel value of {} bytes given where {} bytes were cut",
            pixel.len(),
            header.cut_len
        )));
    }
    let mut out = Vec::with_capacity(header.prefix.len() + pixel.len() + header.suffix.len());
    out.extend_from_slice(&header.prefix);
    out.extend_from_slice(pixel);
    out.extend_from_slice(&header.suffix);
    Ok(out)
}
