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
use crate::dimse::store::StoreOperation;
use crate::dimse::{
    self, Command, DimseError, Fragment, MessageAssembler, command_field, echo, status,
};

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
    node: Node,
    association: AsyncServerAssociation<TcpStream>,
    calling_ae: String,
    assembler: MessageAssembler,
    incoming: Option<Incoming>,
    messages: u64,
}

/// A request whose data set is arriving.
enum Incoming {
    Store(Box<StoreOperation>),
    /// A request this node does not serve with a data set: the data set is
    /// read to its end and discarded, then the request is answered.
    Unsupported(Command),
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
        node,
        association,
        calling_ae: calling.clone(),
        assembler: MessageAssembler::new(),
        incoming: None,
        messages: 0,
    };
    let result = session.run(stop).await;
    if let Some(Incoming::Store(operation)) = session.incoming.take() {
        operation.abandon().await;
    }
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

/// The failure response to a command this node does not serve.
fn unsupported(command: &Command) -> Result<Vec<u8>, DimseError> {
    tracing::warn!(
        command_field = format_args!("{:#06x}", command.command_field),
        "unsupported DIMSE command"
    );
    dimse::encode_command(dimse::response_elements(
        command,
        command.command_field | 0x8000,
        status::UNRECOGNIZED_OPERATION,
        false,
    ))
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
            match self.assembler.push(value)? {
                Some(Fragment::Command(command)) => self.on_command(command).await?,
                Some(Fragment::Data { bytes, is_last }) => self.on_data(bytes, is_last).await?,
                None => {}
            }
        }
        Ok(())
    }

    fn check_context(&self, pc_id: u8) -> Result<(), AssociationError> {
        self.transfer_syntax(pc_id)
            .map(|_| ())
            .ok_or(AssociationError::UnknownContext(pc_id))
    }

    /// The transfer syntax of an accepted presentation context.
    fn transfer_syntax(&self, pc_id: u8) -> Option<String> {
        self.association
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance)
            .map(|pc| pc.transfer_syntax.trim_end_matches(['\0', ' ']).to_owned())
    }

    async fn on_command(&mut self, command: Command) -> Result<(), AssociationError> {
        self.messages += 1;
        if !command.has_data_set {
            let response = self.respond_without_data(&command)?;
            return match response {
                Some(bytes) => {
                    self.send_command(command.presentation_context_id, bytes)
                        .await
                }
                None => Ok(()),
            };
        }
        self.incoming = Some(match command.command_field {
            command_field::C_STORE_RQ => {
                let ts = self
                    .transfer_syntax(command.presentation_context_id)
                    .unwrap_or_default();
                let limit = self.node.config().limits.max_data_set_bytes.get();
                Incoming::Store(Box::new(
                    StoreOperation::start(command, ts, self.node.ingest(), limit).await,
                ))
            }
            _ => Incoming::Unsupported(command),
        });
        Ok(())
    }

    async fn on_data(&mut self, bytes: Vec<u8>, is_last: bool) -> Result<(), AssociationError> {
        if let Some(Incoming::Store(operation)) = &mut self.incoming {
            operation.write(&bytes).await;
        }
        if !is_last {
            return Ok(());
        }
        let (pc_id, response) = match self.incoming.take() {
            Some(Incoming::Store(operation)) => {
                let pc_id = operation.presentation_context_id();
                (
                    pc_id,
                    operation
                        .complete(self.node.ingest(), &self.calling_ae)
                        .await?,
                )
            }
            Some(Incoming::Unsupported(command)) => {
                (command.presentation_context_id, unsupported(&command)?)
            }
            None => return Ok(()),
        };
        self.send_command(pc_id, response).await
    }

    /// The response to a command without a data set; `None` for C-CANCEL,
    /// which has none (PS3.7 9.3.2.3).
    fn respond_without_data(&self, command: &Command) -> Result<Option<Vec<u8>>, AssociationError> {
        Ok(match command.command_field {
            command_field::C_CANCEL_RQ => None,
            command_field::C_ECHO_RQ => {
                tracing::debug!(message_id = command.message_id, "C-ECHO");
                Some(echo::respond(command)?)
            }
            _ => Some(unsupported(command)?),
        })
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
