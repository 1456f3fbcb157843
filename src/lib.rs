//! Strata: a DICOM archive node that stores CT and MR volumes losslessly with
//! a bit-division codec and gives back every byte exactly as received.
//!
//! Layout (imports point down only):
//!
//! - [`server`]: accept loop and one task per association (network protocol,
//!   through `dicom-ul`).
//! - [`dimse`]: DIMSE message assembly and one file per service
//!   (`echo`; `store`, `find`, `get`, `move` to come).
//! - [`ingest`]: received copies into the index (C-STORE and import).
//! - [`archive`]: compressed storage: jobs, verification, rebuild, export.
//! - [`volume`]: the volume type, its file formats and series assembly.
//! - [`codec`]: the bit-division volume codec (pure functions).
//! - [`bench`]: the codec benchmark against standard lossless codecs.
//! - [`dataset`]: byte layout of received data sets (sans-IO).
//! - [`store`] and [`index`]: files on disk and the SQL index.
//! - [`runtime`]: ONNX Runtime provisioning and inference sessions.
//! - [`config`]: validated configuration from file, environment and flags.
//! - [`logging`]: `tracing` set-up.
//!
//! The binary (`src/main.rs`, `src/cli/`) maps subcommands onto these and
//! errors onto exit codes.

pub mod archive;
pub mod bench;
pub mod codec;
pub mod config;
pub mod dataset;
pub mod dimse;
pub mod index;
pub mod ingest;
pub mod logging;
pub mod runtime;
pub mod server;
pub mod store;
pub mod volume;
