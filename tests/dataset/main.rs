//! The data set byte-layout scanner on real files and on hand-made and
//! random bytes: layouts cover the input exactly, cut and splice give back
//! every byte, and no input makes it panic.

mod corpus;
mod fuzz;
mod handmade;
mod streaming;

use std::path::{Path, PathBuf};

/// The real test corpus (`make testdata`; `STRATA_TESTDATA` overrides).
fn corpus_root() -> PathBuf {
    let root = std::env::var_os("STRATA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".testdata/corpus"));
    assert!(
        root.join("pydicom").is_dir(),
        "test corpus missing at {}: run make testdata (or set STRATA_TESTDATA)",
        root.display()
    );
    root
}
