//! MeshView's `config.ini` → one typed, validated [`Config`].
//!
//! The file format, sections and keys are the Python MeshView's, so an operator's existing
//! file loads unchanged (including the sample's misspelled `firehose_interal` and its
//! `conversations` key). Differences that fix MeshView's pitfalls: a `%` is literal (no
//! interpolation), booleans are parsed one way everywhere, every key has an environment
//! override (`MESHVIEW_<SECTION>__<KEY>`), bad values stop start-up with one line naming
//! `section.key`, and secrets never reach `Debug` output or logs.

pub mod edit;
mod keys;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use keys::{KEYS, KeySpec};
pub use meshview_store::{DatabaseUrl, redact_url};

/// The commented example printed by `meshview config example`.
pub const EXAMPLE: &str = include_str!("example.ini");

/// OpenStreetMap's public tiles, the default of `site.map_tile_url`.
pub const DEFAULT_TILE_URL: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

/// Prefix of environment overrides: `MESHVIEW_SERVER__PORT=8082`.
pub const ENV_PREFIX: &str = "MESHVIEW_";

/// A configuration problem, reported as one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("config error: {key} = {value:?}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    #[error("config error: {key} is missing: {why}")]
    Missing { key: String, why: String },
}

/// A string that must never be printed (passwords).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"***\"")
        }
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    /// Empty means "do not listen" (as in MeshView); `*` means every interface.
    pub bind: String,
    pub port: u16,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub domain: String,
    pub language: String,
    pub title: String,
    pub message: String,
    pub starting: String,
    pub nodes: bool,
    pub chat: bool,
    pub everything: bool,
    pub graphs: bool,
    pub stats: bool,
    pub net: bool,
    pub map: bool,
    pub top: bool,
    pub map_top_left_lat: f64,
    pub map_top_left_lon: f64,
    pub map_bottom_right_lat: f64,
    pub map_bottom_right_lon: f64,
    pub map_interval: i64,
    pub firehose_interval: i64,
    pub weekly_net_message: String,
    pub net_tag: String,
    /// Map tile URL template (`{z}`, `{x}`, `{y}`, optional `{s}`); the browser fetches
    /// tiles from it directly. Without reachable tiles the maps still show nodes and edges.
    pub map_tile_url: String,
}

#[derive(Debug, Clone)]
pub struct Mqtt {
    pub server: String,
    pub port: u16,
    /// Parsed from MeshView's JSON list string; empty when the key is absent.
    pub topics: Vec<String>,
    pub username: Option<String>,
    pub password: Secret,
    /// Raw list; parsed into node ids by the ingest side, which knows node-id syntax.
    pub skip_node_ids: Vec<String>,
    /// Raw base64 strings; validated into a keyring by the ingest side.
    pub secondary_keys: Vec<String>,
    pub client_id: Option<String>,
    /// Connect with TLS (also implied by an `mqtts://` server).
    pub tls: bool,
    /// PEM file of the CA to trust; empty means the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Flood guard: distinct packets per sender per minute / hour (0 disables).
    pub flood_per_minute: u32,
    pub flood_per_hour: u32,
    /// Store direct text messages with their text removed.
    pub redact_direct_messages: bool,
    /// Decode Meshtastic's JSON topics (`…/2/json/…`) instead of skipping them.
    pub decode_json: bool,
    /// Accepted messages buffered for the database writer.
    pub queue_size: usize,
    /// A persistent MQTT session (stable client id, QoS 1, acknowledgements after commit),
    /// so messages published while the writer is down are kept by the broker.
    pub persistent_session: bool,
}

#[derive(Clone)]
pub struct Database {
    pub url: DatabaseUrl,
    /// Seconds a reader waits for a current schema when no writer is migrating.
    pub schema_wait_timeout: u64,
    pub backup_before_adoption: bool,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url.redacted())
            .field("schema_wait_timeout", &self.schema_wait_timeout)
            .field("backup_before_adoption", &self.backup_before_adoption)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Cleanup {
    pub enabled: bool,
    pub days_to_keep: u32,
    /// Hourly and daily rollups are kept this many days (0: for ever); at least
    /// `days_to_keep`.
    pub rollup_days: u32,
    pub hour: u32,
    pub minute: u32,
    pub vacuum: bool,
    pub backup_enabled: bool,
    pub backup_dir: PathBuf,
    pub backup_hour: u32,
    pub backup_minute: u32,
    /// Backups kept by rotation (0 keeps all).
    pub backup_keep: usize,
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub access_log: bool,
    pub db_cleanup_logfile: Option<PathBuf>,
}

