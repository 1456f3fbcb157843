//! Subcommands that work on the archive without serving it: `import` and
//! `stats`. They open the same store and index as `serve` and may run while
//! the node runs.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata::config::LogFormat;
use strata::index::InsertOutcome;
use strata::ingest::{ImportError, Ingest};

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Files and folders (walked recursively) to import.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Counts of one import run.
#[derive(Debug, Default)]
struct Tally {
    stored: u64,
    identical: u64,
    rejected: u64,
    skipped: u64,
    failed: u64,
}

impl ImportArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.config.load(log_format)?;
        let files = walk(&self.paths)?;
        let limit = config.limits.max_data_set_bytes.get();
        super::block_on(async move {
            let ingest = Ingest::open(&config).await?;
            let tally = import_all(&ingest, &files, limit).await;
            ingest.index().close().await;
            println!(
                "imported {} files: {} stored, {} already stored, {} rejected as different duplicates, {} not DICOM, {} failed",
                files.len(),
                tally.stored,
                tally.identical,
                tally.rejected,
                tally.skipped,
                tally.failed
            );
            anyhow::ensure!(tally.failed == 0, "{} files failed to import", tally.failed);
            Ok(())
        })
    }
}

async fn import_all(ingest: &Ingest, files: &[PathBuf], limit: u64) -> Tally {
    let bar = ProgressBar::new(files.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {elapsed} ({eta} left) {msg}")
            .expect("valid template"),
    );
    let mut tally = Tally::default();
    for file in files {
        match ingest.import_file(file, limit).await {
            Ok(accepted) => match accepted.outcome {
                InsertOutcome::Identical { .. } => tally.identical += 1,
                InsertOutcome::RejectedDifferent { .. } => tally.rejected += 1,
                _ => tally.stored += 1,
            },
            Err(e @ ImportError::NotDicom { .. }) => {
                bar.suspend(|| tracing::warn!("skipped {e}"));
                tally.skipped += 1;
            }
            Err(e) => {
                bar.suspend(|| tracing::error!("{e}"));
                tally.failed += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    tally
}

/// Every file below `paths`, sorted, so runs are repeatable.
fn walk(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = pending.pop() {
        let meta = std::fs::metadata(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl StatsArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.config.load(log_format)?;
        super::block_on(async move {
            let ingest = Ingest::open(&config).await?;
            let s = ingest.index().stats().await?;
            ingest.index().close().await;
            let ratio = if s.bytes_stored > 0 {
                s.bytes_received as f64 / s.bytes_stored as f64
            } else {
                1.0
            };
            println!("patients:       {}", s.patients);
            println!("studies:        {}", s.studies);
            println!("series:         {}", s.series);
            println!("instances:      {}", s.instances);
            println!("volumes:        {}", s.volumes);
            println!("bytes received: {}", s.bytes_received);
            println!("bytes stored:   {}", s.bytes_stored);
            println!("ratio:          {ratio:.3}");
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct CompressPendingArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

impl CompressPendingArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.config.load(log_format)?;
        super::block_on(async move {
            let ingest = Ingest::open(&config).await?;
            let archive = ingest.archive(config.archive_settings());
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} series, {elapsed} {msg}")
                    .expect("valid template"),
            );
            let report = strata::archive::compress_pending(&archive, |done, queued| {
                bar.set_length(queued as u64);
                bar.set_position(done as u64);
            })
            .await?;
            bar.finish_and_clear();
            ingest.index().close().await;
            println!(
                "compressed {} series: {} bytes received, {} bytes stored",
                report.compressed, report.bytes_received, report.bytes_stored
            );
            if !report.elsewhere.is_empty() {
                println!(
                    "{} series are being compressed by a running node and are left to it: {:?}",
                    report.elsewhere.len(),
                    report.elsewhere
                );
            }
            let failed = report.failed.len();
            anyhow::ensure!(failed == 0, "{failed} series failed to compress");
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only the instances of this Study Instance UID.
    #[arg(long)]
    study: Option<String>,
}

impl VerifyArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.config.load(log_format)?;
        super::block_on(async move {
            let ingest = Ingest::open(&config).await?;
            let archive = ingest.archive(config.archive_settings());
            let report = archive.verify(self.study.as_deref()).await?;
            ingest.index().close().await;
            for failure in &report.failures {
                eprintln!("FAILED {failure}");
            }
            println!(
                "verified {} instances ({} still in the spool): {} failed",
                report.checked,
                report.from_spool,
                report.failures.len()
            );
            anyhow::ensure!(
                report.failures.is_empty(),
                "{} instances failed verification",
                report.failures.len()
            );
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Which instances: unique keys as KEY=VALUE (PatientID, StudyInstanceUID,
    /// SeriesInstanceUID, SOPInstanceUID; a backslash separates several
    /// values), then the output folder.
    #[arg(required = true, num_args = 2..)]
    query_and_dir: Vec<String>,
}

impl ExportArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.config.load(log_format)?;
        let (dir, keys) = self.query_and_dir.split_last().expect("clap requires two");
        let scope = scope_of(keys)?;
        let dir = PathBuf::from(dir);
        super::block_on(async move {
            let ingest = Ingest::open(&config).await?;
            let archive = ingest.archive(config.archive_settings());
            let report = archive.export(&scope, &dir).await?;
            ingest.index().close().await;
            println!(
                "exported {} files ({} bytes) to {}",
                report.files,
                report.bytes,
                dir.display()
            );
            Ok(())
        })
    }
}

fn scope_of(keys: &[String]) -> anyhow::Result<strata::index::Scope> {
    let mut scope = strata::index::Scope::default();
    for key in keys {
        let (name, value) = key
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("query key {key:?} is not KEY=VALUE"))?;
        let values = Some(value.split('\\').map(str::to_owned).collect());
        match name {
            "PatientID" => scope.patient_ids = values,
            "StudyInstanceUID" => scope.study_uids = values,
            "SeriesInstanceUID" => scope.series_uids = values,
            "SOPInstanceUID" => scope.sop_uids = values,
            other => anyhow::bail!(
                "unsupported query key {other}: use PatientID, StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID"
            ),
        }
    }
    Ok(scope)
}
