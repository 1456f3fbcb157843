//! The MSBV codec: each slice's most significant bits as a standard lossless image.
//!
//! Owns the mapping of MSBV slices (`v >> d`, at most 16 bits) to JPEG-LS (ISO/IEC
//! 14495-1, through CharLS) or JPEG XL lossless (ISO/IEC 18181, through libjxl) streams
//! and back. A volume whose MSBV is identically zero (`d` equals the value bit length)
//! stores nothing.
//!
//! Invariant: `decode(encode(s)) == s`; a stream whose decoded geometry or bit depth does
//! not match the header is an error, never silently accepted.

use super::error::{CodecError, Result};

/// Which standard codec holds the MSBV. The number is written in the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MsbvCodec {
    /// The MSBV has zero bits: nothing is stored.
    Empty,
    /// JPEG-LS lossless via CharLS.
    JpegLs,
    /// JPEG XL lossless via libjxl, at the given effort (1-10) (decoding ignores it).
    JpegXl {
        /// Encoder effort.
        effort: u8,
    },
}

impl MsbvCodec {
    /// The id stored in the container.
    pub fn id(&self) -> u8 {
        match self {
            MsbvCodec::Empty => 0,
            MsbvCodec::JpegLs => 1,
            MsbvCodec::JpegXl { .. } => 2,
        }
    }

    /// The codec for a stored id.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(MsbvCodec::Empty),
            1 => Some(MsbvCodec::JpegLs),
            2 => Some(MsbvCodec::JpegXl { effort: 7 }),
            _ => None,
        }
    }

    /// Human-readable name.
    pub fn name(&self) -> &'static str {
        match self {
            MsbvCodec::Empty => "none (zero bits)",
            MsbvCodec::JpegLs => "JPEG-LS (CharLS)",
            MsbvCodec::JpegXl { .. } => "JPEG XL lossless (libjxl)",
        }
    }
}

/// One MSBV slice: `height x width` values below `2^bits`.
#[derive(Clone, Copy, Debug)]
pub struct MsbvSlice {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Bit depth of the values (0..=16).
    pub bits: u8,
}

fn backend(codec: &'static str, e: impl std::fmt::Display) -> CodecError {
    CodecError::Backend {
        codec,
        message: e.to_string(),
    }
}

/// Encodes one slice of MSBV values.
pub fn encode(codec: MsbvCodec, geo: &MsbvSlice, values: &[u32]) -> Result<Vec<u8>> {
    match codec {
        MsbvCodec::Empty => Ok(Vec::new()),
        MsbvCodec::JpegLs => jpegls_encode(geo, values),
        MsbvCodec::JpegXl { effort } => jxl_encode(geo, values, effort),
    }
}

/// Decodes one slice of MSBV values into `out`; `Err(reason)` on a malformed stream.
pub fn decode(
    codec: MsbvCodec,
    geo: &MsbvSlice,
    data: &[u8],
    out: &mut [u32],
) -> std::result::Result<(), String> {
    match codec {
        MsbvCodec::Empty => {
            out.fill(0);
            Ok(())
        }
        MsbvCodec::JpegLs => jpegls_decode(geo, data, out),
        MsbvCodec::JpegXl { .. } => jxl_decode(geo, data, out),
    }
}

fn wide(geo: &MsbvSlice) -> bool {
    geo.bits > 8
}

fn to_bytes(geo: &MsbvSlice, values: &[u32]) -> Vec<u8> {
    if wide(geo) {
        values
            .iter()
            .flat_map(|&v| (v as u16).to_ne_bytes())
            .collect()
    } else {
        values.iter().map(|&v| v as u8).collect()
    }
}

fn from_bytes(geo: &MsbvSlice, bytes: &[u8], out: &mut [u32]) -> std::result::Result<(), String> {
    let per = if wide(geo) { 2 } else { 1 };
    if bytes.len() != out.len() * per {
        return Err(format!(
            "MSBV decoded {} bytes, expected {}",
            bytes.len(),
            out.len() * per
        ));
    }
    if per == 2 {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = u16::from_ne_bytes([c[0], c[1]]) as u32;
        }
    } else {
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = b as u32;
        }
    }
    if out.iter().any(|&v| v >> geo.bits != 0) {
        return Err("MSBV value exceeds its bit depth".into());
    }
    Ok(())
}

const JLS: &str = "JPEG-LS (CharLS)";

/// JPEG-LS needs 2..=16 bits per sample; a 1-bit MSBV is coded as 2-bit.
fn jls_bits(geo: &MsbvSlice) -> i32 {
    geo.bits.max(2) as i32
}

