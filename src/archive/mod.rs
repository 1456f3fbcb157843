//! Compressed storage: turns spooled received copies into compressed blobs,
//! rebuilds received bytes from them, and verifies.
//!
//! What enters: series whose instances are still only in the spool. What
//! leaves: blobs in the store, index rows pointing at them, and the spool
//! copies removed once verified.
//!
//! Invariants (bytes out = bytes in): a spool copy is deleted only after the
//! instance was rebuilt from its compressed form alone and the sha256 of the
//! rebuilt bytes equals the one recorded when it was received. Any failure
//! leaves the spool copy in place, records the error on the job, and the
//! instance stays retrievable.

mod export;
mod headers;
mod jobs;

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::index::{Index, IndexError, Location, NewBlob, SpooledInstance};
use crate::store::{Store, StoreError, hex};

pub use export::ExportReport;
pub use jobs::run_jobs;

/// Kind of a blob holding one whole received copy, zstd-compressed.
pub const INSTANCE_ZSTD: &str = "instance-zstd";

/// Errors of compressed storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("zstd: {0}")]
    Zstd(std::io::Error),
    #[error("instance {sop_instance_uid}: {reason}")]
    Corrupt {
        sop_instance_uid: String,
        reason: String,
    },
    #[error("instance {sop_instance_uid}: no copy in the store (index row {id})")]
    Missing { id: i64, sop_instance_uid: String },
}

/// Settings of compressed storage.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// zstd level for whole-instance blobs.
    pub zstd_level: i32,
    /// A series is compressed once no instance arrived for this long.
    pub stable_after_ms: i64,
    /// Compression jobs run at once.
    pub workers: usize,
}

/// The compressed-storage handle.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Store,
    index: Index,
    settings: Settings,
}

/// What compressing one series did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesReport {
    pub instances: usize,
    pub bytes_received: u64,
    pub bytes_stored: u64,
}

/// What verifying did.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub checked: usize,
    pub from_spool: usize,
    pub failures: Vec<String>,
}

impl Archive {
    pub fn new(store: Store, index: Index, settings: Settings) -> Archive {
        Archive {
            store,
            index,
            settings,
        }
    }

    /// The index handle.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Compresses every spooled instance of `series`, verifying each before
    /// its spool copy goes.
    pub async fn compress_series(&self, series: i64) -> Result<SeriesReport, ArchiveError> {
        let mut report = SeriesReport::default();
        for instance in self.index.spooled_instances(series).await? {
            let stored = self.compress_instance(&instance).await?;
            report.instances += 1;
            report.bytes_received += instance.size_received as u64;
            report.bytes_stored += stored;
        }
        Ok(report)
    }

    async fn compress_instance(&self, instance: &SpooledInstance) -> Result<u64, ArchiveError> {
        let store = self.store.clone();
        let spool = instance.spool_path.clone();
        let level = self.settings.zstd_level;
        let blob = blocking(move || {
            let bytes = store.read(&spool)?;
            let packed = zstd::encode_all(&bytes[..], level).map_err(ArchiveError::Zstd)?;
            Ok(store.write_blob(&packed)?)
        })
        .await?;
        let new_blob = NewBlob {
            kind: INSTANCE_ZSTD.to_owned(),
            path: blob.path.clone(),
            size: blob.size as i64,
            sha256: blob.sha256,
        };
        self.index
            .attach_blob(&new_blob, &[(instance.id, None)], None, now_ms())
            .await?;
        let location = Location {
            id: instance.id,
            sop_instance_uid: instance.sop_instance_uid.clone(),
            sha256: instance.sha256.clone(),
            blob_kind: Some(INSTANCE_ZSTD.to_owned()),
            blob_path: Some(blob.path),
            ..Location::default()
        };
        self.check(&location).await?;
        self.index
            .release_spool(instance.id, blob.size as i64)
            .await?;
        if !self.index.spool_path_in_use(&instance.spool_path).await? {
            self.store.remove(&instance.spool_path).await?;
        }
        Ok(blob.size)
    }

    /// The received bytes of an instance, from the spool while it is there,
    /// else rebuilt from its compressed form.
    pub async fn rebuild(&self, location: &Location) -> Result<Vec<u8>, ArchiveError> {
        if let Some(spool) = location.spool_path.clone() {
            let store = self.store.clone();
            return blocking(move || Ok(store.read(&spool)?)).await;
        }
        let store = self.store.clone();
        let location = location.clone();
        blocking(move || rebuild_from_blob(&store, &location)).await
    }

    /// Rebuilds `location` and compares its sha256 with the recorded one.
    async fn check(&self, location: &Location) -> Result<(), ArchiveError> {
        let bytes = self.rebuild(location).await?;
        let digest = hex(&Sha256::digest(&bytes));
        if digest == location.sha256 {
            Ok(())
        } else {
            Err(ArchiveError::Corrupt {
                sop_instance_uid: location.sop_instance_uid.clone(),
                reason: format!(
                    "rebuilt bytes have sha256 {digest}, received ones {}",
                    location.sha256
                ),
            })
        }
    }

    /// Rebuilds every instance (or those of one study) and checks each
    /// against the sha256 recorded when it was received.
    pub async fn verify(&self, study: Option<&str>) -> Result<VerifyReport, ArchiveError> {
        let mut report = VerifyReport::default();
        for location in self.index.locations(study).await? {
            report.checked += 1;
            report.from_spool += usize::from(location.spool_path.is_some());
            if let Err(e) = self.check(&location).await {
                report.failures.push(e.to_string());
            }
        }
        Ok(report)
    }
}

fn rebuild_from_blob(store: &Store, location: &Location) -> Result<Vec<u8>, ArchiveError> {
    let missing = || ArchiveError::Missing {
        id: location.id,
        sop_instance_uid: location.sop_instance_uid.clone(),
    };
    let path = location.blob_path.as_deref().ok_or_else(missing)?;
    match location.blob_kind.as_deref() {
        Some(INSTANCE_ZSTD) => {
            let packed = store.read(path)?;
            zstd::decode_all(&packed[..]).map_err(|e| ArchiveError::Corrupt {
                sop_instance_uid: location.sop_instance_uid.clone(),
                reason: format!("blob {path}: {e}"),
            })
        }
        other => Err(ArchiveError::Corrupt {
            sop_instance_uid: location.sop_instance_uid.clone(),
            reason: format!("unknown blob kind {other:?}"),
        }),
    }
}

/// Runs CPU or file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("archive worker panicked")
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
