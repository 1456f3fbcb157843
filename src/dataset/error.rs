//! Typed errors, grouped by who is at fault.

use std::fmt;

use super::{Tag, Vr};

/// Everything the scanner, the Part-10 splitter and the splice helpers can
/// refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input bytes are not a well-formed data set (the sender's fault).
    #[error("malformed data set: {0}")]
    Malformed(#[from] Malformed),
    /// The input exceeds a configured [`Limits`](super::Limits) value.
    #[error("limit exceeded: {0}")]
    LimitExceeded(#[from] LimitExceeded),
    /// Well-formed, but not something this scanner can lay out.
    #[error("unsupported: {0}")]
    Unsupported(#[from] Unsupported),
    /// The caller passed inconsistent arguments (e.g. a layout of other bytes).
    #[error("misuse: {0}")]
    Misuse(String),
}

/// Where and how the input is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Byte offset (relative to the scanned bytes) of the header of the
    /// element or item at fault.
    pub offset: u64,
    /// Tag of the element at fault, once its header was read.
    pub tag: Option<Tag>,
    /// What is wrong.
    pub kind: MalformedKind,
}

/// What is wrong with malformed input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// A defined-length value runs past the end of the input.
    ValuePastEnd {
        /// The value length read from the header.
        length: u32,
        /// Offset at which the input ended.
        end: u64,
    },
    /// The input ended inside an element or item header.
    HeaderTruncated {
        /// Header bytes present.
        have: usize,
        /// Header bytes needed.
        need: usize,
    },
    /// The input ended inside an undefined-length value before its
    /// sequence delimitation item.
    Unterminated {
        /// Offset at which the input ended.
        end: u64,
    },
    /// An element where an item or sequence delimiter was required.
    ExpectedItem,
    /// An item or delimitation tag where a data element was required.
    UnexpectedDelimiter,
    /// Explicit VR bytes that are no VR.
    InvalidVr(Vr),
    /// An undefined length on a VR that cannot have one.
    UndefinedLengthNotAllowed(Vr),
    /// A non-zero byte after trailing zero padding began.
    DataAfterPadding,
    /// The File Meta Information group is broken.
    Meta(String),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag {
            Some(tag) if tag.is_item_or_delimiter() => {
                write!(f, "item {tag} at offset {}: ", self.offset)?
            }
            Some(tag) => write!(f, "element {tag} at offset {}: ", self.offset)?,
            None => write!(f, "at offset {}: ", self.offset)?,
        }
        match &self.kind {
            MalformedKind::ValuePastEnd { length, end } => {
                write!(
                    f,
                    "value length {length} runs past end of data set at {end}"
                )
            }
            MalformedKind::HeaderTruncated { have, need } => write!(
                f,
                "data set ends inside a header ({have} of {need} header bytes present)"
            ),
            MalformedKind::Unterminated { end } => write!(
                f,
                "undefined-length value has no sequence delimiter before end of data set at {end}"
            ),
            MalformedKind::ExpectedItem => {
                write!(
                    f,
                    "expected an item (FFFE,E000) or sequence delimiter (FFFE,E0DD)"
                )
            }
            MalformedKind::UnexpectedDelimiter => {
                write!(f, "item or delimiter tag where a data element was expected")
            }
            MalformedKind::InvalidVr(vr) => write!(f, "invalid explicit VR {vr}"),
            MalformedKind::UndefinedLengthNotAllowed(vr) => {
                write!(f, "undefined length is not allowed for VR {vr}")
            }
            MalformedKind::DataAfterPadding => write!(
                f,
                "non-zero byte after trailing zero padding (only zeros may follow a zero header at top level)"
            ),
            MalformedKind::Meta(msg) => write!(f, "file meta information: {msg}"),
        }
    }
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_depth`](super::Limits::max_depth).
    MaxDepth,
    /// [`Limits::max_total_bytes`](super::Limits::max_total_bytes).
    MaxTotalBytes,
}

/// A configured limit was exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// Its configured value.
    pub max: u64,
    /// Byte offset at which it was exceeded.
    pub offset: u64,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit {
            Limit::MaxDepth => write!(
                f,
                "max_depth {} exceeded: sequence nesting deeper than that at offset {}",
                self.max, self.offset
            ),
            Limit::MaxTotalBytes => write!(
                f,
                "max_total_bytes {} exceeded: input runs past that at offset {}",
                self.max, self.offset
            ),
        }
    }
}

/// Input that is well-formed but cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// Deflated data sets are kept whole; their layout cannot be scanned.
    #[error("deflated transfer syntax: the data set is compressed as a whole and is kept whole")]
    Deflated,
}

impl std::error::Error for Malformed {}
impl std::error::Error for LimitExceeded {}
