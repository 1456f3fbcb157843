//! The sample model: stored pixel words to non-negative values and back.
//!
//! Owns the bijection between the words exactly as stored (DICOM PS3.5 §8.1.1: Bits
//! Allocated 8 or 16, any Bits Stored, Pixel Representation 0 = unsigned, 1 = two's
//! complement) and the values `v = s - offset`, where `s` is the word read as a
//! full-width integer (sign-extended from Bits Allocated when signed) and `offset` is the
//! volume minimum. Bits Stored is recorded but never trusted: bits above it (overlays,
//! garbage) are part of the word and survive the round trip.
//!
//! Invariant: `to_words(to_values(w)) == w` for every word buffer.

use super::error::{MisuseError, Result};

/// How the pixel words are stored (DICOM Image Pixel Module, PS3.3 C.7.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SampleFormat {
    /// Bits Allocated (0028,0100): 8 or 16.
    pub bits_allocated: u8,
    /// Bits Stored (0028,0101): 1..=bits_allocated. Informational only.
    pub bits_stored: u8,
    /// Pixel Representation (0028,0103) = 1: words are two's complement.
    pub signed: bool,
}

impl SampleFormat {
    /// Checks the format is one the codec handles.
    pub fn validate(&self) -> Result<()> {
        let ok_alloc = matches!(self.bits_allocated, 8 | 16);
        let ok_stored = (1..=self.bits_allocated).contains(&self.bits_stored);
        if ok_alloc && ok_stored {
            return Ok(());
        }
        Err(MisuseError::SampleFormat(format!("{self:?}")).into())
    }

    /// Mask of the bits a word may hold.
    pub fn word_mask(&self) -> u16 {
        if self.bits_allocated == 8 {
            0xFF
        } else {
            0xFFFF
        }
    }

    /// The word read as a full-width integer.
    pub fn word_to_int(&self, w: u16) -> i32 {
        match (self.bits_allocated, self.signed) {
            (8, true) => (w as u8) as i8 as i32,
            (8, false) => (w & 0xFF) as i32,
            (_, true) => w as i16 as i32,
            (_, false) => w as i32,
        }
    }

    /// The inverse of [`word_to_int`](Self::word_to_int) on its image.
    pub fn int_to_word(&self, s: i32) -> u16 {
        (s as u16) & self.word_mask()
    }
}

/// A borrowed volume: `z` slices of `y` rows of `x` words, slice-major.
#[derive(Clone, Copy, Debug)]
pub struct VolumeView<'a> {
    /// Slices, rows, columns.
    pub dims: [usize; 3],
    /// How the words are stored.
    pub format: SampleFormat,
    /// The raw words, `dims[0] * dims[1] * dims[2]` of them. 8-bit words use the low byte.
    pub words: &'a [u16],
}

impl VolumeView<'_> {
    /// Checks geometry, format and buffer length.
    pub fn validate(&self) -> Result<()> {
        self.format.validate()?;
        let [z, y, x] = self.dims;
        let too_big = y > u32::MAX as usize || x > u32::MAX as usize || z > u32::MAX as usize;
        if z == 0 || y == 0 || x == 0 || too_big {
            return Err(MisuseError::Geometry { z, y, x }.into());
        }
        let expected = z * y * x;
        if self.words.len() != expected {
            let actual = self.words.len();
            return Err(MisuseError::BufferLength { expected, actual }.into());
        }
        Ok(())
    }
}

/// Offset and bit length of the value range of a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRange {
    /// The minimum integer sample; values are `s - offset`.
    pub offset: i32,
    /// Bit length of `max - min` (0 for a constant volume, at most 16).
    pub bits: u8,
}

/// Scans the words for their minimum and range bit length.
pub fn value_range(format: &SampleFormat, words: &[u16]) -> ValueRange {
    let mut lo = i32::MAX;
    let mut hi = i32::MIN;
    for &w in words {
        let s = format.word_to_int(w);
        lo = lo.min(s);
        hi = hi.max(s);
    }
    if words.is_empty() {
        return ValueRange { offset: 0, bits: 0 };
    }
    let span = (hi - lo) as u32;
    ValueRange {
        offset: lo,
        bits: (32 - span.leading_zeros()) as u8,
    }
}

/// Words to values `s - offset` (each fits in `range.bits` bits).
pub fn to_values(format: &SampleFormat, range: ValueRange, words: &[u16], out: &mut [u32]) {
    for (o, &w) in out.iter_mut().zip(words) {
        *o = (format.word_to_int(w) - range.offset) as u32;
    }
}

/// Values back to words.
pub fn to_words(format: &SampleFormat, offset: i32, values: &[u32], out: &mut [u16]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = format.int_to_word(v as i32 + offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_words_round_trip() {
        let f = SampleFormat {
            bits_allocated: 16,
            bits_stored: 12,
            signed: true,
        };
        let words = [0u16, 0xFFFF, 0x8000, 0x7FFF, 0xF800];
        let r = value_range(&f, &words);
        assert_eq!(r.offset, -32768);
        let mut v = [0u32; 5];
        to_values(&f, r, &words, &mut v);
        let mut back = [0u16; 5];
        to_words(&f, r.offset, &v, &mut back);
        assert_eq!(back, words);
    }
}
