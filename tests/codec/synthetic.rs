//! Round trips of synthetic volumes: smooth structure plus noise, odd shapes, all formats.

use strata::codec::{self, EncodeOptions, Limits, SampleFormat, VolumeView};

/// Deterministic xorshift noise.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A smooth CT-like volume with noise, 12-bit values stored in 16-bit words.
pub fn smooth_volume(z: usize, y: usize, x: usize, amp: i32) -> Vec<u16> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(z * y * x);
    for k in 0..z {
        for j in 0..y {
            for i in 0..x {
                let (fx, fy) = (i as i32 - x as i32 / 2, j as i32 - y as i32 / 2);
                let r2 = fx * fx + fy * fy;
                let body = if r2 < (x * x / 5) as i32 {
                    1000 + ((fx * 3 + fy * 2 + k as i32 * 5) % 200)
                } else {
                    24
                };
                let n = (noise(&mut s) % (2 * amp as u64 + 1)) as i32 - amp;
                out.push((body + n).clamp(0, 4095) as u16);
            }
        }
    }
    out
}

fn round_trip(
    dims: [usize; 3],
    format: SampleFormat,
    words: &[u16],
    opts: &EncodeOptions,
) -> usize {
    let view = VolumeView {
        dims,
        format,
        words,
    };
    let bytes = codec::encode(&view, opts).expect("encode");
    let back = codec::decode(&bytes, &Limits::default(), None).expect("decode");
    assert_eq!(back.dims, dims);
    assert_eq!(back.format, format);
    assert!(back.words == words, "words differ");
    bytes.len()
}

const CT: SampleFormat = SampleFormat {
    bits_allocated: 16,
    bits_stored: 12,
    signed: false,
};

#[test]
fn smooth_noisy_volume_round_trips_and_compresses() {
    let dims = [20, 64, 48];
    let words = smooth_volume(dims[0], dims[1], dims[2], 20);
    let opts = EncodeOptions {
        chunk_slices: 8,
        ..Default::default()
    };
    let len = round_trip(dims, CT, &words, &opts);
    let bpv = len as f64 * 8.0 / words.len() as f64;
    eprintln!("smooth volume: {bpv:.3} bits/voxel");
    assert!(bpv < 8.0);
}

#[test]
fn every_lsb_split_round_trips() {
    let dims = [3, 9, 7];
    let words = smooth_volume(dims[0], dims[1], dims[2], 50);
    for d in 0..=12 {
        let opts = EncodeOptions {
            lsb_bits: Some(d),
            chunk_slices: 2,
            ..Default::default()
        };
        round_trip(dims, CT, &words, &opts);
    }
}

#[test]
fn constant_and_tiny_volumes_round_trip() {
    round_trip([1, 1, 1], CT, &[7], &EncodeOptions::default());
    round_trip([2, 3, 3], CT, &[1234; 18], &EncodeOptions::default());
    let f8 = SampleFormat {
        bits_allocated: 8,
        bits_stored: 8,
        signed: true,
    };
    round_trip(
        [1, 3, 3],
        f8,
        &[0, 255, 128, 127, 1, 2, 3, 4, 5],
        &EncodeOptions::default(),
    );
}
