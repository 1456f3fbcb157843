//! Integration tests: the real `strata` binary against real DICOM peers
//! (DCMTK command-line tools, pynetdicom), each test in a fresh directory
//! with its own port.

mod archive;
mod cli;
mod echo;
mod retrieve;
mod runtime;
mod store;
mod support;
