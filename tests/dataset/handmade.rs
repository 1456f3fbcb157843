//! Hand-built data sets for structures the corpus may lack.

use strata::dataset::{
    Length, Limits, Scanner, Tag, TransferSyntax, Vr, cut_pixel_data, scan, splice,
};

const UNDEFINED: u32 = u32::MAX;

/// Minimal encoder for test bytes: explicit or implicit VR little endian.
struct Enc {
    explicit: bool,
    out: Vec<u8>,
}

impl Enc {
    fn new(explicit: bool) -> Enc {
        Enc {
            explicit,
            out: Vec::new(),
        }
    }
    fn tag(&mut self, t: Tag) {
        self.out.extend(t.0.to_le_bytes());
        self.out.extend(t.1.to_le_bytes());
    }
    fn el(&mut self, t: Tag, vr: &[u8; 2], value: &[u8]) -> &mut Self {
        self.header(t, vr, value.len() as u32);
        self.out.extend(value);
        self
    }
    fn header(&mut self, t: Tag, vr: &[u8; 2], len: u32) -> &mut Self {
        self.tag(t);
        if self.explicit {
            self.out.extend(vr);
            if Vr(*vr).has_long_header() {
                self.out.extend([0, 0]);
                self.out.extend(len.to_le_bytes());
            } else {
                self.out.extend((len as u16).to_le_bytes());
            }
        } else {
            self.out.extend(len.to_le_bytes());
        }
        self
    }
    fn item(&mut self, t: Tag, len: u32) -> &mut Self {
        self.tag(t);
        self.out.extend(len.to_le_bytes());
        self
    }
}

const ICON_IMAGE_SEQUENCE: Tag = Tag(0x0088, 0x0200);

/// Rows 2 / Columns 2 at top level, an Icon Image Sequence whose item holds
/// its own Rows / Columns / Pixel Data, then the real Pixel Data.
fn with_icon(explicit: bool, sequence_undefined: bool) -> Vec<u8> {
    let mut icon = Enc::new(explicit);
    icon.el(Tag::ROWS, b"US", &1u16.to_le_bytes())
        .el(Tag::COLUMNS, b"US", &1u16.to_le_bytes())
        .el(Tag::PIXEL_DATA, b"OB", &[0xAA, 0xAA]);
    let mut e = Enc::new(explicit);
    e.el(Tag::ROWS, b"US", &2u16.to_le_bytes())
        .el(Tag::COLUMNS, b"US", &2u16.to_le_bytes());
    if sequence_undefined {
        e.header(ICON_IMAGE_SEQUENCE, b"SQ", UNDEFINED)
            .item(Tag::ITEM, UNDEFINED);
        e.out.extend(&icon.out);
        e.item(Tag::ITEM_DELIMITER, 0)
            .item(Tag::SEQUENCE_DELIMITER, 0);
    } else {
        let item_len = icon.out.len() as u32;
        e.header(ICON_IMAGE_SEQUENCE, b"SQ", item_len + 8)
            .item(Tag::ITEM, item_len);
        e.out.extend(&icon.out);
    }
    e.el(Tag::PIXEL_DATA, b"OW", &[1, 2, 3, 4, 5, 6, 7, 8]);
    e.out
}

#[test]
fn icon_image_pixel_data_is_not_the_top_level_one() {
    for explicit in [true, false] {
        for sequence_undefined in [true, false] {
            let ds = with_icon(explicit, sequence_undefined);
            let ts = if explicit {
                TransferSyntax::ExplicitVrLittleEndian
            } else {
                TransferSyntax::ImplicitVrLittleEndian
            };
            let layout = scan(ts, &ds, Limits::default()).unwrap();
            let tags: Vec<Tag> = layout.elements().iter().map(|e| e.tag).collect();
            assert_eq!(
                tags,
                [
                    Tag::ROWS,
                    Tag::COLUMNS,
                    ICON_IMAGE_SEQUENCE,
                    Tag::PIXEL_DATA
                ]
            );
            let px = layout.pixel_data().unwrap();
            assert_eq!(px.length, Length::Defined(8));
            assert_eq!(px.end, ds.len() as u64);
            let (head, pixel) = cut_pixel_data(&ds, &layout).unwrap();
            assert_eq!(pixel, [1, 2, 3, 4, 5, 6, 7, 8]);
            assert_eq!(splice(&head, pixel).unwrap(), ds);
            assert_eq!(layout.read_us(&ds, Tag::ROWS), Some(2));
        }
    }
}