fn jpegls_encode(geo: &MsbvSlice, values: &[u32]) -> Result<Vec<u8>> {
    let info = charls::FrameInfo {
        width: geo.width as u32,
        height: geo.height as u32,
        bits_per_sample: jls_bits(geo),
        component_count: 1,
    };
    let mut codec = charls::CharLS::default();
    codec
        .encode(info, 0, &to_bytes(geo, values))
        .map_err(|e| backend(JLS, format!("{e:?}")))
}

fn jpegls_decode(geo: &MsbvSlice, data: &[u8], out: &mut [u32]) -> std::result::Result<(), String> {
    // Frame info first, from its own decoder instance, so a corrupt header cannot make
    // CharLS allocate a frame larger than the one the container declares.
    let info = charls::CharLS::default()
        .get_frame_info(data)
        .map_err(|e| format!("JPEG-LS header: {e:?}"))?;
    let expect = (geo.width as u32, geo.height as u32, jls_bits(geo), 1);
    let got = (
        info.width,
        info.height,
        info.bits_per_sample,
        info.component_count,
    );
    if got != expect {
        return Err(format!(
            "JPEG-LS frame {got:?} does not match header {expect:?}"
        ));
    }
    let bytes = charls::CharLS::default()
        .decode(data)
        .map_err(|e| format!("JPEG-LS: {e:?}"))?;
    from_bytes(geo, &bytes, out)
}

const JXL: &str = "JPEG XL (libjxl)";

fn jxl_speed(effort: u8) -> jpegxl_rs::encode::EncoderSpeed {
    use jpegxl_rs::encode::EncoderSpeed as S;
    match effort {
        0 | 1 => S::Lightning,
        2 => S::Thunder,
        3 => S::Falcon,
        4 => S::Cheetah,
        5 => S::Hare,
        6 => S::Wombat,
        7 => S::Squirrel,
        8 => S::Kitten,
        9 => S::Tortoise,
        _ => S::Glacier,
    }
}

/// Encodes a grey image losslessly with libjxl (8-bit words when `bits <= 8`, else 16).
pub fn jxl_encode_gray(
    width: usize,
    height: usize,
    bits: u8,
    values: &[u16],
    effort: u8,
) -> Result<Vec<u8>> {
    use jpegxl_rs::encode::{ColorEncoding, EncoderFrame};
    let mut enc = jpegxl_rs::encoder_builder()
        .lossless(true)
        .uses_original_profile(true)
        .color_encoding(ColorEncoding::SrgbLuma)
        .speed(jxl_speed(effort))
        .build()
        .map_err(|e| backend(JXL, e))?;
    let (w, h) = (width as u32, height as u32);
    let res = if bits <= 8 {
        let px: Vec<u8> = values.iter().map(|&v| v as u8).collect();
        enc.encode_frame(&EncoderFrame::new(&px).num_channels(1), w, h)
    } else {
        enc.encode_frame(&EncoderFrame::new(values).num_channels(1), w, h)
    };
    res.map_err(|e| backend(JXL, e))
}

/// Decodes a grey libjxl image written by [`jxl_encode_gray`].
pub fn jxl_decode_gray(
    data: &[u8],
    bits: u8,
    expect_len: usize,
) -> std::result::Result<Vec<u16>, String> {
    use jpegxl_rs::decode::PixelFormat;
    let dec = jpegxl_rs::decoder_builder()
        .pixel_format(PixelFormat {
            num_channels: 1,
            ..PixelFormat::default()
        })
        .build()
        .map_err(|e| format!("JPEG XL decoder: {e}"))?;
    let px: Vec<u16> = if bits <= 8 {
        let (_, px) = dec
            .decode_with::<u8>(data)
            .map_err(|e| format!("JPEG XL: {e}"))?;
        px.into_iter().map(u16::from).collect()
    } else {
        dec.decode_with::<u16>(data)
            .map_err(|e| format!("JPEG XL: {e}"))?
            .1
    };
    if px.len() != expect_len {
        return Err(format!(
            "JPEG XL decoded {} samples, expected {expect_len}",
            px.len()
        ));
    }
    Ok(px)
}

fn jxl_encode(geo: &MsbvSlice, values: &[u32], effort: u8) -> Result<Vec<u8>> {
    let px: Vec<u16> = values.iter().map(|&v| v as u16).collect();
    jxl_encode_gray(geo.width, geo.height, geo.bits, &px, effort)
}

fn jxl_decode(geo: &MsbvSlice, data: &[u8], out: &mut [u32]) -> std::result::Result<(), String> {
    let px = jxl_decode_gray(data, geo.bits, out.len())?;
    for (o, &v) in out.iter_mut().zip(&px) {
        *o = v as u32;
    }
    if out.iter().any(|&v| v >> geo.bits != 0) {
        return Err("MSBV value exceeds its bit depth".into());
    }
    Ok(())
}
