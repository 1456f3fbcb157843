//! Unit tests on hand-built bytes.

use super::*;

fn el_le(tag: Tag, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&tag.0.to_le_bytes());
    b.extend_from_slice(&tag.1.to_le_bytes());
    b.extend_from_slice(vr);
    if Vr(*vr).has_long_header() {
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        b.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    b.extend_from_slice(value);
    b
}

fn item_le(tag: Tag, len: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&tag.0.to_le_bytes());
    b.extend_from_slice(&tag.1.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b
}

#[test]
fn explicit_le_short_and_long_headers() {
    let mut ds = el_le(Tag(0x0010, 0x0010), b"PN", b"Doe^J ");
    ds.extend(el_le(Tag::PIXEL_DATA, b"OW", &[1, 2, 3, 4]));
    let layout = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap();
    let e = layout.elements();
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].header_len, e[0].value_offset, e[0].end), (8, 8, 14));
    assert_eq!(e[1].header_len, 12);
    assert_eq!(layout.pixel_data().unwrap().cut_range(), 26..30);
    assert_eq!(layout.len(), ds.len() as u64);
}

#[test]
fn big_endian_tags_and_lengths() {
    let ds = [0x00, 0x28, 0x00, 0x10, b'U', b'S', 0x00, 0x02, 0x01, 0x00];
    let layout = scan(TransferSyntax::ExplicitVrBigEndian, &ds, Limits::default()).unwrap();
    assert_eq!(layout.elements()[0].tag, Tag::ROWS);
    assert_eq!(layout.read_us(&ds, Tag::ROWS), Some(256));
}

#[test]
fn implicit_undefined_length_sequence_is_walked() {
    // (0008,1140) undefined length, one undefined-length item holding an
    // element, then a second item with defined length, then the delimiter.
    let mut ds = Vec::new();
    ds.extend(item_le(Tag(0x0008, 0x1140), u32::MAX));
    ds.extend(item_le(Tag::ITEM, u32::MAX));
    ds.extend(item_le(Tag(0x0008, 0x1150), 4));
    ds.extend(b"1.2\0");
    ds.extend(item_le(Tag::ITEM_DELIMITER, 0));
    ds.extend(item_le(Tag::ITEM, 4));
    ds.extend([0xFE, 0xFF, 0xDD, 0xE0]); // looks like a delimiter, is item value
    ds.extend(item_le(Tag::SEQUENCE_DELIMITER, 0));
    ds.extend(item_le(Tag(0x0010, 0x0010), 2));
    ds.extend(b"A ");
    let layout = scan(
        TransferSyntax::ImplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap();
    let e = layout.elements();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].length, Length::Undefined);
    assert_eq!(e[0].end, e[1].header_offset);
    assert_eq!(e[1].end, ds.len() as u64);
}

#[test]
fn un_with_undefined_length_is_implicit_inside() {
    let mut ds = Vec::new();
    ds.extend_from_slice(&[0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0]);
    ds.extend(u32::MAX.to_le_bytes());
    ds.extend(item_le(Tag::ITEM, u32::MAX));
    ds.extend(item_le(Tag(0x0009, 0x1011), 2)); // implicit inside
    ds.extend(b"AB");
    ds.extend(item_le(Tag::ITEM_DELIMITER, 0));
    ds.extend(item_le(Tag::SEQUENCE_DELIMITER, 0));
    let layout = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap();
    assert_eq!(layout.elements().len(), 1);
    assert_eq!(layout.elements()[0].end, ds.len() as u64);
}

#[test]
fn truncated_value_names_element_offset_and_end() {
    let mut ds = el_le(Tag(0x0008, 0x0060), b"CS", b"MR");
    ds.extend(el_le(Tag(0x0010, 0x0010), b"PN", b"Doe^John"));
    ds.truncate(ds.len() - 3);
    let err = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed data set: element (0010,0010) at offset 10: value length 8 runs past end of data set at 23"
    );
}

