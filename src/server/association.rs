//! One association, from the A-ASSOCIATE-RQ to its release or abort.
//!
//! The receive loop is split by PDU kind; DIMSE messages are assembled by
//! [`MessageAssembler`] and handed to the service that their Command Field
//! names. Everything that can go wrong ends this association only, with one
//! log line that says why.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dicom_ul::association::Association;
use dicom_ul::association::server::AsyncServerAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use super::Node;
use crate::dimse::{self, DimseError, Message, MessageAssembler, command_field, echo, status};

/// Largest data set held in memory by the assembler until ingest streams
/// data sets to the spool.
const MAX_IN_MEMORY_DATA_SET: usize = 64 * 1024 * 1024;

/// Why an association ended.
#[derive(Debug, thiserror::Error)]
enum AssociationError {
    #[error("association request not completed within {0:?} (ARTIM)")]
    ArtimExpired(Duration),
    #[error("association negotiation failed: {0}")]
    Negotiation(dicom_ul::association::Error),
    #[error("network: {0}")]
    Network(dicom_ul::association::Error),
    #[error(transparent)]
    Dimse(#[from] DimseError),
    #[error("presentation context {0} was not accepted on this association")]
    UnknownContext(u8),
    #[error("unexpected {0} PDU")]
    UnexpectedPdu(String),
}

/// How a well-behaved association ended.
enum Ending {
    Released,
    AbortedByPeer,
    Shutdown,
}

/// Per-association state.
struct Session {
    association: AsyncServerAssociation<TcpStream>,
    assembler: MessageAssembler,
    messages: u64,
}

/// Serves one connection until its association ends; never fails upward.
pub(super) async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    node: Node,
    stop: broadcast::Receiver<()>,
) {
    let started = Instant::now();
    let association = match establish(socket, &node).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "association rejected");
            return;
        }
    };
    let calling = association.peer_ae_title().to_owned();
    tracing::info!(
        %peer,
        calling_ae = %calling,
        called_ae = %association.called_ae_title(),
        contexts = accepted_contexts(&association),
        max_pdu = association.requestor_max_pdu_length(),
        "association accepted"
    );
    let mut session = Session {
        association,
        assembler: MessageAssembler::new(MAX_IN_MEMORY_DATA_SET),
        messages: 0,
    };
    let result = session.run(stop).await;
    let messages = session.messages;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(Ending::Released) => {
            tracing::info!(%peer, calling_ae = %calling, messages, elapsed_ms, "association released")
        }
        Ok(Ending::AbortedByPeer) => {
            tracing::warn!(%peer, calling_ae = %calling, messages, elapsed_ms, "association aborted by peer")
        }
        Ok(Ending::Shutdown) => {
            tracing::info!(%peer, calling_ae = %calling, messages, "association aborted: node shutting down")
        }
        Err(e) => {
            tracing::warn!(%peer, calling_ae = %calling, messages, error = %e, "association failed")
        }
    }
}

async fn establish(
    socket: TcpStream,
    node: &Node,
) -> Result<AsyncServerAssociation<TcpStream>, AssociationError> {
    let artim = Duration::from_secs(node.config().network.artim_timeout_s.get());
    tokio::time::timeout(artim, node.inner.options.establish_async(socket))
        .await
        .map_err(|_| AssociationError::ArtimExpired(artim))?
        .map_err(AssociationError::Negotiation)
}

fn accepted_contexts(association: &AsyncServerAssociation<TcpStream>) -> usize {
    association
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .count()
}

impl Session {
    async fn run(&mut self, mut stop: broadcast::Receiver<()>) -> Result<Ending, AssociationError> {
        loop {
            let pdu = tokio::select! {
                _ = stop.recv() => {
                    let _ = self.association.send(&Pdu::AbortRQ {
                        source: dicom_ul::pdu::AbortRQSource::ServiceProvider(
                            dicom_ul::pdu::AbortRQServiceProviderReason::ReasonNotSpecified,
                        ),
                    }).await;
                    return Ok(Ending::Shutdown);
                }
                pdu = self.association.receive() => pdu.map_err(AssociationError::Network)?,
            };
            match pdu {
                Pdu::PData { data } => self.on_pdata(data).await?,
                Pdu::ReleaseRQ => {
                    self.association
                        .send(&Pdu::ReleaseRP)
                        .await
                        .map_err(AssociationError::Network)?;
                    return Ok(Ending::Released);
                }
                Pdu::AbortRQ { .. } => return Ok(Ending::AbortedByPeer),
                other => {
                    return Err(AssociationError::UnexpectedPdu(
                        other.short_description().to_string(),
                    ));
                }
            }
        }
    }

    async fn on_pdata(&mut self, values: Vec<PDataValue>) -> Result<(), AssociationError> {
        for value in values {
            self.check_context(value.presentation_context_id)?;
            if let Some(message) = self.assembler.push(value)? {
                self.messages += 1;
                self.dispatch(message).await?;
            }
        }
        Ok(())
    }

    fn check_context(&self, pc_id: u8) -> Result<(), AssociationError> {
        let accepted =
            self.association.presentation_contexts().iter().any(|pc| {
                pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance
            });
        if accepted {
            Ok(())
        } else {
            Err(AssociationError::UnknownContext(pc_id))
        }
    }

    async fn dispatch(&mut self, message: Message) -> Result<(), AssociationError> {
        let command = &message.command;
        let response = match command.command_field {
            // C-CANCEL has no response (PS3.7 9.3.2.3); nothing is pending yet.
            command_field::C_CANCEL_RQ => return Ok(()),
            command_field::C_ECHO_RQ => {
                tracing::debug!(message_id = command.message_id, "C-ECHO");
                echo::respond(command)?
            }
            other => {
                tracing::warn!(
                    command_field = format_args!("{other:#06x}"),
                    "unsupported DIMSE command"
                );
                dimse::encode_command(dimse::response_elements(
                    command,
                    other | 0x8000,
                    status::UNRECOGNIZED_OPERATION,
                    false,
                ))?
            }
        };
        self.send_command(command.presentation_context_id, response)
            .await
    }

    async fn send_command(&mut self, pc_id: u8, bytes: Vec<u8>) -> Result<(), AssociationError> {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: bytes,
            }],
        };
        self.association
            .send(&pdu)
            .await
            .map_err(AssociationError::Network)
    }
}
