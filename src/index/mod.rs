//! The index: every SQL statement of the archive, behind one cheap-to-clone
//! [`Index`] handle with narrow named methods.
//!
//! Backends: SQLite (an embedded file, the default) and PostgreSQL, chosen by
//! the URL scheme, through `sqlx`'s `Any` driver. Statements use `$N`
//! placeholders and SQL both dialects accept; schema differences live in
//! `migrations/sqlite` and `migrations/postgres`, embedded in the binary.
//!
//! Invariants: an instance row is committed only after its bytes are durable
//! on disk (the caller's duty, checked by [`NewInstance::spool_path`] pointing
//! at a synced file); patient, study, series and instance rows of one
//! instance are written in one transaction; for one SOP Instance UID exactly
//! one row is current.

mod duplicates;
mod query;
mod storage;

use std::str::FromStr;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use crate::config::DuplicatePolicy;
pub use query::{Level, Record, Scope};
pub use storage::{JOB_LEASE_MS, Job, Location, NewBlob, SpooledInstance};

/// Errors of the index layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot open index database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate index database {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("index database: {0}")]
    Query(#[from] sqlx::Error),
    #[error("instance {instance} already points at a compressed blob (compressed concurrently)")]
    AlreadyCompressed { instance: i64 },
}

/// Which SQL dialect the index speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl FromStr for Backend {
    type Err = IndexError;
    fn from_str(url: &str) -> Result<Backend, IndexError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(IndexError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// The index handle.
#[derive(Debug, Clone)]
pub struct Index {
    pool: AnyPool,
    backend: Backend,
}

/// Attributes of one received instance, as the index stores them.
#[derive(Debug, Clone, Default)]
pub struct NewInstance {
    pub patient_id: String,
    pub issuer_of_patient_id: String,
    pub patient_name: String,
    pub birth_date: String,
    pub sex: String,
    pub study_instance_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub accession_number: String,
    pub study_id: String,
    pub study_description: String,
    pub referring_physician: String,
    pub character_set: String,
    pub series_instance_uid: String,
    pub modality: String,
    pub series_number: String,
    pub series_description: String,
    pub series_date: String,
    pub series_time: String,
    pub body_part: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub transfer_syntax_uid: String,
    pub instance_number: String,
    pub rows: i64,
    pub columns: i64,
    pub samples_per_pixel: i64,
    pub bits_allocated: i64,
    pub bits_stored: i64,
    pub pixel_representation: i64,
    pub number_of_frames: i64,
    pub image_position: String,
    pub image_orientation: String,
    /// `network` or `file`.
    pub source: String,
    pub calling_ae: String,
    pub received_ms: i64,
    pub sha256: String,
    pub size_received: i64,
    pub data_set_offset: i64,
    /// Path of the durable received copy, relative to the data directory.
    pub spool_path: String,
}

/// The current row of a SOP Instance UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    pub id: i64,
    pub version: i64,
    pub sha256: String,
    pub spool_path: Option<String>,
}

/// What storing an instance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new instance row.
    Stored { id: i64 },
    /// Same SOP Instance UID, same bytes: nothing new was written.
    Identical { id: i64 },
    /// Same UID, other bytes, policy `reject`: the old copy stays.
    RejectedDifferent { id: i64 },
    /// Same UID, other bytes, policy `replace`: the new row is current and
    /// the old row's spool file (if any) may be deleted by the caller.
    Replaced {
        id: i64,
        old_spool_path: Option<String>,
    },
    /// Same UID, other bytes, policy `keep-both`: a new version.
    NewVersion { id: i64, version: i64 },
}