#[test]
fn truncated_header_and_unterminated_sequence() {
    let ds = el_le(Tag(0x0008, 0x0060), b"CS", b"MR");
    let err = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds[..5],
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Malformed(Malformed {
            offset: 0,
            kind: MalformedKind::HeaderTruncated { have: 5, need: 8 },
            ..
        })
    ));
    let mut sq = el_le(Tag(0x0008, 0x1140), b"SQ", &[]);
    sq.truncate(8);
    sq.extend(u32::MAX.to_le_bytes());
    let err = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &sq,
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("element (0008,1140) at offset 0: undefined-length value"),
        "{err}"
    );
}

#[test]
fn depth_and_size_limits() {
    let mut ds = Vec::new();
    for _ in 0..3 {
        ds.extend(item_le(Tag(0x0008, 0x1140), u32::MAX));
        ds.extend(item_le(Tag::ITEM, u32::MAX));
    }
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let err = scan(TransferSyntax::ImplicitVrLittleEndian, &ds, limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded(LimitExceeded {
                limit: Limit::MaxDepth,
                max: 2,
                offset: 32
            })
        ),
        "{err}"
    );
    let limits = Limits {
        max_total_bytes: 10,
        ..Limits::default()
    };
    let err = scan(TransferSyntax::ImplicitVrLittleEndian, &ds, limits).unwrap_err();
    assert!(err.to_string().contains("max_total_bytes 10"), "{err}");
}

#[test]
fn deflated_is_unsupported() {
    let err = scan(
        TransferSyntax::DeflatedExplicitVrLittleEndian,
        &[],
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err, Error::Unsupported(Unsupported::Deflated));
}

#[test]
fn invalid_vr_and_stray_delimiter() {
    let ds = [0x08, 0x00, 0x60, 0x00, b'z', b'z', 0, 0];
    let err = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Malformed(Malformed {
            kind: MalformedKind::InvalidVr(_),
            ..
        })
    ));
    let ds = item_le(Tag::ITEM_DELIMITER, 0);
    let err = scan(
        TransferSyntax::ImplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Malformed(Malformed {
            kind: MalformedKind::UnexpectedDelimiter,
            ..
        })
    ));
}

#[test]
fn part10_front_variants() {
    let meta_el = el_le(Tag(0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2\0");
    let mut gl = el_le(
        Tag(0x0002, 0x0000),
        b"UL",
        &(meta_el.len() as u32).to_le_bytes(),
    );
    gl.extend(&meta_el);
    let body = item_le(Tag(0x0008, 0x0060), 2);
    let mut file = vec![0u8; 128];
    file.extend(b"DICM");
    file.extend(&gl);
    file.extend(&body);
    let p = split_part10(&file).unwrap();
    assert!(p.preamble && p.magic);
    assert_eq!(p.meta, Some(132..132 + gl.len()));
    assert_eq!(p.group_length_matches, Some(true));
    assert_eq!(p.transfer_syntax_uid.as_deref(), Some("1.2.840.10008.1.2"));
    assert_eq!(p.data_set_offset, 132 + gl.len());
    // No preamble, no magic: starts with group 0002.
    let p = split_part10(&gl).unwrap();
    assert_eq!(
        (p.preamble, p.magic, p.meta.clone()),
        (false, false, Some(0..gl.len()))
    );
    // No meta at all.
    let p = split_part10(&body).unwrap();
    assert_eq!((p.meta, p.data_set_offset), (None, 0));
    // A group length that disagrees: the elements decide, the flag tells.
    let mut wrong = el_le(Tag(0x0002, 0x0000), b"UL", &7u32.to_le_bytes());
    wrong.extend(&meta_el);
    wrong.extend(&body);
    let p = split_part10(&wrong).unwrap();
    assert_eq!(
        (p.group_length, p.group_length_matches),
        (Some(7), Some(false))
    );
    assert_eq!(p.data_set_offset, wrong.len() - body.len());
    // Truncated meta element.
    assert!(split_part10(&file[..140]).is_err());
}

#[test]
fn splice_refuses_other_length_and_other_layout() {
    let ds = el_le(Tag::PIXEL_DATA, b"OB", &[1, 2]);
    let layout = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap();
    let (head, pixel) = cut_pixel_data(&ds, &layout).unwrap();
    assert_eq!(pixel, &[1, 2]);
    assert!(splice(&head, &[1]).is_err());
    assert_eq!(splice(&head, pixel).unwrap(), ds);
    assert!(cut_pixel_data(&ds[..3], &layout).is_err());
}