#[test]
fn encapsulated_pixel_data_after_icon_lists_its_fragments() {
    let mut e = Enc::new(true);
    e.out.extend(with_icon(true, true));
    // Drop the native top-level Pixel Data (12 + 8 bytes) and add an
    // encapsulated one: empty offset table, two fragments.
    e.out.truncate(e.out.len() - 20);
    let start = e.out.len() as u64;
    e.header(Tag::PIXEL_DATA, b"OB", UNDEFINED)
        .item(Tag::ITEM, 0);
    e.item(Tag::ITEM, 4);
    e.out.extend([0xFE, 0xFF, 0xDD, 0xE0]); // a delimiter look-alike inside a fragment
    e.item(Tag::ITEM, 2);
    e.out.extend([9, 9]);
    e.item(Tag::SEQUENCE_DELIMITER, 0);
    e.el(Tag(0xFFFC, 0xFFFC), b"OB", &[0, 0]); // trailing padding element
    let ts = TransferSyntax::from_uid("1.2.840.10008.1.2.4.90");
    let layout = scan(ts, &e.out, Limits::default()).unwrap();
    let px = layout.pixel_data().unwrap();
    assert_eq!(px.header_offset, start);
    let enc = px.encapsulated.as_ref().unwrap();
    assert_eq!(enc.basic_offset_table().unwrap().length, 0);
    let frags: Vec<_> = enc
        .fragments()
        .iter()
        .map(|f| (f.value_offset - start, f.length))
        .collect();
    assert_eq!(frags, [(12 + 8 + 8, 4), (12 + 8 + 8 + 4 + 8, 2)]);
    assert_eq!(enc.delimiter_offset + 8, px.end);
    assert_eq!(px.cut_range(), start..px.end);
    let (head, pixel) = cut_pixel_data(&e.out, &layout).unwrap();
    assert_eq!(splice(&head, pixel).unwrap(), e.out);
    assert_eq!(layout.elements().last().unwrap().tag, Tag(0xFFFC, 0xFFFC));
}

#[test]
fn float_pixel_data_is_reported() {
    let mut e = Enc::new(true);
    e.el(Tag::ROWS, b"US", &1u16.to_le_bytes());
    e.header(Tag::FLOAT_PIXEL_DATA, b"OF", 4);
    e.out.extend(1.0f32.to_le_bytes());
    let layout = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &e.out,
        Limits::default(),
    )
    .unwrap();
    assert_eq!(layout.pixel_data().unwrap().tag, Tag::FLOAT_PIXEL_DATA);
}

#[test]
fn trailing_zero_padding_is_covered_and_must_stay_zero() {
    let mut ds = with_icon(true, true);
    let len = ds.len() as u64;
    ds.extend([0u8; 21]);
    let layout = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap();
    assert_eq!(layout.trailing_padding(), Some(len..len + 21));
    ds.push(1);
    let err = scan(
        TransferSyntax::ExplicitVrLittleEndian,
        &ds,
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!("at offset {}", len + 21)),
        "{err}"
    );
}

#[test]
fn scanner_reports_elements_as_they_complete() {
    let ds = with_icon(true, true);
    let mut s = Scanner::new(TransferSyntax::ExplicitVrLittleEndian, Limits::default());
    let mut seen = Vec::new();
    for b in &ds {
        let pos = s.position() + 1;
        let done = s.feed(std::slice::from_ref(b)).unwrap();
        seen.extend(done.iter().map(|e| (e.tag, pos)));
    }
    assert!(s.at_boundary());
    assert_eq!(seen.len(), 4);
    for (tag, pos) in &seen {
        let e = s.elements().iter().find(|e| e.tag == *tag).unwrap();
        assert_eq!(
            e.end, *pos,
            "{tag} reported as soon as its last byte arrived"
        );
    }
    assert_eq!(s.finish().unwrap().len(), ds.len() as u64);
}
