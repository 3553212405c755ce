//! One node's contact link (`/api/node/{id}/qr`) and public-key history
//! (`/api/node/{id}/impersonation-check`). `None`: no such node.
//!
//! Answers' fields are in alphabetical order, as the JSON maps the API wrote had them.

use meshview_protocol::pb;
use prost::Message;
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::error::ApiResult;
use meshview_store::read::Reader;

/// Base64 with the URL-safe alphabet and no padding (what meshtastic.org/v/ reads).
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A node's shareable contact: the link the Meshtastic apps import.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub long_name: String,
    pub meshtastic_url: String,
    pub node_id: i64,
    pub short_name: String,
}

pub async fn contact(db: &Reader, node_id: i64) -> ApiResult<Option<Contact>> {
    let Some(node) = db.node(node_id).await? else {
        return Ok(None);
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
    Ok(Some(Contact {
        long_name,
        meshtastic_url: format!(
            "https://meshtastic.org/v/#{}",
            base64_url(&contact.encode_to_vec())
        ),
        node_id,
        short_name,
    }))
}

/// One public key a node announced, and when.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySeen {
    #[schema(required = true)]
    pub first_seen_us: Option<i64>,
    #[schema(required = true)]
    pub last_seen_us: Option<i64>,
    pub public_key: String,
}

/// The public keys a node number announced: more than one means another radio may be
/// using the number.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyHistory {
    pub keys: Vec<KeySeen>,
    pub node_id: i64,
    pub potential_impersonation: bool,
    /// The first three keys, then `...` when there are more.
    pub public_keys: Vec<String>,
    pub unique_public_key_count: usize,
    #[schema(required = true)]
    pub warning: Option<String>,
}

pub async fn key_history(db: &Reader, node_id: i64) -> ApiResult<Option<KeyHistory>> {
    let keys = db.public_keys(node_id).await?;
    if keys.is_empty() && db.node(node_id).await?.is_none() {
        return Ok(None);
    }
    let count = keys.len();
    let mut public_keys: Vec<String> = keys.iter().take(3).map(|k| k.public_key.clone()).collect();
    if count > 3 {
        public_keys.push("...".to_string());
    }
    let warning = (count > 1).then(|| {
        format!(
            "This node number has announced {count} different public keys: another radio may be using its number."
        )
    });
    Ok(Some(KeyHistory {
        keys: keys
            .into_iter()
            .map(|k| KeySeen {
                first_seen_us: k.first_seen_us,
                last_seen_us: k.last_seen_us,
                public_key: k.public_key,
            })
            .collect(),
        node_id,
        potential_impersonation: count > 1,
        public_keys,
        unique_public_key_count: count,
        warning,
    }))
}
