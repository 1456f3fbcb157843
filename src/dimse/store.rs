//! C-STORE service (PS3.7 9.1.1; Storage Service Class, PS3.4 annex B).
//!
//! The data set streams into a spool file as its fragments arrive; when the
//! last one is in, the copy is fsynced, indexed, and only then is the
//! response sent. A data set that cannot be kept (over the size limit, a disk
//! error) is read to its end and discarded, and the response says why; the
//! association goes on.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::{Command, DimseError, command_field, encode_command, response_elements, status};
use crate::index::InsertOutcome;
use crate::ingest::{Accepted, Ingest, IngestError, Origin, Received};
use crate::store::SpoolWriter;

/// One C-STORE request whose data set is arriving.
#[derive(Debug)]
pub struct StoreOperation {
    request: Command,
    transfer_syntax_uid: String,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Spool(Box<SpoolWriter>),
    Refused { status: u16, comment: String },
}

impl StoreOperation {
    /// Opens the spool file for `request`, received on a context with
    /// `transfer_syntax_uid`; its data set may hold `limit` bytes.
    pub async fn start(
        request: Command,
        transfer_syntax_uid: String,
        ingest: &Ingest,
        limit: u64,
    ) -> StoreOperation {
        let sink = match ingest.store().spool_writer(limit).await {
            Ok(writer) => Sink::Spool(Box::new(writer)),
            Err(e) => refused(status::OUT_OF_RESOURCES, e.to_string()),
        };
        StoreOperation {
            request,
            transfer_syntax_uid,
            sink,
        }
    }

    /// The presentation context the request came on.
    pub fn presentation_context_id(&self) -> u8 {
        self.request.presentation_context_id
    }

    /// Appends one fragment of the data set.
    pub async fn write(&mut self, bytes: &[u8]) {
        let Sink::Spool(writer) = &mut self.sink else {
            return;
        };
        if let Err(e) = writer.write(bytes).await {
            let Sink::Spool(writer) = std::mem::replace(
                &mut self.sink,
                refused(status::OUT_OF_RESOURCES, e.to_string()),
            ) else {
                unreachable!("sink was a spool writer");
            };
            writer.discard().await;
        }
    }

    /// Deletes the partial copy of a data set whose association ended before
    /// its last fragment.
    pub async fn abandon(self) {
        if let Sink::Spool(writer) = self.sink {
            writer.discard().await;
        }
    }

    /// Makes the copy durable, indexes it and builds the C-STORE-RSP.
    pub async fn complete(self, ingest: &Ingest, calling_ae: &str) -> Result<Vec<u8>, DimseError> {
        let (status, comment) = match self.sink {
            Sink::Refused { status, comment } => (status, Some(comment)),
            Sink::Spool(writer) => {
                let received = writer.finish().await.map(|spooled| Received {
                    spooled,
                    transfer_syntax_uid: self.transfer_syntax_uid.clone(),
                    origin: Origin::Network {
                        calling_ae: calling_ae.to_owned(),
                    },
                });
                match received {
                    Ok(received) => outcome_status(ingest.accept(received).await, calling_ae),
                    Err(e) => (status::OUT_OF_RESOURCES, Some(e.to_string())),
                }
            }
        };
        if let Some(comment) = &comment {
            tracing::warn!(
                sop_instance_uid = self.request.affected_sop_instance_uid.as_deref().unwrap_or(""),
                %calling_ae,
                status = format_args!("{status:#06x}"),
                "C-STORE not stored: {comment}"
            );
        }
        respond(&self.request, status, comment)
    }
}

fn refused(status: u16, comment: String) -> Sink {
    Sink::Refused { status, comment }
}

/// Maps what ingest did onto a C-STORE status (PS3.4 B.2.3) and logs it.
fn outcome_status(
    result: Result<Accepted, IngestError>,
    calling_ae: &str,
) -> (u16, Option<String>) {
    let accepted = match result {
        Ok(accepted) => accepted,
        Err(IngestError::Unreadable(e)) => return (status::CANNOT_UNDERSTAND, Some(e.to_string())),
        Err(e) => return (status::OUT_OF_RESOURCES, Some(e.to_string())),
    };
    let what = match accepted.outcome {
        InsertOutcome::Stored { .. } => "stored",
        InsertOutcome::Identical { .. } => "already stored with identical bytes",
        InsertOutcome::Replaced { .. } => "stored, replacing a different copy",
        InsertOutcome::NewVersion { .. } => "stored as a new version",
        InsertOutcome::RejectedDifferent { .. } => {
            return (
                status::ELEMENTS_DISCARDED,
                Some("stored copy kept: same SOP Instance UID, other bytes".to_owned()),
            );
        }
    };
    tracing::info!(
        sop_instance_uid = %accepted.sop_instance_uid,
        sop_class_uid = %accepted.sop_class_uid,
        %calling_ae,
        "instance {what}"
    );
    (status::SUCCESS, None)
}

/// Builds a C-STORE-RSP for `request`.
pub fn respond(
    request: &Command,
    status: u16,
    comment: Option<String>,
) -> Result<Vec<u8>, DimseError> {
    let mut elements = response_elements(request, command_field::C_STORE_RSP, status, false);
    if let Some(uid) = &request.affected_sop_instance_uid {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid.as_str()),
        ));
    }
    if let Some(comment) = comment {
        elements.push(super::error_comment(&comment));
    }
    encode_command(elements)
}
