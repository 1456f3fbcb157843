//! `strata serve`: loads the configuration, checks the data directory and the
//! ONNX Runtime, binds the port and serves until Ctrl-C or SIGTERM.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use strata::archive::run_jobs;
use strata::config::{Config, ConfigError, LogFormat};
use strata::index::redact_url;
use strata::ingest::Ingest;
use strata::runtime::Runtime;
use strata::server::{self, Node};

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// TCP port to listen on (0 = any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Our AE title.
    #[arg(long)]
    ae_title: Option<String>,
}

impl ServeArgs {
    pub fn run(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        let config = self.load_config(log_format)?;
        prepare_data_dir(&config.storage.data_dir)?;
        Runtime::load(&config.codec.onnxruntime_library, config.codec.device)?;
        // The LSBV models load now, so a wrong codec.model or models_dir stops the node
        // at start-up rather than failing its first compression job.
        strata::archive::models::shared(&config.codec).map_err(anyhow::Error::msg)?;
        super::block_on(serve(config))
    }

    fn load_config(&self, log_format: Option<LogFormat>) -> Result<Config, ConfigError> {
        let mut config = self.config.load(log_format)?;
        if let Some(port) = self.port {
            config.network.port = port;
        }
        if let Some(title) = &self.ae_title {
            config.network.ae_title =
                title
                    .clone()
                    .try_into()
                    .map_err(|message| ConfigError::Flag {
                        flag: "--ae-title",
                        message,
                    })?;
        }
        Ok(config)
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let ingest = Ingest::open(&config).await?;
    let recovery = ingest.recover().await?;
    tracing::info!(
        index = %redact_url(&config.storage.effective_database_url()),
        partial_removed = recovery.partial_removed,
        unacknowledged_removed = recovery.unreferenced_removed,
        "archive opened"
    );
    let address = format!("{}:{}", config.network.bind, config.network.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = server::local_addr(&listener).map_or(address, |a| a.to_string());
    tracing::info!(
        ae_title = %config.network.ae_title,
        data_dir = %config.storage.data_dir.display(),
        "listening on {bound}"
    );
    let (stop_jobs, stop) = tokio::sync::broadcast::channel(1);
    let jobs = tokio::spawn(run_jobs(ingest.archive(config.archive_settings()), stop));
    server::run(
        listener,
        Node::new(config, ingest.clone()),
        shutdown_signal(),
    )
    .await;
    let _ = stop_jobs.send(());
    let _ = jobs.await;
    ingest.index().close().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Creates the data directory and proves it is writable.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("data directory {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe)
        .with_context(|| format!("cannot clean up in data directory {}", dir.display()))?;
    Ok(())
}