/// The raw archive of accepted MQTT messages (ours; `meshview_store::archive`).
#[derive(Debug, Clone)]
pub struct Archive {
    pub enabled: bool,
    /// Segments whose newest message is older are purged (at least 1).
    pub days_to_keep: u32,
}

/// Predicted coverage (`/api/coverage`).
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// SRTM `.hgt` tiles (e.g. `N37W122.hgt`); with them coverage follows the terrain.
    /// Nothing is downloaded: without tiles, coverage uses ITM's area mode as MeshView.
    pub elevation_dir: Option<PathBuf>,
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub site: Site,
    pub mqtt: Mqtt,
    pub database: Database,
    pub cleanup: Cleanup,
    pub logging: Logging,
    pub coverage: Coverage,
    pub archive: Archive,
    /// The file that was read, if any.
    pub source: Option<PathBuf>,
    /// Non-fatal findings (unknown keys, unused MeshView keys); logged at start-up.
    pub warnings: Vec<String>,
}

/// Where configuration comes from.
pub struct LoadOptions<'a> {
    pub path: &'a Path,
    /// The user named the file explicitly: a missing file is then an error.
    pub explicit: bool,
    /// `--database URL` from the command line; wins over file and environment.
    pub database_override: Option<&'a str>,
    /// Environment variables (injected so tests need not touch the process environment).
    pub env: Vec<(String, String)>,
}

impl Config {
    /// How the writer brings the schema to head (`database.backup_before_adoption`).
    pub fn upgrade_options(&self) -> meshview_store::migrations::UpgradeOptions {
        meshview_store::migrations::UpgradeOptions {
            backup_before_adoption: self.database.backup_before_adoption,
        }
    }

