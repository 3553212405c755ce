//! The live pages: `/chat` (text messages, replies threaded under their parent,
//! reactions gathered on it) and `/firehose` (every packet). Both are rendered with the
//! newest packets and then follow `/api/stream`.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::State;
use serde_json::json;

use super::shell::{Prefs, Shell};
use super::view::{self, PacketView, render};
use super::{OrPage, PageResult};
use crate::web::compat::PORT_TEXT;
use crate::web::params::Period;
use crate::web::query::packets::{self, ListQuery};
use crate::web::query::stats::ChannelsQuery;
use crate::web::{AppState, Ready};
use meshview_store::read::PacketFilter;

/// A reaction (an emoji reply) gathered on its message.
pub struct Reaction {
    pub emoji: String,
    pub count: usize,
    pub names: String,
}

pub struct Reply {
    pub msg: PacketView,
    pub reactions: Vec<Reaction>,
}

/// A message with its replies (oldest first) and reactions.
pub struct Thread {
    pub msg: PacketView,
    /// It replies to a message not on the page: link to it.
    pub reply_elsewhere: bool,
    pub reactions: Vec<Reaction>,
    pub replies: Vec<Reply>,
}

/// Groups messages (newest first) into threads: a reply joins the thread of its parent
/// when the parent is listed; an emoji reply becomes a reaction on it.
pub fn threads(messages: Vec<PacketView>) -> Vec<Thread> {
    let listed: BTreeSet<i64> = messages.iter().map(|m| m.mesh_id).collect();
    // Mesh id → root thread's mesh id (replies to replies join the root).
    let mut root_of: HashMap<i64, i64> = HashMap::new();
    let mut reactions: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    let mut replies: HashMap<i64, Vec<PacketView>> = HashMap::new();
    let mut roots = Vec::new();
    // Oldest first, so parents are placed before their replies.
    for m in messages.into_iter().rev() {
        let parent = (m.reply_id != 0 && listed.contains(&m.reply_id)).then_some(m.reply_id);
        match parent {
            Some(p) if m.emoji => reactions
                .entry(p)
                .or_default()
                .push((m.payload.clone(), m.from_name.clone())),
            Some(p) => {
                let root = *root_of.get(&p).unwrap_or(&p);
                root_of.insert(m.mesh_id, root);
                replies.entry(root).or_default().push(m);
            }
            None => {
                root_of.insert(m.mesh_id, m.mesh_id);
                roots.push(m);
            }
        }
    }
    let mut gather = |id: i64| -> Vec<Reaction> {
        let mut out: Vec<Reaction> = Vec::new();
        for (emoji, name) in reactions.remove(&id).unwrap_or_default() {
            match out.iter_mut().find(|r| r.emoji == emoji) {
                Some(r) => {
                    r.count += 1;
                    r.names.push_str(", ");
                    r.names.push_str(&name);
                }
                None => out.push(Reaction {
                    emoji,
                    count: 1,
                    names: name,
                }),
            }
        }
        out
    };
    let mut out: Vec<Thread> = roots
        .into_iter()
        .map(|m| {
            let id = m.mesh_id;
            let replies = replies
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    let reactions = gather(r.mesh_id);
                    Reply { msg: r, reactions }
                })
                .collect();
            Thread {
                reply_elsewhere: m.reply_id != 0,
                reactions: gather(id),
                replies,
                msg: m,
            }
        })
        .collect();
    out.reverse();
    out
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage {
    shell: Shell,
    threads: Vec<Thread>,
    channels: Vec<String>,
}

pub async fn chat(State(state): State<AppState>, Ready(db): Ready, prefs: Prefs) -> PageResult {
    let filter = PacketFilter {
        portnum: Some(PORT_TEXT),
        ..PacketFilter::default()
    };
    let list = packets::run(&db, ListQuery::new(filter, 100))
        .await
        .or_page(&prefs)?;
    let shell = Shell::new(
        &state,
        &prefs,
        "chat",
        prefs_title(&prefs, "chat"),
        "chat",
        &[],
    );
    // Direct messages are private (and shown redacted by the API): not in the chat.
    let messages: Vec<PacketView> = view::packets(&list, &shell.lang)
        .into_iter()
        .filter(|m| m.broadcast)
        .collect();
    let channels: BTreeSet<String> = messages
        .iter()
        .map(|m| m.channel.clone())
        .filter(|c| !c.is_empty())
        .collect();
    let shell = shell.with("latest", json!(list.latest_import_time));
    Ok(render(
        &ChatPage {
            shell,
            threads: threads(messages),
            channels: channels.into_iter().collect(),
        },
        &prefs,
    ))
}

