//! Storing one instance row under the duplicate policy: the same SOP
//! Instance UID received again with identical bytes is a no-op; with other
//! bytes the configured policy decides.

use sqlx::{Any, AnyPool, Row, Transaction};

use crate::config::DuplicatePolicy;

use super::{Backend, InsertOutcome, NewInstance, StoredInstance, stored_instance};

pub(super) async fn insert(
    pool: &AnyPool,
    backend: Backend,
    instance: &NewInstance,
    policy: DuplicatePolicy,
) -> Result<InsertOutcome, sqlx::Error> {
    // SQLite: take the write lock up front so a concurrent writer waits on the
    // busy timeout instead of failing the lock upgrade.
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    let existing = current(&mut tx, &instance.sop_instance_uid).await?;
    let outcome = match existing {
        None => InsertOutcome::Stored {
            id: insert_row(&mut tx, instance, 1).await?,
        },
        Some(old) if old.sha256 == instance.sha256 => InsertOutcome::Identical { id: old.id },
        Some(old) => apply_policy(&mut tx, instance, policy, old).await?,
    };
    tx.commit().await?;
    Ok(outcome)
}

async fn apply_policy(
    tx: &mut Transaction<'static, Any>,
    instance: &NewInstance,
    policy: DuplicatePolicy,
    old: StoredInstance,
) -> Result<InsertOutcome, sqlx::Error> {
    match policy {
        DuplicatePolicy::Reject => Ok(InsertOutcome::RejectedDifferent { id: old.id }),
        DuplicatePolicy::Replace => {
            sqlx::query("DELETE FROM instances WHERE id = $1")
                .bind(old.id)
                .execute(&mut **tx)
                .await?;
            let id = insert_row(tx, instance, old.version + 1).await?;
            Ok(InsertOutcome::Replaced {
                id,
                old_spool_path: old.spool_path,
            })
        }
        DuplicatePolicy::KeepBoth => {
            sqlx::query("UPDATE instances SET is_current = 0 WHERE id = $1")
                .bind(old.id)
                .execute(&mut **tx)
                .await?;
            let version = old.version + 1;
            let id = insert_row(tx, instance, version).await?;
            Ok(InsertOutcome::NewVersion { id, version })
        }
    }
}

async fn current(
    tx: &mut Transaction<'static, Any>,
    sop_instance_uid: &str,
) -> Result<Option<StoredInstance>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, version, sha256, spool_path FROM instances \
         WHERE sop_instance_uid = $1 AND is_current = 1",
    )
    .bind(sop_instance_uid)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| stored_instance(&r).map_err(|e| sqlx::Error::Protocol(e.to_string())))
        .transpose()
}

/// Inserts patient, study and series when new (refreshing nothing that is
/// there) and the instance row; returns the instance id.
async fn insert_row(
    tx: &mut Transaction<'static, Any>,
    i: &NewInstance,
    version: i64,
) -> Result<i64, sqlx::Error> {
    let patient = upsert_patient(tx, i).await?;
    let study = upsert_study(tx, i, patient).await?;
    let series = upsert_series(tx, i, study).await?;
    let row = sqlx::query(
        "INSERT INTO instances (series, sop_instance_uid, version, is_current, sop_class_uid, \
         transfer_syntax_uid, instance_number, rows, columns, samples_per_pixel, bits_allocated, \
         bits_stored, pixel_representation, number_of_frames, image_position, image_orientation, \
         source, calling_ae, received_ms, sha256, size_received, data_set_offset, spool_path, \
         size_stored) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id",
    )
    .bind(series)
    .bind(&i.sop_instance_uid)
    .bind(version)
    .bind(&i.sop_class_uid)
    .bind(&i.transfer_syntax_uid)
    .bind(&i.instance_number)
    .bind(i.rows)
    .bind(i.columns)
    .bind(i.samples_per_pixel)
    .bind(i.bits_allocated)
    .bind(i.bits_stored)
    .bind(i.pixel_representation)
    .bind(i.number_of_frames)
    .bind(&i.image_position)
    .bind(&i.image_orientation)
    .bind(&i.source)
    .bind(&i.calling_ae)
    .bind(i.received_ms)
    .bind(&i.sha256)
    .bind(i.size_received)
    .bind(i.data_set_offset)
    .bind(&i.spool_path)
    .bind(i.size_received)
    .fetch_one(&mut **tx)
    .await?;
    row.try_get(0)
}

async fn upsert_patient(
    tx: &mut Transaction<'static, Any>,
    i: &NewInstance,
) -> Result<i64, sqlx::Error> {
    let key = format!("{}\\{}", i.patient_id, i.issuer_of_patient_id);
    let row = sqlx::query(
        "INSERT INTO patients (patient_key, patient_id, patient_name, birth_date, sex) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (patient_key) DO UPDATE SET patient_key = excluded.patient_key RETURNING id",
    )
    .bind(key)
    .bind(&i.patient_id)
    .bind(&i.patient_name)
    .bind(&i.birth_date)
    .bind(&i.sex)
    .fetch_one(&mut **tx)
    .await?;
    row.try_get(0)
}

async fn upsert_study(
    tx: &mut Transaction<'static, Any>,
    i: &NewInstance,
    patient: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO studies (patient, study_instance_uid, study_date, study_time, \
         accession_number, study_id, study_description, referring_physician, character_set) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (study_instance_uid) DO UPDATE \
         SET study_instance_uid = excluded.study_instance_uid RETURNING id",
    )
    .bind(patient)
    .bind(&i.study_instance_uid)
    .bind(&i.study_date)
    .bind(&i.study_time)
    .bind(&i.accession_number)
    .bind(&i.study_id)
    .bind(&i.study_description)
    .bind(&i.referring_physician)
    .bind(&i.character_set)
    .fetch_one(&mut **tx)
    .await?;
    row.try_get(0)
}

async fn upsert_series(
    tx: &mut Transaction<'static, Any>,
    i: &NewInstance,
    study: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO series (study, series_instance_uid, modality, series_number, \
         series_description, series_date, series_time, body_part, last_received_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (series_instance_uid) DO UPDATE \
         SET last_received_ms = excluded.last_received_ms RETURNING id",
    )
    .bind(study)
    .bind(&i.series_instance_uid)
    .bind(&i.modality)
    .bind(&i.series_number)
    .bind(&i.series_description)
    .bind(&i.series_date)
    .bind(&i.series_time)
    .bind(&i.body_part)
    .bind(i.received_ms)
    .fetch_one(&mut **tx)
    .await?;
    row.try_get(0)
}
