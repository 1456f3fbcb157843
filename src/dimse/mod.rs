//! DIMSE message layer (PS3.7): command sets, message assembly from P-DATA
//! fragments, and one file per service (`echo`; `store`, `find`, `get` and
//! `move` follow the same three steps: parse the request command, apply it,
//! build the response). `native` gives outgoing data sets the native form a
//! peer may need.
//!
//! What enters: the P-DATA-TF values of one association. What leaves: whole
//! [`Message`]s (a command set plus, where the command says so, a data set)
//! and encoded response command sets.
//!
//! Invariants: command sets are always Implicit VR Little Endian (PS3.7 6.3.1)
//! and carry a correct Command Group Length; a message is only handed on once
//! its last fragment has arrived, and its data set never grows past the
//! configured limit.

pub mod echo;
pub mod find;
pub mod matching;
pub mod native;
pub mod retrieve;
pub mod sop_classes;
pub mod store;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::pdu::{PDataValue, PDataValueType};

/// Command Field values (PS3.7 E.1-1).
pub mod command_field {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
    pub const C_MOVE_RQ: u16 = 0x0021;
    pub const C_MOVE_RSP: u16 = 0x8021;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Status codes (PS3.7 C.4 and annex C of PS3.4).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: SOP Class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Storage: Refused, out of resources (PS3.4 B.2.3).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Storage: Error, cannot understand.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Query/Retrieve: Failure, identifier does not match SOP Class.
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Query/Retrieve: Failure, unable to process.
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
    /// C-MOVE: Refused, move destination unknown.
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    /// Retrieve: Refused, out of resources, unable to perform sub-operations.
    pub const UNABLE_TO_PERFORM_SUBOPERATIONS: u16 = 0xA702;
    /// Pending: matches are continuing.
    pub const PENDING: u16 = 0xFF00;
    /// Cancel: matching terminated due to a C-CANCEL.
    pub const CANCELLED: u16 = 0xFE00;
    /// Storage: Warning, elements discarded (used when a duplicate with
    /// other bytes is not stored).
    pub const ELEMENTS_DISCARDED: u16 = 0xB006;
}

/// Command Data Set Type value meaning "no data set follows" (PS3.7 E.1-1).
pub const NO_DATA_SET: u16 = 0x0101;

/// Errors of the DIMSE layer: the peer sent something malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DimseError {
    #[error("presentation context {pc_id}: malformed command set: {message}")]
    MalformedCommand { pc_id: u8, message: String },
    #[error("presentation context {pc_id}: command set lacks {what} {tag}")]
    MissingCommandElement {
        pc_id: u8,
        what: &'static str,
        tag: Tag,
    },
    #[error("presentation context {pc_id}: data fragment before any command")]
    DataBeforeCommand { pc_id: u8 },
    #[error(
        "presentation context {pc_id}: fragment on context {other} while a message on {pc_id} is incomplete"
    )]
    InterleavedContexts { pc_id: u8, other: u8 },
    #[error("presentation context {pc_id}: command fragment while a data set is incomplete")]
    CommandDuringDataSet { pc_id: u8 },
    #[error("cannot encode command set: {0}")]
    Encode(String),
}

/// The fields of a command set that the services read (PS3.7 E.1).
#[derive(Debug, Clone)]
pub struct Command {
    pub presentation_context_id: u8,
    pub command_field: u16,
    pub message_id: u16,
    pub affected_sop_class_uid: Option<String>,
    pub affected_sop_instance_uid: Option<String>,
    pub has_data_set: bool,
    /// The whole command set, for service-specific elements.
    pub object: InMemDicomObject,
}

impl Command {
    /// Parses an Implicit VR LE command set received on `pc_id`.
    pub fn parse(pc_id: u8, bytes: &[u8]) -> Result<Command, DimseError> {
        // The byte layout first: an element length running past the command set must be
        // refused before `dicom-object` allocates from it (found by fuzzing: an 8-byte
        // command set declaring a 4 GiB element).
        let limits = crate::dataset::Limits {
            max_depth: 4,
            max_total_bytes: bytes.len() as u64,
        };
        crate::dataset::scan(
            crate::dataset::TransferSyntax::ImplicitVrLittleEndian,
            bytes,
            limits,
        )
        .map_err(|e| DimseError::MalformedCommand {
            pc_id,
            message: e.to_string(),
        })?;
        let object =
            InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
                .map_err(|e| DimseError::MalformedCommand {
                    pc_id,
                    message: e.to_string(),
                })?;
        let u16_of = |tag: Tag, what: &'static str| {
            object
                .element_opt(tag)
                .ok()
                .flatten()
                .and_then(|e| e.to_int::<u16>().ok())
                .ok_or(DimseError::MissingCommandElement { pc_id, what, tag })
        };
        let command_field = u16_of(tags::COMMAND_FIELD, "Command Field")?;
        let message_id = if command_field == command_field::C_CANCEL_RQ {
            u16_of(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                "Message ID Being Responded To",
            )?
        } else {
            u16_of(tags::MESSAGE_ID, "Message ID")?
        };
        let data_set_type = u16_of(tags::COMMAND_DATA_SET_TYPE, "Command Data Set Type")?;
        Ok(Command {
            presentation_context_id: pc_id,
            command_field,
            message_id,
            affected_sop_class_uid: uid_of(&object, tags::AFFECTED_SOP_CLASS_UID),
            affected_sop_instance_uid: uid_of(&object, tags::AFFECTED_SOP_INSTANCE_UID),
            has_data_set: data_set_type != NO_DATA_SET,
            object,
        })
    }
}

