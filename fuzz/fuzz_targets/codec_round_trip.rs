//! Any small volume (shape, bit depth, signedness and words from the input) comes back
//! bit for bit through the codec, with the built-in model (plane-major order) or with the
//! learned model's feature code and mixing over a null network (phase-major order, the
//! path of every learned model, without ONNX Runtime).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::codec::model::{FeatureRecorder, ModelFactory};
use strata::codec::{self, EncodeOptions, Limits, MsbvCodec, SampleFormat, VolumeView};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let dims = [
        1 + (data[0] % 4) as usize,
        1 + (data[1] % 9) as usize,
        1 + (data[2] % 9) as usize,
    ];
    let bits_stored = 1 + data[3] % 16;
    let format = SampleFormat {
        bits_allocated: if bits_stored <= 8 && data[4] & 1 == 0 {
            8
        } else {
            16
        },
        bits_stored,
        signed: data[4] & 2 != 0,
    };
    let n = dims.iter().product::<usize>();
    let body = &data[5..];
    let words: Vec<u16> = (0..n)
        .map(|i| {
            let lo = body.get(2 * i).copied().unwrap_or(0) as u16;
            let hi = body.get(2 * i + 1).copied().unwrap_or(0) as u16;
            let w = lo | hi << 8;
            if format.bits_allocated == 8 {
                w & 0xFF
            } else {
                w
            }
        })
        .collect();
    let view = VolumeView {
        dims,
        format,
        words: &words,
    };
    let opts = EncodeOptions {
        lsb_bits: Some(data[4] >> 4),
        chunk_slices: 2,
        msbv: Some(if data[4] & 4 == 0 {
            MsbvCodec::JpegLs
        } else {
            MsbvCodec::JpegXl { effort: 1 }
        }),
        threads: Some(1),
        ..EncodeOptions::default()
    };
    let builtin = codec::builtin_models();
    let learned_path = FeatureRecorder::new(u32::MAX);
    let model: &dyn ModelFactory = if data[4] & 8 == 0 {
        builtin[0]
    } else {
        &learned_path
    };
    let Ok(bytes) = codec::encode_with(&view, &opts, model) else {
        return;
    };
    let back = codec::decode_with(&bytes, &Limits::default(), &[model], Some(1))
        .expect("own output decodes");
    assert_eq!(back.words, words);
});
