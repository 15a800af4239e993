//! Instrument metadata at start-up: contract sizes fetched over REST from each venue family
//! the engine follows (on the IO thread, before the hot threads start), cached under the data
//! directory, with the snapshot bundled in `feeds` as the offline fallback.
//!
//! For each family, in order:
//! 1. `<data>/instruments/<family>.json` if it was fetched less than `max_age_hours` ago;
//! 2. else, with `refresh = true`, the venue's REST list (`rest`), written to that cache file
//!    atomically (temporary file, then rename) with its fetch time;
//! 3. else (fetch failed or refresh off) the stale cache, if one is readable;
//! 4. else the bundled snapshot.
//!
//! Each choice is logged with its reason and returned in a [`FamilyReport`]. Fetched or cached
//! specs are laid over the bundled ones (an instrument the venue no longer lists keeps its
//! bundled size).

pub mod http;
pub mod rest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use feeds::{Instruments, Venue};
use serde::Deserialize;

pub use rest::{Family, ParseError, Spec};

/// `[instruments]`: where contract sizes come from at start-up.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct InstrumentsConfig {
    /// Fetch the venues' instrument lists over REST when the cache is missing or older than
    /// `max_age_hours`. Default true.
    pub refresh: bool,
    /// A cache younger than this is used without fetching. Default 24.
    pub max_age_hours: u64,
    /// Bound on each family's fetch (connect, TLS, response), ms. Default 5000.
    pub timeout_ms: u64,
    /// Per-family REST base URL overrides (`okx = "http://127.0.0.1:8400"`), for simulators
    /// and tests. Families: binance, bybit, okx, bitmex, gate.
    pub base_url: BTreeMap<String, String>,
}

impl Default for InstrumentsConfig {
    fn default() -> InstrumentsConfig {
        InstrumentsConfig {
            refresh: true,
            max_age_hours: 24,
            timeout_ms: 5_000,
            base_url: BTreeMap::new(),
        }
    }
}

impl InstrumentsConfig {
    /// `(field, message)` for the first bad value.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (family, url) in &self.base_url {
            if Family::from_name(family).is_none() {
                return Err((
                    format!("instruments.base_url.{family}"),
                    format!(
                        "unknown family {family:?} (known: {})",
                        Family::ALL.map(Family::name).join(", ")
                    ),
                ));
            }
            if let Err(e) = crate::http_client::check_url(url) {
                return Err((format!("instruments.base_url.{family}"), e.to_string()));
            }
        }
        if self.timeout_ms == 0 {
            return Err((
                "instruments.timeout_ms".to_string(),
                "must be at least 1".to_string(),
            ));
        }
        Ok(())
    }

    fn base_url(&self, family: Family) -> &str {
        self.base_url
            .get(family.name())
            .map(String::as_str)
            .unwrap_or(family.default_base_url())
            .trim_end_matches('/')
    }
}

/// Where a family's specs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The venue's REST list, fetched now (and cached).
    Fetched,
    /// The cache, younger than `max_age_hours`.
    Cache,
    /// The cache, older than `max_age_hours` (refresh off or failed).
    StaleCache,
    /// The snapshot bundled with the binary.
    Bundle,
}

/// What was used for one family, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyReport {
    pub family: Family,
    pub source: Source,
    /// Instruments that family contributed (fetched or cached; bundled when `Bundle`).
    pub instruments: usize,
    /// Why this source (the failure that ruled out a better one); `None` for a fresh cache or
    /// a successful fetch.
    pub reason: Option<String>,
}

/// The merged specs and the per-family reports.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub instruments: Arc<Instruments>,
    pub report: Vec<FamilyReport>,
}

/// The families the decoders of `venues` need specs from, each once, in a fixed order.
pub fn families_for(venues: impl IntoIterator<Item = Venue>) -> Vec<Family> {
    let mut out: Vec<Family> = venues.into_iter().filter_map(Family::of_venue).collect();
    out.sort();
    out.dedup();
    out
}

/// `<data>/instruments/<family>.json`.
pub fn cache_path(data_dir: &Path, family: Family) -> PathBuf {
    data_dir
        .join("instruments")
        .join(format!("{}.json", family.name()))
}

