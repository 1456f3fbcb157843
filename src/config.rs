//! Configuration: the one place that turns `config/strata.toml`, `STRATA_*`
//! environment variables and command-line overrides into a validated
//! [`Config`].
//!
//! Precedence, lowest first: built-in defaults, the TOML file, `STRATA_*`
//! environment variables (`STRATA_<SECTION>_<KEY>`, e.g.
//! `STRATA_NETWORK_PORT=4242`), then command-line flags.
//!
//! Invariant: a `Config` that exists is valid. Every value is checked while it
//! is deserialised (newtypes with `try_from`), so an unknown key, a wrong type
//! or an impossible value is reported with the file and line it came from, or
//! with the environment variable that set it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default AE title of the node.
pub const DEFAULT_AE_TITLE: &str = "STRATA";
/// Default DICOM port (IANA "dicom-iscl" alternative commonly used by PACS).
pub const DEFAULT_PORT: u16 = 11112;
/// Default maximum PDU length we announce (PS3.8 D.1, bytes).
pub const DEFAULT_MAX_PDU: u32 = 65_536;
/// Smallest maximum PDU length accepted in the configuration.
const MIN_MAX_PDU: u32 = 4_096;
/// Environment variable prefix for overrides.
const ENV_PREFIX: &str = "STRATA_";

/// Everything that can go wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, a wrong type or an
    /// impossible value. `message` carries the line and column.
    #[error("invalid configuration in {path}: {message}")]
    File { path: PathBuf, message: String },
    /// An environment variable override is invalid.
    #[error("invalid environment override {var}={value:?}: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    /// A `STRATA_*` variable that names no configuration key.
    #[error("unknown environment override {var}: it names no configuration key")]
    UnknownEnv { var: String },
    /// A command-line override is invalid.
    #[error("invalid command-line option {flag}: {message}")]
    Flag { flag: &'static str, message: String },
}

/// The whole node configuration. See `config/strata.toml` for each option.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub network: NetworkConfig,
    pub storage: StorageConfig,
    pub codec: CodecConfig,
    pub limits: Limits,
    pub log: LogConfig,
    /// C-MOVE destinations: AE title -> host and port.
    pub move_destinations: BTreeMap<String, MoveDestination>,
}

/// `[network]`: the DICOM upper layer and association policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub ae_title: AeTitle,
    pub bind: String,
    pub port: u16,
    /// Accept C-STORE of SOP Classes outside the standard storage table.
    pub promiscuous: bool,
    /// C-FIND matches Person Name keys without regard to case.
    pub find_names_case_insensitive: bool,
    /// ARTIM timer: seconds to wait for the A-ASSOCIATE-RQ (PS3.8 9.1.5).
    pub artim_timeout_s: Positive,
    /// Seconds to wait for the next PDU on an established association.
    pub dimse_timeout_s: Positive,
    /// Calling AE titles allowed to associate; empty = any.
    pub allowed_calling_ae_titles: Vec<AeTitle>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            ae_title: AeTitle(DEFAULT_AE_TITLE.to_owned()),
            bind: "0.0.0.0".to_owned(),
            port: DEFAULT_PORT,
            promiscuous: false,
            find_names_case_insensitive: true,
            artim_timeout_s: Positive(30),
            dimse_timeout_s: Positive(600),
            allowed_calling_ae_titles: Vec::new(),
        }
    }
}

/// `[limits]`: every budget the node debits before it allocates or waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Maximum PDU length we announce and accept.
    pub max_pdu: MaxPdu,
    /// Associations served at once.
    pub max_associations: Positive,
    /// Largest data set received (C-STORE) or imported, in bytes.
    pub max_data_set_bytes: Positive,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pdu: MaxPdu(DEFAULT_MAX_PDU),
            max_associations: Positive(64),
            max_data_set_bytes: Positive(4 << 30),
        }
    }
}

/// `[storage]`: where data and the index live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// `sqlite://...` (embedded, default: `<data_dir>/index.sqlite`) or
    /// `postgres://...`. Empty means the embedded default.
    pub database_url: String,
    /// A SOP Instance UID received again with other bytes.
    pub duplicate_policy: DuplicatePolicy,
    /// Seconds without a new instance after which a series is compressed.
    pub stable_after_s: u64,
    /// Seconds before the node tries again a series whose compression
    /// failed (a new instance of the series, or `strata compress-pending`,
    /// tries at once).
    pub retry_failed_after_s: u64,
    /// Compression jobs run at once.
    pub compression_workers: Positive,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("var"),
            database_url: String::new(),
            duplicate_policy: DuplicatePolicy::Reject,
            stable_after_s: 60,
            retry_failed_after_s: 600,
            compression_workers: Positive(1),
        }
    }
}

