//! UI strings of the pages: the same embedded files `/api/lang` serves
//! (`src/web/lang/<code>.json`), looked up by section and key. A missing key shows the
//! English string, then the key itself, so a page never breaks on a gap.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

#[derive(rust_embed::RustEmbed)]
#[folder = "src/web/lang/"]
struct LangFiles;

fn all() -> &'static BTreeMap<String, Value> {
    static LANGS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    LANGS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for name in LangFiles::iter() {
            let (Some(code), Some(file)) = (name.strip_suffix(".json"), LangFiles::get(&name))
            else {
                continue;
            };
            if let Ok(v) = serde_json::from_slice::<Value>(&file.data) {
                out.insert(code.to_string(), v);
            }
        }
        out
    })
}

/// Whether `code` names a language file.
pub fn exists(code: &str) -> bool {
    all().contains_key(code)
}

/// (code, name in that language) of every language, for the switch.
pub fn languages() -> Vec<(String, String)> {
    all()
        .iter()
        .map(|(code, doc)| {
            let name = doc["base"]["language_name"]
                .as_str()
                .unwrap_or(code)
                .to_string();
            (code.clone(), name)
        })
        .collect()
}

static EMPTY: OnceLock<Value> = OnceLock::new();

/// One language.
#[derive(Clone, Debug)]
pub struct Lang {
    pub code: String,
    doc: &'static Value,
    en: &'static Value,
}

impl Lang {
    pub fn new(code: &str) -> Lang {
        let empty = EMPTY.get_or_init(|| Value::Object(Map::new()));
        let en = all().get("en").unwrap_or(empty);
        match all().get(code) {
            Some(doc) => Lang {
                code: code.to_string(),
                doc,
                en,
            },
            None => Lang {
                code: "en".to_string(),
                doc: en,
                en,
            },
        }
    }

    /// The string `section.key`.
    pub fn t<'a>(&self, section: &str, key: &'a str) -> &'a str {
        self.doc[section][key]
            .as_str()
            .or_else(|| self.en[section][key].as_str())
            .unwrap_or(key)
    }

    /// A port's label (`base.portnum_options`), else its number.
    pub fn port(&self, port: i64) -> String {
        let key = port.to_string();
        self.doc["base"]["portnum_options"][&key]
            .as_str()
            .or_else(|| self.en["base"]["portnum_options"][&key].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("Port {port}"))
    }

    /// Sections merged over English, for scripts.
    pub fn sections(&self, names: &[&str]) -> Value {
        let mut out = Map::new();
        for name in names {
            let mut merged = self.en[*name].as_object().cloned().unwrap_or_default();
            if let Some(own) = self.doc[*name].as_object() {
                for (k, v) in own {
                    merged.insert(k.clone(), v.clone());
                }
            }
            out.insert(name.to_string(), Value::Object(merged));
        }
        Value::Object(out)
    }
}
