//! Index statements of C-FIND: the rows of one Query/Retrieve level with the
//! attributes of their parent levels, as text, narrowed by the unique keys
//! of the levels above (PS3.4 C.4.1.2.1: hierarchical search).

use std::collections::BTreeMap;

use sqlx::{Column, Row};

use super::{Index, IndexError};

/// A Query/Retrieve level (PS3.4 C.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Patient,
    Study,
    Series,
    Image,
}

/// Unique keys of the levels above the queried one; `None` = any.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub patient_ids: Option<Vec<String>>,
    pub study_uids: Option<Vec<String>>,
    pub series_uids: Option<Vec<String>>,
    pub sop_uids: Option<Vec<String>>,
}

/// One matching candidate: column alias -> text value.
pub type Record = BTreeMap<String, String>;

const PATIENT_COLUMNS: &str = "p.patient_id, p.patient_name, p.birth_date AS patient_birth_date, \
     p.sex AS patient_sex, \
     CAST((SELECT COUNT(*) FROM studies x WHERE x.patient = p.id) AS TEXT) AS patient_studies, \
     CAST((SELECT COUNT(*) FROM series y JOIN studies x ON x.id = y.study WHERE x.patient = p.id) AS TEXT) AS patient_series, \
     CAST((SELECT COUNT(*) FROM instances z JOIN series y ON y.id = z.series JOIN studies x ON x.id = y.study \
           WHERE x.patient = p.id AND z.is_current = 1) AS TEXT) AS patient_instances";
const STUDY_COLUMNS: &str = "st.id AS study_row, st.study_instance_uid, st.study_date, st.study_time, \
     st.accession_number, st.study_id, st.study_description, st.referring_physician, st.character_set, \
     CAST((SELECT COUNT(*) FROM series y WHERE y.study = st.id) AS TEXT) AS study_series, \
     CAST((SELECT COUNT(*) FROM instances z JOIN series y ON y.id = z.series \
           WHERE y.study = st.id AND z.is_current = 1) AS TEXT) AS study_instances";
const SERIES_COLUMNS: &str = "se.series_instance_uid, se.modality, se.series_number, \
     se.series_description, se.series_date, se.series_time, se.body_part, \
     CAST((SELECT COUNT(*) FROM instances z WHERE z.series = se.id AND z.is_current = 1) AS TEXT) AS series_instances";
const IMAGE_COLUMNS: &str = "i.sop_instance_uid, i.sop_class_uid, i.instance_number, \
     CAST(i.rows AS TEXT) AS rows, CAST(i.columns AS TEXT) AS columns, \
     CAST(i.number_of_frames AS TEXT) AS number_of_frames, i.transfer_syntax_uid";

impl Index {
    /// Every row of `level` within `scope`, with its parents' attributes.
    pub async fn query(&self, level: Level, scope: &Scope) -> Result<Vec<Record>, IndexError> {
        let (columns, from) = match level {
            Level::Patient => (PATIENT_COLUMNS.to_owned(), "patients p".to_owned()),
            Level::Study => (
                format!("{PATIENT_COLUMNS}, {STUDY_COLUMNS}"),
                "studies st JOIN patients p ON p.id = st.patient".to_owned(),
            ),
            Level::Series => (
                format!("{PATIENT_COLUMNS}, {STUDY_COLUMNS}, {SERIES_COLUMNS}"),
                "series se JOIN studies st ON st.id = se.study JOIN patients p ON p.id = st.patient"
                    .to_owned(),
            ),
            Level::Image => (
                format!("{PATIENT_COLUMNS}, {STUDY_COLUMNS}, {SERIES_COLUMNS}, {IMAGE_COLUMNS}"),
                "instances i JOIN series se ON se.id = i.series JOIN studies st ON st.id = se.study \
                 JOIN patients p ON p.id = st.patient"
                    .to_owned(),
            ),
        };
        let (mut conditions, binds) = scope_conditions(scope, level);
        if level == Level::Image {
            conditions.push("i.is_current = 1".to_owned());
        }
        let mut sql = format!("SELECT {columns} FROM {from}");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in &binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut records: Vec<Record> = rows.iter().map(record).collect::<Result<_, _>>()?;
        if level == Level::Study || level == Level::Patient {
            self.add_modalities(&mut records).await?;
        }
        Ok(records)
    }

    /// Fills Modalities in Study (a value set, backslash-separated).
    async fn add_modalities(&self, records: &mut [Record]) -> Result<(), IndexError> {
        let rows =
            sqlx::query("SELECT DISTINCT study, modality FROM series ORDER BY study, modality")
                .fetch_all(&self.pool)
                .await?;
        let mut by_study: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for row in &rows {
            let modality: String = row.try_get(1)?;
            if !modality.is_empty() {
                by_study.entry(row.try_get(0)?).or_default().push(modality);
            }
        }
        for record in records.iter_mut() {
            let Some(study) = record.get("study_row").and_then(|s| s.parse::<i64>().ok()) else {
                continue;
            };
            let modalities = by_study
                .get(&study)
                .map(|m| m.join("\\"))
                .unwrap_or_default();
            record.insert("modalities_in_study".into(), modalities);
        }
        Ok(())
    }
}

/// SQL conditions (`$1`...) and their values narrowing rows of `level` (and
/// below) to the unique keys of `scope`, over the aliases `p`, `st`, `se`, `i`.
pub(super) fn scope_conditions(scope: &Scope, level: Level) -> (Vec<String>, Vec<String>) {
    let mut conditions = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let filters = [
        ("p.patient_id", &scope.patient_ids, Level::Patient),
        ("st.study_instance_uid", &scope.study_uids, Level::Study),
        ("se.series_instance_uid", &scope.series_uids, Level::Series),
        ("i.sop_instance_uid", &scope.sop_uids, Level::Image),
    ];
    for (column, values, at) in filters {
        let Some(values) = values.as_ref().filter(|_| at <= level) else {
            continue;
        };
        let first = binds.len() + 1;
        let marks: Vec<String> = (first..first + values.len())
            .map(|n| format!("${n}"))
            .collect();
        conditions.push(if marks.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("{column} IN ({})", marks.join(", "))
        });
        binds.extend(values.iter().cloned());
    }
    (conditions, binds)
}

fn record(row: &sqlx::any::AnyRow) -> Result<Record, IndexError> {
    let mut out = Record::new();
    for (i, column) in row.columns().iter().enumerate() {
        let value = match row.try_get::<Option<String>, _>(i) {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => row
                .try_get::<Option<i64>, _>(i)?
                .map(|v| v.to_string())
                .unwrap_or_default(),
        };
        out.insert(column.name().to_owned(), value);
    }
    Ok(out)
}
