//! The headers blob of a volume: for each slice, the bytes of its received
//! copy before and after the pixel values (file preamble and meta included
//! for imported files), so that header + decoded pixels + trailer give back
//! the received copy byte for byte.
//!
//! Layout, before zstd compression (all integers little endian):
//! `"STHD"`, version `1` (u8), entry count (u32), then per entry the prefix
//! and suffix lengths (u32 each), then all prefixes and suffixes in entry
//! order. Described in `docs/format.md`.

/// Magic of the headers blob.
const MAGIC: &[u8; 4] = b"STHD";
const VERSION: u8 = 1;

/// The non-pixel bytes of one slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceHeader {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
}

/// A malformed headers blob.
#[derive(Debug, thiserror::Error)]
#[error("headers blob: {0}")]
pub struct HeadersError(pub String);

/// Serialises and compresses the headers of a volume.
pub fn encode(headers: &[SliceHeader], level: i32) -> Result<Vec<u8>, HeadersError> {
    let mut raw = Vec::new();
    raw.extend_from_slice(MAGIC);
    raw.push(VERSION);
    raw.extend_from_slice(&len32(headers.len())?.to_le_bytes());
    for h in headers {
        raw.extend_from_slice(&len32(h.prefix.len())?.to_le_bytes());
        raw.extend_from_slice(&len32(h.suffix.len())?.to_le_bytes());
    }
    for h in headers {
        raw.extend_from_slice(&h.prefix);
        raw.extend_from_slice(&h.suffix);
    }
    zstd::encode_all(&raw[..], level).map_err(|e| HeadersError(e.to_string()))
}

fn len32(n: usize) -> Result<u32, HeadersError> {
    u32::try_from(n).map_err(|_| HeadersError(format!("length {n} over 4 GiB")))
}

/// The header of entry `index` of a compressed headers blob.
pub fn entry(blob: &[u8], index: usize) -> Result<SliceHeader, HeadersError> {
    let raw = zstd::decode_all(blob).map_err(|e| HeadersError(e.to_string()))?;
    let bad = |what: &str| HeadersError(what.to_owned());
    if raw.get(..4) != Some(MAGIC) || raw.get(4) != Some(&VERSION) {
        return Err(bad("bad magic or version"));
    }
    let word = |at: usize| -> Result<usize, HeadersError> {
        let b = raw.get(at..at + 4).ok_or_else(|| bad("truncated table"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(5)?;
    if index >= count {
        return Err(HeadersError(format!("entry {index} of {count}")));
    }
    let table = 9usize;
    let mut offset = table
        .checked_add(count.checked_mul(8).ok_or_else(|| bad("table overflow"))?)
        .ok_or_else(|| bad("table overflow"))?;
    for i in 0..index {
        offset = offset
            .checked_add(word(table + 8 * i)?)
            .and_then(|o| o.checked_add(word(table + 8 * i + 4).ok()?))
            .ok_or_else(|| bad("entry overflow"))?;
    }
    let (p, s) = (word(table + 8 * index)?, word(table + 8 * index + 4)?);
    let prefix = raw
        .get(offset..offset + p)
        .ok_or_else(|| bad("truncated prefix"))?;
    let suffix = raw
        .get(offset + p..offset + p + s)
        .ok_or_else(|| bad("truncated suffix"))?;
    Ok(SliceHeader {
        prefix: prefix.to_vec(),
        suffix: suffix.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_comes_back() {
        let headers: Vec<SliceHeader> = (0..5u8)
            .map(|i| SliceHeader {
                prefix: vec![i; 100 + usize::from(i)],
                suffix: vec![0xEE; usize::from(i)],
            })
            .collect();
        let blob = encode(&headers, 3).unwrap();
        for (i, h) in headers.iter().enumerate() {
            assert_eq!(&entry(&blob, i).unwrap(), h);
        }
        assert!(entry(&blob, 5).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(entry(b"not zstd", 0).is_err());
        let fake = zstd::encode_all(&b"STHD\x01\xff\xff\xff\xff"[..], 1).unwrap();
        assert!(entry(&fake, 3).is_err());
    }
}
