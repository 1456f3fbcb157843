//! The Part-10 file front: preamble, "DICM", File Meta Information.

use std::ops::Range;

use super::error::{Error, Malformed, MalformedKind};
use super::{Tag, TransferSyntax, Vr};

/// Where the parts of a Part-10 file lie (PS3.10 7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10 {
    /// Whether a 128-byte preamble precedes "DICM".
    pub preamble: bool,
    /// Whether the "DICM" prefix is present.
    pub magic: bool,
    /// Byte range of the File Meta Information elements (group 0002), if any.
    pub meta: Option<Range<usize>>,
    /// The (0002,0000) File Meta Information Group Length value, if present.
    pub group_length: Option<u32>,
    /// Whether that group length agrees with the group 0002 elements found
    /// (`None` when there is no group length). The meta range always ends
    /// after the last (0002,xxxx) element, whatever the group length says.
    pub group_length_matches: Option<bool>,
    /// (0002,0010) Transfer Syntax UID, trailing NUL / space removed.
    pub transfer_syntax_uid: Option<String>,
    /// (0002,0002) Media Storage SOP Class UID.
    pub media_storage_sop_class_uid: Option<String>,
    /// (0002,0003) Media Storage SOP Instance UID.
    pub media_storage_sop_instance_uid: Option<String>,
    /// Offset of the first data set byte.
    pub data_set_offset: usize,
}

impl Part10 {
    /// The transfer syntax named in the meta, if any.
    pub fn transfer_syntax(&self) -> Option<TransferSyntax> {
        self.transfer_syntax_uid
            .as_deref()
            .map(TransferSyntax::from_uid)
    }
}

fn meta_error(offset: usize, tag: Option<Tag>, msg: String) -> Error {
    Malformed {
        offset: offset as u64,
        tag,
        kind: MalformedKind::Meta(msg),
    }
    .into()
}

fn uid(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

/// Split a Part-10 file (or a bare data set) into its front and data set.
///
/// Accepts: 128-byte preamble + "DICM" + meta; "DICM" + meta; meta
/// directly (first tag in group 0002); or no meta at all (`meta: None`,
/// data set at 0). The meta is always explicit VR little endian.
pub fn split_part10(bytes: &[u8]) -> Result<Part10, Error> {
    let (preamble, magic, start) = if bytes.get(128..132) == Some(b"DICM") {
        (true, true, 132)
    } else if bytes.get(..4) == Some(b"DICM") {
        (false, true, 4)
    } else {
        (false, false, 0)
    };
    let mut part = Part10 {
        preamble,
        magic,
        meta: None,
        group_length: None,
        group_length_matches: None,
        transfer_syntax_uid: None,
        media_storage_sop_class_uid: None,
        media_storage_sop_instance_uid: None,
        data_set_offset: start,
    };
    let mut pos = start;
    let mut group_length_end = None;
    while let Some(h) = bytes.get(pos..pos.saturating_add(8)) {
        let tag = Tag(
            u16::from_le_bytes([h[0], h[1]]),
            u16::from_le_bytes([h[2], h[3]]),
        );
        let vr = Vr([h[4], h[5]]);
        if tag.0 != 0x0002 || (!magic && pos == start && !vr.is_known()) {
            break;
        }
        if !vr.is_known() {
            return Err(meta_error(
                pos,
                Some(tag),
                format!("invalid VR {vr} (the meta is explicit VR little endian)"),
            ));
        }
        let (header_len, length) = if vr.has_long_header() {
            let Some(l) = bytes.get(pos + 8..pos + 12) else {
                return Err(meta_error(
                    pos,
                    Some(tag),
                    "file ends inside the element header".into(),
                ));
            };
            (12, u32::from_le_bytes([l[0], l[1], l[2], l[3]]))
        } else {
            (8, u32::from(u16::from_le_bytes([h[6], h[7]])))
        };
        if length == u32::MAX {
            return Err(meta_error(
                pos,
                Some(tag),
                "undefined length in the meta".into(),
            ));
        }
        let value_start = pos + header_len;
        let value_end = value_start.checked_add(length as usize);
        let Some(value) = value_end.and_then(|e| bytes.get(value_start..e)) else {
            return Err(meta_error(
                pos,
                Some(tag),
                format!(
                    "value length {length} runs past end of file at {}",
                    bytes.len()
                ),
            ));
        };
        let value_end = value_start + value.len();
        match tag.1 {
            0x0000 if value.len() == 4 => {
                let g = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                part.group_length = Some(g);
                group_length_end = value_end.checked_add(g as usize);
            }
            0x0002 => part.media_storage_sop_class_uid = Some(uid(value)),
            0x0003 => part.media_storage_sop_instance_uid = Some(uid(value)),
            0x0010 => part.transfer_syntax_uid = Some(uid(value)),
            _ => {}
        }
        pos = value_end;
    }
    if pos > start {
        part.meta = Some(start..pos);
        part.group_length_matches = part.group_length.map(|_| group_length_end == Some(pos));
    }
    part.data_set_offset = pos;
    Ok(part)
}
