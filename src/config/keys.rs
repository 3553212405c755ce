//! Every configuration key we know: MeshView's (sample and code spellings) and ours.
//! One table drives defaults, unknown-key warnings and the documentation test.

/// One known key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub section: &'static str,
    pub key: &'static str,
    pub default: &'static str,
    /// Accepted for MeshView compatibility but without effect.
    pub unused: bool,
}

const fn k(section: &'static str, key: &'static str, default: &'static str) -> KeySpec {
    KeySpec {
        section,
        key,
        default,
        unused: false,
    }
}

const fn unused(section: &'static str, key: &'static str) -> KeySpec {
    KeySpec {
        section,
        key,
        default: "",
        unused: true,
    }
}

pub const KEYS: &[KeySpec] = &[
    k("server", "bind", "*"),
    k("server", "port", "8081"),
    k("server", "tls_cert", ""),
    k("server", "tls_key", ""),
    unused("server", "acme_challenge"),
    k("site", "domain", ""),
    k("site", "language", "en"),
    k("site", "title", ""),
    k("site", "message", ""),
    k("site", "starting", "/chat"),
    k("site", "nodes", "true"),
    k("site", "chat", "true"),
    // The sample's spelling of `chat`.
    k("site", "conversations", "true"),
    k("site", "everything", "true"),
    k("site", "graphs", "true"),
    k("site", "stats", "true"),
    k("site", "net", "true"),
    k("site", "map", "true"),
    k("site", "top", "true"),
    k("site", "map_top_left_lat", "39"),
    k("site", "map_top_left_lon", "-123"),
    k("site", "map_bottom_right_lat", "36"),
    k("site", "map_bottom_right_lon", "-121"),
    k("site", "map_interval", "3"),
    k("site", "firehose_interval", "3"),
    // The sample's misspelling of `firehose_interval`.
    k("site", "firehose_interal", "3"),
    k(
        "site",
        "weekly_net_message",
        "Weekly Mesh check-in message.",
    ),
    k("site", "net_tag", "#BayMeshNet"),
    k(
        "site",
        "map_tile_url",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    ),
    k("mqtt", "server", ""),
    k("mqtt", "port", "1883"),
    k("mqtt", "topics", ""),
    k("mqtt", "username", ""),
    k("mqtt", "password", ""),
    k("mqtt", "skip_node_ids", ""),
    k("mqtt", "secondary_keys", ""),
    k("mqtt", "client_id", ""),
    k("mqtt", "tls", "false"),
    k("mqtt", "ca_file", ""),
    k("mqtt", "flood_per_minute", "60"),
    k("mqtt", "flood_per_hour", "600"),
    k("mqtt", "redact_direct_messages", "false"),
    k("mqtt", "decode_json", "false"),
    k("mqtt", "queue_size", "10000"),
    k("mqtt", "persistent_session", "true"),
    k(
        "database",
        "connection_string",
        "sqlite+aiosqlite:///packets.db",
    ),
    k("database", "schema_wait_timeout", "300"),
    k("database", "backup_before_adoption", "true"),
    k("cleanup", "enabled", "false"),
    k("cleanup", "days_to_keep", "14"),
    k("cleanup", "rollup_days", "1095"),
    k("cleanup", "hour", "2"),
    k("cleanup", "minute", "0"),
    k("cleanup", "vacuum", "false"),
    k("cleanup", "backup_enabled", "false"),
    k("cleanup", "backup_dir", "./backups"),
    k("cleanup", "backup_hour", "2"),
    k("cleanup", "backup_minute", "0"),
    k("cleanup", "backup_keep", "7"),
    k("logging", "access_log", "false"),
    k("logging", "db_cleanup_logfile", "dbcleanup.log"),
    k("coverage", "elevation_dir", ""),
    k("archive", "enabled", "true"),
    k("archive", "days_to_keep", "14"),
];

pub fn find(section: &str, key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.section == section && s.key == key)
}
