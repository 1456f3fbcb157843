//! ONNX Runtime provisioning: the locator's install hint, the device policy,
//! and a real computation with the located library.

use std::path::Path;
use std::process::Command;

use strata::config::Device;
use strata::runtime::Runtime;

use crate::support::{repo, run, strata_bin, text};

fn tiny_model() -> std::path::PathBuf {
    repo().join("tests/fixtures/tiny_affine.onnx")
}

#[test]
fn missing_library_gives_the_install_command() {
    let out = run(Command::new(strata_bin())
        .arg("runtime")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so"));
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
    assert!(msg.contains("make runtime"), "{msg}");
    assert!(
        msg.contains("pip install --no-deps --target .runtime onnxruntime==1.31.1"),
        "{msg}"
    );
}

#[test]
fn serve_without_library_exits_with_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(strata_bin())
        .args(["serve", "--port", "0", "--data-dir", "var"])
        .env("ORT_DYLIB_PATH", dir.path().join("missing.so"))
        .current_dir(dir.path()));
    assert!(!out.status.success());
    assert!(text(&out).contains("make runtime"), "{}", text(&out));
}

#[test]
fn cuda_demanded_on_a_cpu_build_fails_loudly() {
    let out = run(Command::new(strata_bin()).args(["runtime", "--device", "cuda"]));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("CUDA execution provider is unavailable"),
        "{}",
        text(&out)
    );
}

#[test]
fn runtime_subcommand_reports_library_device_and_model() {
    let model = tiny_model();
    let out = run(Command::new(strata_bin()).args([
        "runtime",
        "--device",
        "auto",
        "--model",
        model.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("libonnxruntime.so.1.31.1"), "{msg}");
    assert!(msg.contains("device:  cpu"), "{msg}");
    assert!(
        msg.contains("input:   x") && msg.contains("output:  y"),
        "{msg}"
    );
}

#[test]
fn located_library_runs_the_tiny_model() {
    let runtime = Runtime::load(Path::new(""), Device::Cpu).expect("make runtime first");
    let mut session = runtime.session(&tiny_model(), 1, true).unwrap();
    let x = ndarray::arr2(&[[0.0f32, 1.0, -2.0, 0.5]]);
    let input = ort::value::Tensor::from_array(x).unwrap();
    let outputs = session.run(ort::inputs!["x" => input]).unwrap();
    let y = outputs["y"].try_extract_array::<f32>().unwrap();
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![1.0, 4.0, -5.0, 2.5]
    );
}
