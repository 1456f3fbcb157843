//! Export: instances as Part-10 files. An instance imported from a file is
//! written back byte for byte; one received over the network gets a File
//! Meta Information group (PS3.10 7.1) in front of its data set exactly as
//! received.

use std::path::{Path, PathBuf};

use dicom_object::meta::FileMetaTableBuilder;

use super::{Archive, ArchiveError};
use crate::index::{Location, Scope};

/// Implementation Class UID written into the file meta of exported files.
pub const IMPLEMENTATION_CLASS_UID: &str = "1.2.826.0.1.3680043.10.1459.1";
/// Implementation Version Name written with it.
pub const IMPLEMENTATION_VERSION_NAME: &str = "STRATA_010";

/// What one export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub files: usize,
    pub bytes: u64,
}

impl Archive {
    /// Writes every current instance within `scope` into `dir`.
    pub async fn export(&self, scope: &Scope, dir: &Path) -> Result<ExportReport, ArchiveError> {
        let mut report = ExportReport::default();
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for location in self.index.locations_in(scope).await? {
            let bytes = self.part10(&location).await?;
            let path = dir.join(file_name(&location));
            std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
            report.files += 1;
            report.bytes += bytes.len() as u64;
        }
        Ok(report)
    }

    /// The instance as a Part-10 file.
    pub async fn part10(&self, location: &Location) -> Result<Vec<u8>, ArchiveError> {
        let received = self.rebuild(location).await?;
        if location.data_set_offset > 0 {
            return Ok(received);
        }
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(location.sop_class_uid.as_str())
            .media_storage_sop_instance_uid(location.sop_instance_uid.as_str())
            .transfer_syntax(location.transfer_syntax_uid.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
            .build()
            .map_err(|e| corrupt(location, e.to_string()))?;
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        meta.write(&mut out)
            .map_err(|e| corrupt(location, e.to_string()))?;
        out.extend_from_slice(&received);
        Ok(out)
    }
}

/// A file name from the SOP Instance UID when it is a well-formed UID,
/// else from the index row id: nothing from the data reaches the path
/// unchecked.
fn file_name(location: &Location) -> PathBuf {
    let uid = &location.sop_instance_uid;
    let safe =
        !uid.is_empty() && uid.len() <= 64 && uid.chars().all(|c| c.is_ascii_digit() || c == '.');
    if safe {
        PathBuf::from(format!("{uid}.dcm"))
    } else {
        PathBuf::from(format!("instance-{}.dcm", location.id))
    }
}

fn io(path: &Path, e: std::io::Error) -> ArchiveError {
    ArchiveError::Store(crate::store::StoreError::Io {
        action: "cannot write",
        path: path.to_owned(),
        source: e,
    })
}

fn corrupt(location: &Location, reason: String) -> ArchiveError {
    ArchiveError::Corrupt {
        sop_instance_uid: location.sop_instance_uid.clone(),
        reason,
    }
}
