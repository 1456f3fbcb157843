//! The sans-IO data set scanner: never panics, and gives the same layout (or the same
//! error) however the input is cut into chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::dataset::{Limits, Scanner, TransferSyntax, scan};

const SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.4.80",
];

fuzz_target!(|data: &[u8]| {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let syntax = TransferSyntax::from_uid(SYNTAXES[(head & 3) as usize]);
    let chunk = 1 + (head >> 2) as usize;
    let limits = Limits {
        max_depth: 16,
        max_total_bytes: 1 << 20,
    };
    let whole = scan(syntax, body, limits);
    let mut scanner = Scanner::new(syntax, limits);
    let mut failed = false;
    for piece in body.chunks(chunk) {
        if scanner.feed(piece).is_err() {
            failed = true;
            break;
        }
    }
    let chunked = if failed { None } else { scanner.finish().ok() };
    match (whole, chunked) {
        (Ok(a), Some(b)) => assert_eq!(a, b, "layout depends on chunking"),
        (Err(_), None) => {}
        (a, b) => panic!("whole: {:?}, chunked: {:?}", a.is_ok(), b.is_some()),
    }
});
