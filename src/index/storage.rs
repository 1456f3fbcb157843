//! Index statements of the compressed storage: jobs, blobs, and where each
//! instance's bytes live.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Index, IndexError};

/// A compression job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub series: i64,
    pub attempts: i64,
}

/// How long a running job stays its compressor's without a heartbeat; the
/// compressor renews it every sixth of that ([`Index::heartbeat_job`]).
pub const JOB_LEASE_MS: i64 = 30_000;

/// An instance whose received copy is still in the spool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpooledInstance {
    pub id: i64,
    pub sop_instance_uid: String,
    pub sha256: String,
    pub spool_path: String,
    pub transfer_syntax_uid: String,
    pub data_set_offset: i64,
    pub size_received: i64,
    pub rows: i64,
    pub columns: i64,
    pub samples_per_pixel: i64,
    pub bits_allocated: i64,
    pub bits_stored: i64,
    pub pixel_representation: i64,
    pub number_of_frames: i64,
    pub image_position: String,
    pub image_orientation: String,
    pub instance_number: String,
}

/// A new blob file of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlob {
    pub kind: String,
    pub path: String,
    pub size: i64,
    pub sha256: String,
}

/// Where an instance's bytes are, for rebuilding them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub id: i64,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub transfer_syntax_uid: String,
    /// Where the data set starts in the received copy (files keep their
    /// preamble and file meta).
    pub data_set_offset: i64,
    pub sha256: String,
    pub spool_path: Option<String>,
    pub blob_kind: Option<String>,
    pub blob_path: Option<String>,
    pub blob_slice: Option<i64>,
    pub header_path: Option<String>,
}

const LOCATION_SELECT: &str = "SELECT i.id, i.sop_instance_uid, i.sop_class_uid, \
     i.transfer_syntax_uid, i.data_set_offset, i.sha256, i.spool_path, \
     b.kind AS blob_kind, b.path AS blob_path, i.blob_slice, h.path AS header_path \
     FROM instances i LEFT JOIN blobs b ON b.id = i.blob LEFT JOIN blobs h ON h.id = i.header_blob";

impl Index {
    /// Series with spooled, not yet compressed instances whose last instance
    /// arrived at or before `stable_before_ms` (Unix ms).
    pub async fn stable_series(&self, stable_before_ms: i64) -> Result<Vec<i64>, IndexError> {
        let rows = sqlx::query(
            "SELECT DISTINCT s.id FROM series s JOIN instances i ON i.series = s.id \
             WHERE i.spool_path IS NOT NULL AND s.last_received_ms <= $1 \
             ORDER BY s.id",
        )
        .bind(stable_before_ms)
        .fetch_all(&self.pool)
        .await?;
        ids(&rows)
    }

