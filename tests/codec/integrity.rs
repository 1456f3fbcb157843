//! Corruption, limits, determinism and slice access of the container.

use strata::codec::{
    self, CodecError, CorruptError, EncodeOptions, LimitError, Limits, MisuseError, MsbvCodec,
    SampleFormat, VolumeView, container,
};

const CT: SampleFormat = SampleFormat {
    bits_allocated: 16,
    bits_stored: 12,
    signed: false,
};
const DIMS: [usize; 3] = [7, 19, 23];

fn words() -> Vec<u16> {
    let mut s = 88172645463325252u64;
    (0..DIMS.iter().product::<usize>())
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((i % 23) * 40 + (i / 437) * 9 + (s % 17) as usize) as u16
        })
        .collect()
}

fn encoded(words: &[u16]) -> Vec<u8> {
    let opts = EncodeOptions {
        lsb_bits: Some(3),
        chunk_slices: 3,
        msbv: Some(MsbvCodec::JpegLs),
        threads: Some(1),
        ..EncodeOptions::default()
    };
    codec::encode(
        &VolumeView {
            dims: DIMS,
            format: CT,
            words,
        },
        &opts,
    )
    .unwrap()
}

#[test]
fn flipped_byte_in_each_chunk_names_the_chunk() {
    let w = words();
    let bytes = encoded(&w);
    let header = codec::read_header(&bytes, &Limits::default()).unwrap();
    assert_eq!(header.chunks.len(), 3);
    for (c, e) in header.chunks.iter().enumerate() {
        for at in [e.offset, e.offset + e.length / 2, e.offset + e.length - 1] {
            let mut bad = bytes.clone();
            bad[at as usize] ^= 0x10;
            match codec::decode(&bad, &Limits::default(), None) {
                Err(CodecError::Corrupt(CorruptError::PayloadChecksum { chunk, .. })) => {
                    assert_eq!(chunk, c)
                }
                Err(other) => panic!("chunk {c} offset {at}: expected a chunk error, got {other}"),
                Ok(_) => panic!("chunk {c} offset {at}: corruption not detected"),
            }
        }
    }
}

#[test]
fn every_single_byte_flip_is_an_error_or_harmless() {
    let w = words();
    let bytes = encoded(&w);
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0xA5;
        if let Ok(v) = codec::decode(&bad, &Limits::default(), Some(1)) {
            assert!(v.words == w, "byte {at}: wrong words returned silently");
        }
    }
}

#[test]
fn truncated_container_is_an_error() {
    let bytes = encoded(&words());
    for len in [
        0,
        5,
        50,
        container::HEADER_LEN + 10,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = codec::decode(&bytes[..len], &Limits::default(), None).unwrap_err();
        assert!(matches!(err, CodecError::Corrupt(_)), "len {len}: {err}");
    }
}

#[test]
fn flipped_header_byte_fails_the_header_checksum() {
    let mut bytes = encoded(&words());
    bytes[40] ^= 1;
    let err = codec::decode(&bytes, &Limits::default(), None).unwrap_err();
    assert!(
        matches!(err, CodecError::Corrupt(CorruptError::HeaderChecksum)),
        "{err}"
    );
}

#[test]
fn wrong_model_id_is_a_clear_error() {
    let bytes = encoded(&words());
    let mut header = codec::read_header(&bytes, &Limits::default()).unwrap();
    header.model = [0xAB; 32];
    let mut bad = header.to_bytes();
    bad.extend_from_slice(&bytes[header.encoded_len()..]);
    let err = codec::decode(&bad, &Limits::default(), None).unwrap_err();
    assert!(
        matches!(err, CodecError::Corrupt(CorruptError::UnknownModel(ref id)) if id.starts_with("abab")),
        "{err}"
    );
    assert!(err.to_string().contains("unknown LSBV model"), "{err}");
    let err = codec::decode_with(&bytes, &Limits::default(), &[], None).unwrap_err();
    assert!(
        matches!(err, CodecError::Corrupt(CorruptError::UnknownModel(_))),
        "{err}"
    );
}

#[test]
fn limits_are_checked_before_allocating() {
    let bytes = encoded(&words());
    let voxels = DIMS.iter().product::<usize>() as u64;
    let tight = Limits {
        max_voxels: voxels - 1,
        ..Limits::default()
    };
    let err = codec::decode(&bytes, &tight, None).unwrap_err();
    assert!(
        matches!(err, CodecError::Limit(LimitError::Voxels { .. })),
        "{err}"
    );
    let tight = Limits {
        max_decoder_memory: 1000,
        ..Limits::default()
    };
    let err = codec::decode(&bytes, &tight, None).unwrap_err();
    assert!(
        matches!(err, CodecError::Limit(LimitError::DecoderMemory { .. })),
        "{err}"
    );
    let tight = Limits {
        max_chunks: 2,
        ..Limits::default()
    };
    let err = codec::decode(&bytes, &tight, None).unwrap_err();
    assert!(
        matches!(err, CodecError::Limit(LimitError::Chunks { .. })),
        "{err}"
    );
}