fn uid_of(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = object.element_opt(tag).ok().flatten()?;
    let text = element.to_str().ok()?;
    Some(text.trim_end_matches(['\0', ' ']).to_owned())
}

/// Encodes a response command set: the given elements plus Command Group
/// Length, in Implicit VR LE.
pub fn encode_command(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>, DimseError> {
    let object = InMemDicomObject::from_element_iter(elements);
    let mut body = Vec::new();
    object
        .write_dataset_with_ts(&mut body, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| DimseError::Encode(e.to_string()))?;
    let length = u32::try_from(body.len()).map_err(|e| DimseError::Encode(e.to_string()))?;
    let group_length = InMemDicomObject::from_element_iter([DataElement::new(
        tags::COMMAND_GROUP_LENGTH,
        VR::UL,
        PrimitiveValue::from(length),
    )]);
    let mut out = Vec::with_capacity(body.len() + 12);
    group_length
        .write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| DimseError::Encode(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// The elements every response carries (PS3.7 9.3): Affected SOP Class UID,
/// Command Field, Message ID Being Responded To, Command Data Set Type and
/// Status.
pub fn response_elements(
    request: &Command,
    command_field: u16,
    status: u16,
    has_data_set: bool,
) -> Vec<DataElement<InMemDicomObject>> {
    let mut elements = Vec::with_capacity(6);
    if let Some(uid) = &request.affected_sop_class_uid {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uid.as_str()),
        ));
    }
    elements.extend([
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(command_field),
        ),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(request.message_id),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(if has_data_set { 0x0000 } else { NO_DATA_SET }),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status)),
    ]);
    elements
}

/// One step of an incoming message, as [`MessageAssembler`] yields them.
#[derive(Debug)]
pub enum Fragment {
    /// A complete command set; when `has_data_set` is set, [`Fragment::Data`]
    /// pieces follow until one with `is_last`.
    Command(Command),
    /// A piece of the data set of the last command.
    Data { bytes: Vec<u8>, is_last: bool },
}

/// Error Comment (0000,0902), LO: at most 64 characters.
pub fn error_comment(text: &str) -> DataElement<InMemDicomObject> {
    let short: String = text.chars().filter(|c| *c != '\\').take(64).collect();
    DataElement::new(tags::ERROR_COMMENT, VR::LO, PrimitiveValue::from(short))
}

/// Reassembles command sets from P-DATA fragments (PS3.8 9.3.5, annex E)
/// and passes data set fragments through as they come, so that a data set
/// can be streamed to disk instead of held in memory.
#[derive(Debug, Default)]
pub struct MessageAssembler {
    command_bytes: Vec<u8>,
    command_pc: Option<u8>,
    data_pc: Option<u8>,
}

