//! The web API's parameter parsers (`Params` and every question parser) on a fuzzed
//! request. Input: up to four path segments (`node_id`, `from`, `to`, `packet_id`)
//! separated by `/`, then `?` and the query string.
//!
//! Properties (checked inside `meshview::web::fuzzing::check_request`): nothing panics;
//! every parser answers a value or a 400, never anything that would be a 500; node ids
//! round-trip through `!hex`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (path, query) = s.split_once('?').unwrap_or(("", &s));
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').take(4).collect()
    };
    meshview::web::fuzzing::check_request(&segments, query);
});
