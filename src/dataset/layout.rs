//! The layout a scan reports: where each top-level element lies.

use std::ops::Range;

use super::{ByteOrder, Tag, TransferSyntax, Vr};

/// The length field of an element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// A defined length: the value is this many bytes after the header.
    Defined(u32),
    /// Undefined length (0xFFFFFFFF): the value is a sequence of items
    /// ended by a sequence delimitation item, which is part of the element.
    Undefined,
}

/// One item of an encapsulated pixel data value (PS3.5 A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the item tag.
    pub item_offset: u64,
    /// Offset of the item value (`item_offset + 8`).
    pub value_offset: u64,
    /// Item value length.
    pub length: u32,
}

impl Fragment {
    /// Byte range of the fragment value.
    pub fn value_range(&self) -> Range<u64> {
        self.value_offset..self.value_offset.saturating_add(u64::from(self.length))
    }
}

/// Items of an encapsulated (undefined-length) pixel data element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encapsulated {
    /// Every defined-length item directly in the value, in order: the first
    /// is the Basic Offset Table (possibly empty), the rest are fragments.
    pub items: Vec<Fragment>,
    /// Offset of the sequence delimitation item.
    pub delimiter_offset: u64,
}

impl Encapsulated {
    /// The Basic Offset Table item (the first item), if any.
    pub fn basic_offset_table(&self) -> Option<&Fragment> {
        self.items.first()
    }

    /// The fragments after the Basic Offset Table.
    pub fn fragments(&self) -> &[Fragment] {
        self.items.get(1..).unwrap_or(&[])
    }
}

/// Where one top-level data element lies in the scanned bytes.
///
/// All offsets are relative to the first byte given to the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementRange {
    /// The element tag.
    pub tag: Tag,
    /// The VR as read, for explicit VR syntaxes.
    pub vr: Option<Vr>,
    /// Offset of the first header byte.
    pub header_offset: u64,
    /// Header length: 8 or 12.
    pub header_len: u8,
    /// Offset of the first value byte (`header_offset + header_len`).
    pub value_offset: u64,
    /// The header's length field.
    pub length: Length,
    /// Offset one past the element's last byte (for undefined length: one
    /// past the sequence delimitation item).
    pub end: u64,
    /// For a pixel data tag with undefined length: its items.
    pub encapsulated: Option<Encapsulated>,
}

impl ElementRange {
    /// The whole element, header through end.
    pub fn range(&self) -> Range<u64> {
        self.header_offset..self.end
    }

    /// The value bytes (for undefined length: every item and the sequence
    /// delimiter).
    pub fn value_range(&self) -> Range<u64> {
        self.value_offset..self.end
    }

    /// The range the archive cuts out of a pixel data element: the value for
    /// native (defined-length) pixel data; header through sequence delimiter
    /// for encapsulated pixel data.
    pub fn cut_range(&self) -> Range<u64> {
        match self.length {
            Length::Defined(_) => self.value_range(),
            Length::Undefined => self.range(),
        }
    }

    /// Defined value length, if any.
    pub fn defined_length(&self) -> Option<u32> {
        match self.length {
            Length::Defined(n) => Some(n),
            Length::Undefined => None,
        }
    }
}

/// The top-level layout of a data set: its elements, contiguous and in
/// order, covering `0..len()` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub(crate) transfer_syntax: TransferSyntax,
    pub(crate) elements: Vec<ElementRange>,
    pub(crate) len: u64,
    pub(crate) trailing_padding: Option<Range<u64>>,
}

impl Layout {
    /// The transfer syntax the bytes were scanned with.
    pub fn transfer_syntax(&self) -> TransferSyntax {
        self.transfer_syntax
    }

    /// Top-level elements in byte order.
    pub fn elements(&self) -> &[ElementRange] {
        &self.elements
    }

    /// Zero bytes after the last element, up to the end of the input: some
    /// writers pad files with NULs. A top-level header of eight zero bytes
    /// starts it (fewer than eight at the end are a truncated header); the
    /// elements plus this range cover the input exactly.
    pub fn trailing_padding(&self) -> Option<Range<u64>> {
        self.trailing_padding.clone()
    }

    /// Number of bytes the layout covers.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the data set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first top-level element with this tag.
    pub fn element(&self, tag: Tag) -> Option<&ElementRange> {
        self.elements.iter().find(|e| e.tag == tag)
    }

    /// The top-level pixel data element: Pixel Data (7FE0,0010), else Float
    /// (7FE0,0008) or Double Float Pixel Data (7FE0,0009). Elements of the
    /// same tags nested in sequences (icon images) are never reported.
    pub fn pixel_data(&self) -> Option<&ElementRange> {
        self.element(Tag::PIXEL_DATA)
            .or_else(|| self.element(Tag::FLOAT_PIXEL_DATA))
            .or_else(|| self.element(Tag::DOUBLE_FLOAT_PIXEL_DATA))
    }

    /// The defined-length value bytes of a top-level element, out of the
    /// bytes this layout was scanned from.
    pub fn value<'a>(&self, bytes: &'a [u8], tag: Tag) -> Option<&'a [u8]> {
        let e = self.element(tag)?;
        e.defined_length()?;
        slice(bytes, e.value_range())
    }

    /// First value of a top-level US element (byte order of the syntax).
    pub fn read_us(&self, bytes: &[u8], tag: Tag) -> Option<u16> {
        let v = self.value(bytes, tag)?;
        let b: [u8; 2] = v.get(..2)?.try_into().ok()?;
        Some(match self.transfer_syntax.byte_order() {
            ByteOrder::Little => u16::from_le_bytes(b),
            ByteOrder::Big => u16::from_be_bytes(b),
        })
    }

    /// First value of a top-level IS element (space / NUL padding ignored).
    pub fn read_is(&self, bytes: &[u8], tag: Tag) -> Option<i64> {
        let v = self.value(bytes, tag)?;
        let first = v.split(|&b| b == b'\\').next()?;
        let s = std::str::from_utf8(first).ok()?;
        s.trim_matches([' ', '\0']).parse().ok()
    }
}

/// Slice `bytes` by a u64 range, `None` if out of bounds.
pub(crate) fn slice(bytes: &[u8], r: Range<u64>) -> Option<&[u8]> {
    let start = usize::try_from(r.start).ok()?;
    let end = usize::try_from(r.end).ok()?;
    bytes.get(start..end)
}