impl MessageAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one fragment; returns what it completes, if anything.
    pub fn push(&mut self, value: PDataValue) -> Result<Option<Fragment>, DimseError> {
        let pc_id = value.presentation_context_id;
        if let Some(open) = self.command_pc.or(self.data_pc)
            && open != pc_id
        {
            return Err(DimseError::InterleavedContexts {
                pc_id: open,
                other: pc_id,
            });
        }
        match value.value_type {
            PDataValueType::Command => self.push_command(pc_id, value),
            PDataValueType::Data => self.push_data(pc_id, value),
        }
    }

    fn push_command(
        &mut self,
        pc_id: u8,
        value: PDataValue,
    ) -> Result<Option<Fragment>, DimseError> {
        if self.data_pc.is_some() {
            return Err(DimseError::CommandDuringDataSet { pc_id });
        }
        self.command_pc = Some(pc_id);
        self.command_bytes.extend_from_slice(&value.data);
        if !value.is_last {
            return Ok(None);
        }
        self.command_pc = None;
        let command = Command::parse(pc_id, &std::mem::take(&mut self.command_bytes))?;
        if command.has_data_set {
            self.data_pc = Some(pc_id);
        }
        Ok(Some(Fragment::Command(command)))
    }

    fn push_data(&mut self, pc_id: u8, value: PDataValue) -> Result<Option<Fragment>, DimseError> {
        if self.data_pc.is_none() {
            return Err(DimseError::DataBeforeCommand { pc_id });
        }
        if value.is_last {
            self.data_pc = None;
        }
        Ok(Some(Fragment::Data {
            bytes: value.data,
            is_last: value.is_last,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_rq(message_id: u16) -> Vec<u8> {
        encode_command(vec![
            DataElement::new(
                tags::AFFECTED_SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(dicom_dictionary_std::uids::VERIFICATION),
            ),
            DataElement::new(
                tags::COMMAND_FIELD,
                VR::US,
                PrimitiveValue::from(command_field::C_ECHO_RQ),
            ),
            DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
            DataElement::new(
                tags::COMMAND_DATA_SET_TYPE,
                VR::US,
                PrimitiveValue::from(NO_DATA_SET),
            ),
        ])
        .unwrap()
    }

    fn fragment(kind: PDataValueType, data: &[u8], is_last: bool) -> PDataValue {
        PDataValue {
            presentation_context_id: 1,
            value_type: kind,
            is_last,
            data: data.to_vec(),
        }
    }

    #[test]
    fn command_group_length_counts_the_rest() {
        let bytes = echo_rq(7);
        // (0000,0000) UL, implicit VR: tag 4 + length 4 + value 4.
        let declared = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(declared, bytes.len() - 12);
    }

    #[test]
    fn command_arriving_one_byte_at_a_time_is_assembled_once() {
        let bytes = echo_rq(42);
        let mut assembler = MessageAssembler::new();
        let last = bytes.len() - 1;
        for (i, b) in bytes.iter().enumerate() {
            let out = assembler
                .push(fragment(PDataValueType::Command, &[*b], i == last))
                .unwrap();
            assert_eq!(out.is_some(), i == last);
            if let Some(Fragment::Command(command)) = out {
                assert_eq!(command.command_field, command_field::C_ECHO_RQ);
                assert_eq!(command.message_id, 42);
                assert!(!command.has_data_set);
            }
        }
    }

    #[test]
    fn data_before_command_is_an_error() {
        let mut assembler = MessageAssembler::new();
        let err = assembler
            .push(fragment(PDataValueType::Data, b"xx", true))
            .unwrap_err();
        assert!(matches!(err, DimseError::DataBeforeCommand { pc_id: 1 }));
    }

    #[test]
    fn data_set_fragments_pass_through_after_their_command() {
        let mut bytes = echo_rq(5);
        // Flip Command Data Set Type to "data set follows".
        let pos = bytes.len() - 2;
        bytes[pos..].copy_from_slice(&0u16.to_le_bytes());
        let mut assembler = MessageAssembler::new();
        let first = assembler
            .push(fragment(PDataValueType::Command, &bytes, true))
            .unwrap();
        assert!(matches!(first, Some(Fragment::Command(c)) if c.has_data_set));
        let err = assembler
            .push(fragment(PDataValueType::Command, &bytes, true))
            .unwrap_err();
        assert!(matches!(err, DimseError::CommandDuringDataSet { .. }));
        let piece = assembler
            .push(fragment(PDataValueType::Data, b"ab", false))
            .unwrap();
        assert!(matches!(piece, Some(Fragment::Data { is_last: false, .. })));
        let last = assembler
            .push(fragment(PDataValueType::Data, b"cd", true))
            .unwrap();
        assert!(matches!(last, Some(Fragment::Data { is_last: true, bytes }) if bytes == b"cd"));
        let err = assembler
            .push(fragment(PDataValueType::Data, b"ef", true))
            .unwrap_err();
        assert!(matches!(err, DimseError::DataBeforeCommand { .. }));
    }

    #[test]
    fn garbage_command_is_a_malformed_error() {
        let mut assembler = MessageAssembler::new();
        let err = assembler
            .push(fragment(PDataValueType::Command, &[0xff; 7], true))
            .unwrap_err();
        assert!(err.to_string().contains("presentation context 1"), "{err}");
    }

    /// Regression (fuzz target `command_set`): an element length far past the end of the
    /// command set is refused without allocating it.
    #[test]
    fn command_set_declaring_a_huge_element_is_refused_without_allocating() {
        let bytes = [0xb9, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x35, 0xff];
        let err = Command::parse(1, &bytes).unwrap_err();
        assert!(
            matches!(err, DimseError::MalformedCommand { pc_id: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn command_without_message_id_names_the_tag() {
        let bytes = encode_command(vec![DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(command_field::C_ECHO_RQ),
        )])
        .unwrap();
        let err = Command::parse(3, &bytes).unwrap_err().to_string();
        assert!(
            err.contains("Message ID") && err.contains("context 3"),
            "{err}"
        );
    }
}
