//! Importing Part-10 files from disk: the whole file is the received copy
//! (kept byte for byte, preamble and file meta included); the index records
//! where its data set starts.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use dicom_dictionary_std::uids;

use super::{Accepted, Ingest, IngestError, Origin, Received};
use crate::dataset::{TransferSyntax, split_part10};

/// Bytes read from disk per write into the spool.
const CHUNK: usize = 1 << 20;

/// Why a file was not imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{path}: not a DICOM Part-10 file ({reason})")]
    NotDicom { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Ingest { path: PathBuf, source: IngestError },
}

/// Where the data set of a Part-10 file starts and how it is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Front {
    pub data_set_offset: u64,
    pub transfer_syntax_uid: String,
}

/// Reads the file front (PS3.10 7.1) of `head`, the first bytes of a file.
/// A file without file meta information is read as a bare data set whose
/// native transfer syntax is recognised from its first element.
pub fn read_front(head: &[u8]) -> Result<Part10Front, String> {
    let part10 = split_part10(head).map_err(|e| e.to_string())?;
    let data_set = &head[part10.data_set_offset.min(head.len())..];
    let uid = match part10.transfer_syntax_uid {
        Some(uid) => uid,
        None => sniffed_uid(data_set).ok_or("no file meta and no recognisable data set")?,
    };
    if part10.meta.is_none() && !looks_like_data_set(data_set) {
        return Err("no file meta and no recognisable data set".into());
    }
    Ok(Part10Front {
        data_set_offset: part10.data_set_offset as u64,
        transfer_syntax_uid: uid,
    })
}

fn sniffed_uid(data_set: &[u8]) -> Option<String> {
    let uid = match TransferSyntax::sniff(data_set)? {
        TransferSyntax::ImplicitVrLittleEndian => uids::IMPLICIT_VR_LITTLE_ENDIAN,
        TransferSyntax::ExplicitVrLittleEndian => uids::EXPLICIT_VR_LITTLE_ENDIAN,
        // Explicit VR Big Endian (retired, PS3.5 A.3), still found in archives.
        TransferSyntax::ExplicitVrBigEndian => "1.2.840.10008.1.2.2",
        _ => return None,
    };
    Some(uid.to_owned())
}

/// A bare data set starts with a group-0008 element (or 0002 for a stray
/// meta), in either byte order.
fn looks_like_data_set(data_set: &[u8]) -> bool {
    matches!(
        data_set.get(..2),
        Some([0x08, 0x00] | [0x00, 0x08] | [0x02, 0x00] | [0x00, 0x02])
    )
}

impl Ingest {
    /// Imports one file through the same path as a C-STORE.
    pub async fn import_file(&self, path: &Path, limit: u64) -> Result<Accepted, ImportError> {
        let io = |source| ImportError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut head = vec![0u8; 64 * 1024];
        let n = read_full(&mut file, &mut head).await.map_err(io)?;
        head.truncate(n);
        let front = read_front(&head).map_err(|reason| ImportError::NotDicom {
            path: path.to_owned(),
            reason,
        })?;
        let ingest_err = |source| ImportError::Ingest {
            path: path.to_owned(),
            source,
        };
        let mut writer = self
            .store()
            .spool_writer(limit)
            .await
            .map_err(|e| ingest_err(e.into()))?;
        let mut chunk = head;
        loop {
            if let Err(e) = writer.write(&chunk).await {
                writer.discard().await;
                return Err(ingest_err(e.into()));
            }
            chunk.resize(CHUNK, 0);
            let n = read_full(&mut file, &mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
        }
        let spooled = writer.finish().await.map_err(|e| ingest_err(e.into()))?;
        self.accept(Received {
            spooled,
            transfer_syntax_uid: front.transfer_syntax_uid,
            origin: Origin::File {
                data_set_offset: front.data_set_offset,
            },
        })
        .await
        .map_err(ingest_err)
    }
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
