//! Developer tool: MSBV cost and speed of JPEG-LS vs JPEG XL for given `d` (docs/benchmarks.md).
use std::time::Instant;
use strata::codec::{msbv, sample};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vol = strata::volume::read(std::path::Path::new(&args[1])).expect("read");
    let range = sample::value_range(&vol.format, &vol.words);
    let mut v = vec![0u32; vol.words.len()];
    sample::to_values(&vol.format, range, &vol.words, &mut v);
    let [_, h, w] = vol.dims;
    for d in args[2].split(',').map(|s| s.parse::<u8>().unwrap()) {
        let hi: Vec<u32> = v.iter().map(|&x| x >> d).collect();
        let geo = msbv::MsbvSlice {
            height: h,
            width: w,
            bits: (range.bits - d).max(1),
        };
        for codec in [
            msbv::MsbvCodec::JpegLs,
            msbv::MsbvCodec::JpegXl { effort: 7 },
        ] {
            let t = Instant::now();
            let streams: Vec<Vec<u8>> = hi
                .chunks(h * w)
                .map(|s| msbv::encode(codec, &geo, s).unwrap())
                .collect();
            let te = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut out = vec![0u32; h * w];
            for s in &streams {
                msbv::decode(codec, &geo, s, &mut out).unwrap();
            }
            let td = t.elapsed().as_secs_f64();
            let bytes: usize = streams.iter().map(Vec::len).sum();
            let slices = vol.dims[0] as f64;
            println!(
                "| {} | {d} | {} | {:.3} | {:.1} | {:.1} |",
                std::path::Path::new(&args[1])
                    .file_name()
                    .unwrap()
                    .to_string_lossy(),
                codec.name(),
                bytes as f64 * 8.0 / hi.len() as f64,
                te * 1e3 / slices,
                td * 1e3 / slices
            );
        }
    }
}