    /// Adds a pending job for `series` unless one is pending or running, or
    /// one failed after `retry_failed_before_ms` with no instance of the
    /// series received since that job was queued, i.e. none it could have
    /// missed (pass `i64::MAX` to retry failed series now).
    /// One statement; the index `jobs_one_open_per_series` refuses a second
    /// open job that another process queued at the same moment.
    pub async fn enqueue_job(
        &self,
        series: i64,
        now_ms: i64,
        retry_failed_before_ms: i64,
    ) -> Result<bool, IndexError> {
        let done = sqlx::query(
            "INSERT INTO jobs (kind, series, state, attempts, created_ms, updated_ms) \
             SELECT 'compress', $1, 'pending', 0, $2, $2 WHERE NOT EXISTS \
             (SELECT 1 FROM jobs WHERE series = $1 AND state IN ('pending', 'running')) \
             AND NOT EXISTS (SELECT 1 FROM jobs j JOIN series s ON s.id = j.series \
             WHERE j.series = $1 AND j.state = 'failed' AND j.updated_ms > $3 \
             AND j.created_ms >= s.last_received_ms)",
        )
        .bind(series)
        .bind(now_ms)
        .bind(retry_failed_before_ms)
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a job for `series` is pending or running.
    pub async fn job_open(&self, series: i64) -> Result<bool, IndexError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM jobs WHERE series = $1 AND state IN ('pending', 'running')",
        )
        .bind(series)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Takes the oldest pending job and marks it running.
    pub async fn claim_job(&self, now_ms: i64) -> Result<Option<Job>, IndexError> {
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_ms = $1 \
             WHERE id = (SELECT id FROM jobs WHERE state = 'pending' ORDER BY id LIMIT 1{lock}) \
             RETURNING id, series, attempts"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Job {
                id: r.try_get("id")?,
                series: r.try_get("series")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Records the end of a job: `error` is `None` on success.
    pub async fn finish_job(
        &self,
        job: &Job,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, updated_ms = $3 \
             WHERE id = $4 AND attempts = $5 AND state = 'running'",
        )
        .bind(if error.is_some() { "failed" } else { "done" })
        .bind(error)
        .bind(now_ms)
        .bind(job.id)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Renews the lease of a running job (see [`JOB_LEASE_MS`]). False when
    /// the job is no longer this claim's: it was taken over as stale.
    pub async fn heartbeat_job(&self, job: &Job, now_ms: i64) -> Result<bool, IndexError> {
        let done = sqlx::query(
            "UPDATE jobs SET updated_ms = $1 WHERE id = $2 AND attempts = $3 AND state = 'running'",
        )
        .bind(now_ms)
        .bind(job.id)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts running jobs whose lease ran out before `stale_before_ms` back in
    /// the queue: their compressor (a stopped node, a killed `strata
    /// compress-pending`) no longer renews them. Live ones are left alone.
    pub async fn requeue_stale_jobs(&self, stale_before_ms: i64) -> Result<u64, IndexError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending' WHERE state = 'running' AND updated_ms < $1",
        )
        .bind(stale_before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The last error of each failed job, newest first.
    pub async fn failed_jobs(&self) -> Result<Vec<(i64, String)>, IndexError> {
        let rows =
            sqlx::query("SELECT series, error FROM jobs WHERE state = 'failed' ORDER BY id DESC")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Instances of `series` whose only copy is the spool file.
    pub async fn spooled_instances(&self, series: i64) -> Result<Vec<SpooledInstance>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, sop_instance_uid, sha256, spool_path, transfer_syntax_uid, \
             data_set_offset, size_received, rows, columns, samples_per_pixel, bits_allocated, \
             bits_stored, pixel_representation, number_of_frames, image_position, \
             image_orientation, instance_number FROM instances \
             WHERE series = $1 AND blob IS NULL AND spool_path IS NOT NULL ORDER BY id",
        )
        .bind(series)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SpooledInstance {
                    id: r.try_get("id")?,
                    sop_instance_uid: r.try_get("sop_instance_uid")?,
                    sha256: r.try_get("sha256")?,
                    spool_path: r.try_get("spool_path")?,
                    transfer_syntax_uid: r.try_get("transfer_syntax_uid")?,
                    data_set_offset: r.try_get("data_set_offset")?,
                    size_received: r.try_get("size_received")?,
                    rows: r.try_get("rows")?,
                    columns: r.try_get("columns")?,
                    samples_per_pixel: r.try_get("samples_per_pixel")?,
                    bits_allocated: r.try_get("bits_allocated")?,
                    bits_stored: r.try_get("bits_stored")?,
                    pixel_representation: r.try_get("pixel_representation")?,
                    number_of_frames: r.try_get("number_of_frames")?,
                    image_position: r.try_get("image_position")?,
                    image_orientation: r.try_get("image_orientation")?,
                    instance_number: r.try_get("instance_number")?,
                })
            })
            .collect()
    }

    /// Records a blob and points instances at it, in one transaction:
    /// `(instance id, slice)` pairs; `header_blob` for volumes.
    pub async fn attach_blob(
        &self,
        blob: &NewBlob,
        instances: &[(i64, Option<i64>)],
        header_blob: Option<&NewBlob>,
        now_ms: i64,
    ) -> Result<i64, IndexError> {
        let mut tx = self.pool.begin().await?;
        let blob_id = insert_blob(&mut tx, blob, now_ms).await?;
        let header_id = match header_blob {
            Some(h) => Some(insert_blob(&mut tx, h, now_ms).await?),
            None => None,
        };
        for (instance, slice) in instances {
            let done = sqlx::query(
                "UPDATE instances SET blob = $1, blob_slice = $2, header_blob = $3 \
                 WHERE id = $4 AND blob IS NULL",
            )
            .bind(blob_id)
            .bind(*slice)
            .bind(header_id)
            .bind(*instance)
            .execute(&mut *tx)
            .await?;
            // Dropping `tx` rolls the blob rows back: the instance keeps the
            // blob that another compressor attached first.
            if done.rows_affected() != 1 {
                return Err(IndexError::AlreadyCompressed {
                    instance: *instance,
                });
            }
        }
        tx.commit().await?;
        Ok(blob_id)
    }

    /// After verification: the spool copy of `instance` is no longer needed;
    /// `size_stored` is its share of the compressed bytes.
    pub async fn release_spool(&self, instance: i64, size_stored: i64) -> Result<(), IndexError> {
        sqlx::query("UPDATE instances SET spool_path = NULL, size_stored = $1 WHERE id = $2")
            .bind(size_stored)
            .bind(instance)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every blob path the index refers to (for start-up recovery).
    pub async fn blob_paths(&self) -> Result<Vec<String>, IndexError> {
        let rows = sqlx::query("SELECT path FROM blobs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(IndexError::from))
            .collect()
    }

    /// Where every instance (or those of one study) lives.
    pub async fn locations(&self, study: Option<&str>) -> Result<Vec<Location>, IndexError> {
        let rows = match study {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{LOCATION_SELECT} ORDER BY i.id")))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(uid) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{LOCATION_SELECT} JOIN series s ON s.id = i.series \
                     JOIN studies st ON st.id = s.study WHERE st.study_instance_uid = $1 ORDER BY i.id"
                )))
                .bind(uid)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(location).collect()
    }
}

