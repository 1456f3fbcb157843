//! C-FIND service (PS3.7 9.1.2; Query/Retrieve, PS3.4 annex C) for the
//! Patient Root and Study Root information models, answered from the index
//! alone (never by opening stored files).
//!
//! The three steps: parse the identifier and its level, narrow the candidates
//! by the unique keys of the levels above (hierarchical search), match every
//! other key in [`matching`](super::matching), and build one identifier per
//! match holding exactly the requested keys (zero-length where the archive
//! has no value).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::matching::{Kind, matches};
use super::status;
use crate::index::{Index, Level, Record, Scope};

/// Patient Root Query/Retrieve Information Model - FIND.
pub const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
/// Study Root Query/Retrieve Information Model - FIND.
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";

/// A key the index can answer: its tag, VR, level and index column.
struct Attribute {
    tag: Tag,
    vr: VR,
    level: Level,
    column: &'static str,
}

const fn attr(tag: Tag, vr: VR, level: Level, column: &'static str) -> Attribute {
    Attribute {
        tag,
        vr,
        level,
        column,
    }
}

/// Every key the index answers (PS3.4 C.6.1.1 and C.6.2.1 tables).
const ATTRIBUTES: &[Attribute] = &[
    attr(tags::PATIENT_NAME, VR::PN, Level::Patient, "patient_name"),
    attr(tags::PATIENT_ID, VR::LO, Level::Patient, "patient_id"),
    attr(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        Level::Patient,
        "patient_birth_date",
    ),
    attr(tags::PATIENT_SEX, VR::CS, Level::Patient, "patient_sex"),
    attr(
        tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
        VR::IS,
        Level::Patient,
        "patient_studies",
    ),
    attr(
        tags::NUMBER_OF_PATIENT_RELATED_SERIES,
        VR::IS,
        Level::Patient,
        "patient_series",
    ),
    attr(
        tags::NUMBER_OF_PATIENT_RELATED_INSTANCES,
        VR::IS,
        Level::Patient,
        "patient_instances",
    ),
    attr(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        Level::Study,
        "study_instance_uid",
    ),
    attr(tags::STUDY_DATE, VR::DA, Level::Study, "study_date"),
    attr(tags::STUDY_TIME, VR::TM, Level::Study, "study_time"),
    attr(
        tags::ACCESSION_NUMBER,
        VR::SH,
        Level::Study,
        "accession_number",
    ),
    attr(tags::STUDY_ID, VR::SH, Level::Study, "study_id"),
    attr(
        tags::STUDY_DESCRIPTION,
        VR::LO,
        Level::Study,
        "study_description",
    ),
    attr(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        Level::Study,
        "referring_physician",
    ),
    attr(
        tags::MODALITIES_IN_STUDY,
        VR::CS,
        Level::Study,
        "modalities_in_study",
    ),
    attr(
        tags::NUMBER_OF_STUDY_RELATED_SERIES,
        VR::IS,
        Level::Study,
        "study_series",
    ),
    attr(
        tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
        VR::IS,
        Level::Study,
        "study_instances",
    ),
    attr(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        Level::Series,
        "series_instance_uid",
    ),
    attr(tags::MODALITY, VR::CS, Level::Series, "modality"),
    attr(tags::SERIES_NUMBER, VR::IS, Level::Series, "series_number"),
    attr(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        Level::Series,
        "series_description",
    ),
    attr(tags::SERIES_DATE, VR::DA, Level::Series, "series_date"),
    attr(tags::SERIES_TIME, VR::TM, Level::Series, "series_time"),
    attr(tags::BODY_PART_EXAMINED, VR::CS, Level::Series, "body_part"),
    attr(
        tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
        VR::IS,
        Level::Series,
        "series_instances",
    ),
    attr(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        Level::Image,
        "sop_instance_uid",
    ),
    attr(tags::SOP_CLASS_UID, VR::UI, Level::Image, "sop_class_uid"),
    attr(
        tags::INSTANCE_NUMBER,
        VR::IS,
        Level::Image,
        "instance_number",
    ),
    attr(tags::ROWS, VR::US, Level::Image, "rows"),
    attr(tags::COLUMNS, VR::US, Level::Image, "columns"),
    attr(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        Level::Image,
        "number_of_frames",
    ),
];

/// A refused query: the status and an Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub comment: String,
}

fn refuse(status: u16, comment: impl Into<String>) -> Refusal {
    Refusal {
        status,
        comment: comment.into(),
    }
}

/// A parsed query: information model, level and the identifier.
#[derive(Debug)]
pub struct Query {
    pub level: Level,
    pub identifier: InMemDicomObject,
    pub transfer_syntax_uid: String,
}

/// Reads the identifier of a C-FIND (or C-GET / C-MOVE) request.
pub fn parse(
    sop_class_uid: &str,
    identifier: &[u8],
    transfer_syntax_uid: &str,
) -> Result<Query, Refusal> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax_uid)
        .ok_or_else(|| refuse(status::UNABLE_TO_PROCESS, "unknown transfer syntax"))?;
    let identifier = InMemDicomObject::read_dataset_with_ts(identifier, ts).map_err(|e| {
        refuse(
            status::IDENTIFIER_DOES_NOT_MATCH,
            format!("identifier: {e}"),
        )
    })?;
    let level = match text(&identifier, tags::QUERY_RETRIEVE_LEVEL).as_str() {
        "PATIENT" => Level::Patient,
        "STUDY" => Level::Study,
        "SERIES" => Level::Series,
        "IMAGE" => Level::Image,
        other => {
            return Err(refuse(
                status::IDENTIFIER_DOES_NOT_MATCH,
                format!("Query/Retrieve Level {other:?} unsupported"),
            ));
        }
    };
    if level == Level::Patient && is_study_root(sop_class_uid) {
        return Err(refuse(
            status::IDENTIFIER_DOES_NOT_MATCH,
            "PATIENT level is not part of the Study Root model",
        ));
    }
    Ok(Query {
        level,
        identifier,
        transfer_syntax_uid: transfer_syntax_uid.to_owned(),
    })
}

