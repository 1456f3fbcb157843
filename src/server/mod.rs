//! Network front: the accept loop and the per-association task.
//!
//! What enters: TCP connections on the configured port. What leaves: DIMSE
//! responses on each association, and one log line when an association opens
//! and one when it ends (with its reason).
//!
//! Invariants: at most `limits.max_associations` associations are served at
//! once (further connections wait for a slot); every wait has a timeout
//! (ARTIM for the association request, the DIMSE timeout between messages);
//! an association that fails for any reason (malformed PDU, timeout, peer
//! abort) ends alone: the accept loop and the other associations go on.
//! Shutdown stops accepting, aborts idle associations and waits for every
//! handler task before returning.

mod association;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::association::server::{AccessControl, ServerAssociationOptions};
use dicom_ul::pdu::{AssociationRJServiceUserReason, UserIdentity};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;

use crate::archive::Archive;
use crate::config::Config;
use crate::dimse::sop_classes::STORAGE_SOP_CLASSES;
use crate::dimse::{find, retrieve};
use crate::ingest::Ingest;

/// The node's shared, cheap-to-clone state handle.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    config: Config,
    ingest: Ingest,
    archive: Archive,
    options: ServerAssociationOptions<'static, CallingAeAllowList, RoleNegotiation>,
}

impl Node {
    /// Builds the node state from a validated configuration and the opened
    /// store and index.
    pub fn new(config: Config, ingest: Ingest) -> Node {
        let options = association_options(&config);
        let archive = ingest.archive(config.archive_settings());
        Node {
            inner: Arc::new(NodeInner {
                config,
                ingest,
                archive,
                options,
            }),
        }
    }

    /// Compressed storage: rebuilding instances for retrieval.
    pub fn archive(&self) -> &Archive {
        &self.inner.archive
    }

    /// The ingest pipeline (store and index).
    pub fn ingest(&self) -> &Ingest {
        &self.inner.ingest
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

/// Accepts associations until `shutdown` completes, then waits for the
/// open ones to end.
pub async fn run(listener: TcpListener, node: Node, shutdown: impl Future<Output = ()>) {
    let limit = node.config().limits.max_associations.get() as usize;
    let slots = Arc::new(Semaphore::new(limit));
    let (stop_tx, _) = broadcast::channel::<()>(1);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let (socket, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let node = node.clone();
        let stop = stop_tx.subscribe();
        tasks.spawn(async move {
            association::serve(socket, peer, node, stop).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    tracing::info!(open = tasks.len(), "shutting down: no new associations");
    let _ = stop_tx.send(());
    while tasks.join_next().await.is_some() {}
    tracing::info!("shutdown complete");
}

/// The address the listener is bound to, for the start-up log line.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

fn association_options(
    config: &Config,
) -> ServerAssociationOptions<'static, CallingAeAllowList, RoleNegotiation> {
    let net = &config.network;
    let access = CallingAeAllowList {
        allowed: net
            .allowed_calling_ae_titles
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    };
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(access)
        .ae_title(net.ae_title.as_str().to_owned())
        .max_pdu_length(config.limits.max_pdu.get())
        .read_timeout(Duration::from_secs(net.dimse_timeout_s.get()))
        .write_timeout(Duration::from_secs(net.dimse_timeout_s.get()))
        .strict(false)
        .promiscuous(net.promiscuous)
        .with_abstract_syntax(uids::VERIFICATION)
        .with_negotiation(RoleNegotiation)
        .with_abstract_syntax(find::PATIENT_ROOT_FIND)
        .with_abstract_syntax(find::STUDY_ROOT_FIND)
        .with_abstract_syntax(retrieve::PATIENT_ROOT_GET)
        .with_abstract_syntax(retrieve::STUDY_ROOT_GET)
        .with_abstract_syntax(retrieve::PATIENT_ROOT_MOVE)
        .with_abstract_syntax(retrieve::STUDY_ROOT_MOVE);
    // No transfer syntax list: every syntax the registry can parse is
    // accepted, encapsulated ones included, and data sets are kept as sent.
    for (uid, _) in STORAGE_SOP_CLASSES {
        options = options.with_abstract_syntax(*uid);
    }
    options
}

/// SCP/SCU role selection (PS3.7 D.3.3.4): a C-GET SCU asks to be the SCP
/// of the storage SOP Classes it will receive; the node accepts the roles
/// it is asked for, so C-STORE sub-operations can flow back.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleNegotiation;

impl dicom_ul::association::server::Negotiation for RoleNegotiation {
    fn negotiate_roles(
        &self,
        _sop_class_uid: &str,
        scu_role: bool,
        scp_role: bool,
    ) -> Option<dicom_ul::pdu::RequestorRoles> {
        Some(dicom_ul::pdu::RequestorRoles {
            scu: scu_role,
            scp: scp_role,
        })
    }
}

/// Association access control: the calling AE title must be in the allow
/// list when the list is not empty (PS3.8 7.1.1.3: rejected with reason
/// "calling AE title not recognized").
#[derive(Debug, Clone)]
pub struct CallingAeAllowList {
    allowed: Vec<String>,
}

impl AccessControl for CallingAeAllowList {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        _called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let calling = calling_ae_title.trim();
        if self.allowed.is_empty() || self.allowed.iter().any(|a| a == calling) {
            Ok(())
        } else {
            Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
        }
    }
}