/// Loads the specs of `families` (see the module docs for the order), logging each choice.
/// Blocks for at most about `timeout_ms` per family that is fetched; call it at start-up on
/// the IO thread.
pub fn load(
    cfg: &InstrumentsConfig,
    data_dir: &Path,
    families: &[Family],
    tls: &http::Roots,
    now_ms: i64,
) -> Loaded {
    let mut merged = (*Instruments::bundled()).clone();
    let mut report = Vec::new();
    for &family in families {
        let (source, specs, reason) = choose(cfg, data_dir, family, tls, now_ms);
        let count = match &specs {
            Some(specs) => {
                for s in specs {
                    merged.insert(s.venue, &s.symbol, s.spec);
                }
                specs.len()
            }
            None => family
                .venues()
                .iter()
                .map(|&v| merged.of_venue(v).count())
                .sum(),
        };
        let line = format!(
            "instruments: {family}: {count} from {}{}",
            match source {
                Source::Fetched => "the venue's REST API".to_string(),
                Source::Cache => format!("the cache {}", cache_path(data_dir, family).display()),
                Source::StaleCache =>
                    format!("the stale cache {}", cache_path(data_dir, family).display()),
                Source::Bundle => "the bundled snapshot".to_string(),
            },
            reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        match source {
            Source::Fetched | Source::Cache => log::info!("{line}"),
            Source::StaleCache | Source::Bundle => log::warn!("{line}"),
        }
        report.push(FamilyReport {
            family,
            source,
            instruments: count,
            reason,
        });
    }
    Loaded {
        instruments: Arc::new(merged),
        report,
    }
}

type Choice = (Source, Option<Vec<Spec>>, Option<String>);

fn choose(
    cfg: &InstrumentsConfig,
    data_dir: &Path,
    family: Family,
    tls: &http::Roots,
    now_ms: i64,
) -> Choice {
    let path = cache_path(data_dir, family);
    let max_age_ms = i64::try_from(cfg.max_age_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000);
    let mut reasons: Vec<String> = Vec::new();
    let cache = match read_cache(&path, family) {
        Ok(Some(c)) => Some(c),
        Ok(None) => {
            reasons.push("no cache".to_string());
            None
        }
        Err(e) => {
            reasons.push(e);
            None
        }
    };
    let age_ms = cache
        .as_ref()
        .map(|c| now_ms.saturating_sub(c.fetched_at_ms));
    if let (Some(c), Some(age)) = (&cache, age_ms) {
        if age < max_age_ms {
            return (Source::Cache, Some(c.specs.clone()), None);
        }
        reasons.push(format!(
            "cache is {:.1} h old, max_age_hours = {}",
            age as f64 / 3.6e6,
            cfg.max_age_hours
        ));
    }
    if cfg.refresh {
        match fetch(cfg, family, tls) {
            Ok(specs) => {
                if let Err(e) = write_cache(&path, family, now_ms, &specs) {
                    log::warn!("instruments: {family}: writing the cache: {e}");
                }
                return (Source::Fetched, Some(specs), None);
            }
            Err(e) => reasons.push(format!("fetch failed: {e}")),
        }
    } else {
        reasons.push("refresh = false".to_string());
    }
    let reason = Some(reasons.join("; "));
    match cache {
        Some(c) => (Source::StaleCache, Some(c.specs), reason),
        None => (Source::Bundle, None, reason),
    }
}

/// Why a family's list could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{0}: the venue listed no instrument this engine needs a size for")]
    Empty(Family),
    #[error("{0}: more than {MAX_PAGES} pages")]
    TooManyPages(Family),
}

const MAX_PAGES: usize = 50;

/// Fetches and parses one family's REST list (every path, every page).
pub fn fetch(
    cfg: &InstrumentsConfig,
    family: Family,
    tls: &http::Roots,
) -> Result<Vec<Spec>, FetchError> {
    let client = http::client(Duration::from_millis(cfg.timeout_ms), tls);
    let base = cfg.base_url(family);
    let mut specs = Vec::new();
    let mut skipped = 0;
    for path in family.paths() {
        let mut cursor: Option<String> = None;
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(FetchError::TooManyPages(family));
            }
            let url = match &cursor {
                Some(c) => format!("{base}{path}&cursor={}", percent_encode(c)),
                None => format!("{base}{path}"),
            };
            let body = http::get(&client, &url)?;
            let p = family.parse(&body)?;
            specs.extend(p.specs);
            skipped += p.skipped;
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    if specs.is_empty() {
        return Err(FetchError::Empty(family));
    }
    log::debug!(
        "instruments: {family}: fetched {} specs ({skipped} entries need none)",
        specs.len()
    );
    Ok(specs)
}

