//! The container decoder on arbitrary bytes: never panics, never allocates past the
//! limits, and whatever it decodes has the header's shape and agrees slice by slice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_voxels: 1 << 16,
        max_decoder_memory: 1 << 24,
        max_chunks: 64,
    };
    let models = codec::builtin_models();
    if let Ok(volume) = codec::decode_with(data, &limits, &models, Some(1)) {
        let [z, y, x] = volume.dims;
        assert_eq!(volume.words.len(), z * y * x);
        for s in 0..z {
            let slice = codec::decode_slice(data, &limits, &models, s).expect("slice decodes");
            assert_eq!(slice, volume.words[s * y * x..(s + 1) * y * x]);
        }
    }
});