impl StorageConfig {
    /// The database URL, with the embedded SQLite default filled in.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("index.sqlite").display())
        } else {
            self.database_url.clone()
        }
    }
}

/// `[codec]`: compression engine settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodecConfig {
    /// zstd level (1-22) of instances that are not part of a volume.
    pub blob_zstd_level: ZstdLevel,
    pub device: Device,
    /// Worker threads for codec jobs; 0 = one per core.
    pub threads: usize,
    /// Memory for decoded chunks kept for retrieval, in MiB.
    pub cache_mb: usize,
    /// Path of `libonnxruntime.so`; empty = `ORT_DYLIB_PATH`, then the
    /// project's `.runtime/` folder.
    pub onnxruntime_library: PathBuf,
    /// LSBV model new volumes are coded with: `learned` (the default learned
    /// model), `builtin` (the context model), or a model file name.
    pub model: String,
    /// Folder of the learned models; empty = `models/` of the working
    /// directory, else of the source tree.
    pub models_dir: PathBuf,
    /// Standard codec of the most significant bit-volume of new volumes.
    pub msbv: MsbvChoice,
    /// JPEG XL effort for the MSBV (1-10), also when `msbv` is `auto`.
    pub msbv_effort: JxlEffort,
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            blob_zstd_level: ZstdLevel(12),
            device: Device::default(),
            threads: 0,
            cache_mb: 512,
            onnxruntime_library: PathBuf::new(),
            model: "learned".into(),
            models_dir: PathBuf::new(),
            msbv: MsbvChoice::Auto,
            msbv_effort: JxlEffort(crate::codec::DEFAULT_JXL_EFFORT),
        }
    }
}

/// A zstd compression level, 1 to 22.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ZstdLevel(i32);

impl ZstdLevel {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for ZstdLevel {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=22).contains(&v) {
            Ok(ZstdLevel(v as i32))
        } else {
            Err(format!("zstd level {v} is outside 1 to 22"))
        }
    }
}

impl From<ZstdLevel> for i64 {
    fn from(v: ZstdLevel) -> i64 {
        i64::from(v.0)
    }
}

/// The standard codec of the most significant bit-volume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MsbvChoice {
    /// Chosen per volume together with d by trial encoding.
    #[default]
    Auto,
    /// JPEG-LS (CharLS).
    Jpegls,
    /// JPEG XL lossless (libjxl).
    Jxl,
}

impl MsbvChoice {
    /// Encoder options for this choice and `effort` (`msbv: None` lets the encoder
    /// choose, at `effort` for JPEG XL), other settings at their defaults.
    pub fn encode_options(self, effort: JxlEffort) -> crate::codec::EncodeOptions {
        use crate::codec::MsbvCodec;
        let msbv = match self {
            MsbvChoice::Auto => None,
            MsbvChoice::Jpegls => Some(MsbvCodec::JpegLs),
            MsbvChoice::Jxl => Some(MsbvCodec::JpegXl { effort: effort.0 }),
        };
        crate::codec::EncodeOptions {
            msbv,
            jxl_effort: effort.0,
            ..crate::codec::EncodeOptions::default()
        }
    }
}

/// A JPEG XL encoder effort, 1 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct JxlEffort(u8);

impl JxlEffort {
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for JxlEffort {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=10).contains(&v) {
            Ok(JxlEffort(v as u8))
        } else {
            Err(format!("JPEG XL effort {v} is outside 1 to 10"))
        }
    }
}

impl std::str::FromStr for JxlEffort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: i64 = s
            .parse()
            .map_err(|_| format!("JPEG XL effort {s:?} is not a number"))?;
        JxlEffort::try_from(v)
    }
}

impl From<JxlEffort> for i64 {
    fn from(v: JxlEffort) -> i64 {
        i64::from(v.0)
    }
}

/// Where the learned model runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when the runtime offers it, else CPU (logged).
    #[default]
    Auto,
    Cpu,
    /// CUDA or a start-up error.
    Cuda,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// `[log]`: logging format and level.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `strata=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// What to do when a SOP Instance UID arrives again with other bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Keep the stored copy; answer with a warning status.
    #[default]
    Reject,
    /// Serve the new copy; the old one is deleted.
    Replace,
    /// Keep both as versions; the newest is served.
    KeepBoth,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// One C-MOVE destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveDestination {
    pub host: String,
    pub port: u16,
}

/// An application entity title: 1 to 16 characters of the default
/// repertoire, no backslash, not only spaces (PS3.5 6.2, VR AE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AeTitle(String);

