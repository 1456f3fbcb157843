//! Byte layout of received DICOM data sets, for exact round trips.
//!
//! This module owns finding *where* things lie in the bytes the archive
//! received; it never decodes values into a data model and never re-encodes
//! anything. It provides:
//!
//! - [`TransferSyntax`]: a transfer syntax UID mapped onto the byte layout
//!   it implies (implicit / explicit VR, byte order, encapsulated, deflated).
//! - [`split_part10`]: the Part-10 file front (preamble, `DICM`, File Meta
//!   Information) and where the data set starts.
//! - [`Scanner`] (sans-IO, fed in chunks of any size) and [`scan`] (one
//!   call): the top-level elements of a data set as [`ElementRange`]s in a
//!   [`Layout`], including the top-level pixel data with its encapsulated
//!   fragments. Nested sequences are walked only to find where they end.
//! - [`cut_pixel_data`] and [`splice`]: take the pixel data out (to compress
//!   it) and put it back, byte for byte.
//!
//! Invariants: the scanner never allocates from lengths read off the input
//! beyond the configured limit (values are skipped by count; it holds at most
//! one 12-byte header of input); it never panics on any input; the layout it
//! reports covers the input bytes exactly, in order (the elements, then any
//! [trailing zero padding](Layout::trailing_padding), are contiguous from
//! offset 0 to [`Layout::len`]).

mod element;
mod error;
mod layout;
mod part10;
mod scanner;
mod splice;
mod syntax;

pub use element::{Tag, Vr};
pub use error::{Error, Limit, LimitExceeded, Malformed, MalformedKind, Unsupported};
pub use layout::{ElementRange, Encapsulated, Fragment, Layout, Length};
pub use part10::{Part10, split_part10};
pub use scanner::{Scanner, scan};
pub use splice::{HeaderPart, cut_pixel_data, splice};
pub use syntax::{ByteOrder, TransferSyntax};

/// Limits on what the scanner accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of undefined-length sequences (and encapsulated pixel
    /// data) accepted.
    pub max_depth: usize,
    /// Most bytes a data set may have.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    /// `max_depth` 16, `max_total_bytes` 4 GiB.
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_total_bytes: 4 << 30,
        }
    }
}

#[cfg(test)]
mod tests;
