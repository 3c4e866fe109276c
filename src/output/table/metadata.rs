//! Provenance in every file's footer ([`RunMetadata`]) and the compression codec ([`Codec`]).

use super::*;

/// Provenance written into the key-value metadata of every Parquet file of a run.
///
/// The footer holds, in this order: [`KEY_SCENARIO`] = `scenario_text`, [`KEY_SEED`] =
/// `seed`, [`KEY_VERSION`] = this crate's version, then `extra` as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMetadata {
    /// The scenario file's text, verbatim (so a result file reproduces its run).
    pub scenario_text: String,
    /// The run's master seed (0 for deterministic runs such as the exact solver).
    pub seed: u64,
    /// Further pairs (e.g. `("start", "lowest")`). Keys must not be one of the `mfgsim.*`
    /// keys above.
    pub extra: Vec<(String, String)>,
}

impl RunMetadata {
    /// Metadata without extra pairs.
    pub fn new(scenario_text: impl Into<String>, seed: u64) -> Self {
        RunMetadata {
            scenario_text: scenario_text.into(),
            seed,
            extra: Vec::new(),
        }
    }

    /// Adds an extra pair.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// Every pair in footer order, the crate version included.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (KEY_SCENARIO.to_string(), self.scenario_text.clone()),
            (KEY_SEED.to_string(), self.seed.to_string()),
            (
                KEY_VERSION.to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ];
        pairs.extend(self.extra.iter().cloned());
        pairs
    }

    /// Writer properties: `codec`, default statistics, these pairs in the footer.
    pub(crate) fn writer_properties(&self, path: &Path, codec: Codec) -> Result<WriterProperties> {
        if let Some((key, _)) = self
            .extra
            .iter()
            .find(|(k, _)| [KEY_SCENARIO, KEY_SEED, KEY_VERSION].contains(&k.as_str()))
        {
            return Err(Error::Output {
                path: path.to_path_buf(),
                reason: format!("metadata key `{key}` is reserved"),
            });
        }
        let kv = self
            .pairs()
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        Ok(WriterProperties::builder()
            .set_compression(codec.compression())
            .set_key_value_metadata(Some(kv))
            .build())
    }
}

/// Compression codec of the pages of a Parquet file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// zstd at its default level: the smallest files (the default).
    #[default]
    Zstd,
    /// Snappy: faster to write and read, larger files.
    Snappy,
    /// No compression: the fastest, the largest files.
    None,
}

impl Codec {
    /// The codec's name as the CLI spells it: `zstd`, `snappy`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::None => "none",
        }
    }

    pub(crate) fn compression(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}
