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

mod cache;
mod export;
mod headers;
mod jobs;
pub mod models;
mod volumes;

use sha2::{Digest, Sha256};

use std::collections::HashMap;

use crate::codec;
use crate::index::{Index, IndexError, Location, NewBlob, SpooledInstance, now_ms};
use crate::store::{Store, StoreError, hex};
use crate::volume::assembly;

use cache::{Chunk, ChunkCache};
use volumes::{HEADERS, Slice, VOLUME};

pub use export::ExportReport;
pub use jobs::{PendingReport, compress_pending, run_jobs};

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
    #[error("codec: {0}")]
    Codec(#[from] codec::CodecError),
    #[error(transparent)]
    Headers(#[from] headers::HeadersError),
    #[error("instance {sop_instance_uid}: {reason}")]
    Corrupt {
        sop_instance_uid: String,
        reason: String,
    },
    #[error("instance {sop_instance_uid}: no copy in the store (index row {id})")]
    Missing { id: i64, sop_instance_uid: String },
}

/// Settings of compressed storage.
#[derive(Debug, Clone)]
pub struct Settings {
    /// zstd level for whole-instance blobs.
    pub zstd_level: i32,
    /// A series is compressed once no instance arrived for this long.
    pub stable_after_ms: i64,
    /// A series whose compression failed is queued again after this long.
    pub retry_failed_after_ms: i64,
    /// Compression jobs run at once.
    pub workers: usize,
    /// Codec threads per job; `None` = one per core.
    pub codec_threads: Option<usize>,
    /// Bytes of decoded chunks kept for retrieval.
    pub cache_bytes: usize,
    /// The codec section: which LSBV model codes new volumes, where models are, and the
    /// ONNX Runtime device.
    pub codec: crate::config::CodecConfig,
}

/// The process's models for `codec` (loaded on first use).
fn models(
    codec: &crate::config::CodecConfig,
) -> Result<std::sync::Arc<codec::model::ModelSet>, codec::CodecError> {
    models::shared(codec).map_err(|message| codec::CodecError::Model {
        model: codec.model.clone(),
        message,
    })
}

/// The compressed-storage handle.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Store,
    index: Index,
    settings: Settings,
    cache: ChunkCache,
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
            cache: ChunkCache::new(settings.cache_bytes),
            settings,
        }
    }

    /// The index handle.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Compresses every spooled instance of `series`: those that can be
    /// slices into volumes with the codec, the others one by one with zstd;
    /// each is verified before its spool copy goes.
    pub async fn compress_series(&self, series: i64) -> Result<SeriesReport, ArchiveError> {
        let mut report = SeriesReport::default();
        self.resume_verification(series, &mut report).await?;
        let instances = self.index.spooled_instances(series).await?;
        let (slices, singles) = self.cut_slices(instances).await?;
        let candidates: Vec<assembly::Candidate> = slices
            .values()
            .filter_map(|s| volumes::candidate(&s.instance))
            .collect();
        let mut slices = slices;
        for volume in assembly::assemble(&candidates) {
            let members: Vec<Slice> = volume.iter().filter_map(|id| slices.remove(id)).collect();
            let stored = self.pack_volume(members, false, &mut report).await?;
            report.bytes_stored += stored;
        }
        // What is left is multi-frame: each instance a volume of its own.
        for (_, slice) in slices {
            let stored = self.pack_volume(vec![slice], true, &mut report).await?;
            report.bytes_stored += stored;
        }
        for instance in singles {
            let stored = self.compress_instance(&instance).await?;
            report.instances += 1;
            report.bytes_received += instance.size_received as u64;
            report.bytes_stored += stored;
        }
        Ok(report)
    }

    /// Reads the candidates' received copies and cuts their pixel values
    /// out; instances that cannot be slices come back as singles.
    async fn cut_slices(
        &self,
        instances: Vec<SpooledInstance>,
    ) -> Result<(HashMap<i64, Slice>, Vec<SpooledInstance>), ArchiveError> {
        let store = self.store.clone();
        blocking(move || {
            let mut slices = HashMap::new();
            let mut singles = Vec::new();
            for instance in instances {
                if !volumes::codable(&instance) {
                    singles.push(instance);
                    continue;
                }
                let received = store.read(&instance.spool_path)?;
                match volumes::cut(&instance, &received) {
                    Some(slice) => {
                        slices.insert(instance.id, slice);
                    }
                    None => singles.push(instance),
                }
            }
            Ok((slices, singles))
        })
        .await
    }

    /// Encodes one volume and its headers, records them, verifies every
    /// slice, then releases the spool copies. Returns the bytes stored.
    /// `whole`: one multi-frame instance whose frames are the slices.
    async fn pack_volume(
        &self,
        slices: Vec<Slice>,
        whole: bool,
        report: &mut SeriesReport,
    ) -> Result<u64, ArchiveError> {
        let store = self.store.clone();
        let threads = self.settings.codec_threads;
        let codec = self.settings.codec.clone();
        let instances: Vec<SpooledInstance> = slices.iter().map(|s| s.instance.clone()).collect();
        let (container, header_blob) = blocking(move || {
            let models = models(&codec)?;
            let model =
                models
                    .select(&codec.model)
                    .map_err(|message| codec::CodecError::Model {
                        model: codec.model.clone(),
                        message,
                    })?;
            let options = codec::EncodeOptions {
                threads,
                ..codec.msbv.encode_options(codec.msbv_effort)
            };
            let container = volumes::encode(&slices, &options, model)?;
            let entries: Vec<headers::SliceHeader> = slices.into_iter().map(|s| s.header).collect();
            let packed = headers::encode(&entries, 19)?;
            Ok((store.write_blob(&container)?, store.write_blob(&packed)?))
        })
        .await?;
        let volume_blob = NewBlob {
            kind: VOLUME.to_owned(),
            path: container.path.clone(),
            size: container.size as i64,
            sha256: container.sha256.clone(),
        };
        let headers_blob = NewBlob {
            kind: HEADERS.to_owned(),
            path: header_blob.path.clone(),
            size: header_blob.size as i64,
            sha256: header_blob.sha256.clone(),
        };
        let members: Vec<(i64, Option<i64>)> = instances
            .iter()
            .enumerate()
            .map(|(k, i)| (i.id, (!whole).then_some(k as i64)))
            .collect();
        self.index
            .attach_blob(&volume_blob, &members, Some(&headers_blob), now_ms())
            .await?;
        let total = container.size + header_blob.size;
        let share = total / instances.len().max(1) as u64;
        for (k, instance) in instances.iter().enumerate() {
            let location = Location {
                id: instance.id,
                sop_instance_uid: instance.sop_instance_uid.clone(),
                sha256: instance.sha256.clone(),
                blob_kind: Some(VOLUME.to_owned()),
                blob_path: Some(container.path.clone()),
                blob_slice: (!whole).then_some(k as i64),
                header_path: Some(header_blob.path.clone()),
                ..Location::default()
            };
            self.check(&location).await?;
            self.release(instance, share).await?;
            report.instances += 1;
            report.bytes_received += instance.size_received as u64;
        }
        Ok(total)
    }

    async fn release(
        &self,
        instance: &SpooledInstance,
        size_stored: u64,
    ) -> Result<(), ArchiveError> {
        self.release_spool(instance.id, &instance.spool_path, size_stored)
            .await
    }

    async fn release_spool(
        &self,
        id: i64,
        spool_path: &str,
        size_stored: u64,
    ) -> Result<(), ArchiveError> {
        self.index.release_spool(id, size_stored as i64).await?;
        if !self.index.spool_path_in_use(spool_path).await? {
            self.store.remove(spool_path).await?;
        }
        Ok(())
    }

    /// Finishes what a stopped job left: instances whose blob is recorded
    /// but whose spool copy was not yet released are verified against that
    /// blob and released; nothing is encoded again.
    async fn resume_verification(
        &self,
        series: i64,
        report: &mut SeriesReport,
    ) -> Result<(), ArchiveError> {
        for (mut location, share) in self.index.unverified_instances(series).await? {
            let Some(spool_path) = location.spool_path.take() else {
                continue;
            };
            self.check(&location).await?;
            self.release_spool(location.id, &spool_path, share.max(0) as u64)
                .await?;
            report.instances += 1;
            report.bytes_stored += share.max(0) as u64;
        }
        Ok(())
    }

    /// Chunks decoded so far for retrieval (cache misses).
    pub fn decoded_chunks(&self) -> u64 {
        self.cache.decoded()
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
        let cache = self.cache.clone();
        let location = location.clone();
        let codec = self.settings.codec.clone();
        blocking(move || rebuild_from_blob(&store, &cache, &location, &codec)).await
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
            match self.check(&location).await {
                Ok(()) => {}
                Err(e @ ArchiveError::Corrupt { .. }) => report.failures.push(e.to_string()),
                Err(e) => report
                    .failures
                    .push(format!("instance {}: {e}", location.sop_instance_uid)),
            }
        }
        Ok(report)
    }
}

