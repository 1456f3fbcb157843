//! C-GET and C-MOVE (PS3.7 9.1.3-9.1.4; PS3.4 C.4.2-C.4.3): the instances a
//! retrieve identifier names go out as C-STORE sub-operations, on the same
//! association (C-GET) or on a new one to a configured destination (C-MOVE).
//!
//! Each instance is sent exactly as it was received when the peer accepted
//! its transfer syntax. Otherwise it goes in a native syntax the peer
//! accepted (Explicit VR Little Endian preferred, else Implicit): re-encoded
//! when it was received in the other one, its Pixel Data decoded when it was
//! received encapsulated ([`native`](super::native)). When neither is
//! possible the sub-operation fails and is counted, with the reason, never
//! silently dropped. The stored bytes are never changed.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::association::AsyncAssociation;
use dicom_ul::pdu::{
    PDataValue, PDataValueType, Pdu, PresentationContextNegotiated, PresentationContextResultReason,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::native::{self, ConvertError, NATIVE_LE};
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
    #[error("cannot convert {sop_instance_uid} to {to}: {source}")]
    Convert {
        sop_instance_uid: String,
        to: String,
        source: ConvertError,
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

    /// The reason, without the SOP Instance UID (the Failed SOP Instance
    /// UID List names the instances), for an Error Comment.
    pub fn reason(&self) -> String {
        match self {
            SubOpError::Convert { source, .. } => source.to_string(),
            other => other.to_string(),
        }
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
    /// Why the first failed sub-operation failed, when that is known.
    pub first_error: Option<String>,
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

    /// Records a sub-operation that failed without a C-STORE-RSP status, and
    /// why.
    pub fn record_failure(&mut self, uid: &str, reason: String) {
        self.record(uid, None);
        self.first_error.get_or_insert(reason);
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

/// How an instance goes out on the context chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// Exactly as received.
    None,
    /// Re-encoded in the other native little-endian syntax.
    Reencode { to: String },
    /// Its encapsulated Pixel Data decoded, in a native syntax.
    Decode { to: String },
}

/// The accepted context to send an instance on, and how to convert it when
/// no context holds the syntax it was received in.
pub fn choose_context(
    contexts: &[PresentationContextNegotiated],
    sop_class_uid: &str,
    transfer_syntax_uid: &str,
) -> Option<(u8, Conversion)> {
    let accepted: Vec<(u8, &str)> = contexts
        .iter()
        .filter(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && trim(&pc.abstract_syntax) == sop_class_uid
        })
        .map(|pc| (pc.id, trim(&pc.transfer_syntax)))
        .collect();
    let on = |ts: &str| accepted.iter().find(|(_, t)| *t == ts).map(|(id, _)| *id);
    if let Some(id) = on(transfer_syntax_uid) {
        return Some((id, Conversion::None));
    }
    let decode = if NATIVE_LE.contains(&transfer_syntax_uid) {
        false
    } else if crate::dataset::TransferSyntax::from_uid(transfer_syntax_uid).is_encapsulated() {
        true
    } else {
        return None;
    };
    NATIVE_LE.iter().find_map(|to| {
        let id = on(to)?;
        let to = (*to).to_owned();
        let conversion = if decode {
            Conversion::Decode { to }
        } else {
            Conversion::Reencode { to }
        };
        Some((id, conversion))
    })
}

fn trim(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// Sends one instance as a C-STORE sub-operation on `association` and waits
/// for its response. Returns the C-STORE status, and whether a C-CANCEL for
/// the retrieve arrived meanwhile (only possible on a C-GET association).
/// Decoded Pixel Data is never larger than `max_data_set_bytes`.
pub async fn store_one<A, S>(
    association: &mut A,
    archive: &Archive,
    location: &Location,
    message_id: u16,
    originator: Option<&Originator>,
    max_data_set_bytes: u64,
) -> Result<(u16, bool), SubOpError>
where
    A: AsyncAssociation<S> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (pc_id, conversion) = choose_context(
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
    let data_set = received[offset..].to_vec();
    drop(received);
    let data_set = convert(location, data_set, conversion, max_data_set_bytes).await?;
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

/// Converts a copy of the stored data set on the blocking pool (decoding is
/// CPU-heavy); a decoder that panics fails this sub-operation only.
async fn convert(
    location: &Location,
    data_set: Vec<u8>,
    conversion: Conversion,
    limit: u64,
) -> Result<Vec<u8>, SubOpError> {
    let from = location.transfer_syntax_uid.clone();
    let (to, decode) = match conversion {
        Conversion::None => return Ok(data_set),
        Conversion::Reencode { to } => (to, false),
        Conversion::Decode { to } => (to, true),
    };
    let target = to.clone();
    let source = from.clone();
    let result = tokio::task::spawn_blocking(move || {
        if decode {
            native::decode(&data_set, &source, &target, limit)
        } else {
            native::reencode(&data_set, &source, &target)
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err(ConvertError::Decode {
            transfer_syntax_uid: from.clone(),
            message: format!("decoder stopped: {e}"),
        })
    });
    let data_set = result.map_err(|source| SubOpError::Convert {
        sop_instance_uid: location.sop_instance_uid.clone(),
        to: to.clone(),
        source,
    })?;
    if decode {
        tracing::info!(
            sop_instance_uid = %location.sop_instance_uid,
            from = %from,
            to = %to,
            "pixel data decoded: the peer accepted no context for the stored syntax"
        );
    }
    Ok(data_set)
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

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;

    const CT: &str = uids::CT_IMAGE_STORAGE;

    fn accepted(contexts: &[(u8, &str, &str)]) -> Vec<PresentationContextNegotiated> {
        contexts
            .iter()
            .map(|(id, class, ts)| PresentationContextNegotiated {
                id: *id,
                reason: PresentationContextResultReason::Acceptance,
                abstract_syntax: class.to_string(),
                transfer_syntax: format!("{ts}\0"),
            })
            .collect()
    }

    #[test]
    fn the_stored_syntax_goes_as_received() {
        let contexts = accepted(&[
            (1, CT, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            (3, CT, uids::JPEGLS_LOSSLESS),
        ]);
        let chosen = choose_context(&contexts, CT, uids::JPEGLS_LOSSLESS);
        assert_eq!(chosen, Some((3, Conversion::None)));
    }

    #[test]
    fn encapsulated_without_its_context_is_decoded_to_explicit_first() {
        let contexts = accepted(&[
            (1, CT, uids::IMPLICIT_VR_LITTLE_ENDIAN),
            (3, CT, uids::EXPLICIT_VR_LITTLE_ENDIAN),
        ]);
        let chosen = choose_context(&contexts, CT, uids::JPEG2000_LOSSLESS);
        let to = uids::EXPLICIT_VR_LITTLE_ENDIAN.to_owned();
        assert_eq!(chosen, Some((3, Conversion::Decode { to })));
        let implicit_only = accepted(&[(5, CT, uids::IMPLICIT_VR_LITTLE_ENDIAN)]);
        let chosen = choose_context(&implicit_only, CT, uids::RLE_LOSSLESS);
        let to = uids::IMPLICIT_VR_LITTLE_ENDIAN.to_owned();
        assert_eq!(chosen, Some((5, Conversion::Decode { to })));
    }

    #[test]
    fn native_syntaxes_are_reencoded_and_big_endian_is_not_sent() {
        let contexts = accepted(&[(1, CT, uids::IMPLICIT_VR_LITTLE_ENDIAN)]);
        let chosen = choose_context(&contexts, CT, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        let to = uids::IMPLICIT_VR_LITTLE_ENDIAN.to_owned();
        assert_eq!(chosen, Some((1, Conversion::Reencode { to })));
        let big_endian = "1.2.840.10008.1.2.2";
        assert_eq!(choose_context(&contexts, CT, big_endian), None);
    }

    #[test]
    fn another_class_or_a_rejected_context_is_never_used() {
        let mut contexts = accepted(&[
            (1, uids::MR_IMAGE_STORAGE, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            (3, CT, uids::EXPLICIT_VR_LITTLE_ENDIAN),
        ]);
        contexts[1].reason = PresentationContextResultReason::TransferSyntaxesNotSupported;
        assert_eq!(
            choose_context(&contexts, CT, uids::JPEG_BASELINE8_BIT),
            None
        );
    }

    #[test]
    fn the_first_failure_reason_is_kept_without_the_uid() {
        let mut counts = Counts {
            remaining: 3,
            ..Counts::default()
        };
        let error = SubOpError::Convert {
            sop_instance_uid: "1.2.3".into(),
            to: uids::EXPLICIT_VR_LITTLE_ENDIAN.into(),
            source: ConvertError::Decode {
                transfer_syntax_uid: uids::JPEGLS_LOSSLESS.into(),
                message: "bad marker".into(),
            },
        };
        counts.record_failure("1.2.3", error.reason());
        counts.record_failure("1.2.4", "later".into());
        counts.record("1.2.5", Some(0));
        assert_eq!(counts.failed, 2);
        assert_eq!(counts.completed, 1);
        assert_eq!(
            counts.first_error.as_deref(),
            Some("cannot decode 1.2.840.10008.1.2.4.80: bad marker")
        );
    }
}
