//! Command-line and configuration errors: each a clear message and a
//! non-zero exit.

use std::net::TcpListener;
use std::process::Command;

use crate::support::{repo, run, strata_bin, text};

fn serve_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(Command::new(strata_bin())
        .arg("serve")
        .args(args)
        .current_dir(dir))
}

#[test]
fn version_and_help() {
    let out = run(Command::new(strata_bin()).arg("--version"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("strata {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(Command::new(strata_bin()).arg("help"));
    assert!(out.status.success());
    let help = text(&out);
    assert!(help.contains("serve") && help.contains("runtime"), "{help}");
}

#[test]
fn unknown_config_key_names_key_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[network]\nport = 4242\nmax_pud = 16384\n").unwrap();
    let out = serve_in(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("max_pud") && msg.contains("line 3"), "{msg}");
    assert!(msg.contains("bad.toml"), "{msg}");
}

#[test]
fn wrong_config_type_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[storage]\ndata_dir = 7\n").unwrap();
    let out = serve_in(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("line 2") && msg.contains("data_dir"), "{msg}");
}

#[test]
fn bad_environment_override_names_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(strata_bin())
        .args(["serve", "--port", "0", "--data-dir", "var"])
        .env("STRATA_LIMITS_MAX_PDU", "12")
        .current_dir(dir.path()));
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("STRATA_LIMITS_MAX_PDU") && msg.contains("4096"),
        "{msg}"
    );
}

#[test]
fn bad_ae_title_flag_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_in(dir.path(), &["--ae-title", "A\\B", "--port", "0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--ae-title"), "{}", text(&out));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = serve_in(dir.path(), &["--port", &port, "--data-dir", "var"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("cannot listen on") && msg.contains(&port),
        "{msg}"
    );
}

#[test]
fn unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory is needed: unwritable even for root.
    std::fs::write(dir.path().join("occupied"), b"").unwrap();
    let out = serve_in(dir.path(), &["--port", "0", "--data-dir", "occupied/var"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("data directory") && msg.contains("occupied/var"),
        "{msg}"
    );
}

#[test]
fn shipped_config_file_starts_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("config/strata.toml");
    // Port in use makes serve stop right after the configuration is accepted.
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = serve_in(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--port", &port],
    );
    let msg = text(&out);
    assert!(msg.contains("cannot listen on"), "config rejected: {msg}");
}
