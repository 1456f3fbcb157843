//! Shared helpers of the codec integration tests: corpus location and round trips.
#![allow(dead_code)]

use std::path::PathBuf;

use strata::codec::{self, EncodeOptions, Limits, MsbvCodec};
use strata::volume::{self, Volume};

/// The real test corpus: `$STRATA_TESTDATA`, else `<crate>/.testdata/corpus`.
/// Panics (the test fails) when it is absent: run `make testdata`.
pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("STRATA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".testdata/corpus"));
    assert!(
        dir.join("manifest.json").is_file(),
        "test corpus not found at {} (set STRATA_TESTDATA or run `make testdata`)",
        dir.display()
    );
    dir
}

/// Reads a corpus path.
pub fn load(rel: &str) -> Volume {
    let path = corpus().join(rel);
    volume::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Fast options that still exercise both halves: JPEG-LS MSBV and `d` LSBV planes.
pub fn fast_opts(d: u8) -> EncodeOptions {
    EncodeOptions {
        lsb_bits: Some(d),
        chunk_slices: 16,
        msbv: Some(MsbvCodec::JpegLs),
        threads: None,
        ..EncodeOptions::default()
    }
}

/// Encodes, decodes and asserts the words are identical; returns bits per voxel.
pub fn assert_round_trip(vol: &Volume, opts: &EncodeOptions) -> f64 {
    let bytes = codec::encode(&vol.view(), opts).expect("encode");
    let back = codec::decode(&bytes, &Limits::default(), None).expect("decode");
    assert_eq!(back.dims, vol.dims);
    assert_eq!(back.format, vol.format);
    let first_diff = back.words.iter().zip(&vol.words).position(|(a, b)| a != b);
    assert!(
        first_diff.is_none(),
        "first differing word at {first_diff:?}"
    );
    bytes.len() as f64 * 8.0 / vol.words.len() as f64
}
