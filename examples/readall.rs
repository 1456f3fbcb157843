//! Developer tool: reads each path and prints its geometry (not part of the product).
fn main() {
    for p in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        match strata::volume::read(std::path::Path::new(&p)) {
            Ok(v) => {
                let r = strata::codec::sample::value_range(&v.format, &v.words);
                println!(
                    "{p}: {:?} {:?} offset {} bits {} ({:.2}s)",
                    v.dims,
                    v.format,
                    r.offset,
                    r.bits,
                    t.elapsed().as_secs_f64()
                )
            }
            Err(e) => println!("{p}: ERROR {e}"),
        }
    }
}
