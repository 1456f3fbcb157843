//! Arbitrary bytes never panic, under every transfer syntax.

use proptest::prelude::*;
use strata::dataset::{
    Limits, Scanner, TransferSyntax, cut_pixel_data, scan, splice, split_part10,
};

const SYNTAXES: [&str; 6] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.90",
    "9.9.9",
];

/// Bytes biased towards structure: tags of items and delimiters, VRs and
/// undefined lengths show up far more often than in uniform noise.
fn structured() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(vec![0xFE, 0xFF, 0x00, 0xE0]),
        Just(vec![0xFE, 0xFF, 0x0D, 0xE0]),
        Just(vec![0xFE, 0xFF, 0xDD, 0xE0]),
        Just(vec![0xFF, 0xFE, 0xE0, 0x00]),
        Just(vec![0xFF, 0xFF, 0xFF, 0xFF]),
        Just(vec![0, 0, 0, 0]),
        Just(b"SQ\0\0".to_vec()),
        Just(b"UN\0\0".to_vec()),
        Just(b"OB\0\0".to_vec()),
        Just(b"US\x02\0".to_vec()),
        Just(vec![0xE0, 0x7F, 0x10, 0x00]),
        Just(vec![0x02, 0x00, 0x10, 0x00]),
        Just(b"DICM".to_vec()),
    ];
    prop::collection::vec(atom, 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..600), structured()],
                    ts in 0..SYNTAXES.len(), chunk in 1usize..17, depth in 0usize..5) {
        let ts = TransferSyntax::from_uid(SYNTAXES[ts]);
        let limits = Limits { max_depth: depth, ..Limits::default() };
        let whole = scan(ts, &bytes, limits);
        let mut s = Scanner::new(ts, limits);
        let mut chunked = Ok(());
        for c in bytes.chunks(chunk) {
            if let Err(e) = s.feed(c) {
                chunked = Err(e);
                break;
            }
        }
        let chunked = chunked.and_then(|()| s.finish());
        prop_assert_eq!(&chunked, &whole);
        if let Ok(layout) = whole {
            let (head, pixel) = cut_pixel_data(&bytes, &layout).unwrap();
            prop_assert_eq!(splice(&head, pixel).unwrap(), bytes.clone());
        }
        let _ = split_part10(&bytes);
        let _ = TransferSyntax::sniff(&bytes);
    }

    #[test]
    fn size_limit_is_enforced(bytes in prop::collection::vec(any::<u8>(), 1..300), max in 0u64..300) {
        let limits = Limits { max_total_bytes: max, ..Limits::default() };
        let r = scan(TransferSyntax::ImplicitVrLittleEndian, &bytes, limits);
        if bytes.len() as u64 > max {
            prop_assert!(r.unwrap_err().to_string().contains("max_total_bytes"));
        }
    }
}
