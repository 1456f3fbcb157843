//! The bit-division codec on real and synthetic volumes: bit-exact round
//! trips, properties, corruption and limits, determinism, and the
//! `compress`/`decompress`/`info` commands of the real binary.

mod cli;
mod common;
mod corpus;
mod integrity;
mod learned;
mod props;
mod synthetic;
