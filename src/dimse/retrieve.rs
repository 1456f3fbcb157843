//! C-GET and C-MOVE (PS3.7 9.1.3-9.1.4; PS3.4 C.4.2-C.4.3): the instances a
//! retrieve identifier names go out as C-STORE sub-operations, on the same
//! association (C-GET) or on a new one to a configured destination (C-MOVE).
//!
//! Each instance is sent exactly as it was received when the peer accepted
//! its transfer syntax; otherwise it is converted between Implicit and
//! Explicit VR Little Endian when the peer accepted one of those; otherwise
//! the sub-operation fails and is counted, never silently dropped.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::association::AsyncAssociation;
use dicom_ul::pdu::{
    PDataValue, PDataValueType, Pdu, PresentationContextNegotiated, PresentationContextResultReason,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{command_field, encode_command};
use crate::archive::{Archive, ArchiveError};
use crate::index::Location;

/// Patient Root Query/Retrieve Information Model - MOVE.
pub const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
/// Patient Root Query/Retrieve Information Model - GET.
pub const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";
/// Study Root Query/Retrieve Information Model - MOVE.
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
/// Study Root Query/Retrieve Information Model - GET.
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";

/// Why one sub-operation could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubOpError {
    #[error(
        "no accepted presentation context for {sop_class_uid} in {transfer_syntax_uid} or a native equivalent"
    )]
    NoContext {
        sop_class_uid: String,
        transfer_syntax_uid: String,
    },
    #[error(transparent)]
    Rebuild(#[from] ArchiveError),
    #[error("cannot convert {sop_instance_uid} to {to}: {message}")]
    Convert {
        sop_instance_uid: String,
        to: String,
        message: String,
    },
    /// The association carrying the sub-operations failed: the remaining
    /// ones fail too.
    #[error("network: {0}")]
    Network(String),
}

impl SubOpError {
    /// Whether the association that carries sub-operations is gone.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SubOpError::Network(_))
    }
}

/// Counts of the sub-operations of one retrieve (PS3.7 C.4.2.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub remaining: u16,
    pub completed: u16,
    pub failed: u16,
    pub warning: u16,
    pub failed_uids: Vec<String>,
}

impl Counts {
    /// Records the outcome of one sub-operation.
    pub fn record(&mut self, uid: &str, status: Option<u16>) {
        self.remaining = self.remaining.saturating_sub(1);
        match status {
            Some(0x0000) => self.completed += 1,
            Some(s) if s & 0xF000 == 0xB000 => self.warning += 1,
            _ => {
                self.failed += 1;
                self.failed_uids.push(uid.to_owned());
            }
        }
    }

    /// The elements carrying the counts in a C-GET-RSP / C-MOVE-RSP.
    pub fn elements(&self, pending: bool) -> Vec<DataElement<InMemDicomObject>> {
        let mut out = Vec::with_capacity(4);
        if pending {
            out.push(us(tags::NUMBER_OF_REMAINING_SUBOPERATIONS, self.remaining));
        }
        out.push(us(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS, self.completed));
        out.push(us(tags::NUMBER_OF_FAILED_SUBOPERATIONS, self.failed));
        out.push(us(tags::NUMBER_OF_WARNING_SUBOPERATIONS, self.warning));
        out
    }

    /// The final status: success, or "sub-operations complete, one or more
    /// failures or warnings" (B000).
    pub fn final_status(&self) -> u16 {
        if self.failed > 0 || self.warning > 0 {
            0xB000
        } else {
            0x0000
        }
    }

    /// The identifier of a final response with failures: Failed SOP
    /// Instance UID List (PS3.4 C.4.2.1.3.2).
    pub fn failed_identifier(&self, transfer_syntax_uid: &str) -> Option<Vec<u8>> {
        if self.failed_uids.is_empty() {
            return None;
        }
        let list = InMemDicomObject::from_element_iter([DataElement::new(
            tags::FAILED_SOP_INSTANCE_UID_LIST,
            VR::UI,
            PrimitiveValue::Strs(self.failed_uids.iter().cloned().collect()),
        )]);
        let fallback = IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let ts = TransferSyntaxRegistry
            .get(transfer_syntax_uid)
            .unwrap_or(&fallback);
        let mut bytes = Vec::new();
        list.write_dataset_with_ts(&mut bytes, ts).ok()?;
        Some(bytes)
    }
}

