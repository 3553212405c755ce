//! `/api/node/{node_id}/qr`, `/api/node/{node_id}/impersonation-check`,
//! `/api/coverage/{node_id}`.

use axum::Json;
use axum::extract::Path;
use meshview_protocol::pb;
use prost::Message;
use serde_json::{Value, json};

use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::parse_node;

/// Base64 with the URL-safe alphabet and no padding (what meshtastic.org/v/ reads).
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn qr(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let node_id = parse_node("node_id", &id)?;
    let Some(node) = db.node(node_id).await? else {
        return Err(ApiError::NotFound(format!("node {node_id} not found")));
    };
    let long_name = node.long_name.clone().unwrap_or_default();
    let short_name = node.short_name.clone().unwrap_or_default();
    let contact = pb::SharedContact {
        node_num: node_id as u32,
        user: Some(pb::User {
            id: format!("!{:08x}", node_id),
            long_name: long_name.clone(),
            short_name: short_name.clone(),
            hw_model: node
                .hw_model
                .as_deref()
                .and_then(pb::HardwareModel::from_str_name)
                .map_or(0, |m| m as i32),
            ..Default::default()
        }),
        should_ignore: false,
        manually_verified: false,
    };
    Ok(Json(json!({
        "node_id": node_id,
        "long_name": long_name,
        "short_name": short_name,
        "meshtastic_url": format!("https://meshtastic.org/v/#{}", base64_url(&contact.encode_to_vec())),
    })))
}

pub async fn impersonation_check(
    Ready(db): Ready,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let node_id = parse_node("node_id", &id)?;
    let keys = db.public_keys(node_id).await?;
    if keys.is_empty() && db.node(node_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("node {node_id} not found")));
    }
    let count = keys.len();
    let mut shown: Vec<Value> = keys.iter().take(3).map(|k| json!(k.public_key)).collect();
    if count > 3 {
        shown.push(json!("..."));
    }
    let warning = (count > 1).then(|| {
        format!(
            "This node number has announced {count} different public keys: another radio may be using its number."
        )
    });
    Ok(Json(json!({
        "node_id": node_id,
        "unique_public_key_count": count,
        "potential_impersonation": count > 1,
        "public_keys": shown,
        "warning": warning,
        "keys": keys.iter().map(|k| json!({
            "public_key": k.public_key,
            "first_seen_us": k.first_seen_us,
            "last_seen_us": k.last_seen_us,
        })).collect::<Vec<_>>(),
    })))
}

pub async fn coverage(Path(id): Path<String>) -> ApiResult<Json<Value>> {
    parse_node("node_id", &id)?;
    Err(ApiError::NotImplemented(
        "coverage prediction is not available in this version".into(),
    ))
}