fn rebuild_from_blob(
    store: &Store,
    cache: &ChunkCache,
    location: &Location,
    codec: &crate::config::CodecConfig,
) -> Result<Vec<u8>, ArchiveError> {
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
        Some(VOLUME) => rebuild_slice(store, cache, location, path, codec),
        other => Err(ArchiveError::Corrupt {
            sop_instance_uid: location.sop_instance_uid.clone(),
            reason: format!("unknown blob kind {other:?}"),
        }),
    }
}

/// Header + decoded pixel words + trailer of one slice of a volume.
fn rebuild_slice(
    store: &Store,
    cache: &ChunkCache,
    location: &Location,
    container_path: &str,
    codec: &crate::config::CodecConfig,
) -> Result<Vec<u8>, ArchiveError> {
    let corrupt = |reason: String| ArchiveError::Corrupt {
        sop_instance_uid: location.sop_instance_uid.clone(),
        reason,
    };
    let header_path = location
        .header_path
        .as_deref()
        .ok_or_else(|| corrupt("volume slice without a headers blob".into()))?;
    let container = store.read(container_path)?;
    let limits = codec::Limits::default();
    let Some(z) = location.blob_slice.and_then(|z| usize::try_from(z).ok()) else {
        // A multi-frame instance: the whole volume is its pixel data.
        let header = headers::entry(&store.read(header_path)?, 0)?;
        let models = models(codec)?;
        let volume = codec::decode_with(&container, &limits, &models.all(), None)?;
        return Ok(volumes::splice(
            &header,
            &volume.words,
            volume.format.bits_allocated,
        ));
    };
    let header = headers::entry(&store.read(header_path)?, z)?;
    let info = codec::read_header(&container, &limits)?;
    let c = z / info.chunk_slices.max(1);
    let chunk = cache.get_or_decode(container_path, c, || {
        let models = models(codec)?;
        let (h, words) = codec::decode_one_chunk(&container, &limits, &models.all(), c)?;
        Ok::<_, ArchiveError>(Chunk {
            first_slice: h.chunk_range(c).0,
            slice_words: h.dims[1] * h.dims[2],
            words: std::sync::Arc::new(words),
        })
    })?;
    let words = chunk
        .slice(z)
        .ok_or_else(|| corrupt(format!("slice {z} not in chunk {c}")))?;
    Ok(volumes::splice(&header, words, info.format.bits_allocated))
}

/// Runs CPU or file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("archive worker panicked")
}
