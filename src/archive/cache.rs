//! Decoded-chunk cache: the words of recently decoded codec chunks, so that
//! retrieving consecutive slices one by one (IMAGE-level C-GET, as viewers
//! do) decodes each chunk once. Bounded in bytes (`codec.cache_mb`); the
//! least recently used chunks go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One decoded chunk: its first slice and its words, slice-major.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub first_slice: usize,
    pub slice_words: usize,
    pub words: Arc<Vec<u16>>,
}

impl Chunk {
    /// The words of slice `z` of the volume, if this chunk holds it.
    pub fn slice(&self, z: usize) -> Option<&[u16]> {
        let k = z.checked_sub(self.first_slice)?;
        self.words
            .get(k * self.slice_words..(k + 1) * self.slice_words)
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<(String, usize), (Chunk, u64)>,
    bytes: usize,
    tick: u64,
    decoded: u64,
}

/// The cache; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct ChunkCache {
    limit: usize,
    state: Arc<Mutex<State>>,
}

impl ChunkCache {
    /// A cache holding at most `limit` bytes of words.
    pub fn new(limit: usize) -> ChunkCache {
        ChunkCache {
            limit,
            state: Arc::default(),
        }
    }

    /// The chunk `c` of the container at `path`, decoding it with `decode`
    /// when it is not cached.
    pub fn get_or_decode<E>(
        &self,
        path: &str,
        c: usize,
        decode: impl FnOnce() -> Result<Chunk, E>,
    ) -> Result<Chunk, E> {
        let key = (path.to_owned(), c);
        {
            let mut state = self.state.lock().expect("cache lock");
            state.tick += 1;
            let tick = state.tick;
            if let Some((chunk, used)) = state.entries.get_mut(&key) {
                *used = tick;
                return Ok(chunk.clone());
            }
        }
        let chunk = decode()?;
        self.insert(key, chunk.clone());
        Ok(chunk)
    }

    fn insert(&self, key: (String, usize), chunk: Chunk) {
        let size = chunk.words.len() * 2;
        let mut state = self.state.lock().expect("cache lock");
        state.decoded += 1;
        if size > self.limit {
            return;
        }
        while state.bytes + size > self.limit {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = state.entries.remove(&oldest) {
                state.bytes -= old.words.len() * 2;
            }
        }
        state.tick += 1;
        let tick = state.tick;
        state.bytes += size;
        state.entries.insert(key, (chunk, tick));
    }

    /// How many chunks were decoded (cache misses) so far.
    pub fn decoded(&self) -> u64 {
        self.state.lock().expect("cache lock").decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize) -> Chunk {
        Chunk {
            first_slice: 0,
            slice_words: n,
            words: Arc::new(vec![7; n]),
        }
    }

    #[test]
    fn a_cached_chunk_is_decoded_once() {
        let cache = ChunkCache::new(1 << 20);
        for _ in 0..3 {
            let c = cache.get_or_decode::<()>("a", 0, || Ok(chunk(10))).unwrap();
            assert_eq!(c.slice(0).unwrap(), &[7; 10][..]);
        }
        assert_eq!(cache.decoded(), 1);
    }

    #[test]
    fn the_least_recently_used_chunk_goes_first() {
        let cache = ChunkCache::new(40); // room for two chunks of 10 words
        cache.get_or_decode::<()>("a", 0, || Ok(chunk(10))).unwrap();
        cache.get_or_decode::<()>("a", 1, || Ok(chunk(10))).unwrap();
        cache.get_or_decode::<()>("a", 0, || Ok(chunk(10))).unwrap(); // touch 0
        cache.get_or_decode::<()>("a", 2, || Ok(chunk(10))).unwrap(); // evicts 1
        assert_eq!(cache.decoded(), 3);
        cache.get_or_decode::<()>("a", 0, || Ok(chunk(10))).unwrap();
        assert_eq!(cache.decoded(), 3, "chunk 0 stayed");
        cache.get_or_decode::<()>("a", 1, || Ok(chunk(10))).unwrap();
        assert_eq!(cache.decoded(), 4, "chunk 1 was evicted");
    }
}