/// A page title from its lang section.
pub fn prefs_title(prefs: &Prefs, section: &str) -> String {
    super::i18n::Lang::new(&prefs.lang)
        .t(section, "title")
        .to_string()
}

#[derive(Template)]
#[template(path = "firehose.html")]
struct FirehosePage {
    shell: Shell,
    packets: Vec<PacketView>,
    ports: Vec<(i64, String)>,
    portnum: Option<i64>,
    /// Channels with traffic in the last week, and the one chosen (`?channel=`).
    channels: Vec<String>,
    channel: Option<String>,
}

/// Ports offered in the filter.
pub const PORTS: [i64; 14] = {
    use meshview_protocol::pb::PortNum as P;
    [
        P::TextMessageApp as i64,
        P::PositionApp as i64,
        P::NodeinfoApp as i64,
        P::RoutingApp as i64,
        P::AdminApp as i64,
        P::WaypointApp as i64,
        P::DetectionSensorApp as i64,
        P::PaxcounterApp as i64,
        P::StoreForwardApp as i64,
        P::RangeTestApp as i64,
        P::TelemetryApp as i64,
        P::TracerouteApp as i64,
        P::NeighborinfoApp as i64,
        P::MapReportApp as i64,
    ]
};

pub async fn firehose(
    State(state): State<AppState>,
    Ready(db): Ready,
    prefs: Prefs,
    params: crate::web::params::Params,
) -> PageResult {
    let portnum = params.portnum("portnum").or_page(&prefs)?.map(i64::from);
    let channel = params
        .string("channel", 64)
        .or_page(&prefs)?
        .filter(|c| !c.is_empty());
    let filter = PacketFilter {
        portnum: portnum.map(|p| p as i32),
        channel: channel.clone(),
        ..PacketFilter::default()
    };
    let channels_q = ChannelsQuery {
        period: Period::Day,
        length: 7,
    };
    let (list, channels) = tokio::join!(
        packets::run(&db, ListQuery::new(filter, 100)),
        channels_q.answer(&state, &db)
    );
    let list = list.or_page(&prefs)?;
    let mut channels = channels.or_page(&prefs)?.channels.clone();
    // The chosen channel stays offered, heard this week or not.
    if let Some(c) = &channel
        && !channels.iter().any(|x| x.eq_ignore_ascii_case(c))
    {
        channels.push(c.clone());
        channels.sort();
    }
    let shell = Shell::new(
        &state,
        &prefs,
        "firehose",
        prefs_title(&prefs, "firehose"),
        "firehose",
        &[],
    );
    let packets = view::packets(&list, &shell.lang);
    let ports = PORTS.iter().map(|&p| (p, shell.lang.port(p))).collect();
    let shell = shell
        .with("portnum", json!(portnum))
        .with("channel", json!(channel));
    let page = FirehosePage {
        shell,
        packets,
        ports,
        portnum,
        channels,
        channel,
    };
    Ok(render(&page, &prefs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, reply: i64, emoji: bool, text: &str) -> PacketView {
        PacketView {
            id,
            mesh_id: id,
            reply_id: reply,
            emoji,
            payload: text.into(),
            from_name: format!("n{id}"),
            ..Default::default()
        }
    }

    #[test]
    fn threads_replies_and_reactions() {
        // Newest first, as the API lists them.
        let list = vec![
            msg(5, 9, false, "orphan reply"),
            msg(4, 1, true, "👍"),
            msg(3, 2, false, "reply to reply"),
            msg(2, 1, false, "reply"),
            msg(1, 0, false, "root"),
        ];
        let t = threads(list);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].msg.id, 5);
        assert!(t[0].reply_elsewhere);
        assert_eq!(t[1].msg.id, 1);
        assert_eq!(t[1].replies.len(), 2);
        assert_eq!(t[1].replies[0].msg.id, 2);
        assert_eq!(t[1].reactions.len(), 1);
        assert_eq!(t[1].reactions[0].emoji, "👍");
    }
}
