use super::*;

/// A file shaped like MeshView 3.0.5's sample.config.ini: its 44 keys with its spellings.
const MESHVIEW_SAMPLE: &str = r#"
[server]
bind = *
port = 8081
tls_cert =
acme_challenge =

[site]
domain =
language = en
title = Bay Area Mesh
message = Real time data from around the bay area and beyond. 100% local!
starting = /chat
nodes = True
conversations = False
everything = True
graphs = True
stats = True
net = True
map = True
top = True
map_top_left_lat = 39
map_top_left_lon = -123
map_bottom_right_lat = 36
map_bottom_right_lon = -121
map_interval = 3
firehose_interal = 7
weekly_net_message = Weekly Mesh check-in. Format: (LONG NAME) - (CITY) #BayMeshNet.
net_tag = #BayMeshNet

[mqtt]
server = mqtt.bayme.sh
topics = ["msh/US/bayarea/#", "msh/US/CA/mrymesh/#", "msh/US/CA/sacvalley"]
port = 1883
username = meshdev
password = large4cats
skip_node_ids =
secondary_keys =

[database]
connection_string = sqlite+aiosqlite:///packets.db

[cleanup]
enabled = False
days_to_keep = 14
hour = 2
minute = 00
vacuum = False
backup_enabled = False
backup_dir = ./backups
backup_hour = 2
backup_minute = 00

[logging]
access_log = False
db_cleanup_logfile = dbcleanup.log
"#;

fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.ini");
    std::fs::write(&path, text).unwrap();
    Config::load(LoadOptions {
        path: &path,
        explicit: true,
        database_override: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

#[test]
fn meshview_sample_loads_unchanged() {
    let c = load_str(MESHVIEW_SAMPLE, &[]).unwrap();
    assert_eq!(c.server.bind, "*");
    assert_eq!(c.server.port, 8081);
    assert!(c.server.tls_cert.is_none());
    assert_eq!(
        c.site.message,
        "Real time data from around the bay area and beyond. 100% local!"
    );
    // The sample's spellings are honoured.
    assert!(!c.site.chat);
    assert_eq!(c.site.firehose_interval, 7);
    assert_eq!(c.site.map_top_left_lon, -123.0);
    assert_eq!(
        c.mqtt.topics,
        vec![
            "msh/US/bayarea/#",
            "msh/US/CA/mrymesh/#",
            "msh/US/CA/sacvalley"
        ]
    );
    assert_eq!(c.mqtt.username.as_deref(), Some("meshdev"));
    assert_eq!(c.mqtt.password.expose(), "large4cats");
    assert_eq!(
        c.database.url,
        DatabaseUrl::Sqlite {
            path: "packets.db".into()
        }
    );
    assert_eq!((c.cleanup.hour, c.cleanup.minute), (2, 0));
    assert_eq!(c.cleanup.days_to_keep, 14);
    // acme_challenge is accepted but reported as having no effect; nothing else is unknown.
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("server.acme_challenge"));
}

#[test]
fn passwords_never_show_in_debug_output() {
    let c = load_str(MESHVIEW_SAMPLE, &[]).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("large4cats"));
    let c = load_str(
        "[database]\nconnection_string = postgresql+asyncpg://mv:hunter2@db:5432/mv\n",
        &[],
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn environment_overrides_the_file() {
    let c = load_str(
        MESHVIEW_SAMPLE,
        &[
            ("MESHVIEW_SERVER__PORT", "9000"),
            ("MESHVIEW_DATABASE__CONNECTION_STRING", "postgres://h/db"),
            ("MESHVIEW_SITE__TITLE", "50% Mesh"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.port, 9000);
    assert!(!c.database.url.is_sqlite());
    assert_eq!(c.site.title, "50% Mesh");
}

#[test]
fn unknown_environment_key_is_warned_not_fatal() {
    let c = load_str("", &[("MESHVIEW_SERVER__PROT", "1")]).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("MESHVIEW_SERVER__PROT"))
    );
}

#[test]
fn bad_values_name_the_key_value_and_expectation() {
    let e = load_str("[server]\nport = eighty\n", &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "config error: server.port = \"eighty\": expected a TCP port number (1-65535)"
    );
    let e = load_str("[mqtt]\nport = 70000\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("config error: mqtt.port = \"70000\""), "{e}");
    let e = load_str("[database]\nconnection_string = mysql://u:pw@h/db\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config error: database.connection_string = \"mysql://u:***@h/db\""),
        "{e}"
    );
    assert!(!e.contains("pw@"));
    let e = load_str("[cleanup]\nhour = 24\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("cleanup.hour"), "{e}");
    // Rollups shorter-lived than the raw rows would leave stats with holes.
    let e = load_str("[cleanup]\ndays_to_keep = 30\nrollup_days = 7\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cleanup.rollup_days") && e.contains("at least cleanup.days_to_keep (30)"),
        "{e}"
    );
    assert!(load_str("[cleanup]\nrollup_days = 0\n", &[]).is_ok());
    let e = load_str("[mqtt]\ntopics = msh/US/#\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("mqtt.topics") && e.contains("JSON list"), "{e}");
    let e = load_str("[site]\nmap = maybe\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("site.map") && e.contains("boolean"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn unknown_keys_are_warnings() {
    let c = load_str(
        "[server]\nport = 8081\ncolour = blue\n[extra]\nx = 1\n",
        &[],
    )
    .unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("server.colour")));
    assert!(c.warnings.iter().any(|w| w.contains("extra.x")));
}

#[test]
fn missing_required_mqtt_keys_are_named() {
    let c = load_str("[mqtt]\nserver = localhost\n", &[]).unwrap();
    let e = c.require_mqtt().unwrap_err().to_string();
    assert!(e.starts_with("config error: mqtt.topics is missing"), "{e}");
    let c = load_str(MESHVIEW_SAMPLE, &[]).unwrap();
    c.require_mqtt().unwrap();
}

#[test]
fn missing_file_is_fine_unless_named_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.ini");
    let opts = |explicit| LoadOptions {
        path: &path,
        explicit,
        database_override: Some("sqlite://x.db"),
        env: vec![],
    };
    let c = Config::load(opts(false)).unwrap();
    assert!(c.source.is_none());
    assert_eq!(
        c.database.url,
        DatabaseUrl::Sqlite {
            path: "x.db".into()
        }
    );
    assert!(Config::load(opts(true)).is_err());
}

#[test]
fn backup_time_defaults_to_cleanup_time() {
    let c = load_str("[cleanup]\nhour = 4\nminute = 30\n", &[]).unwrap();
    assert_eq!((c.cleanup.backup_hour, c.cleanup.backup_minute), (4, 30));
}

#[test]
fn example_config_is_valid_and_documents_every_key() {
    let c = load_str(EXAMPLE, &[]).unwrap();
    assert!(
        c.warnings.iter().all(|w| w.contains("acme_challenge")),
        "{:?}",
        c.warnings
    );
    let docs = include_str!("../../docs/configuration.md");
    for spec in KEYS {
        let dotted = format!("{}.{}", spec.section, spec.key);
        assert!(
            docs.contains(&format!("`{dotted}`")),
            "docs/configuration.md lacks {dotted}"
        );
        let aliases = ["conversations", "firehose_interal"];
        if !aliases.contains(&spec.key) {
            assert!(
                EXAMPLE.contains(&format!("\n{} =", spec.key)),
                "example config lacks {dotted}"
            );
        }
    }
}
