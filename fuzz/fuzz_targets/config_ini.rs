//! config.ini parsing and validation (`Config::from_text`, what `Config::load` runs on the
//! file's text) on arbitrary INI text. Input: the text; after a NUL byte, optional
//! `NAME=VALUE` lines of environment overrides.
//!
//! Properties: nothing panics; an accepted configuration's database URL, redacted as the
//! logs print it, re-parses to the same backend; a non-empty MQTT password never shows in
//! its Debug form.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use meshview::config::Config;
use meshview_store::database_url::DatabaseUrl;

fuzz_target!(|data: &[u8]| {
    let (text, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Ok(cfg) = Config::from_text(&text, Path::new("fuzz.ini"), &env, None) else {
        return;
    };
    let _ = format!("{cfg:?}");
    let redacted = cfg.database.url.redacted();
    let again = DatabaseUrl::parse(&redacted).expect("a redacted database URL parses");
    assert_eq!(again.is_sqlite(), cfg.database.url.is_sqlite());
    let pw = cfg.mqtt.password.expose();
    if !pw.is_empty() && !"\"***\"".contains(pw) {
        assert!(
            !format!("{:?}", cfg.mqtt.password).contains(pw),
            "the password shows"
        );
    }
    let _ = cfg.upgrade_options();
    let _ = (cfg.require_mqtt(), cfg.require_mqtt_server());
});
