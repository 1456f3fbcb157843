//! The data set byte-layout scanner on real files and on hand-made and
//! random bytes: layouts cover the input exactly, cut and splice give back
//! every byte, and no input makes it panic.

mod corpus;
mod fuzz;
mod handmade;
mod streaming;
