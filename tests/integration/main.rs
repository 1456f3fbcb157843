//! Integration tests: the real `strata` binary against real DICOM peers
//! (DCMTK command-line tools, pynetdicom, Orthanc), each test in a fresh
//! directory with its own port.

/// Runs each test once on the embedded SQLite index and once on PostgreSQL.
macro_rules! on_both_indexes {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(crate::support::Db::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(crate::support::Db::Postgres) })*
        }
    };
}

mod archive;
mod cli;
mod echo;
mod retrieve;
mod runtime;
mod store;
mod support;
