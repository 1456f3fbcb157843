//! Compressed storage: series are compressed once stable, verified against
//! the received checksums before any spool copy goes, and survive a kill -9
//! in the middle of a job.

use std::process::Command;

use crate::store::{echo_works, series_files, stored, storescu, walk_files};
use crate::support::{Db, Server, TestDb, run, strata_bin, text};

fn sop_uids(files: &[std::path::PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            let o = dicom_object::open_file(f).unwrap();
            let uid = o
                .element(dicom_dictionary_std::tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .into_owned();
            uid.trim_end_matches(['\0', ' ']).to_owned()
        })
        .collect()
}

fn strata(dir: &std::path::Path, db: &TestDb, args: &[&str]) -> std::process::Output {
    strata_with(dir, db, &[], args)
}

/// `strata` with extra environment variables (configuration overrides).
fn strata_with(
    dir: &std::path::Path,
    db: &TestDb,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    run(Command::new(strata_bin())
        .args(args)
        .args(["--data-dir", "var"])
        .envs(db.env())
        .envs(env.iter().copied())
        .current_dir(dir))
}

fn stable_series_are_compressed_by_the_running_node(db: Db) {
    let fast = [("STRATA_STORAGE_STABLE_AFTER_S", "2")];
    let server = Server::start_on(db, &[], &fast);
    let files = series_files("mr_brain1");
    let out = storescu(server.port, &files);
    assert!(out.status.success(), "{}", text(&out));
    let log = server.wait_for_log_within("series compressed and verified", 180);
    assert!(log.contains("instances=25"), "{log}");
    assert!(walk_files(&server.data_dir().join("spool")).is_empty());
    for row in stored(&server, &sop_uids(&files)) {
        let row = row.unwrap();
        assert!(
            row.spool_path.is_none(),
            "spool copy kept after verification"
        );
    }
    echo_works(server.port);
}

