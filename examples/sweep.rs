//! Developer tool: strata size for several `d` on one volume (not part of the product).
use strata::codec::{self, EncodeOptions};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vol = strata::volume::read(std::path::Path::new(&args[1])).expect("read");
    let ds: Vec<u8> = args[2].split(',').map(|s| s.parse().unwrap()).collect();
    let n = codec::sample::value_range(&vol.format, &vol.words).bits;
    eprintln!("dims {:?} fmt {:?} n={n}", vol.dims, vol.format);
    for d in ds {
        let msbv = match std::env::var("MSBV").as_deref() {
            Ok("jxl") => codec::MsbvCodec::JpegXl { effort: 7 },
            Ok("jxl3") => codec::MsbvCodec::JpegXl { effort: 3 },
            _ => codec::MsbvCodec::JpegLs,
        };
        let opts = EncodeOptions {
            lsb_bits: Some(d),
            msbv: Some(msbv),
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let b = codec::encode(&vol.view(), &opts).unwrap();
        let te = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let back = codec::decode(&b, &Default::default(), None).unwrap();
        let td = t.elapsed().as_secs_f64();
        assert!(back.words == vol.words);
        println!(
            "d={d} bpv={:.4} enc {:.2}s dec {:.2}s ({:.1} MB/s)",
            b.len() as f64 * 8.0 / vol.words.len() as f64,
            te,
            td,
            vol.raw_bytes() as f64 / 1e6 / td
        );
    }
    if args.len() < 4 {
        return;
    }
    let r = strata::bench::bench_volume(
        &vol,
        &strata::bench::BenchOptions {
            jxl_e9: false,
            ..Default::default()
        },
        &[("strata".to_string(), &strata::codec::ContextModelFactory)],
        &strata::codec::builtin_models(),
    );
    for row in strata::bench::table_rows("v", &vol, &r) {
        println!("{row}");
    }
}
