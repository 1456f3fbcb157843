//! The store: files under the data directory: the spool of received copies
//! and the blobs of compressed storage.
//!
//! Layout (relative to the data directory, never built from UIDs):
//! `spool/tmp/<n>.part` while a data set arrives, then
//! `spool/<aa>/<sha256>`: the received bytes, named by their digest;
//! `blobs/<aa>/<sha256>`: compressed files (volume containers, header
//! blobs, zstd-compressed instances), named by their digest.
//!
//! Invariants: a file outside `spool/tmp` is complete and durable (its bytes
//! and its directory entry were fsynced before it got its name); nothing in
//! `spool/tmp` survives a restart, nor a spool or blob file the index does
//! not refer to ([`Store::recover`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data set exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Handle on the data directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A durable received copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Path relative to the data directory.
    pub path: String,
    /// Hex sha256 of the bytes.
    pub sha256: String,
    pub size: u64,
}

/// What start-up recovery removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub partial_removed: usize,
    pub unreferenced_removed: usize,
}

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + use<> {
    let path = path.to_owned();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

impl Store {
    /// Opens (creating) the store below `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: data_dir.to_owned(),
        };
        let tmp = store.root.join("spool/tmp");
        std::fs::create_dir_all(&tmp).map_err(io_err("cannot create", &tmp))?;
        Ok(store)
    }

    /// Absolute path of a store-relative path.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Starts a new received copy of at most `limit` bytes.
    pub async fn spool_writer(&self, limit: u64) -> Result<SpoolWriter, StoreError> {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join(format!("spool/tmp/{}-{n}.part", std::process::id()));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err("cannot create", &tmp))?;
        Ok(SpoolWriter {
            store: self.clone(),
            file,
            tmp,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Removes a spool file that nothing refers to any more.
    pub async fn remove(&self, relative: &str) -> Result<(), StoreError> {
        let path = self.path(relative);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err("cannot remove", &path)(e))
            }
            _ => Ok(()),
        }
    }

    /// Writes a blob durably and returns its store-relative path, digest and
    /// size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Spooled, StoreError> {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join(format!("spool/tmp/{}-{n}.blob", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io_err("cannot write", &tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err("cannot sync", &tmp))?;
        let sha256 = hex(&Sha256::digest(bytes));
        let relative = format!("blobs/{}/{}", &sha256[..2], sha256);
        let target = self.path(&relative);
        let dir = target.parent().expect("blob path has a parent").to_owned();
        place_durably(&tmp, &dir, &target)?;
        Ok(Spooled {
            path: relative,
            sha256,
            size: bytes.len() as u64,
        })
    }

    /// Reads a whole store file.
    pub fn read(&self, relative: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(relative);
        std::fs::read(&path).map_err(io_err("cannot read", &path))
    }

    /// Removes partial files, and spool and blob files the index does not
    /// refer to: they belong to data sets never acknowledged or to
    /// compression work that never committed.
    pub fn recover(&self, referenced: &HashSet<String>) -> Result<Recovery, StoreError> {
        let mut report = Recovery::default();
        let spool = self.root.join("spool");
        for entry in read_dir(&spool.join("tmp"))? {
            remove_file(&entry)?;
            report.partial_removed += 1;
        }
        for top in [spool, self.root.join("blobs")] {
            report.unreferenced_removed += self.remove_unreferenced(&top, referenced)?;
        }
        Ok(report)
    }

    fn remove_unreferenced(
        &self,
        top: &Path,
        referenced: &HashSet<String>,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        if !top.is_dir() {
            return Ok(0);
        }
        for dir in read_dir(top)? {
            if !dir.is_dir() || dir.ends_with("tmp") {
                continue;
            }
            for file in read_dir(&dir)? {
                let relative = file
                    .strip_prefix(&self.root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !referenced.contains(&relative) {
                    remove_file(&file)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(io_err("cannot list", dir))?;
    entries
        .map(|e| e.map(|e| e.path()).map_err(io_err("cannot list", dir)))
        .collect()
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path).map_err(io_err("cannot remove", path))
}

/// A received copy being written; [`finish`](SpoolWriter::finish) makes it
/// durable, dropping it without `finish` leaves a partial file that
/// [`discard`](SpoolWriter::discard) or recovery removes.
#[derive(Debug)]
pub struct SpoolWriter {
    store: Store,
    file: tokio::fs::File,
    tmp: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl SpoolWriter {
    /// Appends bytes, refusing to grow past the limit.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let size = self.size + bytes.len() as u64;
        if size > self.limit {
            return Err(StoreError::TooLarge { limit: self.limit });
        }
        self.file
            .write_all(bytes)
            .await
            .map_err(io_err("cannot write", &self.tmp))?;
        self.hasher.update(bytes);
        self.size = size;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fsyncs the bytes, moves them to their digest-named place and fsyncs
    /// the directory entry.
    pub async fn finish(mut self) -> Result<Spooled, StoreError> {
        self.file
            .flush()
            .await
            .map_err(io_err("cannot write", &self.tmp))?;
        self.file
            .sync_all()
            .await
            .map_err(io_err("cannot sync", &self.tmp))?;
        let sha256 = hex(&self.hasher.finalize());
        let relative = format!("spool/{}/{}", &sha256[..2], sha256);
        let target = self.store.path(&relative);
        let dir = target.parent().expect("spool path has a parent").to_owned();
        let tmp = self.tmp.clone();
        tokio::task::spawn_blocking(move || place_durably(&tmp, &dir, &target))
            .await
            .expect("spool task panicked")?;
        Ok(Spooled {
            path: relative,
            sha256,
            size: self.size,
        })
    }

    /// Deletes the partial file.
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

fn place_durably(tmp: &Path, dir: &Path, target: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    std::fs::rename(tmp, target).map_err(io_err("cannot move into place", target))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot sync", dir))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spooled_copy_is_named_by_digest_and_recovery_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.spool_writer(1024).await.unwrap();
        w.write(b"abc").await.unwrap();
        let spooled = w.finish().await.unwrap();
        // sha256("abc")
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(spooled.sha256, digest);
        assert_eq!(spooled.path, format!("spool/ba/{digest}"));
        assert_eq!(std::fs::read(store.path(&spooled.path)).unwrap(), b"abc");

        let partial = store.spool_writer(1024).await.unwrap();
        drop(partial);
        let orphan = store
            .spool_writer(1024)
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        let referenced = HashSet::from([spooled.path.clone()]);
        let report = store.recover(&referenced).unwrap();
        assert_eq!(
            report,
            Recovery {
                partial_removed: 1,
                unreferenced_removed: 1
            }
        );
        assert!(store.path(&spooled.path).exists());
        assert!(!store.path(&orphan.path).exists());
    }

    #[tokio::test]
    async fn writer_refuses_one_byte_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.spool_writer(4).await.unwrap();
        w.write(b"abcd").await.unwrap();
        let err = w.write(b"e").await.unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { limit: 4 }));
        w.discard().await;
        assert_eq!(
            std::fs::read_dir(store.path("spool/tmp")).unwrap().count(),
            0
        );
    }
}
