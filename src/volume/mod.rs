//! Volumes of pixel words: series-to-volume assembly (the codec and the
//! volume file formats join this module).

pub mod assembly;