impl AeTitle {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AeTitle {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed.is_empty() || s.len() > 16 {
            return Err(format!("AE title {s:?} must have 1 to 16 characters"));
        }
        if s.chars().any(|c| c == '\\' || !(' '..='~').contains(&c)) {
            return Err(format!(
                "AE title {s:?} may hold printable ASCII only, without backslash"
            ));
        }
        Ok(AeTitle(trimmed.to_owned()))
    }
}

impl From<AeTitle> for String {
    fn from(t: AeTitle) -> String {
        t.0
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maximum PDU length: 0 (unlimited) or at least 4096 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct MaxPdu(u32);

impl MaxPdu {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for MaxPdu {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if v != 0 && v < MIN_MAX_PDU {
            return Err(format!(
                "max_pdu {v} is below {MIN_MAX_PDU} bytes (0 means unlimited)"
            ));
        }
        Ok(MaxPdu(v))
    }
}

impl From<MaxPdu> for u32 {
    fn from(v: MaxPdu) -> u32 {
        v.0
    }
}

/// A count or duration that must be at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Positive(u64);

impl Positive {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for Positive {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v == 0 {
            return Err("must be at least 1".to_owned());
        }
        Ok(Positive(v))
    }
}

impl From<Positive> for u64 {
    fn from(v: Positive) -> u64 {
        v.0
    }
}

impl Config {
    /// The compressed-storage settings.
    pub fn archive_settings(&self) -> crate::archive::Settings {
        crate::archive::Settings {
            zstd_level: self.codec.blob_zstd_level.get(),
            stable_after_ms: (self.storage.stable_after_s as i64).saturating_mul(1000),
            retry_failed_after_ms: (self.storage.retry_failed_after_s as i64).saturating_mul(1000),
            workers: self.storage.compression_workers.get() as usize,
            codec_threads: (self.codec.threads > 0).then_some(self.codec.threads),
            cache_bytes: self.codec.cache_mb.saturating_mul(1 << 20),
            codec: self.codec.clone(),
        }
    }

    /// Loads the configuration: defaults, then `path` (when given), then the
    /// `STRATA_*` variables of `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let file_error = |e: toml::de::Error| ConfigError::File {
            path: path.map(Path::to_owned).unwrap_or_default(),
            message: e.to_string().trim_end().to_owned(),
        };
        // Parse the file alone first so its errors carry the file's lines.
        toml::from_str::<Config>(&text).map_err(file_error)?;
        let mut table: toml::Table = toml::from_str(&text).map_err(file_error)?;
        for (var, value) in env {
            if let Some(name) = var.strip_prefix(ENV_PREFIX) {
                apply_env_override(&mut table, &var, name, &value)?;
            }
        }
        Config::deserialize(table).map_err(|e| ConfigError::File {
            path: path.map(Path::to_owned).unwrap_or_default(),
            message: e.to_string(),
        })
    }
}

/// Variables with the prefix that are not configuration keys: the config
/// file path, and the test suite's own (`STRATA_TESTDATA`, `STRATA_TEST_*`).
const NON_CONFIG_ENV: &[&str] = &["CONFIG", "TESTDATA", "PYTHON"];
const NON_CONFIG_ENV_PREFIX: &str = "TEST_";

/// Sets `[section] key` of `table` from one `STRATA_SECTION_KEY` variable,
/// checking the value against the schema right away so the error names the
/// variable.
fn apply_env_override(
    table: &mut toml::Table,
    var: &str,
    name: &str,
    value: &str,
) -> Result<(), ConfigError> {
    if NON_CONFIG_ENV.contains(&name) || name.starts_with(NON_CONFIG_ENV_PREFIX) {
        return Ok(());
    }
    let unknown = || ConfigError::UnknownEnv {
        var: var.to_owned(),
    };
    let (section, key) = split_env_name(name).ok_or_else(unknown)?;
    let parsed = parse_env_value(value);
    let mut candidate = table.clone();
    let entry = candidate
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let section_table = entry.as_table_mut().ok_or_else(unknown)?;
    section_table.insert(key, parsed);
    Config::deserialize(candidate.clone()).map_err(|e| ConfigError::Env {
        var: var.to_owned(),
        value: value.to_owned(),
        message: e.message().to_owned(),
    })?;
    *table = candidate;
    Ok(())
}

/// Splits `NETWORK_AE_TITLE` into (`network`, `ae_title`) using the known
/// sections, since keys themselves contain underscores.
fn split_env_name(name: &str) -> Option<(String, String)> {
    let lower = name.to_lowercase();
    ["network", "storage", "codec", "limits", "log"]
        .iter()
        .find_map(|section| {
            let key = lower.strip_prefix(section)?.strip_prefix('_')?;
            (!key.is_empty()).then(|| (section.to_string(), key.to_owned()))
        })
}

