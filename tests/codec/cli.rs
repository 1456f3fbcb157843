//! The real `strata` binary in a fresh directory: compress, info, decompress to .npy and
//! NIfTI, and the words read back unchanged.

use std::path::PathBuf;
use std::process::Command;

use sha2::Digest;

use strata::codec::SampleFormat;
use strata::volume::{self, Volume};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn strata(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "strata {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compress_info_decompress_round_trip() {
    let dir = fresh_dir("rt");
    let dims = [5, 17, 13];
    let format = SampleFormat {
        bits_allocated: 16,
        bits_stored: 12,
        signed: true,
    };
    let words = (0..dims.iter().product::<usize>())
        .map(|i| ((i * 37) % 3000) as u16 ^ 0x8000)
        .collect();
    let vol = Volume {
        dims,
        format,
        words,
    };
    let (npy, packed, back, nii) = (
        dir.join("in.npy"),
        dir.join("v.strata"),
        dir.join("out.npy"),
        dir.join("out.nii.gz"),
    );
    volume::npy::write(&npy, &vol).unwrap();
    strata(&["compress".as_ref(), npy.as_os_str(), packed.as_os_str()]);
    let info = strata(&["info".as_ref(), packed.as_os_str()]);
    assert!(info.contains("5 slices x 17 rows x 13 columns"), "{info}");
    strata(&["decompress".as_ref(), packed.as_os_str(), back.as_os_str()]);
    strata(&["decompress".as_ref(), packed.as_os_str(), nii.as_os_str()]);
    for out in [back, nii] {
        let read = volume::read(&out).unwrap();
        assert_eq!(read.dims, vol.dims);
        assert_eq!(read.words, vol.words, "{}", out.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_input_is_a_failure_with_a_message() {
    let dir = fresh_dir("bad");
    let bad = dir.join("bad.strata");
    std::fs::write(&bad, b"not a container").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("info")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad magic"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_puts_both_models_and_the_anchors_in_one_table() {
    let dir = fresh_dir("bench");
    let dims = [4, 24, 20];
    let words = (0..dims.iter().product::<usize>())
        .map(|i| (1000 + (i % 20) * 9 + (i / 20 % 24) * 5 + (i * 7919) % 13) as u16)
        .collect();
    let vol = Volume {
        dims,
        format: SampleFormat {
            bits_allocated: 16,
            bits_stored: 12,
            signed: false,
        },
        words,
    };
    let npy = dir.join("v.npy");
    volume::npy::write(&npy, &vol).unwrap();
    let table = strata(&[
        "bench".as_ref(),
        "--no-e9".as_ref(),
        "--lsb-bits".as_ref(),
        "2".as_ref(),
        "--also-model".as_ref(),
        "builtin".as_ref(),
        npy.as_os_str(),
    ]);
    for codec in [
        "strata (learned): d = 2, ",
        "strata (builtin): d = 2, ",
        "JPEG-LS (CharLS)",
        "JPEG XL e7",
        "zstd -19",
        "zlib-6",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| v.npy | {codec}")))
            .unwrap_or_else(|| panic!("no {codec} row in\n{table}"));
        assert!(row.ends_with("| yes |"), "{row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--model PATH` codes with that file, not with a file of the same name in the models
/// folder: the container records the given file's sha256.
#[test]
fn model_given_as_a_path_is_the_one_that_codes() {
    let dir = fresh_dir("model-path");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let name = strata::codec::model::DEFAULT_LEARNED_MODEL;
    let mut model = std::fs::read(models.join(name)).unwrap();
    let at = model.windows(6).position(|w| w == b"strata").unwrap();
    model[at] = b'S';
    let altered = dir.join(name);
    std::fs::write(&altered, &model).unwrap();
    let sha: String = sha2::Sha256::digest(&model)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dims = [3, 9, 11];
    let vol = Volume {
        dims,
        format: SampleFormat {
            bits_allocated: 16,
            bits_stored: 12,
            signed: false,
        },
        words: (0..dims.iter().product::<usize>())
            .map(|i| ((i * 7919) % 4000) as u16)
            .collect(),
    };
    let npy = dir.join("v.npy");
    volume::npy::write(&npy, &vol).unwrap();
    let out = dir.join("v.stv");
    strata(&[
        "compress".as_ref(),
        "--lsb-bits".as_ref(),
        "2".as_ref(),
        "--model".as_ref(),
        altered.as_os_str(),
        npy.as_os_str(),
        out.as_os_str(),
    ]);
    let info = strata(&["info".as_ref(), out.as_os_str()]);
    assert!(info.contains(&sha), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}