fn compress_pending_then_verify_and_detect_corruption(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("ct_lung1");
    let out = strata(dir.path(), &test_db, &["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = strata(dir.path(), &test_db, &["compress-pending"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("compressed 1 series"), "{}", text(&out));
    let out = strata(dir.path(), &test_db, &["verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("verified 48 instances (0 still in the spool): 0 failed"),
        "{}",
        text(&out)
    );
    let stats = text(&strata(dir.path(), &test_db, &["stats"]));
    let number = |key: &str| -> u64 {
        let line = stats.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert!(
        number("bytes stored:") < number("bytes received:"),
        "{stats}"
    );
    // One volume container and one headers blob for the 48 slices.
    let mut blobs = walk_files(&dir.path().join("var/blobs"));
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    blobs.sort_by_key(|b| std::fs::metadata(b).unwrap().len());
    // Flip one byte in the middle of the container: verify names the
    // instances of the damaged chunk and fails; none is returned wrong.
    let container = &blobs[1];
    let mut bytes = std::fs::read(container).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(container, bytes).unwrap();
    let out = strata(dir.path(), &test_db, &["verify"]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains("FAILED instance"), "{report}");
    let failed: usize = report
        .lines()
        .find_map(|l| l.strip_suffix(" failed")?.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(
        (1..=16).contains(&failed),
        "one chunk of at most 16 slices: {report}"
    );
}

/// `codec.msbv` and `codec.model` choose how the archive codes new volumes.
fn codec_settings_reach_the_stored_volume(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("mr_brain1");
    let env = [
        ("STRATA_CODEC_MSBV", "jpegls"),
        ("STRATA_CODEC_MODEL", "builtin"),
    ];
    let strata = |args: &[&str]| strata_with(dir.path(), &test_db, &env, args);
    let out = strata(&["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = strata(&["compress-pending"]);
    assert!(text(&out).contains("compressed 1 series"), "{}", text(&out));
    let out = strata(&["verify"]);
    assert!(
        text(&out).contains("verified 25 instances (0 still in the spool): 0 failed"),
        "{}",
        text(&out)
    );
    let mut blobs = walk_files(&dir.path().join("var/blobs"));
    blobs.sort_by_key(|b| std::fs::metadata(b).unwrap().len());
    let container = blobs.last().unwrap();
    let out = run(Command::new(strata_bin())
        .args(["info", container.to_str().unwrap()])
        .current_dir(dir.path()));
    let info = text(&out);
    assert!(info.contains("MSBV codec:    JPEG-LS"), "{info}");
    assert!(info.contains("strata-builtin-ctxmix-v1"), "{info}");
}

fn kill_9_during_a_compression_job_then_the_job_completes(db: Db) {
    let fast = [("STRATA_STORAGE_STABLE_AFTER_S", "2")];
    let server = Server::start_on(db, &[], &fast);
    let files = series_files("ct_totalseg_aorta");
    let out = storescu(server.port, &files);
    assert!(out.status.success(), "{}", text(&out));
    // The job starts two to three seconds after the last instance; kill it
    // mid-way.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let (dir, db) = server.kill9();
    let server = Server::start_in(dir, db, &[], &fast);
    server.wait_for_log_within("series compressed and verified", 180);
    let rows = stored(&server, &sop_uids(&files));
    assert!(
        rows.iter()
            .all(|r| r.as_ref().is_some_and(|r| r.spool_path.is_none()))
    );
    assert!(walk_files(&server.data_dir().join("spool")).is_empty());
    let blobs = assert_no_orphan_blobs(&server);
    assert!(blobs >= 2, "at least one volume and its headers");
    let out = run(Command::new(strata_bin())
        .args(["verify", "--data-dir", "var"])
        .envs(server.db.env())
        .current_dir(server.data_dir().parent().unwrap()));
    assert!(
        text(&out).contains("verified 191 instances (0 still in the spool): 0 failed"),
        "{}",
        text(&out)
    );
}

/// Every blob file on disk is one the index refers to: nothing orphaned.
/// Returns how many there are.
fn assert_no_orphan_blobs(server: &Server) -> usize {
    let mut on_disk: Vec<String> = walk_files(&server.data_dir().join("blobs"))
        .iter()
        .map(|p| {
            p.strip_prefix(server.data_dir())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let url = server.index_url();
    let mut referenced = crate::support::block_on(async {
        let index = strata::index::Index::open(&url).await.unwrap();
        let paths = index.blob_paths().await.unwrap();
        index.close().await;
        paths
    });
    on_disk.sort();
    referenced.sort();
    assert_eq!(on_disk, referenced);
    on_disk.len()
}

/// `strata compress-pending` run while the node's own job loop compresses
/// the same stable series: both take series through the index's job queue,
/// so no series is compressed twice and neither finds a spool copy the other
/// already released (regression: both used to compress every series).
fn compress_pending_beside_a_running_node_shares_no_series(db: Db) {
    let fast = [("STRATA_STORAGE_STABLE_AFTER_S", "1")];
    let server = Server::start_on(db, &[], &fast);
    let mut files = Vec::new();
    for series in ["mr_brain1", "ct_lung1", "ct_totalseg_aorta"] {
        let part = series_files(series);
        let out = storescu(server.port, &part);
        assert!(out.status.success(), "{}", text(&out));
        files.extend(part);
    }
    let out = crate::support::run_within(
        Command::new(strata_bin())
            .args(["compress-pending", "--data-dir", "var"])
            .envs(server.db.env())
            .current_dir(server.data_dir().parent().unwrap()),
        600,
    );
    assert!(out.status.success(), "{}", text(&out));
    let uids = sop_uids(&files);
    for _ in 0..600 {
        let rows = stored(&server, &uids);
        if rows
            .iter()
            .all(|r| r.as_ref().is_some_and(|r| r.spool_path.is_none()))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let rows = stored(&server, &uids);
    assert!(
        rows.iter()
            .all(|r| r.as_ref().is_some_and(|r| r.spool_path.is_none())),
        "instances left in the spool\n{}\n{}",
        text(&out),
        server.log()
    );
    assert!(
        !server.log().contains("compression job failed"),
        "{}",
        server.log()
    );
    assert!(walk_files(&server.data_dir().join("spool")).is_empty());
    assert_no_orphan_blobs(&server);
    let out = run(Command::new(strata_bin())
        .args(["verify", "--data-dir", "var"])
        .envs(server.db.env())
        .current_dir(server.data_dir().parent().unwrap()));
    let expected = format!(
        "verified {} instances (0 still in the spool): 0 failed",
        files.len()
    );
    assert!(text(&out).contains(&expected), "{}", text(&out));
    echo_works(server.port);
}

fn export_gives_back_imported_files_byte_for_byte(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("mr_brain1");
    let out = strata(dir.path(), &test_db, &["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = strata(dir.path(), &test_db, &["compress-pending"]);
    assert!(out.status.success(), "{}", text(&out));
    let files = series_files("mr_brain1");
    let study = {
        let o = dicom_object::open_file(&files[0]).unwrap();
        let v = o
            .element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .into_owned();
        v.trim_end_matches(['\0', ' ']).to_owned()
    };
    let target = dir.path().join("out");
    let out = strata(
        dir.path(),
        &test_db,
        &[
            "export",
            &format!("StudyInstanceUID={study}"),
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("exported 25 files"), "{}", text(&out));
    for (file, uid) in files.iter().zip(sop_uids(&files)) {
        let exported = std::fs::read(target.join(format!("{uid}.dcm"))).unwrap();
        assert_eq!(exported, std::fs::read(file).unwrap(), "{}", file.display());
    }
}

fn consecutive_slices_decode_each_chunk_once(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("ct_lung2");
    let out = strata(dir.path(), &test_db, &["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = strata(dir.path(), &test_db, &["compress-pending"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut config = strata::config::Config::default();
    config.storage.data_dir = dir.path().join("var");
    if let Some(url) = &test_db.url {
        config.storage.database_url = url.clone();
    }
    crate::support::block_on(async {
        let ingest = strata::ingest::Ingest::open(&config).await.unwrap();
        let archive = ingest.archive(config.archive_settings());
        let locations = ingest.index().locations(None).await.unwrap();
        assert_eq!(locations.len(), 61);
        for location in &locations {
            let bytes = archive.rebuild(location).await.unwrap();
            let digest = strata::store::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            assert_eq!(digest, location.sha256);
        }
        // 61 slices in chunks of 16: four chunks, each decoded once.
        assert_eq!(archive.decoded_chunks(), 4);
        ingest.index().close().await;
    });
}

/// A series whose compression fails (here: a spool copy gone) keeps the
/// rest of its spool copies, is not tried again every tick of the job loop,
/// and `strata compress-pending` tries it again at once and reports it.
fn a_failed_series_waits_for_its_retry(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("mr_brain1");
    let out = strata(dir.path(), &test_db, &["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let spool = walk_files(&dir.path().join("var/spool"));
    assert_eq!(spool.len(), 25);
    std::fs::remove_file(&spool[0]).unwrap();
    let fast = [("STRATA_STORAGE_STABLE_AFTER_S", "0")];
    let server = Server::start_in(dir, test_db, &[], &fast);
    server.wait_for_log_within("compression job failed", 120);
    // Five ticks of the job loop.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let log = server.log();
    assert_eq!(log.matches("compression job failed").count(), 1, "{log}");
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 24);
    echo_works(server.port);
    // A new instance of the series is a reason to try again at once.
    let extra = server.data_dir().parent().unwrap().join("extra.dcm");
    let source = series_files("mr_brain1")[1].clone();
    let out = run(Command::new(crate::support::python()).args([
        "-c",
        "import sys, pydicom; d = pydicom.dcmread(sys.argv[1]); \
         d.SOPInstanceUID = d.SOPInstanceUID + '.9'; d.save_as(sys.argv[2])",
        source.to_str().unwrap(),
        extra.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let out = storescu(server.port, &[extra]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(std::time::Duration::from_secs(5));
    let log = server.log();
    assert_eq!(log.matches("compression job failed").count(), 2, "{log}");
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 25);
    let out = crate::support::run_within(
        Command::new(strata_bin())
            .args(["compress-pending", "--data-dir", "var"])
            .envs(server.db.env())
            .current_dir(server.data_dir().parent().unwrap()),
        300,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 series failed to compress"),
        "{}",
        text(&out)
    );
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 25);
}

/// A job claimed by a compressor that then stopped renewing its lease (a
/// killed `strata compress-pending`) is left alone while the lease runs, so
/// a node starting meanwhile never shares the series, and is taken over once
/// it ran out.
fn a_dead_compressors_job_is_taken_over_after_its_lease(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(db);
    let series = crate::support::corpus().join("mr_brain1");
    let out = strata(dir.path(), &test_db, &["import", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let url = test_db.index_url(&dir.path().join("var"));
    let claimed_at = crate::support::block_on(async {
        let index = strata::index::Index::open(&url).await.unwrap();
        let series = index.stable_series(i64::MAX).await.unwrap();
        assert_eq!(series.len(), 1);
        let now = strata::index::now_ms();
        assert!(index.enqueue_job(series[0], now, i64::MAX).await.unwrap());
        assert!(index.claim_job(now).await.unwrap().is_some());
        index.close().await;
        std::time::Instant::now()
    });
    let fast = [("STRATA_STORAGE_STABLE_AFTER_S", "0")];
    let server = Server::start_in(dir, test_db, &[], &fast);
    let lease = std::time::Duration::from_millis(strata::index::JOB_LEASE_MS as u64);
    std::thread::sleep(
        (claimed_at + lease / 2).saturating_duration_since(std::time::Instant::now()),
    );
    let log = server.log();
    assert!(!log.contains("series compressed and verified"), "{log}");
    assert_eq!(walk_files(&server.data_dir().join("spool")).len(), 25);
    let log = server.wait_for_log_within("series compressed and verified", 120);
    assert!(log.contains("compressor stopped queued again"), "{log}");
    assert!(
        claimed_at.elapsed() >= lease,
        "taken over before the lease ran out"
    );
    assert!(walk_files(&server.data_dir().join("spool")).is_empty());
}

on_both_indexes!(
    a_dead_compressors_job_is_taken_over_after_its_lease,
    a_failed_series_waits_for_its_retry,
    stable_series_are_compressed_by_the_running_node,
    compress_pending_then_verify_and_detect_corruption,
    codec_settings_reach_the_stored_volume,
    kill_9_during_a_compression_job_then_the_job_completes,
    compress_pending_beside_a_running_node_shares_no_series,
    export_gives_back_imported_files_byte_for_byte,
    consecutive_slices_decode_each_chunk_once,
);