fn us(tag: dicom_core::Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

/// The C-MOVE originator, carried in each C-STORE-RQ sub-operation.
#[derive(Debug, Clone)]
pub struct Originator {
    pub ae_title: String,
    pub message_id: u16,
}

/// Native syntaxes an instance may be converted between.
const NATIVE_LE: [&str; 2] = [
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

/// The accepted context to send an instance on, and the syntax to convert
/// it to when that is not the one it was received in.
pub fn choose_context(
    contexts: &[PresentationContextNegotiated],
    sop_class_uid: &str,
    transfer_syntax_uid: &str,
) -> Option<(u8, Option<String>)> {
    let accepted = contexts.iter().filter(|pc| {
        pc.reason == PresentationContextResultReason::Acceptance
            && trim(&pc.abstract_syntax) == sop_class_uid
    });
    let accepted: Vec<_> = accepted.collect();
    if let Some(pc) = accepted
        .iter()
        .find(|pc| trim(&pc.transfer_syntax) == transfer_syntax_uid)
    {
        return Some((pc.id, None));
    }
    if !NATIVE_LE.contains(&transfer_syntax_uid) {
        return None;
    }
    accepted
        .iter()
        .find(|pc| NATIVE_LE.contains(&trim(&pc.transfer_syntax)))
        .map(|pc| (pc.id, Some(trim(&pc.transfer_syntax).to_owned())))
}

fn trim(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// Sends one instance as a C-STORE sub-operation on `association` and waits
/// for its response. Returns the C-STORE status, and whether a C-CANCEL for
/// the retrieve arrived meanwhile (only possible on a C-GET association).
pub async fn store_one<A, S>(
    association: &mut A,
    archive: &Archive,
    location: &Location,
    message_id: u16,
    originator: Option<&Originator>,
) -> Result<(u16, bool), SubOpError>
where
    A: AsyncAssociation<S> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (pc_id, convert_to) = choose_context(
        association.presentation_contexts(),
        &location.sop_class_uid,
        &location.transfer_syntax_uid,
    )
    .ok_or_else(|| SubOpError::NoContext {
        sop_class_uid: location.sop_class_uid.clone(),
        transfer_syntax_uid: location.transfer_syntax_uid.clone(),
    })?;
    let received = archive.rebuild(location).await?;
    let offset = usize::try_from(location.data_set_offset)
        .unwrap_or(0)
        .min(received.len());
    let data_set = match &convert_to {
        None => received[offset..].to_vec(),
        Some(to) => convert(location, &received[offset..], to)?,
    };
    let command = store_request(location, message_id, originator)
        .map_err(|e| SubOpError::Network(e.to_string()))?;
    let net = |e: &dyn std::fmt::Display| SubOpError::Network(e.to_string());
    AsyncAssociation::send(
        association,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command,
            }],
        },
    )
    .await
    .map_err(|e| net(&e))?;
    let mut writer = association.send_pdata(pc_id);
    writer.write_all(&data_set).await.map_err(|e| net(&e))?;
    writer.finish().await.map_err(|e| net(&e))?;
    await_store_response(association).await
}

fn convert(location: &Location, data_set: &[u8], to: &str) -> Result<Vec<u8>, SubOpError> {
    let err = |message: String| SubOpError::Convert {
        sop_instance_uid: location.sop_instance_uid.clone(),
        to: to.to_owned(),
        message,
    };
    let registry = TransferSyntaxRegistry;
    let from_ts = registry
        .get(&location.transfer_syntax_uid)
        .ok_or_else(|| err("unknown source syntax".into()))?;
    let to_ts = registry
        .get(to)
        .ok_or_else(|| err("unknown target syntax".into()))?;
    let object = InMemDicomObject::read_dataset_with_ts(data_set, from_ts)
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(data_set.len());
    object
        .write_dataset_with_ts(&mut out, to_ts)
        .map_err(|e| err(e.to_string()))?;
    Ok(out)
}

fn store_request(
    location: &Location,
    message_id: u16,
    originator: Option<&Originator>,
) -> Result<Vec<u8>, super::DimseError> {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(location.sop_class_uid.as_str()),
        ),
        us(tags::COMMAND_FIELD, command_field::C_STORE_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0000),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(location.sop_instance_uid.as_str()),
        ),
    ];
    if let Some(o) = originator {
        elements.push(DataElement::new(
            tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
            VR::AE,
            PrimitiveValue::from(o.ae_title.as_str()),
        ));
        elements.push(us(tags::MOVE_ORIGINATOR_MESSAGE_ID, o.message_id));
    }
    encode_command(elements)
}

/// Reads PDUs until the C-STORE-RSP arrives; notes a C-CANCEL-RQ on the way.
async fn await_store_response<A, S>(association: &mut A) -> Result<(u16, bool), SubOpError>
where
    A: AsyncAssociation<S> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut cancelled = false;
    let mut command = Vec::new();
    loop {
        let pdu = AsyncAssociation::receive(association)
            .await
            .map_err(|e| SubOpError::Network(e.to_string()))?;
        let values = match pdu {
            Pdu::PData { data } => data,
            Pdu::AbortRQ { .. } => {
                return Err(SubOpError::Network("peer aborted the association".into()));
            }
            other => {
                return Err(SubOpError::Network(format!(
                    "unexpected {} PDU while waiting for a C-STORE-RSP",
                    other.short_description()
                )));
            }
        };
        for value in values {
            if value.value_type != PDataValueType::Command {
                continue;
            }
            command.extend_from_slice(&value.data);
            if !value.is_last {
                continue;
            }
            let (field, status) = read_response(&std::mem::take(&mut command))?;
            match field {
                command_field::C_CANCEL_RQ => cancelled = true,
                command_field::C_STORE_RSP => return Ok((status, cancelled)),
                other => {
                    return Err(SubOpError::Network(format!(
                        "unexpected command {other:#06x} while waiting for a C-STORE-RSP"
                    )));
                }
            }
        }
    }
}

fn read_response(bytes: &[u8]) -> Result<(u16, u16), SubOpError> {
    let object = InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| SubOpError::Network(format!("malformed response command: {e}")))?;
    let get = |tag| {
        object
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_int::<u16>().ok())
    };
    let field = get(tags::COMMAND_FIELD)
        .ok_or_else(|| SubOpError::Network("response without Command Field".into()))?;
    Ok((field, get(tags::STATUS).unwrap_or(0xFFFF)))
}