/// Reads an environment value as a TOML value (number, boolean, array) when
/// it is one, else as a string.
fn parse_env_value(value: &str) -> toml::Value {
    let doc = format!("v = {value}");
    toml::from_str::<toml::Table>(&doc)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, text).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), env)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.network.ae_title.as_str(), "STRATA");
        assert_eq!(c.network.port, 11112);
        assert_eq!(c.storage.data_dir, PathBuf::from("var"));
        assert_eq!(
            c.storage.effective_database_url(),
            "sqlite://var/index.sqlite"
        );
        assert_eq!(c.codec.device, Device::Auto);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = load_str("[network]\nport = 104\nbogus = 1\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line() {
        let err = load_str("[network]\n\nport = \"high\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn impossible_value_names_key_and_line() {
        let err = load_str(
            "[network]\nae_title = \"THIS_TITLE_IS_FAR_TOO_LONG\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2") && err.contains("1 to 16"), "{err}");
        let err = load_str("[limits]\nmax_pdu = 100\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("4096"), "{err}");
        let err = load_str("[codec]\ndevice = \"tpu\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("tpu"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let c = load_str(
            "[network]\nport = 104\n",
            &[
                ("STRATA_NETWORK_PORT", "4242"),
                ("STRATA_NETWORK_AE_TITLE", "ARCHIVE"),
                ("STRATA_CODEC_DEVICE", "cpu"),
                ("STRATA_NETWORK_ALLOWED_CALLING_AE_TITLES", "[\"A\", \"B\"]"),
            ],
        )
        .unwrap();
        assert_eq!(c.network.port, 4242);
        assert_eq!(c.network.ae_title.as_str(), "ARCHIVE");
        assert_eq!(c.codec.device, Device::Cpu);
        assert_eq!(c.network.allowed_calling_ae_titles.len(), 2);
    }

    #[test]
    fn bad_environment_override_names_variable() {
        let err = load_str("", &[("STRATA_NETWORK_PORT", "70000")]).unwrap_err();
        assert!(err.to_string().contains("STRATA_NETWORK_PORT"), "{err}");
        let err = load_str("", &[("STRATA_NETWORK_PROT", "1")]).unwrap_err();
        assert!(err.to_string().contains("STRATA_NETWORK_PROT"), "{err}");
    }

    #[test]
    fn move_destinations_table() {
        let c = load_str(
            "[move_destinations]\nVIEWER = { host = \"127.0.0.1\", port = 4006 }\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.move_destinations["VIEWER"].port, 4006);
    }

    #[test]
    fn shipped_config_file_is_valid_and_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/strata.toml");
        let c = Config::load(Some(&path), Vec::new()).unwrap();
        let d = Config::default();
        assert_eq!(c.network.port, d.network.port);
        assert_eq!(c.network.ae_title, d.network.ae_title);
        assert_eq!(c.limits.max_pdu, d.limits.max_pdu);
        assert_eq!(c.limits.max_data_set_bytes, d.limits.max_data_set_bytes);
        assert_eq!(c.storage.duplicate_policy, d.storage.duplicate_policy);
        assert_eq!(c.storage.data_dir, d.storage.data_dir);
        assert_eq!(c.storage.stable_after_s, d.storage.stable_after_s);
        assert_eq!(
            c.storage.retry_failed_after_s,
            d.storage.retry_failed_after_s
        );
        assert_eq!(c.codec.device, d.codec.device);
        assert_eq!(c.codec.msbv, d.codec.msbv);
        assert_eq!(c.codec.msbv_effort, d.codec.msbv_effort);
    }

    #[test]
    fn msbv_codec_and_effort() {
        let c = Config::default();
        assert_eq!(c.codec.msbv, MsbvChoice::Auto);
        assert_eq!(c.codec.msbv_effort.get(), crate::codec::DEFAULT_JXL_EFFORT);
        let c = load_str(
            "[codec]\nmsbv = \"jxl\"\n",
            &[("STRATA_CODEC_MSBV_EFFORT", "9")],
        )
        .unwrap();
        let options = c.codec.msbv.encode_options(c.codec.msbv_effort);
        assert_eq!(
            options.msbv,
            Some(crate::codec::MsbvCodec::JpegXl { effort: 9 })
        );
        let c = load_str("[codec]\nmsbv_effort = 9\n", &[]).unwrap();
        let options = c.codec.msbv.encode_options(c.codec.msbv_effort);
        assert_eq!((options.msbv, options.jxl_effort), (None, 9));
        let err = load_str("[codec]\nmsbv_effort = 11\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("1 to 10"), "{err}");
        let err = load_str("[codec]\nmsbv = \"png\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("png"), "{err}");
    }
}