/// Characters a cursor keeps as they are in a query value: the unreserved set and `%` (Bybit's
/// cursors come percent-encoded already, `first%3DBTCUSD…`); everything else is encoded.
const CURSOR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'%');

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, CURSOR).to_string()
}

/// A cache file's contents.
#[derive(Debug, Clone)]
pub struct Cache {
    pub fetched_at_ms: i64,
    pub specs: Vec<Spec>,
}

/// Reads `<family>.json`: `Ok(None)` when missing, `Err(reason)` when unreadable or damaged.
pub fn read_cache(path: &Path, family: Family) -> Result<Option<Cache>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cache {}: {e}", path.display())),
    };
    let bad = |why: String| format!("cache {} is damaged: {why}", path.display());
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if v.get("family").and_then(|f| f.as_str()) != Some(family.name()) {
        return Err(bad(format!("`family` is not {:?}", family.name())));
    }
    let fetched_at_ms = v
        .get("fetched_at_ms")
        .and_then(|t| t.as_i64())
        .ok_or_else(|| bad("`fetched_at_ms` missing or not an integer".to_string()))?;
    let list = v
        .get("instruments")
        .filter(|l| l.is_array())
        .ok_or_else(|| bad("`instruments` missing or not an array".to_string()))?;
    let parsed = Instruments::parse(&list.to_string()).map_err(|e| bad(e.to_string()))?;
    let mut specs = Vec::new();
    for &venue in family.venues() {
        for (symbol, spec) in parsed.of_venue(venue) {
            specs.push(Spec {
                venue,
                symbol: symbol.to_string(),
                spec,
            });
        }
    }
    if specs.len() != parsed.len() {
        return Err(bad(format!(
            "holds instruments of venues outside the {family} family"
        )));
    }
    specs.sort_by(|a, b| (a.venue, &a.symbol).cmp(&(b.venue, &b.symbol)));
    Ok(Some(Cache {
        fetched_at_ms,
        specs,
    }))
}

/// Writes the cache atomically: a temporary file in the same directory, synced, then renamed
/// over `<family>.json`.
pub fn write_cache(
    path: &Path,
    family: Family,
    fetched_at_ms: i64,
    specs: &[Spec],
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let list: Vec<serde_json::Value> = specs
        .iter()
        .map(|s| {
            serde_json::json!({
                "venue": s.venue.name(),
                "symbol": s.symbol,
                "size": s.spec.size.to_string(),
                "inverse": s.spec.inverse,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "family": family.name(),
        "fetched_at_ms": fetched_at_ms,
        "instruments": list,
    });
    let tmp = dir.join(format!(".{}.json.tmp{}", family.name(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(&doc)?.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The default TLS roots for `https://` fetches: the Mozilla roots of `webpki-roots`, the set
/// the feeds trust.
pub fn default_tls() -> http::Roots {
    http::Roots::WebPki
}

/// [`load`] for the families the decoders of `venues` need, with the default TLS roots and
/// the wall clock: the start-up call of the pipeline.
pub fn load_for(
    cfg: &InstrumentsConfig,
    data_dir: &Path,
    venues: impl IntoIterator<Item = Venue>,
) -> Loaded {
    let families = families_for(venues);
    if families.is_empty() {
        return Loaded {
            instruments: Instruments::bundled(),
            report: Vec::new(),
        };
    }
    load(
        cfg,
        data_dir,
        &families,
        &default_tls(),
        feeds::clock::wall_us() / 1000,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_keep_their_escapes_and_encode_the_rest() {
        assert_eq!(
            super::percent_encode("first%3DBTCUSD&x=a b/+~"),
            "first%3DBTCUSD%26x%3Da%20b%2F%2B~"
        );
    }
}
