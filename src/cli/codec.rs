//! The codec subcommands of the `strata` binary: `compress`, `decompress`, `info`, `bench`.
//!
//! Owns argument parsing (clap derive), file I/O, progress bars and the mapping of
//! library errors to `anyhow` reports. All compression work is delegated to
//! [`strata::codec`], [`strata::volume`] and [`strata::bench`].
//!
//! Invariant: `decompress` of a `compress` output writes the input's words unchanged.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use strata::bench::{self, BenchOptions};
use strata::codec::model::{ModelSet, id_to_string};
use strata::codec::{self, EncodeOptions, Limits, MsbvCodec};
use strata::config::{CodecConfig, JxlEffort, MsbvChoice};
use strata::volume::{self, Volume};

/// Encoder settings shared by `compress` and `bench`.
#[derive(Args, Debug, Clone)]
pub struct EncoderArgs {
    /// LSBV planes d (default: chosen per volume by trial encoding).
    #[arg(long)]
    pub lsb_bits: Option<u8>,
    /// Slices per independently decodable chunk, at most (the slices are spread evenly
    /// over as many chunks as this gives).
    #[arg(long, default_value_t = codec::DEFAULT_CHUNK_SLICES)]
    pub chunk_slices: usize,
    /// Codec of the most significant bit-volume (default: `codec.msbv`).
    #[arg(long, value_enum)]
    pub msbv: Option<MsbvChoice>,
    /// JPEG XL effort for the MSBV, 1-10, also when it is chosen automatically
    /// (default: `codec.msbv_effort`).
    #[arg(long)]
    pub effort: Option<JxlEffort>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// LSBV model: `learned` (the default learned model), `builtin`, or a model file
    /// (default: `codec.model`).
    #[arg(long)]
    pub model: Option<String>,
}

/// The configuration's codec section (defaults and `STRATA_CODEC_*`).
fn codec_config() -> Result<CodecConfig> {
    Ok(strata::config::Config::load(None, std::env::vars())?.codec)
}

/// The models of the codec configuration, with `selection` overriding `codec.model`; a
/// model given as a path to a file is loaded too and selected by its sha256 (another
/// file of the same name in the models folder is not it).
fn load_models(codec: &CodecConfig, selection: Option<&str>) -> Result<(ModelSet, String)> {
    let mut codec = codec.clone();
    if let Some(sel) = selection {
        codec.model = sel.to_string();
    }
    let selection = codec.model.clone();
    let path = Path::new(&selection);
    if path.extension().is_some_and(|x| x == "onnx") && path.is_file() {
        let mut set = strata::archive::models::from_config(&CodecConfig {
            model: "builtin".into(),
            ..codec.clone()
        })
        .map_err(anyhow::Error::msg)?;
        let runtime = strata::runtime::Runtime::load(&codec.onnxruntime_library, codec.device)?;
        let id = set
            .add_file(&runtime, path, 1, true)
            .map_err(anyhow::Error::msg)?
            .id();
        return Ok((set, id_to_string(&id)));
    }
    let set = strata::archive::models::from_config(&codec).map_err(anyhow::Error::msg)?;
    Ok((set, selection))
}

impl EncoderArgs {
    /// The encoder options: these flags, else the codec configuration.
    fn options(&self, codec: &CodecConfig) -> EncodeOptions {
        let choice = self.msbv.unwrap_or(codec.msbv);
        EncodeOptions {
            lsb_bits: self.lsb_bits,
            chunk_slices: self.chunk_slices,
            threads: self.threads,
            ..choice.encode_options(self.effort.unwrap_or(codec.msbv_effort))
        }
    }
}

