//! Property tests: random shapes (1x1xN, odd sizes), bit depths 1-16, signedness, splits.

use proptest::prelude::*;
use strata::codec::{self, EncodeOptions, Limits, MsbvCodec, SampleFormat, VolumeView};

fn volume_strategy() -> impl Strategy<Value = ([usize; 3], SampleFormat, Vec<u16>, u8, usize)> {
    (
        1usize..5,
        1usize..12,
        1usize..12,
        prop::bool::ANY,
        1u8..=16,
        prop::bool::ANY,
        0u8..17,
        1usize..4,
    )
        .prop_flat_map(|(z, y, x, wide, bits, signed, d, k)| {
            let alloc = if wide { 16 } else { 8 };
            let stored = bits.min(alloc);
            let format = SampleFormat {
                bits_allocated: alloc,
                bits_stored: stored,
                signed,
            };
            let mask: u16 = if alloc == 8 { 0xFF } else { 0xFFFF };
            // Mostly in-range words, sometimes any bit pattern (garbage above Bits Stored).
            let word = prop_oneof![
                4 => (0u16..=u16::MAX).prop_map(move |w| w & (((1u32 << stored) - 1) as u16)),
                1 => (0u16..=u16::MAX).prop_map(move |w| w & mask),
            ];
            (
                Just([z, y, x]),
                Just(format),
                prop::collection::vec(word, z * y * x),
                Just(d),
                Just(k),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_any_volume((dims, format, words, d, k) in volume_strategy(), jls in prop::bool::ANY) {
        let msbv = if jls { MsbvCodec::JpegLs } else { MsbvCodec::JpegXl { effort: 1 } };
        let opts = EncodeOptions { lsb_bits: Some(d), chunk_slices: k, msbv: Some(msbv), threads: None, ..EncodeOptions::default() };
        let view = VolumeView { dims, format, words: &words };
        let bytes = codec::encode(&view, &opts).unwrap();
        let back = codec::decode(&bytes, &Limits::default(), None).unwrap();
        prop_assert_eq!(back.words, words);
        prop_assert_eq!(back.dims, dims);
    }

    #[test]
    fn one_by_one_columns_round_trip(n in 1usize..40, seed in 0u16..u16::MAX) {
        let words: Vec<u16> = (0..n as u16).map(|i| i.wrapping_mul(seed) ^ seed).collect();
        let format = SampleFormat { bits_allocated: 16, bits_stored: 16, signed: true };
        let view = VolumeView { dims: [n, 1, 1], format, words: &words };
        let bytes = codec::encode(&view, &EncodeOptions::default()).unwrap();
        prop_assert_eq!(codec::decode(&bytes, &Limits::default(), None).unwrap().words, words);
    }
}
