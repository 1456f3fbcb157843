//! Typed errors of the codec, grouped by who is at fault.
//!
//! * [`CodecError::Corrupt`]: the container bytes are malformed, truncated or fail a
//!   checksum (the input is at fault). Each variant names the chunk or offset.
//! * [`CodecError::Misuse`]: the caller passed inconsistent arguments (wrong buffer
//!   length, unsupported sample format, bad option).
//! * [`CodecError::Limit`]: the input asks for more than the caller's [`Limits`]
//!   budget allows; checked before anything is allocated from sizes read off the input.
//! * [`CodecError::Backend`]: a standard codec used for the MSBV (CharLS, libjxl)
//!   reported a failure.
//!
//! Invariant: the decoder returns one of these errors, never panics and never returns
//! wrong samples silently.
//!
//! [`Limits`]: crate::codec::Limits

use thiserror::Error;

/// Every error the codec returns.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The container bytes are at fault.
    #[error("corrupt container: {0}")]
    Corrupt(#[from] CorruptError),
    /// The caller is at fault.
    #[error("codec misuse: {0}")]
    Misuse(#[from] MisuseError),
    /// A configured limit would be exceeded.
    #[error("limit exceeded: {0}")]
    Limit(#[from] LimitError),
    /// The LSBV model could not run (a learned model's runtime failed).
    #[error("LSBV model {model} failed: {message}")]
    Model {
        /// The model's name.
        model: String,
        /// What went wrong.
        message: String,
    },
    /// A standard codec backend failed.
    #[error("MSBV backend {codec} failed: {message}")]
    Backend {
        /// Name of the backend (e.g. "JPEG-LS (CharLS)").
        codec: &'static str,
        /// The backend's message.
        message: String,
    },
}

/// Malformed, truncated or inconsistent container input.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CorruptError {
    /// The input does not start with the Strata container magic.
    #[error("not a Strata container (bad magic)")]
    BadMagic,
    /// The container version is not one this decoder reads.
    #[error("unsupported container version {0}")]
    UnsupportedVersion(u16),
    /// The input ends before a structure that starts at `offset` is complete.
    #[error("truncated input: need {needed} bytes at offset {offset}, have {available}")]
    Truncated {
        /// Where the structure starts.
        offset: usize,
        /// How many bytes it needs.
        needed: usize,
        /// How many bytes remain.
        available: usize,
    },
    /// The header checksum does not match its bytes.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// A header field holds an impossible value.
    #[error("invalid header field {field}: {value}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The chunk's payload lies outside the input.
    #[error("chunk {chunk}: payload at offset {offset} length {length} lies outside the input")]
    ChunkOutOfBounds {
        /// Chunk index.
        chunk: usize,
        /// Payload offset.
        offset: u64,
        /// Payload length.
        length: u64,
    },
    /// The chunk payload bytes do not match their stored checksum.
    #[error("chunk {chunk}: payload checksum mismatch (payload at offset {offset})")]
    PayloadChecksum {
        /// Chunk index.
        chunk: usize,
        /// Payload offset in the container.
        offset: u64,
    },
    /// The chunk payload does not decode.
    #[error("chunk {chunk}: malformed payload: {reason}")]
    ChunkPayload {
        /// Chunk index.
        chunk: usize,
        /// What went wrong.
        reason: String,
    },
    /// The decoded samples of a chunk do not match the stored checksum.
    #[error("chunk {chunk}: checksum mismatch (stored {stored:#018x}, decoded {decoded:#018x})")]
    ChunkChecksum {
        /// Chunk index.
        chunk: usize,
        /// Checksum stored in the chunk table.
        stored: u64,
        /// Checksum of the decoded samples.
        decoded: u64,
    },
    /// The container was written with an LSBV model this decoder does not have.
    #[error(
        "unknown LSBV model id {0}: the model file with this sha256 is not loaded (it must be in the models folder, codec.models_dir)"
    )]
    UnknownModel(String),
    /// The container names an MSBV codec id this decoder does not know.
    #[error("unknown MSBV codec id {0}")]
    UnknownMsbvCodec(u8),
}

/// The caller passed arguments that cannot work.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// `words.len()` is not `z * y * x`.
    #[error("sample buffer holds {actual} words, geometry needs {expected}")]
    BufferLength {
        /// z * y * x.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The sample format is not supported.
    #[error("unsupported sample format: {0}")]
    SampleFormat(String),
    /// An option is out of range.
    #[error("invalid option {name}: {reason}")]
    Option {
        /// Option name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A slice index beyond the volume.
    #[error("slice {index} out of range (volume has {slices} slices)")]
    SliceOutOfRange {
        /// Requested slice.
        index: usize,
        /// Number of slices.
        slices: usize,
    },
    /// A geometry with a zero or too large dimension.
    #[error("invalid geometry {z}x{y}x{x}")]
    Geometry {
        /// Slices.
        z: usize,
        /// Rows.
        y: usize,
        /// Columns.
        x: usize,
    },
}

/// A [`Limits`](crate::codec::Limits) budget would be exceeded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The volume has more voxels than allowed.
    #[error("volume has {voxels} voxels, limit is {limit}")]
    Voxels {
        /// Voxels requested by the input.
        voxels: u64,
        /// The limit.
        limit: u64,
    },
    /// Decoding would need more memory than allowed.
    #[error("decoding needs about {bytes} bytes, limit is {limit}")]
    DecoderMemory {
        /// Estimated bytes.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The chunk table is larger than allowed.
    #[error("container declares {chunks} chunks, limit is {limit}")]
    Chunks {
        /// Declared chunks.
        chunks: u64,
        /// The limit.
        limit: u64,
    },
}

/// Result alias for the codec.
pub type Result<T> = std::result::Result<T, CodecError>;