/// `strata compress IN OUT`: a DICOM series folder, DICOM file, .npy, .nii(.gz) or .nrrd
/// to a Strata container.
#[derive(Args, Debug)]
pub struct CompressArgs {
    /// Input volume.
    pub input: PathBuf,
    /// Output container.
    pub output: PathBuf,
    /// Encoder settings.
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

fn chunk_bar(chunks: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(chunks as u64);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} chunks {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn read_volume(path: &Path) -> Result<Volume> {
    volume::read(path).with_context(|| format!("reading {}", path.display()))
}

impl CompressArgs {
    /// Runs the subcommand.
    pub fn run(self) -> Result<()> {
        let vol = read_volume(&self.input)?;
        let codec = codec_config()?;
        let opts = self.encoder.options(&codec);
        let bar = chunk_bar(vol.dims[0].div_ceil(opts.chunk_slices.max(1)), "compress");
        let start = Instant::now();
        let (models, selection) = load_models(&codec, self.encoder.model.as_deref())?;
        let model = models.select(&selection).map_err(anyhow::Error::msg)?;
        let bytes = codec::encode_observed(&vol.view(), &opts, model, &|| bar.inc(1))?;
        bar.finish_and_clear();
        std::fs::write(&self.output, &bytes)
            .with_context(|| format!("writing {}", self.output.display()))?;
        let bpv = bytes.len() as f64 * 8.0 / vol.words.len() as f64;
        let ratio = vol.raw_bytes() as f64 / bytes.len() as f64;
        println!(
            "{}: {:?} voxels, {} -> {} bytes ({bpv:.3} bits/voxel, ratio {ratio:.2}) in {:.2} s",
            self.output.display(),
            vol.dims,
            vol.raw_bytes(),
            bytes.len(),
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// `strata decompress IN OUT`: a Strata container to .npy (or NIfTI when OUT ends .nii/.nii.gz).
#[derive(Args, Debug)]
pub struct DecompressArgs {
    /// Input container.
    pub input: PathBuf,
    /// Output .npy, .nii or .nii.gz.
    pub output: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DecompressArgs {
    /// Runs the subcommand.
    pub fn run(self) -> Result<()> {
        let bytes = std::fs::read(&self.input)
            .with_context(|| format!("reading {}", self.input.display()))?;
        let limits = Limits::default();
        let header = codec::read_header(&bytes, &limits)?;
        let bar = chunk_bar(header.chunks.len(), "decompress");
        // Containers of the built-in model decode without ONNX Runtime; one that names a
        // learned model then fails with the model's sha256.
        let set = match load_models(&codec_config()?, Some("builtin")) {
            Ok((set, _)) => set,
            Err(e) => {
                eprintln!("warning: learned models not loaded: {e:#}");
                ModelSet::builtin_only()
            }
        };
        let models = set.all();
        let dec = codec::decode_observed(&bytes, &limits, &models, self.threads, &|| bar.inc(1))?;
        bar.finish_and_clear();
        let vol = Volume {
            dims: dec.dims,
            format: dec.format,
            words: dec.words,
        };
        volume::write(&self.output, &vol)
            .with_context(|| format!("writing {}", self.output.display()))?;
        println!("{}: {:?} voxels written", self.output.display(), vol.dims);
        Ok(())
    }
}

/// `strata info FILE`: prints the container header and chunk table.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Container file.
    pub file: PathBuf,
    /// Also list every chunk.
    #[arg(long)]
    pub chunks: bool,
}

impl InfoArgs {
    /// Runs the subcommand.
    pub fn run(self) -> Result<()> {
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        let h = codec::read_header(&bytes, &Limits::default())?;
        let f = &h.format;
        println!(
            "file:          {} ({} bytes)",
            self.file.display(),
            bytes.len()
        );
        println!("container:     version {}", codec::container::VERSION);
        println!(
            "geometry:      {} slices x {} rows x {} columns",
            h.dims[0], h.dims[1], h.dims[2]
        );
        println!(
            "samples:       {} bits allocated, {} stored, {}",
            f.bits_allocated,
            f.bits_stored,
            if f.signed { "signed" } else { "unsigned" }
        );
        println!("values:       offset {}, {} bits", h.offset, h.value_bits);
        println!(
            "split:         d = {} LSBV planes, {} MSBV bits",
            h.lsb_bits,
            h.value_bits - h.lsb_bits
        );
        println!("MSBV codec:    {}", h.msbv.name());
        println!("LSBV model:    {}", id_to_string(&h.model));
        println!(
            "chunks:        {} of {} slices (batch {})",
            h.chunks.len(),
            h.chunk_slices,
            h.batch
        );
        println!(
            "bits/voxel:    {:.3}",
            bytes.len() as f64 * 8.0 / h.voxels() as f64
        );
        if self.chunks {
            for (i, c) in h.chunks.iter().enumerate() {
                println!(
                    "  chunk {i}: offset {} length {} checksum {:016x}",
                    c.offset, c.length, c.checksum
                );
            }
        }
        Ok(())
    }
}

/// `strata bench PATH...`: strata against JPEG-LS, JPEG XL e7/e9, zstd -19 and zlib-6.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Volumes (DICOM folders or files, .npy, .nii(.gz), .nrrd).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Skip JPEG XL effort 9 (slow).
    #[arg(long)]
    pub no_e9: bool,
    /// Also run strata with these LSBV models, side by side in the same run
    /// (e.g. `--also-model builtin`); rows are named by model.
    #[arg(long, value_delimiter = ',')]
    pub also_model: Vec<String>,
    /// Encoder settings of strata.
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

impl BenchArgs {
    /// Runs the subcommand.
    pub fn run(self) -> Result<()> {
        let codec = codec_config()?;
        let opts = BenchOptions {
            strata: self.encoder.options(&codec),
            jxl_e9: !self.no_e9,
        };
        let (models, selection) = load_models(&codec, self.encoder.model.as_deref())?;
        let mut strata = Vec::new();
        let chosen = self.encoder.model.clone().unwrap_or(codec.model.clone());
        let chosen = std::iter::once((&chosen, &selection));
        for (label, sel) in chosen.chain(self.also_model.iter().map(|m| (m, m))) {
            let model = models.select(sel).map_err(anyhow::Error::msg)?;
            strata.push((format!("strata ({label})"), model));
        }
        let all = models.all();
        println!("{}", bench::TABLE_HEADER);
        let mut all_lossless = true;
        for path in &self.paths {
            let vol = read_volume(path)?;
            let label = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let bar = ProgressBar::new_spinner().with_message(format!("bench {label}"));
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let results = bench::bench_volume(&vol, &opts, &strata, &all);
            bar.finish_and_clear();
            all_lossless &= results.iter().all(|r| r.lossless);
            for row in bench::table_rows(&label, &vol, &results) {
                println!("{row}");
            }
        }
        if !all_lossless {
            bail!("a codec failed its round trip (see the lossless column)");
        }
        Ok(())
    }
}

/// `strata train-data OUT_DIR VOLUME...`: samples of the learned model's features and
/// the coded bits, from the codec's own feature code, for `models/train`.
#[derive(Args, Debug)]
pub struct TrainDataArgs {
    /// Folder receiving `<name>.features.npy` (uint8, rows x 32) and `<name>.bits.npy`.
    pub output: PathBuf,
    /// Volumes (DICOM series folder, .npy, NIfTI, NRRD).
    #[arg(required = true)]
    pub volumes: Vec<PathBuf>,
    /// Keep about one coded bit in N.
    #[arg(long, default_value_t = 16)]
    pub every: u32,
    /// LSBV planes d to record.
    #[arg(long, default_value_t = 4)]
    pub lsb_bits: u8,
    /// Use at most this many slices from the middle of each volume.
    #[arg(long)]
    pub max_slices: Option<usize>,
}

/// Writes a 2-D (or 1-D when `cols == 0`) uint8 array as `.npy` 1.0.
fn write_npy_u8(path: &Path, data: &[u8], cols: usize) -> Result<()> {
    write_npy(path, data, cols, "|u1", 1)
}

/// Writes a 2-D (or 1-D when `cols == 0`) array of `item`-byte elements of numpy type
/// `descr` (little-endian bytes in `data`) as `.npy` 1.0.
fn write_npy(path: &Path, data: &[u8], cols: usize, descr: &str, item: usize) -> Result<()> {
    let n = data.len() / item;
    let shape = match n.checked_div(cols) {
        None => format!("({n},)"),
        Some(rows) => format!("({rows}, {cols})"),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

impl TrainDataArgs {
    /// Runs the subcommand.
    pub fn run(self) -> Result<()> {
        use strata::codec::model::FEATURES;
        std::fs::create_dir_all(&self.output)
            .with_context(|| format!("creating {}", self.output.display()))?;
        for path in &self.volumes {
            let mut vol = read_volume(path)?;
            if let Some(max) = self.max_slices.filter(|&m| m < vol.dims[0]) {
                let plane = vol.dims[1] * vol.dims[2];
                let start = (vol.dims[0] - max) / 2;
                vol.words = vol.words[start * plane..(start + max) * plane].to_vec();
                vol.dims[0] = max;
            }
            let recorder = codec::model::FeatureRecorder::new(self.every);
            // One thread: chunks are recorded in order, so the samples (and a model
            // trained on them) are reproducible.
            let opts = EncodeOptions {
                lsb_bits: Some(self.lsb_bits),
                msbv: Some(MsbvCodec::JpegLs),
                threads: Some(1),
                ..EncodeOptions::default()
            };
            let bytes = codec::encode_with(&vol.view(), &opts, &recorder)?;
            let rec = recorder.take();
            let builtin = codec::encode_with(&vol.view(), &opts, &codec::ContextModelFactory)?;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .split('.')
                .next()
                .unwrap_or("volume")
                .to_string();
            write_npy_u8(
                &self.output.join(format!("{name}.features.npy")),
                &rec.features,
                FEATURES,
            )?;
            write_npy_u8(&self.output.join(format!("{name}.bits.npy")), &rec.bits, 0)?;
            let probs: Vec<u8> = rec.probs.iter().flat_map(|p| p.to_le_bytes()).collect();
            write_npy(
                &self.output.join(format!("{name}.probs.npy")),
                &probs,
                0,
                "<u2",
                2,
            )?;
            println!(
                "{name}: {:?} voxels, {} samples; bits/voxel: {:.3} without a network, {:.3} built-in model",
                vol.dims,
                rec.bits.len(),
                bytes.len() as f64 * 8.0 / vol.words.len() as f64,
                builtin.len() as f64 * 8.0 / vol.words.len() as f64,
            );
        }
        Ok(())
    }
}
