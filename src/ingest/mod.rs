//! Ingest: turns a durable received copy into an indexed instance. Shared by
//! the C-STORE service and `strata import`, so both follow one path.
//!
//! What enters: a [`Spooled`] copy (already fsynced by the store), its
//! transfer syntax and where it came from. What leaves: the index outcome.
//!
//! Invariants: the received bytes are never rewritten; attributes are read
//! from the spooled copy with `dicom-object` for the index only; a spool file
//! is deleted only when no index row refers to it (received copies are named
//! by digest, so one file can back several rows).

mod attributes;
mod import;

use std::collections::HashSet;

use crate::config::DuplicatePolicy;
use crate::index::{Index, IndexError, InsertOutcome, now_ms};
use crate::store::{Recovery, Spooled, Store, StoreError};

pub use attributes::AttributeError;
pub use import::{ImportError, Part10Front, read_front};

/// Where a received copy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A C-STORE data set (no file meta information).
    Network { calling_ae: String },
    /// A Part-10 file read from disk; the data set starts at the offset.
    File { data_set_offset: u64 },
}

/// A durable received copy waiting to be indexed.
#[derive(Debug, Clone)]
pub struct Received {
    pub spooled: Spooled,
    pub transfer_syntax_uid: String,
    pub origin: Origin,
}

/// Errors of ingest, by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The data set cannot be read or lacks a required attribute.
    #[error(transparent)]
    Unreadable(#[from] AttributeError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ingest handle: store, index and the duplicate policy.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: Store,
    index: Index,
    policy: DuplicatePolicy,
}

/// What ingest did with one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub outcome: InsertOutcome,
}

impl Ingest {
    pub fn new(store: Store, index: Index, policy: DuplicatePolicy) -> Ingest {
        Ingest {
            store,
            index,
            policy,
        }
    }

    /// Opens the store and index of `config` (creating them on first use).
    pub async fn open(config: &crate::config::Config) -> Result<Ingest, IngestError> {
        let store = Store::open(&config.storage.data_dir)?;
        let index = Index::open(&config.storage.effective_database_url()).await?;
        Ok(Ingest::new(store, index, config.storage.duplicate_policy))
    }

    /// The compressed-storage handle over the same store and index.
    pub fn archive(&self, settings: crate::archive::Settings) -> crate::archive::Archive {
        crate::archive::Archive::new(self.store.clone(), self.index.clone(), settings)
    }

    /// Start-up recovery: removes partial and unacknowledged spool files.
    /// Only the node that owns the data directory may call it, before it
    /// accepts associations.
    pub async fn recover(&self) -> Result<Recovery, IngestError> {
        let mut referenced: HashSet<String> = self.index.spool_paths().await?.into_iter().collect();
        referenced.extend(self.index.blob_paths().await?);
        let stale_before = crate::index::now_ms() - crate::index::JOB_LEASE_MS;
        let requeued = self.index.requeue_stale_jobs(stale_before).await?;
        if requeued > 0 {
            tracing::info!(requeued, "compression jobs interrupted by a stop resume");
        }
        let store = self.store.clone();
        let report = tokio::task::spawn_blocking(move || store.recover(&referenced))
            .await
            .expect("recovery panicked")?;
        Ok(report)
    }

    /// The store handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The index handle.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Reads the index attributes of `received` and records it. On failure
    /// the spooled copy is removed unless another row refers to it.
    pub async fn accept(&self, received: Received) -> Result<Accepted, IngestError> {
        let path = received.spooled.path.clone();
        let result = self.index_received(received).await;
        match &result {
            Ok(accepted) => self.release_after(&path, &accepted.outcome).await?,
            Err(_) => self.release(&path).await?,
        }
        result
    }

    async fn index_received(&self, received: Received) -> Result<Accepted, IngestError> {
        let file = self.store.path(&received.spooled.path);
        let ts = received.transfer_syntax_uid.clone();
        let offset = match received.origin {
            Origin::File { data_set_offset } => data_set_offset,
            Origin::Network { .. } => 0,
        };
        let mut instance =
            tokio::task::spawn_blocking(move || attributes::read(&file, offset, &ts))
                .await
                .expect("attribute reader panicked")?;
        instance.transfer_syntax_uid = received.transfer_syntax_uid;
        instance.sha256 = received.spooled.sha256;
        instance.size_received = received.spooled.size as i64;
        instance.spool_path = received.spooled.path;
        instance.received_ms = now_ms();
        (
            instance.source,
            instance.calling_ae,
            instance.data_set_offset,
        ) = match received.origin {
            Origin::Network { calling_ae } => ("network".into(), calling_ae, 0),
            Origin::File { data_set_offset } => {
                ("file".into(), String::new(), data_set_offset as i64)
            }
        };
        let outcome = self.index.insert_instance(&instance, self.policy).await?;
        Ok(Accepted {
            sop_instance_uid: instance.sop_instance_uid,
            sop_class_uid: instance.sop_class_uid,
            outcome,
        })
    }

    async fn release_after(&self, path: &str, outcome: &InsertOutcome) -> Result<(), IngestError> {
        match outcome {
            // The copy may duplicate one already compressed (its spool file
            // released): then nothing refers to it.
            InsertOutcome::RejectedDifferent { .. } | InsertOutcome::Identical { .. } => {
                self.release(path).await
            }
            InsertOutcome::Replaced {
                old_spool_path: Some(old),
                ..
            } => self.release(old).await,
            _ => Ok(()),
        }
    }

    async fn release(&self, path: &str) -> Result<(), IngestError> {
        if !self.index.spool_path_in_use(path).await? {
            self.store.remove(path).await?;
        }
        Ok(())
    }
}