/// Totals for `strata stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub patients: i64,
    pub studies: i64,
    pub series: i64,
    pub instances: i64,
    /// Codec containers (volumes) in the store.
    pub volumes: i64,
    pub bytes_received: i64,
    pub bytes_stored: i64,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Index {
    /// Connects (creating an SQLite file if needed) and applies migrations.
    pub async fn open(url: &str) -> Result<Index, IndexError> {
        let backend: Backend = url.parse()?;
        sqlx::any::install_default_drivers();
        let connect_url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .connect(&connect_url)
            .await
            .map_err(|source| IndexError::Connect {
                url: redact_url(url),
                source,
            })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| IndexError::Migrate {
                url: redact_url(url),
                source,
            })?;
        Ok(Index { pool, backend })
    }

    /// The dialect in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The current row of `sop_instance_uid`, if any.
    pub async fn find_current(
        &self,
        sop_instance_uid: &str,
    ) -> Result<Option<StoredInstance>, IndexError> {
        let row = sqlx::query(
            "SELECT id, version, sha256, spool_path FROM instances \
             WHERE sop_instance_uid = $1 AND is_current = 1",
        )
        .bind(sop_instance_uid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| stored_instance(&r)).transpose()
    }

    /// Records a received instance under the duplicate policy, in one
    /// transaction. A concurrent insert of the same UID is retried once so
    /// that it sees the other as a duplicate.
    pub async fn insert_instance(
        &self,
        instance: &NewInstance,
        policy: DuplicatePolicy,
    ) -> Result<InsertOutcome, IndexError> {
        match duplicates::insert(&self.pool, self.backend, instance, policy).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Ok(duplicates::insert(&self.pool, self.backend, instance, policy).await?)
            }
            other => Ok(other?),
        }
    }

    /// Every spool path the index refers to (for start-up recovery).
    pub async fn spool_paths(&self) -> Result<Vec<String>, IndexError> {
        let rows = sqlx::query("SELECT spool_path FROM instances WHERE spool_path IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(IndexError::from))
            .collect()
    }

    /// Whether any instance row refers to the spool file `path`.
    pub async fn spool_path_in_use(&self, path: &str) -> Result<bool, IndexError> {
        let row = sqlx::query("SELECT COUNT(*) FROM instances WHERE spool_path = $1")
            .bind(path)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Totals over current instances.
    pub async fn stats(&self) -> Result<Stats, IndexError> {
        let count = |sql: &'static str| async move {
            let row = sqlx::query(sql).fetch_one(&self.pool).await?;
            Ok::<i64, IndexError>(row.try_get::<i64, _>(0)?)
        };
        Ok(Stats {
            patients: count("SELECT COUNT(*) FROM patients").await?,
            studies: count("SELECT COUNT(*) FROM studies").await?,
            series: count("SELECT COUNT(*) FROM series").await?,
            instances: count("SELECT COUNT(*) FROM instances WHERE is_current = 1").await?,
            volumes: count("SELECT COUNT(*) FROM blobs WHERE kind = 'volume'").await?,
            bytes_received: count(
                "SELECT CAST(COALESCE(SUM(size_received), 0) AS BIGINT) FROM instances WHERE is_current = 1",
            )
            .await?,
            bytes_stored: count(
                "SELECT CAST(COALESCE(SUM(size_stored), 0) AS BIGINT) FROM instances WHERE is_current = 1",
            )
            .await?,
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn stored_instance(row: &AnyRow) -> Result<StoredInstance, IndexError> {
    Ok(StoredInstance {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        spool_path: row.try_get("spool_path")?,
    })
}

/// Now, in Unix milliseconds: the unit of every time the index records.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            "sqlite://var/index.sqlite".parse::<Backend>().unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            "postgres://u:p@localhost/db".parse::<Backend>().unwrap(),
            Backend::Postgres
        );
        assert!("mysql://x".parse::<Backend>().is_err());
    }

    #[test]
    fn password_is_redacted() {
        assert_eq!(
            redact_url("postgres://strata:secret@db:5432/pacs"),
            "postgres://strata:***@db:5432/pacs"
        );
        assert_eq!(redact_url("sqlite://var/x.sqlite"), "sqlite://var/x.sqlite");
    }
}
