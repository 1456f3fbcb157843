//! C-ECHO against the running node from DCMTK `echoscu` and pynetdicom, and
//! association policy (calling AE allow list, shutdown).

use std::process::Command;

use crate::support::{Server, python, run, text, tool};

fn echoscu(port: u16, calling: &str) -> std::process::Output {
    run(Command::new(tool("echoscu")).args([
        "-aet",
        calling,
        "-aec",
        "STRATA",
        "127.0.0.1",
        &port.to_string(),
    ]))
}

/// pynetdicom C-ECHO; prints the status as hex, or "rejected".
const PYNETDICOM_ECHO: &str = r#"
import sys
from pynetdicom import AE
ae = AE(ae_title=sys.argv[2])
ae.add_requested_context("1.2.840.10008.1.1")
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="STRATA")
if not assoc.is_established:
    print("rejected")
    sys.exit(0)
status = assoc.send_c_echo()
print(hex(status.Status))
assoc.release()
"#;

fn pynetdicom_echo(port: u16, calling: &str) -> String {
    let out = run(Command::new(python()).args(["-c", PYNETDICOM_ECHO, &port.to_string(), calling]));
    assert!(out.status.success(), "pynetdicom failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn echoscu_gets_success() {
    let server = Server::start(&[], &[]);
    let out = echoscu(server.port, "ECHOSCU");
    assert!(out.status.success(), "echoscu failed: {}", text(&out));
    let log = server.wait_for_log("association released");
    assert!(log.contains("calling_ae=ECHOSCU"), "{log}");
    assert!(log.contains("association accepted"), "{log}");
}

#[test]
fn pynetdicom_gets_success_status() {
    let server = Server::start(&[], &[]);
    assert_eq!(pynetdicom_echo(server.port, "PYSCU"), "0x0");
    // A second association on the same node works too.
    assert_eq!(pynetdicom_echo(server.port, "PYSCU2"), "0x0");
}

#[test]
fn calling_ae_outside_allow_list_is_rejected_and_node_keeps_serving() {
    let allow = [("STRATA_NETWORK_ALLOWED_CALLING_AE_TITLES", r#"["GOODSCU"]"#)];
    let server = Server::start(&[], &allow);
    let out = echoscu(server.port, "BADSCU");
    assert!(!out.status.success(), "BADSCU was accepted: {}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("reject"),
        "{}",
        text(&out)
    );
    assert_eq!(pynetdicom_echo(server.port, "EVILSCU"), "rejected");
    server.wait_for_log("association rejected");
    let out = echoscu(server.port, "GOODSCU");
    assert!(out.status.success(), "GOODSCU failed: {}", text(&out));
    assert_eq!(pynetdicom_echo(server.port, "GOODSCU"), "0x0");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let server = Server::start(&[], &[]);
    let out = echoscu(server.port, "ECHOSCU");
    assert!(out.status.success(), "{}", text(&out));
    let (status, log) = server.terminate();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}

#[test]
fn json_log_format_emits_one_object_per_line() {
    let server = Server::start(&["--log-format", "json"], &[]);
    let out = echoscu(server.port, "JSONSCU");
    assert!(out.status.success(), "{}", text(&out));
    let log = server.wait_for_log("association released");
    for line in log.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not JSON: {line}"
        );
    }
    assert!(log.contains(r#""calling_ae":"JSONSCU""#), "{log}");
}

#[test]
fn silent_connection_is_dropped_after_the_artim_timeout() {
    let server = Server::start(&[], &[("STRATA_NETWORK_ARTIM_TIMEOUT_S", "1")]);
    let _silent = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    server.wait_for_log("ARTIM");
    let out = echoscu(server.port, "ECHOSCU");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn associations_over_the_cap_wait_for_a_slot() {
    let server = Server::start(&[], &[("STRATA_LIMITS_MAX_ASSOCIATIONS", "1")]);
    // Hold the only slot with an idle association.
    let held = dicom_ul::ClientAssociationOptions::new()
        .with_abstract_syntax(dicom_dictionary_std::uids::VERIFICATION)
        .called_ae_title("STRATA")
        .establish(("127.0.0.1", server.port))
        .unwrap();
    let port = server.port;
    let waiting = std::thread::spawn(move || echoscu(port, "SECOND"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "a second association was served beside the first"
    );
    assert!(!server.log().contains("calling_ae=SECOND"));
    held.release().unwrap();
    let out = waiting.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