impl Index {
    /// Instances of `series` already pointing at a blob whose spool copy is
    /// still there: a job stopped between recording the blob and verifying
    /// it. Each comes with its share of the blob's bytes.
    pub async fn unverified_instances(
        &self,
        series: i64,
    ) -> Result<Vec<(Location, i64)>, IndexError> {
        let sql = format!(
            "{LOCATION_SELECT} WHERE i.series = $1 AND i.blob IS NOT NULL AND i.spool_path IS NOT NULL \
             ORDER BY i.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(series)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let location = location(row)?;
            let share = sqlx::query(
                "SELECT CAST(b.size / (SELECT COUNT(*) FROM instances x WHERE x.blob = b.id) AS BIGINT) \
                 FROM blobs b JOIN instances i ON i.blob = b.id WHERE i.id = $1",
            )
            .bind(location.id)
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?;
            out.push((location, share));
        }
        Ok(out)
    }

    /// Where the current instances within `scope` live (C-GET, C-MOVE), in
    /// series and instance order.
    pub async fn locations_in(&self, scope: &super::Scope) -> Result<Vec<Location>, IndexError> {
        let (mut conditions, binds) = super::query::scope_conditions(scope, super::Level::Image);
        conditions.push("i.is_current = 1".to_owned());
        let sql = format!(
            "{LOCATION_SELECT} JOIN series se ON se.id = i.series JOIN studies st ON st.id = se.study \
             JOIN patients p ON p.id = st.patient WHERE {} ORDER BY se.id, i.id",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in &binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(location).collect()
    }
}

fn location(r: &AnyRow) -> Result<Location, IndexError> {
    Ok(Location {
        id: r.try_get("id")?,
        sop_instance_uid: r.try_get("sop_instance_uid")?,
        sop_class_uid: r.try_get("sop_class_uid")?,
        transfer_syntax_uid: r.try_get("transfer_syntax_uid")?,
        data_set_offset: r.try_get("data_set_offset")?,
        sha256: r.try_get("sha256")?,
        spool_path: r.try_get("spool_path")?,
        blob_kind: r.try_get("blob_kind")?,
        blob_path: r.try_get("blob_path")?,
        blob_slice: r.try_get("blob_slice")?,
        header_path: r.try_get("header_path")?,
    })
}

async fn insert_blob(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    blob: &NewBlob,
    now_ms: i64,
) -> Result<i64, IndexError> {
    let row = sqlx::query(
        "INSERT INTO blobs (kind, path, size, sha256, created_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (path) DO UPDATE SET size = excluded.size RETURNING id",
    )
    .bind(&blob.kind)
    .bind(&blob.path)
    .bind(blob.size)
    .bind(&blob.sha256)
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

fn ids(rows: &[AnyRow]) -> Result<Vec<i64>, IndexError> {
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(IndexError::from))
        .collect()
}
