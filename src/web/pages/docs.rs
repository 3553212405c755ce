//! `/api`: the API reference, rendered on the server from the embedded OpenAPI document
//! (no third-party viewer, no script).

use std::sync::OnceLock;

use askama::Template;
use axum::extract::State;
use serde_json::Value;

use super::PageResult;
use super::shell::{Prefs, Shell};
use super::view::render;
use crate::web::AppState;

pub struct Param {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub kind: String,
    pub description: String,
}

pub struct Field {
    pub name: String,
    pub kind: String,
    /// Anchor of a referenced schema.
    pub link: String,
    pub description: String,
}

pub struct Response {
    pub code: String,
    pub description: String,
    pub fields: Vec<Field>,
}

pub struct Endpoint {
    pub method: String,
    pub path: String,
    pub anchor: String,
    pub summary: String,
    pub description: String,
    pub params: Vec<Param>,
    pub responses: Vec<Response>,
}

pub struct Schema {
    pub name: String,
    pub description: String,
    pub fields: Vec<Field>,
}

pub struct Doc {
    pub title: String,
    pub version: String,
    pub description: String,
    pub endpoints: Vec<Endpoint>,
    pub schemas: Vec<Schema>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn ref_name(r: &Value) -> Option<String> {
    r.as_str()?.rsplit('/').next().map(str::to_string)
}

/// A schema's type in a few words, and the schema it refers to.
fn kind(s: &Value) -> (String, String) {
    if let Some(name) = ref_name(&s["$ref"]) {
        return (name.clone(), name);
    }
    // OpenAPI 3.1 writes a nullable type as a list: ["string", "null"].
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut link = String::new();
        let parts: Vec<String> = types
            .iter()
            .map(|t| match *t {
                "array" => {
                    let (inner, l) = kind(&s["items"]);
                    link = l;
                    format!("[{inner}]")
                }
                t => t.to_string(),
            })
            .collect();
        return (parts.join(" | "), link);
    }
    match s["oneOf"].as_array().or(s["anyOf"].as_array()) {
        Some(list) => {
            let kinds: Vec<(String, String)> = list.iter().map(kind).collect();
            let link = kinds
                .iter()
                .map(|(_, l)| l.clone())
                .find(|l| !l.is_empty())
                .unwrap_or_default();
            let parts: Vec<String> = kinds.into_iter().map(|(k, _)| k).collect();
            (parts.join(" | "), link)
        }
        None => ("any".to_string(), String::new()),
    }
}

fn fields(schema: &Value) -> Vec<Field> {
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| {
                    let (kind, link) = kind(s);
                    Field {
                        name: name.clone(),
                        kind,
                        link,
                        description: text(&s["description"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn doc() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| {
        let d: Value = serde_json::from_str(crate::web::openapi::document()).unwrap_or_default();
        let shared = &d["components"]["responses"];
        let mut endpoints = Vec::new();
        for (path, ops) in d["paths"].as_object().into_iter().flatten() {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| Param {
                        name: text(&p["name"]),
                        location: text(&p["in"]),
                        required: p["required"].as_bool().unwrap_or(false),
                        kind: kind(&p["schema"]).0,
                        description: text(&p["description"]),
                    })
                    .collect();
                let mut responses: Vec<Response> = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(code, r)| {
                        let r = match ref_name(&r["$ref"]) {
                            Some(name) => &shared[name.as_str()],
                            None => r,
                        };
                        let schema = r["content"]
                            .as_object()
                            .and_then(|c| c.values().next())
                            .map(|c| c["schema"].clone())
                            .unwrap_or_default();
                        let mut fields = fields(&schema);
                        if fields.is_empty() && !schema.is_null() {
                            let (kind, link) = kind(&schema);
                            fields.push(Field {
                                name: String::new(),
                                kind,
                                link,
                                description: String::new(),
                            });
                        }
                        Response {
                            code: code.clone(),
                            description: text(&r["description"]),
                            fields,
                        }
                    })
                    .collect();
                responses.sort_by(|a, b| a.code.cmp(&b.code));
                endpoints.push(Endpoint {
                    method: method.to_uppercase(),
                    anchor: path
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                        .collect(),
                    path: path.clone(),
                    summary: text(&op["summary"]),
                    description: text(&op["description"]),
                    params,
                    responses,
                });
            }
        }
        let schemas = d["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, s)| Schema {
                name: name.clone(),
                description: text(&s["description"]),
                fields: fields(s),
            })
            .collect();
        Doc {
            title: text(&d["info"]["title"]),
            version: text(&d["info"]["version"]),
            description: text(&d["info"]["description"]),
            endpoints,
            schemas,
        }
    })
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    shell: Shell,
    doc: &'static Doc,
}

pub async fn api_docs(State(state): State<AppState>, prefs: Prefs) -> PageResult {
    let shell = Shell::new(&state, &prefs, "api", "API".to_string(), "common", &[]);
    Ok(render(&ApiPage { shell, doc: doc() }, &prefs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_on_the_page() {
        let d = super::doc();
        for path in crate::web::route_paths() {
            assert!(d.endpoints.iter().any(|e| e.path == path), "{path}");
        }
        assert!(d.schemas.iter().any(|s| s.name == "Packet"));
    }
}