fn is_study_root(sop_class_uid: &str) -> bool {
    sop_class_uid.starts_with("1.2.840.10008.5.1.4.1.2.2.")
}

/// The unique keys of the levels above the query level, which must be
/// present (PS3.4 C.4.1.2.1), and the unique key of the level itself.
pub fn scope(query: &Query, sop_class_uid: &str) -> Result<Scope, Refusal> {
    let required = |tag: Tag, name: &str, from: Level| -> Result<Option<Vec<String>>, Refusal> {
        let values = list(&query.identifier, tag);
        if query.level > from && values.is_none() {
            return Err(refuse(
                status::IDENTIFIER_DOES_NOT_MATCH,
                format!("{name} is required at {:?} level", query.level),
            ));
        }
        Ok(values)
    };
    let patient_from = if is_study_root(sop_class_uid) {
        Level::Image
    } else {
        Level::Patient
    };
    Ok(Scope {
        patient_ids: required(tags::PATIENT_ID, "Patient ID", patient_from)?,
        study_uids: required(tags::STUDY_INSTANCE_UID, "Study Instance UID", Level::Study)?,
        series_uids: required(
            tags::SERIES_INSTANCE_UID,
            "Series Instance UID",
            Level::Series,
        )?,
        sop_uids: list(&query.identifier, tags::SOP_INSTANCE_UID),
    })
}

/// Runs a query against the index: the matching records.
pub async fn search(
    index: &Index,
    query: &Query,
    scope: &Scope,
    names_case_insensitive: bool,
) -> Result<Vec<Record>, Refusal> {
    let records = index
        .query(query.level, scope)
        .await
        .map_err(|e| refuse(status::UNABLE_TO_PROCESS, e.to_string()))?;
    let keys: Vec<(&Attribute, String)> = ATTRIBUTES
        .iter()
        .filter(|a| a.level <= query.level)
        .filter_map(|a| {
            let key = raw_text(&query.identifier, a.tag)?;
            Some((a, key))
        })
        .collect();
    Ok(records
        .into_iter()
        .filter(|record| {
            keys.iter().all(|(a, key)| {
                let value = record.get(a.column).map_or("", String::as_str);
                matches(kind(a.vr), key, value, names_case_insensitive)
            })
        })
        .collect())
}

fn kind(vr: VR) -> Kind {
    match vr {
        VR::UI => Kind::Uid,
        VR::DA | VR::TM | VR::DT => Kind::Temporal,
        VR::PN => Kind::PersonName,
        _ => Kind::Text,
    }
}

/// Builds the response identifier for one match: every requested key, in
/// the request's order, with the archive's value or zero-length.
pub fn response_identifier(query: &Query, record: &Record) -> Result<Vec<u8>, Refusal> {
    let mut out = InMemDicomObject::new_empty();
    let mut non_ascii = false;
    for element in query.identifier.iter() {
        let tag = element.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET {
            continue;
        }
        let known = ATTRIBUTES
            .iter()
            .find(|a| a.tag == tag && a.level <= query.level);
        let value = match known {
            Some(a) => record.get(a.column).cloned().unwrap_or_default(),
            None if tag == tags::QUERY_RETRIEVE_LEVEL => text(&query.identifier, tag),
            None => String::new(),
        };
        non_ascii |= !value.is_ascii();
        let vr = element.header().vr();
        out.put(if value.is_empty() || vr == VR::SQ {
            DataElement::empty(tag, vr)
        } else {
            DataElement::new(tag, vr, PrimitiveValue::from(value))
        });
    }
    let stored_charset = record.get("character_set").cloned().unwrap_or_default();
    let charset_code = match (stored_charset.is_empty(), non_ascii) {
        (false, _) => stored_charset,
        (true, true) => "ISO_IR 192".to_owned(),
        (true, false) => String::new(),
    };
    let charset =
        SpecificCharacterSet::from_code(&charset_code).unwrap_or(SpecificCharacterSet::ISO_IR_192);
    if !charset_code.is_empty() {
        out.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from(charset_code),
        ));
    }
    let ts = TransferSyntaxRegistry
        .get(&query.transfer_syntax_uid)
        .ok_or_else(|| refuse(status::UNABLE_TO_PROCESS, "unknown transfer syntax"))?;
    let mut bytes = Vec::new();
    out.write_dataset_with_ts_cs(&mut bytes, ts, charset)
        .map_err(|e| refuse(status::UNABLE_TO_PROCESS, e.to_string()))?;
    Ok(bytes)
}

/// The value of a key as received, `None` when absent.
fn raw_text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = object.element_opt(tag).ok().flatten()?;
    Some(
        element
            .to_str()
            .ok()?
            .trim_end_matches(['\0', ' '])
            .to_owned(),
    )
}

fn text(object: &InMemDicomObject, tag: Tag) -> String {
    raw_text(object, tag).unwrap_or_default().trim().to_owned()
}

/// A key's values (a UID list), `None` when absent or zero-length.
fn list(object: &InMemDicomObject, tag: Tag) -> Option<Vec<String>> {
    let value = raw_text(object, tag)?;
    let values: Vec<String> = value
        .split('\\')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && !v.contains(['*', '?']))
        .collect();
    (!values.is_empty()).then_some(values)
}