#[test]
fn huge_declared_geometry_is_refused_not_allocated() {
    let bytes = encoded(&words());
    let mut header = codec::read_header(&bytes, &Limits::default()).unwrap();
    header.dims = [7, 1 << 30, 1 << 30];
    let bad = header.to_bytes();
    let err = codec::decode(&bad, &Limits::default(), None).unwrap_err();
    assert!(matches!(err, CodecError::Limit(_)), "{err}");
}

#[test]
fn encoding_is_deterministic_and_thread_count_free() {
    let w = words();
    let view = VolumeView {
        dims: DIMS,
        format: CT,
        words: &w,
    };
    let mk = |threads| EncodeOptions {
        lsb_bits: Some(4),
        chunk_slices: 2,
        msbv: Some(MsbvCodec::JpegXl { effort: 3 }),
        threads,
        ..EncodeOptions::default()
    };
    let a = codec::encode(&view, &mk(Some(1))).unwrap();
    let b = codec::encode(&view, &mk(Some(2))).unwrap();
    let c = codec::encode(&view, &mk(None)).unwrap();
    assert!(a == b && b == c, "encodings differ");
    let d1 = codec::decode(&a, &Limits::default(), Some(1)).unwrap();
    let d2 = codec::decode(&a, &Limits::default(), Some(2)).unwrap();
    assert_eq!(d1.words, w);
    assert_eq!(d1, d2);
}

#[test]
fn one_slice_decodes_alone() {
    let w = words();
    let bytes = encoded(&w);
    let hw = DIMS[1] * DIMS[2];
    let models = codec::builtin_models();
    for z in 0..DIMS[0] {
        let s = codec::decode_slice(&bytes, &Limits::default(), &models, z).unwrap();
        assert_eq!(s, &w[z * hw..(z + 1) * hw]);
    }
    let err = codec::decode_slice(&bytes, &Limits::default(), &models, DIMS[0]).unwrap_err();
    assert!(matches!(
        err,
        CodecError::Misuse(MisuseError::SliceOutOfRange { .. })
    ));
}

#[test]
fn misuse_is_reported() {
    let w = words();
    let view = VolumeView {
        dims: [1, 2, 3],
        format: CT,
        words: &w,
    };
    let err = codec::encode(&view, &EncodeOptions::default()).unwrap_err();
    assert!(matches!(
        err,
        CodecError::Misuse(MisuseError::BufferLength { .. })
    ));
    let bad = SampleFormat {
        bits_allocated: 12,
        bits_stored: 12,
        signed: false,
    };
    let view = VolumeView {
        dims: [1, 1, 1],
        format: bad,
        words: &w[..1],
    };
    assert!(matches!(
        codec::encode(&view, &EncodeOptions::default()),
        Err(CodecError::Misuse(_))
    ));
    let view = VolumeView {
        dims: [1, 2, 3],
        format: CT,
        words: &w[..6],
    };
    for jxl_effort in [0, 11] {
        let opts = EncodeOptions {
            jxl_effort,
            ..EncodeOptions::default()
        };
        let err = codec::encode(&view, &opts).unwrap_err();
        assert!(
            matches!(
                &err,
                CodecError::Misuse(MisuseError::Option {
                    name: "jxl_effort",
                    ..
                })
            ),
            "{err}"
        );
    }
}

/// Golden digest: any change to the encoder's output must be deliberate (and bump the
/// model id or container version if old files would no longer decode).
#[test]
fn golden_encoding_digest() {
    let bytes = encoded(&words());
    let digest = xxhash_rust::xxh3::xxh3_64(&bytes);
    eprintln!("golden digest {digest:#018x}, {} bytes", bytes.len());
    assert_eq!(digest, GOLDEN, "encoder output changed");
}

const GOLDEN: u64 = 0x376f_5af7_9b40_6047;

/// The sans-IO header parser asks for more bytes (Truncated) on every prefix of the header
/// and table, and accepts the header once they are complete.
#[test]
fn header_parser_fed_one_byte_at_a_time() {
    let bytes = encoded(&words());
    let full = codec::read_header(&bytes, &Limits::default()).unwrap();
    let need = full.encoded_len();
    for len in 0..need {
        let err = codec::read_header(&bytes[..len], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, CodecError::Corrupt(CorruptError::Truncated { .. })),
            "len {len}: {err}"
        );
    }
    let err = codec::read_header(&bytes[..need], &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::Corrupt(CorruptError::ChunkOutOfBounds { chunk: 0, .. })
        ),
        "{err}"
    );
}

#[test]
fn chunk_larger_than_the_volume_is_one_chunk() {
    let w = words();
    let opts = EncodeOptions {
        chunk_slices: u32::MAX as usize,
        ..EncodeOptions::default()
    };
    let bytes = codec::encode(
        &VolumeView {
            dims: DIMS,
            format: CT,
            words: &w,
        },
        &opts,
    )
    .unwrap();
    assert_eq!(
        codec::read_header(&bytes, &Limits::default())
            .unwrap()
            .chunks
            .len(),
        1
    );
    assert_eq!(
        codec::decode(&bytes, &Limits::default(), None)
            .unwrap()
            .words,
        w
    );
}
