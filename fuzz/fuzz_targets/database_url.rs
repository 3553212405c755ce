//! `DatabaseUrl::parse` and `redacted` on arbitrary strings.
//!
//! Properties: nothing panics; `redacted()` re-parses to the same backend (the same file
//! for SQLite); redacting is idempotent; `Debug` is the redacted form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshview_store::database_url::{DatabaseUrl, redact_url};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = redact_url(&s);
    let Ok(url) = DatabaseUrl::parse(&s) else {
        return;
    };
    let redacted = url.redacted();
    assert_eq!(format!("{url:?}"), redacted);
    let again = DatabaseUrl::parse(&redacted)
        .unwrap_or_else(|e| panic!("redacted {redacted:?} does not parse: {e}"));
    assert_eq!(
        again.is_sqlite(),
        url.is_sqlite(),
        "{redacted:?} changed backend"
    );
    match (&url, &again) {
        (DatabaseUrl::Sqlite { path: a }, DatabaseUrl::Sqlite { path: b }) => {
            assert_eq!(a, b, "{redacted:?} names another file")
        }
        _ => assert_eq!(again.redacted(), redacted, "redacting is not idempotent"),
    }
});
