//! Transfer syntax UIDs mapped onto the byte layout they imply.

/// Byte order of tags, lengths and binary values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little endian.
    Little,
    /// Big endian (retired Explicit VR Big Endian only).
    Big,
}

/// The data set byte layout a transfer syntax implies (PS3.5 10, A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferSyntax {
    /// 1.2.840.10008.1.2
    ImplicitVrLittleEndian,
    /// 1.2.840.10008.1.2.1 (and other known native explicit LE syntaxes).
    ExplicitVrLittleEndian,
    /// 1.2.840.10008.1.2.2 (retired).
    ExplicitVrBigEndian,
    /// 1.2.840.10008.1.2.1.99 (and 1.2.840.10008.1.2.4.95): the data set after
    /// the File Meta Information is raw-deflated; it cannot be scanned and is
    /// kept whole by the caller.
    DeflatedExplicitVrLittleEndian,
    /// Explicit VR Little Endian with encapsulated Pixel Data (fragments).
    ///
    /// `known: false` for a UID this module does not recognise: PS3.5 10.1
    /// says every transfer syntax other than the default is explicit VR
    /// little endian, so that is how it is scanned.
    Encapsulated {
        /// Whether the UID is one this module recognises.
        known: bool,
    },
}

impl TransferSyntax {
    /// Map a Transfer Syntax UID (trailing NUL / space padding ignored).
    pub fn from_uid(uid: &str) -> TransferSyntax {
        let uid = uid.trim_end_matches(['\0', ' ']);
        match uid {
            "1.2.840.10008.1.2" => TransferSyntax::ImplicitVrLittleEndian,
            "1.2.840.10008.1.2.1" => TransferSyntax::ExplicitVrLittleEndian,
            "1.2.840.10008.1.2.2" => TransferSyntax::ExplicitVrBigEndian,
            "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => {
                TransferSyntax::DeflatedExplicitVrLittleEndian
            }
            // JPIP Referenced (pixel data by reference) and SMPTE ST 2110
            // syntaxes: explicit VR LE without encapsulated pixel data.
            "1.2.840.10008.1.2.4.94"
            | "1.2.840.10008.1.2.7.1"
            | "1.2.840.10008.1.2.7.2"
            | "1.2.840.10008.1.2.7.3" => TransferSyntax::ExplicitVrLittleEndian,
            _ => TransferSyntax::Encapsulated {
                known: is_known_encapsulated(uid),
            },
        }
    }

    /// Whether the UID this came from was recognised.
    pub fn is_known(self) -> bool {
        !matches!(self, TransferSyntax::Encapsulated { known: false })
    }

    /// Byte order of the data set.
    pub fn byte_order(self) -> ByteOrder {
        match self {
            TransferSyntax::ExplicitVrBigEndian => ByteOrder::Big,
            _ => ByteOrder::Little,
        }
    }

    /// Whether data elements carry an explicit VR.
    pub fn explicit_vr(self) -> bool {
        !matches!(self, TransferSyntax::ImplicitVrLittleEndian)
    }

    /// Whether Pixel Data is expected to be encapsulated (fragments).
    pub fn is_encapsulated(self) -> bool {
        matches!(self, TransferSyntax::Encapsulated { .. })
    }

    /// Whether the data set is deflated (not scannable).
    pub fn is_deflated(self) -> bool {
        matches!(self, TransferSyntax::DeflatedExplicitVrLittleEndian)
    }

    /// Guess the layout of a data set that came without File Meta
    /// Information, from its first element header: explicit if bytes 4..6
    /// are a known VR, little endian if the group number reads smaller that
    /// way. A heuristic for files only; `None` when nothing fits (including
    /// implicit VR big endian, which no standard syntax uses).
    pub fn sniff(data_set: &[u8]) -> Option<TransferSyntax> {
        let head = data_set.get(..8)?;
        let le = u16::from_le_bytes([head[0], head[1]]);
        let be = u16::from_be_bytes([head[0], head[1]]);
        let explicit = crate::dataset::Vr([head[4], head[5]]).is_known();
        let little = le <= be;
        match (explicit, little) {
            (true, true) => Some(TransferSyntax::ExplicitVrLittleEndian),
            (true, false) => Some(TransferSyntax::ExplicitVrBigEndian),
            (false, true) => Some(TransferSyntax::ImplicitVrLittleEndian),
            (false, false) => None,
        }
    }
}

fn is_known_encapsulated(uid: &str) -> bool {
    const PREFIX_JPEG: &str = "1.2.840.10008.1.2.4.";
    if uid == "1.2.840.10008.1.2.5" // RLE Lossless
        || uid == "1.2.840.10008.1.2.1.98" // Encapsulated Uncompressed Explicit VR LE
        || uid == "1.2.840.10008.1.2.8.1"
    // Deflated Image Frame Compression
    {
        return true;
    }
    let Some(rest) = uid.strip_prefix(PREFIX_JPEG) else {
        return false;
    };
    let Ok(n) = rest.parse::<u16>() else {
        return false;
    };
    // Keep "rest" canonical (no leading zeros / signs) so that the number
    // really is the UID component.
    if rest != n.to_string() {
        return false;
    }
    matches!(n,
        50..=57 | 58..=66 | 70 // JPEG baseline, extended, lossless (incl. retired)
        | 80 | 81 // JPEG-LS
        | 90..=93 // JPEG 2000 (incl. Part 2 multi-component)
        | 100..=108 // MPEG-2, MPEG-4, HEVC
        | 110..=112 // JPEG XL
        | 201..=204 // HTJ2K
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_uids() {
        use TransferSyntax::*;
        assert_eq!(
            TransferSyntax::from_uid("1.2.840.10008.1.2\0"),
            ImplicitVrLittleEndian
        );
        assert_eq!(
            TransferSyntax::from_uid("1.2.840.10008.1.2.1 "),
            ExplicitVrLittleEndian
        );
        assert_eq!(
            TransferSyntax::from_uid("1.2.840.10008.1.2.2"),
            ExplicitVrBigEndian
        );
        assert_eq!(
            TransferSyntax::from_uid("1.2.840.10008.1.2.1.99"),
            DeflatedExplicitVrLittleEndian
        );
        for known in [
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.51",
            "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.81",
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.100",
            "1.2.840.10008.1.2.4.108",
            "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.203",
            "1.2.840.10008.1.2.5",
        ] {
            assert_eq!(
                TransferSyntax::from_uid(known),
                Encapsulated { known: true },
                "{known}"
            );
        }
        for unknown in [
            "1.2.3.4",
            "1.2.840.10008.1.2.4.050",
            "1.2.840.10008.1.2.4.",
            "",
        ] {
            let ts = TransferSyntax::from_uid(unknown);
            assert_eq!(ts, Encapsulated { known: false }, "{unknown:?}");
            assert!(!ts.is_known());
            assert!(ts.explicit_vr());
            assert_eq!(ts.byte_order(), ByteOrder::Little);
        }
    }
}
