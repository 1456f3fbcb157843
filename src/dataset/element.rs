//! Tags and value representations, as plain values.

use std::fmt;

/// A data element tag (group, element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u16, pub u16);

impl Tag {
    /// Pixel Data (7FE0,0010).
    pub const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
    /// Float Pixel Data (7FE0,0008).
    pub const FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0008);
    /// Double Float Pixel Data (7FE0,0009).
    pub const DOUBLE_FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0009);
    /// Item (FFFE,E000).
    pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
    /// Item Delimitation Item (FFFE,E00D).
    pub const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
    /// Sequence Delimitation Item (FFFE,E0DD).
    pub const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
    /// Samples per Pixel (0028,0002).
    pub const SAMPLES_PER_PIXEL: Tag = Tag(0x0028, 0x0002);
    /// Number of Frames (0028,0008).
    pub const NUMBER_OF_FRAMES: Tag = Tag(0x0028, 0x0008);
    /// Rows (0028,0010).
    pub const ROWS: Tag = Tag(0x0028, 0x0010);
    /// Columns (0028,0011).
    pub const COLUMNS: Tag = Tag(0x0028, 0x0011);
    /// Bits Allocated (0028,0100).
    pub const BITS_ALLOCATED: Tag = Tag(0x0028, 0x0100);

    /// Whether this is one of the three pixel data tags (7FE0,0008/0009/0010).
    pub fn is_pixel_data(self) -> bool {
        self == Tag::PIXEL_DATA
            || self == Tag::FLOAT_PIXEL_DATA
            || self == Tag::DOUBLE_FLOAT_PIXEL_DATA
    }

    /// Whether this is in group FFFE (items and delimiters, which never
    /// carry a VR).
    pub fn is_item_or_delimiter(self) -> bool {
        self.0 == 0xFFFE
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:04X},{:04X})", self.0, self.1)
    }
}

/// An explicit value representation, the two bytes as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vr(pub [u8; 2]);

const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];
const LONG_VRS: [&[u8; 2]; 13] = [
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
];

impl Vr {
    /// SQ.
    pub const SQ: Vr = Vr(*b"SQ");
    /// UN.
    pub const UN: Vr = Vr(*b"UN");

    /// Whether this is a VR of PS3.5 table 6.2-1.
    pub fn is_known(self) -> bool {
        SHORT_VRS.contains(&&self.0) || LONG_VRS.contains(&&self.0)
    }

    /// Whether the explicit VR header has 2 reserved bytes and a 4-byte
    /// length (PS3.5 7.1.2), rather than a 2-byte length.
    pub fn has_long_header(self) -> bool {
        LONG_VRS.contains(&&self.0)
    }

    /// Whether the VR may carry an undefined length (SQ, UN, and OB/OW for
    /// encapsulated pixel data).
    pub fn allows_undefined_length(self) -> bool {
        matches!(&self.0, b"SQ" | b"UN" | b"OB" | b"OW")
    }
}

impl fmt::Display for Vr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic()) {
            write!(f, "{}{}", self.0[0] as char, self.0[1] as char)
        } else {
            write!(f, "0x{:02X}{:02X}", self.0[0], self.0[1])
        }
    }
}
