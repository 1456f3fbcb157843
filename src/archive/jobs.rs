//! The compression job loop of a running node: finds series that have been
//! stable for `storage.stable_after_s`, queues one job per series, and runs
//! them on a bounded number of workers, so ingest never waits for
//! compression. Jobs a stopped node left running are requeued at start-up.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::Archive;
use crate::index::now_ms;

/// How often the loop looks for stable series and pending jobs.
const TICK: Duration = Duration::from_secs(1);

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

async fn queue_stable_series(archive: &Archive) -> Result<(), super::ArchiveError> {
    let stable_before = now_ms() - archive.settings.stable_after_ms;
    for series in archive.index.stable_series(stable_before).await? {
        if archive.index.enqueue_job(series, now_ms()).await? {
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
                let result = archive.compress_series(job.series).await;
                let error = result.as_ref().err().map(|e| e.to_string());
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
                if let Err(e) = archive
                    .index
                    .finish_job(job.id, error.as_deref(), now_ms())
                    .await
                {
                    tracing::warn!(error = %e, "cannot record the end of a job");
                }
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
