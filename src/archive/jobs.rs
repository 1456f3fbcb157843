//! The compression job loop of a running node: finds series that have been
//! stable for `storage.stable_after_s`, queues one job per series, and runs
//! them on a bounded number of workers, so ingest never waits for
//! compression. A running job is leased: its compressor renews it every few
//! seconds, and a job whose lease ran out (its node stopped, its `strata
//! compress-pending` was killed) is queued again by the next node tick or
//! compress-pending; a live one is never taken over.
//! A series whose job failed keeps its spool copies and is queued again
//! after `storage.retry_failed_after_s`, or as soon as a new instance of it
//! arrives; `strata compress-pending` tries it at once.
//!
//! Invariant: a series is compressed only under an open job of the index
//! ([`run_job`]), and the index holds at most one open job per series, so
//! concurrent compressors (several workers, a node and `strata
//! compress-pending`) never work on the same series.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::{Archive, ArchiveError, SeriesReport};
use crate::index::{JOB_LEASE_MS, Job, now_ms};

/// How often the loop looks for stable series and pending jobs.
const TICK: Duration = Duration::from_secs(1);

/// How often a running job's lease is renewed.
const HEARTBEAT: Duration = Duration::from_millis(JOB_LEASE_MS as u64 / 6);

/// Runs until `stop` fires; a job in progress finishes first.
pub async fn run_jobs(archive: Archive, mut stop: broadcast::Receiver<()>) {
    let mut workers = JoinSet::new();
    for worker in 0..archive.settings.workers.max(1) {
        let archive = archive.clone();
        let stop = stop.resubscribe();
        workers.spawn(async move { work(worker, archive, stop).await });
    }
    loop {
        if let Err(e) = queue_stable_series(&archive).await {
            tracing::warn!(error = %e, "cannot queue compression jobs");
        }
        tokio::select! {
            _ = stop.recv() => break,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
    while workers.join_next().await.is_some() {}
}

/// Queues again the jobs whose lease ran out (see the module doc).
async fn requeue_stale(archive: &Archive) -> Result<(), super::ArchiveError> {
    let requeued = archive
        .index
        .requeue_stale_jobs(now_ms() - JOB_LEASE_MS)
        .await?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "compression jobs whose compressor stopped queued again"
        );
    }
    Ok(())
}

async fn queue_stable_series(archive: &Archive) -> Result<(), super::ArchiveError> {
    requeue_stale(archive).await?;
    let now = now_ms();
    let stable_before = now - archive.settings.stable_after_ms;
    let retry_before = now - archive.settings.retry_failed_after_ms;
    for series in archive.index.stable_series(stable_before).await? {
        if archive.index.enqueue_job(series, now, retry_before).await? {
            tracing::debug!(series, "compression job queued");
        }
    }
    Ok(())
}

async fn work(worker: usize, archive: Archive, mut stop: broadcast::Receiver<()>) {
    loop {
        if stop.try_recv().is_ok() {
            return;
        }
        match archive.index.claim_job(now_ms()).await {
            Ok(Some(job)) => {
                let _ = run_job(&archive, &job, worker).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a compression job"),
        }
        tokio::select! {
            _ = stop.recv() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Runs a claimed job: compresses its series, logs the outcome and records
/// the end of the job. The one way a series gets compressed, in a running
/// node and in `strata compress-pending` alike: a job row is open for the
/// series while it runs, so no two compressors ever share a series.
pub async fn run_job(
    archive: &Archive,
    job: &Job,
    worker: usize,
) -> Result<SeriesReport, ArchiveError> {
    let work = archive.compress_series(job.series);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tokio::time::sleep(HEARTBEAT) => {
                match archive.index.heartbeat_job(job, now_ms()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(worker, series = job.series, "compression job lease lost"),
                    Err(e) => tracing::warn!(error = %e, "cannot renew a compression job's lease"),
                }
            }
        }
    };
    match &result {
        Ok(r) => tracing::info!(
            worker,
            series = job.series,
            instances = r.instances,
            bytes_received = r.bytes_received,
            bytes_stored = r.bytes_stored,
            "series compressed and verified"
        ),
        Err(e) => {
            tracing::error!(worker, series = job.series, error = %e, "compression job failed; spool copies kept")
        }
    }
    let error = result.as_ref().err().map(|e| e.to_string());
    if let Err(e) = archive
        .index
        .finish_job(job, error.as_deref(), now_ms())
        .await
    {
        tracing::warn!(error = %e, "cannot record the end of a job");
    }
    result
}

/// What [`compress_pending`] did.
#[derive(Debug, Default)]
pub struct PendingReport {
    /// Series compressed by this call.
    pub compressed: usize,
    pub bytes_received: u64,
    pub bytes_stored: u64,
    /// Series whose job failed, with the error.
    pub failed: Vec<(i64, String)>,
    /// Series another process (a running node) is compressing: left to it.
    pub elsewhere: Vec<i64>,
}

/// Compresses every series that still has spooled instances, now, through
/// the job queue: a job for each, then claim and run jobs until none is
/// pending. `progress(done, queued)` is called after each job.
pub async fn compress_pending(
    archive: &Archive,
    mut progress: impl FnMut(usize, usize),
) -> Result<PendingReport, ArchiveError> {
    requeue_stale(archive).await?;
    let series = archive.index.stable_series(i64::MAX).await?;
    for &s in &series {
        // `i64::MAX`: series whose last job failed are tried again now.
        archive.index.enqueue_job(s, now_ms(), i64::MAX).await?;
    }
    let mut report = PendingReport::default();
    let mut done = 0;
    progress(0, series.len());
    while let Some(job) = archive.index.claim_job(now_ms()).await? {
        match run_job(archive, &job, 0).await {
            Ok(r) => {
                report.compressed += 1;
                report.bytes_received += r.bytes_received;
                report.bytes_stored += r.bytes_stored;
            }
            Err(e) => report.failed.push((job.series, e.to_string())),
        }
        done += 1;
        progress(done, series.len().max(done));
    }
    for s in series {
        if archive.index.job_open(s).await? {
            report.elsewhere.push(s);
        }
    }
    Ok(report)
}
