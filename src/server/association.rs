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
use crate::dimse::retrieve::{self, Counts};
use crate::dimse::store::StoreOperation;
use crate::dimse::{
    self, Command, DimseError, Fragment, MessageAssembler, command_field, echo, find, status,
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
    #[error("presentation context {0}: query identifier over {MAX_IDENTIFIER} bytes")]
    IdentifierTooLarge(u8),
    #[error("network: {0}")]
    Write(#[from] std::io::Error),
    #[error("sub-operation: {0}")]
    SubOperation(retrieve::SubOpError),
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
    /// Message ID of the last C-STORE sub-operation sent on this association.
    next_message_id: u16,
}

/// A request whose data set is arriving.
enum Incoming {
    Store(Box<StoreOperation>),
    /// A query or retrieve request and its identifier so far.
    Query(Command, Vec<u8>),
    /// A request this node does not serve with a data set: the data set is
    /// read to its end and discarded, then the request is answered.
    Unsupported(Command),
}

/// Largest identifier of a query or retrieve request.
const MAX_IDENTIFIER: usize = 1 << 20;

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
        next_message_id: 0,
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

/// A C-GET-RSP or C-MOVE-RSP command set without a data set.
fn retrieve_response(
    request: &Command,
    field: u16,
    status: u16,
    counts: &Counts,
    with_remaining: bool,
    comment: Option<&str>,
) -> Result<Vec<u8>, DimseError> {
    let mut elements = dimse::response_elements(request, field, status, false);
    elements.extend(counts.elements(with_remaining));
    if let Some(comment) = comment {
        elements.push(dimse::error_comment(comment));
    }
    dimse::encode_command(elements)
}

/// The same, announcing an identifier (the Failed SOP Instance UID List).
fn retrieve_response_with_data(
    request: &Command,
    field: u16,
    status: u16,
    counts: &Counts,
    with_remaining: bool,
    comment: Option<&str>,
) -> Result<Vec<u8>, DimseError> {
    let mut elements = dimse::response_elements(request, field, status, true);
    elements.extend(counts.elements(with_remaining));
    if let Some(comment) = comment {
        elements.push(dimse::error_comment(comment));
    }
    dimse::encode_command(elements)
}

/// A C-FIND-RSP command set.
fn find_response(
    request: &Command,
    status: u16,
    comment: Option<&str>,
    has_data_set: bool,
) -> Result<Vec<u8>, DimseError> {
    let mut elements =
        dimse::response_elements(request, command_field::C_FIND_RSP, status, has_data_set);
    if let Some(comment) = comment {
        elements.push(dimse::error_comment(comment));
    }
    dimse::encode_command(elements)
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
            command_field::C_FIND_RQ | command_field::C_GET_RQ | command_field::C_MOVE_RQ => {
                Incoming::Query(command, Vec::new())
            }
            _ => Incoming::Unsupported(command),
        });
        Ok(())
    }

    async fn on_data(&mut self, bytes: Vec<u8>, is_last: bool) -> Result<(), AssociationError> {
        match &mut self.incoming {
            Some(Incoming::Store(operation)) => operation.write(&bytes).await,
            Some(Incoming::Query(command, identifier)) => {
                if identifier.len() + bytes.len() > MAX_IDENTIFIER {
                    return Err(AssociationError::IdentifierTooLarge(
                        command.presentation_context_id,
                    ));
                }
                identifier.extend_from_slice(&bytes);
            }
            _ => {}
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
            Some(Incoming::Query(command, identifier)) => {
                return self.on_query(command, identifier).await;
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

    async fn on_query(
        &mut self,
        command: Command,
        identifier: Vec<u8>,
    ) -> Result<(), AssociationError> {
        match command.command_field {
            command_field::C_GET_RQ => return self.on_get(command, identifier).await,
            command_field::C_MOVE_RQ => return self.on_move(command, identifier).await,
            _ => {}
        }
        let pc_id = command.presentation_context_id;
        let ts = self.transfer_syntax(pc_id).unwrap_or_default();
        let sop_class = command.affected_sop_class_uid.clone().unwrap_or_default();
        let case_insensitive = self.node.config().network.find_names_case_insensitive;
        let outcome = async {
            let query = find::parse(&sop_class, &identifier, &ts)?;
            let scope = find::scope(&query, &sop_class)?;
            let records =
                find::search(self.node.ingest().index(), &query, &scope, case_insensitive).await?;
            let identifiers = records
                .iter()
                .map(|r| find::response_identifier(&query, r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, find::Refusal>((query.level, identifiers))
        }
        .await;
        let (level, identifiers) = match outcome {
            Ok(found) => found,
            Err(refusal) => {
                tracing::warn!(calling_ae = %self.calling_ae, status = format_args!("{:#06x}", refusal.status), "C-FIND refused: {}", refusal.comment);
                let response =
                    find_response(&command, refusal.status, Some(&refusal.comment), false)?;
                return self.send_command(pc_id, response).await;
            }
        };
        tracing::info!(calling_ae = %self.calling_ae, ?level, matches = identifiers.len(), "C-FIND");
        let mut final_status = status::SUCCESS;
        for identifier in identifiers {
            if self.cancel_requested().await? {
                final_status = status::CANCELLED;
                break;
            }
            let pending = find_response(&command, status::PENDING, None, true)?;
            self.send_command(pc_id, pending).await?;
            self.send_data(pc_id, &identifier).await?;
        }
        let done = find_response(&command, final_status, None, false)?;
        self.send_command(pc_id, done).await
    }

    /// Between two pending responses: whether the peer has sent a C-CANCEL
    /// (PS3.7 9.3.2.3). Reads a PDU only when bytes are already waiting.
    async fn cancel_requested(&mut self) -> Result<bool, AssociationError> {
        let mut probe = [0u8; 1];
        let waiting = tokio::time::timeout(
            Duration::ZERO,
            self.association.inner_stream().peek(&mut probe),
        )
        .await;
        if !matches!(waiting, Ok(Ok(n)) if n > 0) {
            return Ok(false);
        }
        match self
            .association
            .receive()
            .await
            .map_err(AssociationError::Network)?
        {
            Pdu::PData { data } => {
                for value in data {
                    if let Some(Fragment::Command(c)) = self.assembler.push(value)?
                        && c.command_field == command_field::C_CANCEL_RQ
                    {
                        return Ok(true);
                    }
                }
                Err(AssociationError::UnexpectedPdu(
                    "P-DATA other than C-CANCEL during a pending operation".into(),
                ))
            }
            other => Err(AssociationError::UnexpectedPdu(
                other.short_description().to_string(),
            )),
        }
    }

    /// The instances a retrieve identifier names, or the refusal.
    async fn retrieve_targets(
        &self,
        command: &Command,
        identifier: &[u8],
    ) -> Result<Vec<crate::index::Location>, find::Refusal> {
        let ts = self
            .transfer_syntax(command.presentation_context_id)
            .unwrap_or_default();
        let sop_class = command.affected_sop_class_uid.clone().unwrap_or_default();
        let query = find::parse(&sop_class, identifier, &ts)?;
        let scope = find::scope(&query, &sop_class)?;
        self.node
            .ingest()
            .index()
            .locations_in(&scope)
            .await
            .map_err(|e| find::Refusal {
                status: status::UNABLE_TO_PROCESS,
                comment: e.to_string(),
            })
    }

    /// C-GET: every instance goes back as a C-STORE sub-operation on this
    /// association, with a pending response after each.
    async fn on_get(
        &mut self,
        command: Command,
        identifier: Vec<u8>,
    ) -> Result<(), AssociationError> {
        let targets = match self.retrieve_targets(&command, &identifier).await {
            Ok(t) => t,
            Err(r) => {
                return self
                    .refuse_retrieve(&command, command_field::C_GET_RSP, r)
                    .await;
            }
        };
        let archive = self.node.archive().clone();
        let limit = self.node.config().limits.max_data_set_bytes.get();
        let mut counts = Counts {
            remaining: targets.len().min(usize::from(u16::MAX)) as u16,
            ..Counts::default()
        };
        let mut cancelled = false;
        for target in &targets {
            self.next_message_id = self.next_message_id.wrapping_add(1);
            let result = retrieve::store_one(
                &mut self.association,
                &archive,
                target,
                self.next_message_id,
                None,
                limit,
            )
            .await;
            cancelled |= self.record_sub_operation(&mut counts, target, result)?;
            if cancelled {
                break;
            }
            self.send_progress(&command, command_field::C_GET_RSP, &counts)
                .await?;
        }
        self.finish_retrieve(&command, command_field::C_GET_RSP, counts, cancelled)
            .await
    }

    /// C-MOVE: the instances go to a configured destination on a new
    /// association; progress comes back here.
    async fn on_move(
        &mut self,
        command: Command,
        identifier: Vec<u8>,
    ) -> Result<(), AssociationError> {
        let destination = command
            .object
            .element_opt(dicom_dictionary_std::tags::MOVE_DESTINATION)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok().map(|s| s.trim().to_owned()))
            .unwrap_or_default();
        let Some(address) = self
            .node
            .config()
            .move_destinations
            .get(&destination)
            .cloned()
        else {
            let refusal = find::Refusal {
                status: status::MOVE_DESTINATION_UNKNOWN,
                comment: format!("move destination {destination:?} unknown"),
            };
            return self
                .refuse_retrieve(&command, command_field::C_MOVE_RSP, refusal)
                .await;
        };
        let targets = match self.retrieve_targets(&command, &identifier).await {
            Ok(t) => t,
            Err(r) => {
                return self
                    .refuse_retrieve(&command, command_field::C_MOVE_RSP, r)
                    .await;
            }
        };
        let mut counts = Counts {
            remaining: targets.len().min(usize::from(u16::MAX)) as u16,
            ..Counts::default()
        };
        let mut outgoing = match self
            .connect_destination(&destination, &address, &targets)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%destination, error = %e, "C-MOVE destination refused or unreachable");
                for t in &targets {
                    counts.record(&t.sop_instance_uid, None);
                }
                let refusal = find::Refusal {
                    status: status::UNABLE_TO_PERFORM_SUBOPERATIONS,
                    comment: format!("destination {destination}: {e}"),
                };
                return self
                    .refuse_retrieve(&command, command_field::C_MOVE_RSP, refusal)
                    .await;
            }
        };
        let archive = self.node.archive().clone();
        let limit = self.node.config().limits.max_data_set_bytes.get();
        let originator = retrieve::Originator {
            ae_title: self.calling_ae.clone(),
            message_id: command.message_id,
        };
        let mut broken = false;
        let mut cancelled = false;
        for (n, target) in targets.iter().enumerate() {
            if self.cancel_requested().await? {
                cancelled = true;
                break;
            }
            let result = if broken {
                Err(retrieve::SubOpError::Network(
                    "destination association lost".into(),
                ))
            } else {
                retrieve::store_one(
                    &mut outgoing,
                    &archive,
                    target,
                    (n + 1) as u16,
                    Some(&originator),
                    limit,
                )
                .await
            };
            if let Err(e) = &result
                && e.is_fatal()
            {
                if !broken {
                    tracing::warn!(%destination, error = %e, "C-MOVE destination association failed");
                }
                broken = true;
                counts.record_failure(&target.sop_instance_uid, e.reason());
            } else {
                self.record_sub_operation(&mut counts, target, result)?;
            }
            self.send_progress(&command, command_field::C_MOVE_RSP, &counts)
                .await?;
        }
        if broken {
            let _ = outgoing.abort().await;
        } else {
            let _ = outgoing.release().await;
        }
        self.finish_retrieve(&command, command_field::C_MOVE_RSP, counts, cancelled)
            .await
    }

    async fn connect_destination(
        &self,
        destination: &str,
        address: &crate::config::MoveDestination,
        targets: &[crate::index::Location],
    ) -> Result<
        dicom_ul::association::client::AsyncClientAssociation<TcpStream>,
        dicom_ul::association::Error,
    > {
        let config = self.node.config();
        let timeout = Duration::from_secs(config.network.dimse_timeout_s.get());
        let mut options = dicom_ul::ClientAssociationOptions::new()
            .calling_ae_title(config.network.ae_title.as_str().to_owned())
            .called_ae_title(destination.to_owned())
            .max_pdu_length(config.limits.max_pdu.get())
            .read_timeout(timeout)
            .write_timeout(timeout)
            .connection_timeout(Duration::from_secs(config.network.artim_timeout_s.get()));
        let mut pairs: Vec<(String, String)> = targets
            .iter()
            .map(|t| (t.sop_class_uid.clone(), t.transfer_syntax_uid.clone()))
            .collect();
        pairs.sort();
        pairs.dedup();
        // The stored syntax alone in one context, so the destination cannot
        // prefer another and force a conversion; native ones as a fallback.
        let native = [
            dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN,
            dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN,
        ];
        for (sop_class, ts) in pairs.into_iter().take(63) {
            options = options.with_presentation_context(sop_class.clone(), vec![ts]);
            options = options.with_presentation_context(
                sop_class,
                native.iter().map(|s| s.to_string()).collect(),
            );
        }
        options
            .establish_async((address.host.as_str(), address.port))
            .await
    }

    /// Counts one sub-operation; returns whether a C-CANCEL arrived.
    fn record_sub_operation(
        &self,
        counts: &mut Counts,
        target: &crate::index::Location,
        result: Result<(u16, bool), retrieve::SubOpError>,
    ) -> Result<bool, AssociationError> {
        match result {
            Ok((store_status, cancelled)) => {
                counts.record(&target.sop_instance_uid, Some(store_status));
                Ok(cancelled)
            }
            Err(e) if e.is_fatal() => Err(AssociationError::SubOperation(e)),
            Err(e) => {
                tracing::warn!(sop_instance_uid = %target.sop_instance_uid, error = %e, "sub-operation failed");
                counts.record_failure(&target.sop_instance_uid, e.reason());
                Ok(false)
            }
        }
    }

    /// A pending C-GET-RSP / C-MOVE-RSP with the counts, while sub-operations
    /// remain.
    async fn send_progress(
        &mut self,
        command: &Command,
        field: u16,
        counts: &Counts,
    ) -> Result<(), AssociationError> {
        if counts.remaining == 0 {
            return Ok(());
        }
        let pending = retrieve_response(command, field, status::PENDING, counts, true, None)?;
        self.send_command(command.presentation_context_id, pending)
            .await
    }

    async fn refuse_retrieve(
        &mut self,
        command: &Command,
        field: u16,
        refusal: find::Refusal,
    ) -> Result<(), AssociationError> {
        tracing::warn!(calling_ae = %self.calling_ae, status = format_args!("{:#06x}", refusal.status), "retrieve refused: {}", refusal.comment);
        let response = retrieve_response(
            command,
            field,
            refusal.status,
            &Counts::default(),
            false,
            Some(&refusal.comment),
        )?;
        self.send_command(command.presentation_context_id, response)
            .await
    }

    async fn finish_retrieve(
        &mut self,
        command: &Command,
        field: u16,
        counts: Counts,
        cancelled: bool,
    ) -> Result<(), AssociationError> {
        let pc_id = command.presentation_context_id;
        let final_status = if cancelled {
            status::CANCELLED
        } else {
            counts.final_status()
        };
        let ts = self.transfer_syntax(pc_id).unwrap_or_default();
        let failed = counts.failed_identifier(&ts);
        tracing::info!(
            calling_ae = %self.calling_ae,
            completed = counts.completed,
            failed = counts.failed,
            warning = counts.warning,
            cancelled,
            "{} done",
            if field == command_field::C_GET_RSP { "C-GET" } else { "C-MOVE" }
        );
        // Why the first failed sub-operation failed; the identifier names them.
        let comment = counts.first_error.as_deref();
        let response = if failed.is_some() {
            retrieve_response_with_data(command, field, final_status, &counts, cancelled, comment)?
        } else {
            retrieve_response(command, field, final_status, &counts, cancelled, comment)?
        };
        self.send_command(pc_id, response).await?;
        if let Some(identifier) = failed {
            self.send_data(pc_id, &identifier).await?;
        }
        Ok(())
    }

    async fn send_data(&mut self, pc_id: u8, bytes: &[u8]) -> Result<(), AssociationError> {
        use tokio::io::AsyncWriteExt;
        let mut writer = self.association.send_pdata(pc_id);
        writer.write_all(bytes).await?;
        writer.finish().await?;
        Ok(())
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