    /// Loads the file (if present), applies environment overrides, then validates.
    pub fn load(opts: LoadOptions<'_>) -> Result<Config, ConfigError> {
        let (text, source) = match std::fs::read_to_string(opts.path) {
            Ok(t) => (t, Some(opts.path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !opts.explicit => {
                (String::new(), None)
            }
            Err(e) => {
                return Err(ConfigError::File {
                    path: opts.path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        let mut cfg = Config::from_text(&text, opts.path, &opts.env, opts.database_override)?;
        cfg.source = source;
        Ok(cfg)
    }

    /// What [`Config::load`] does once the file is read, on INI text in memory: parses
    /// `text` (`path` only names it in errors), applies the environment overrides and
    /// `database_override`, then validates. `source` is left `None`.
    pub fn from_text(
        text: &str,
        path: &Path,
        env: &[(String, String)],
        database_override: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let mut raw = Raw::parse(text).map_err(|message| ConfigError::File {
            path: path.to_path_buf(),
            message,
        })?;
        raw.apply_env(env, &mut warnings);
        if let Some(url) = database_override {
            raw.set("database", "connection_string", url);
        }
        raw.warn_unknown(&mut warnings);
        let mut cfg = raw.build()?;
        cfg.warnings.extend(warnings);
        Ok(cfg)
    }

    /// Defaults only (no file, no environment): what a fresh install runs with.
    pub fn defaults() -> Config {
        Raw::default().build().expect("defaults are valid")
    }

    /// Checks that a broker is named (publishing, ingesting).
    pub fn require_mqtt_server(&self) -> Result<(), ConfigError> {
        if self.mqtt.server.trim().is_empty() {
            return Err(ConfigError::Missing {
                key: "mqtt.server".into(),
                why: "a broker host name is needed".into(),
            });
        }
        Ok(())
    }

    /// Checks the keys that ingesting from a broker needs.
    pub fn require_mqtt(&self) -> Result<(), ConfigError> {
        self.require_mqtt_server()?;
        if self.mqtt.topics.is_empty() {
            return Err(ConfigError::Missing {
                key: "mqtt.topics".into(),
                why: "ingesting needs a JSON list of topics, e.g. [\"msh/US/bayarea/#\"]".into(),
            });
        }
        Ok(())
    }
}

/// Raw `section.key → value` strings, lower-cased keys as ConfigParser does.
#[derive(Default)]
struct Raw {
    values: BTreeMap<(String, String), String>,
}

impl Raw {
    fn parse(text: &str) -> Result<Raw, String> {
        let opt = ini::ParseOption {
            // ConfigParser keeps quotes and backslashes as they are (topics is a JSON list).
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        };
        let ini = ini::Ini::load_from_str_opt(text, opt).map_err(|e| e.to_string())?;
        let mut raw = Raw::default();
        for (section, props) in ini.iter() {
            let Some(section) = section else {
                // Keys before any section header: ConfigParser refuses the file.
                if props.iter().next().is_some() {
                    return Err("keys before the first [section] header".into());
                }
                continue;
            };
            for (k, v) in props.iter() {
                raw.set(section, k, v);
            }
        }
        Ok(raw)
    }

    fn set(&mut self, section: &str, key: &str, value: &str) {
        self.values.insert(
            (
                section.trim().to_ascii_lowercase(),
                key.trim().to_ascii_lowercase(),
            ),
            value.trim().to_string(),
        );
    }

    fn apply_env(&mut self, env: &[(String, String)], warnings: &mut Vec<String>) {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            if keys::find(&section, &key).is_none() {
                warnings.push(format!(
                    "environment variable {name} names no known key ({section}.{key}); ignored"
                ));
                continue;
            }
            self.set(&section, &key, value);
        }
    }

    fn warn_unknown(&self, warnings: &mut Vec<String>) {
        for (section, key) in self.values.keys() {
            match keys::find(section, key) {
                None => warnings.push(format!("unknown config key {section}.{key}; ignored")),
                Some(spec) if spec.unused => warnings.push(format!(
                    "config key {section}.{key} is accepted for MeshView compatibility but has no effect"
                )),
                Some(_) => {}
            }
        }
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.values
            .get(&(section.to_string(), key.to_string()))
            .map(String::as_str)
    }

    /// The value, or the key's documented default.
    fn str(&self, section: &str, key: &str) -> String {
        match self.get(section, key) {
            Some(v) => v.to_string(),
            None => keys::find(section, key)
                .map(|s| s.default.to_string())
                .unwrap_or_default(),
        }
    }

    fn invalid(section: &str, key: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            key: format!("{section}.{key}"),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    fn bool(&self, section: &str, key: &str) -> Result<bool, ConfigError> {
        let v = self.str(section, key);
        parse_bool(&v).ok_or_else(|| {
            Self::invalid(
                section,
                key,
                &v,
                "a boolean (true/false, yes/no, on/off, 1/0)",
            )
        })
    }

    fn num<T: std::str::FromStr>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let v = self.str(section, key);
        v.parse::<T>()
            .map_err(|_| Self::invalid(section, key, &v, expected))
    }

    fn ranged(&self, section: &str, key: &str, max: u32, what: &str) -> Result<u32, ConfigError> {
        let expected = format!("{what} (0-{max})");
        let n: u32 = self.num(section, key, &expected)?;
        if n > max {
            return Err(Self::invalid(section, key, &n.to_string(), &expected));
        }
        Ok(n)
    }

    fn port(&self, section: &str, key: &str, allow_zero: bool) -> Result<u16, ConfigError> {
        let expected = "a TCP port number (1-65535)";
        let p: u16 = self.num(section, key, expected)?;
        if p == 0 && !allow_zero {
            return Err(Self::invalid(section, key, "0", expected));
        }
        Ok(p)
    }

    fn opt_path(&self, section: &str, key: &str) -> Option<PathBuf> {
        let v = self.str(section, key);
        (!v.is_empty()).then(|| PathBuf::from(v))
    }

    fn list(&self, section: &str, key: &str) -> Vec<String> {
        self.str(section, key)
            .split(',')
            .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn build(&self) -> Result<Config, ConfigError> {
        let server = Server {
            bind: self.str("server", "bind"),
            // Port 0 lets the OS choose (tests, and "print me the port" setups).
            port: self.port("server", "port", true)?,
            tls_cert: self.opt_path("server", "tls_cert"),
            tls_key: self.opt_path("server", "tls_key"),
        };

        // The sample spells these differently from the code that reads them; accept both,
        // the code's spelling winning when both are present.
        let chat_key =
            if self.get("site", "chat").is_none() && self.get("site", "conversations").is_some() {
                "conversations"
            } else {
                "chat"
            };
        let firehose_key = if self.get("site", "firehose_interval").is_none()
            && self.get("site", "firehose_interal").is_some()
        {
            "firehose_interal"
        } else {
            "firehose_interval"
        };
        let coord = "a number of degrees";
        let site = Site {
            domain: self.str("site", "domain"),
            language: self.str("site", "language"),
            title: self.str("site", "title"),
            message: self.str("site", "message"),
            starting: self.str("site", "starting"),
            nodes: self.bool("site", "nodes")?,
            chat: self.bool("site", chat_key)?,
            everything: self.bool("site", "everything")?,
            graphs: self.bool("site", "graphs")?,
            stats: self.bool("site", "stats")?,
            net: self.bool("site", "net")?,
            map: self.bool("site", "map")?,
            top: self.bool("site", "top")?,
            map_top_left_lat: self.num("site", "map_top_left_lat", coord)?,
            map_top_left_lon: self.num("site", "map_top_left_lon", coord)?,
            map_bottom_right_lat: self.num("site", "map_bottom_right_lat", coord)?,
            map_bottom_right_lon: self.num("site", "map_bottom_right_lon", coord)?,
            map_interval: self.num("site", "map_interval", "a whole number of seconds")?,
            firehose_interval: self.num("site", firehose_key, "a whole number of seconds")?,
            weekly_net_message: self.str("site", "weekly_net_message"),
            net_tag: self.str("site", "net_tag"),
            map_tile_url: self.str("site", "map_tile_url"),
        };
        if !site.starting.starts_with('/') {
            return Err(Self::invalid(
                "site",
                "starting",
                &site.starting,
                "a path on this site starting with '/', e.g. /chat",
            ));
        }

        let topics_raw = self.str("mqtt", "topics");
        let topics = if topics_raw.is_empty() {
            Vec::new()
        } else {
            serde_json::from_str::<Vec<String>>(&topics_raw).map_err(|_| {
                Self::invalid(
                    "mqtt",
                    "topics",
                    &topics_raw,
                    "a JSON list of topic strings, e.g. [\"msh/US/bayarea/#\"]",
                )
            })?
        };
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        // `mqtts://host` and `mqtt://host` are accepted as server values.
        let server_raw = self.str("mqtt", "server");
        let (mqtt_server, tls_scheme) = match server_raw.split_once("://") {
            Some((scheme, host)) if scheme.eq_ignore_ascii_case("mqtts") => {
                (host.to_string(), true)
            }
            Some((scheme, host)) if scheme.eq_ignore_ascii_case("mqtt") => {
                (host.to_string(), false)
            }
            Some(_) => {
                return Err(Self::invalid(
                    "mqtt",
                    "server",
                    &server_raw,
                    "a host name, or mqtt://HOST or mqtts://HOST",
                ));
            }
            None => (server_raw.clone(), false),
        };
        let mqtt_server = mqtt_server.trim_end_matches('/').to_string();
        let tls = tls_scheme || self.bool("mqtt", "tls")?;
        let port = match self.get("mqtt", "port") {
            // Without an explicit port, TLS means the standard 8883.
            None if tls => 8883,
            _ => self.port("mqtt", "port", false)?,
        };
        let queue_size: usize = self.num("mqtt", "queue_size", "a positive number of messages")?;
        if queue_size == 0 {
            return Err(Self::invalid(
                "mqtt",
                "queue_size",
                "0",
                "a positive number of messages",
            ));
        }
        let mqtt = Mqtt {
            server: mqtt_server,
            port,
            topics,
            username: non_empty(self.str("mqtt", "username")),
            password: Secret::new(self.str("mqtt", "password")),
            skip_node_ids: self.list("mqtt", "skip_node_ids"),
            secondary_keys: self.list("mqtt", "secondary_keys"),
            client_id: non_empty(self.str("mqtt", "client_id")),
            tls,
            ca_file: self.opt_path("mqtt", "ca_file"),
            flood_per_minute: self.num(
                "mqtt",
                "flood_per_minute",
                "a whole number (0 disables)",
            )?,
            flood_per_hour: self.num("mqtt", "flood_per_hour", "a whole number (0 disables)")?,
            redact_direct_messages: self.bool("mqtt", "redact_direct_messages")?,
            decode_json: self.bool("mqtt", "decode_json")?,
            queue_size,
            persistent_session: self.bool("mqtt", "persistent_session")?,
        };

        let url_raw = self.str("database", "connection_string");
        let url = DatabaseUrl::parse(&url_raw).map_err(|expected| ConfigError::Invalid {
            key: "database.connection_string".into(),
            value: redact_url(&url_raw),
            expected,
        })?;
        let database = Database {
            url,
            schema_wait_timeout: self.num(
                "database",
                "schema_wait_timeout",
                "a whole number of seconds",
            )?,
            backup_before_adoption: self.bool("database", "backup_before_adoption")?,
        };

        let hour = self.ranged("cleanup", "hour", 23, "an hour")?;
        let minute = self.ranged("cleanup", "minute", 59, "a minute")?;
        // MeshView defaults the backup time to the cleanup time.
        let backup_hour = match self.get("cleanup", "backup_hour") {
            Some(_) => self.ranged("cleanup", "backup_hour", 23, "an hour")?,
            None => hour,
        };
        let backup_minute = match self.get("cleanup", "backup_minute") {
            Some(_) => self.ranged("cleanup", "backup_minute", 59, "a minute")?,
            None => minute,
        };
        let cleanup = Cleanup {
            enabled: self.bool("cleanup", "enabled")?,
            days_to_keep: self.num("cleanup", "days_to_keep", "a whole number of days")?,
            rollup_days: self.num(
                "cleanup",
                "rollup_days",
                "a whole number of days (0 keeps them for ever)",
            )?,
            hour,
            minute,
            vacuum: self.bool("cleanup", "vacuum")?,
            backup_enabled: self.bool("cleanup", "backup_enabled")?,
            backup_dir: PathBuf::from(self.str("cleanup", "backup_dir")),
            backup_hour,
            backup_minute,
            backup_keep: self.num(
                "cleanup",
                "backup_keep",
                "a whole number of backups (0 keeps all)",
            )?,
        };

        if cleanup.rollup_days != 0 && cleanup.rollup_days < cleanup.days_to_keep {
            // Stats over the raw rows' window would lose their older hours.
            return Err(ConfigError::Invalid {
                key: "cleanup.rollup_days".into(),
                value: cleanup.rollup_days.to_string(),
                expected: format!(
                    "0 (for ever) or at least cleanup.days_to_keep ({})",
                    cleanup.days_to_keep
                ),
            });
        }

        let archive = Archive {
            enabled: self.bool("archive", "enabled")?,
            days_to_keep: self.num("archive", "days_to_keep", "a whole number of days")?,
        };
        if archive.days_to_keep == 0 {
            return Err(ConfigError::Invalid {
                key: "archive.days_to_keep".into(),
                value: "0".into(),
                expected: "at least 1 day (turn the archive off with archive.enabled = false)"
                    .into(),
            });
        }

        let logging = Logging {
            access_log: self.bool("logging", "access_log")?,
            db_cleanup_logfile: self.opt_path("logging", "db_cleanup_logfile"),
        };

        Ok(Config {
            server,
            site,
            mqtt,
            database,
            cleanup,
            logging,
            coverage: Coverage {
                elevation_dir: self.opt_path("coverage", "elevation_dir"),
            },
            archive,
            source: None,
            warnings: Vec::new(),
        })
    }
}

/// One boolean syntax for every key (MeshView had three).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
