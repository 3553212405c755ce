//! The migration chain: loading (embedded or from a folder), ordering and checking.
//!
//! A migration is a folder `NNNN_<revision>_<slug>/` holding `migration.toml` (revision,
//! parent, message, created) and four SQL files: `{sqlite,postgres}.{up,down}.sql`.
//! Order comes from the parent links, never from folder names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rust_embed::RustEmbed;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Backend;

#[derive(RustEmbed)]
#[folder = "migrations/"]
struct Embedded;

/// One migration, with both backends' SQL.
#[derive(Debug, Clone)]
pub struct Migration {
    pub revision: String,
    pub parent: Option<String>,
    pub message: String,
    pub created: String,
    /// The folder name, for messages.
    pub dir: String,
    pub sqlite_up: String,
    pub sqlite_down: String,
    pub postgres_up: String,
    pub postgres_down: String,
    /// A Rust step run after the upgrade SQL, in the same transaction, for data changes
    /// SQL cannot express (see `super::hooks`).
    pub hook: Option<String>,
}

impl Migration {
    pub fn up(&self, backend: Backend) -> &str {
        match backend {
            Backend::Sqlite => &self.sqlite_up,
            Backend::Postgres => &self.postgres_up,
        }
    }

    pub fn down(&self, backend: Backend) -> &str {
        match backend {
            Backend::Sqlite => &self.sqlite_down,
            Backend::Postgres => &self.postgres_down,
        }
    }

    /// Identifies the migration's content; an applied migration must never change it.
    pub fn checksum(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.revision.as_str(),
            self.parent.as_deref().unwrap_or(""),
            self.message.as_str(),
            self.sqlite_up.as_str(),
            self.sqlite_down.as_str(),
            self.postgres_up.as_str(),
            self.postgres_down.as_str(),
            self.hook.as_deref().unwrap_or(""),
        ] {
            // Line endings must not matter (a checkout on Windows is not an edit).
            h.update(part.replace("\r\n", "\n").as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    revision: String,
    parent: Option<String>,
    message: String,
    created: String,
    hook: Option<String>,
}

pub const SQL_FILES: [&str; 4] = [
    "sqlite.up.sql",
    "sqlite.down.sql",
    "postgres.up.sql",
    "postgres.down.sql",
];

/// A problem with the set of migrations (`meshview db check` prints each one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem(pub String);

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated, linear chain from base to head.
#[derive(Debug, Clone)]
pub struct Chain {
    migrations: Vec<Migration>,
}

impl Chain {
    /// The migrations built into this binary.
    pub fn embedded() -> Result<Chain, Vec<ChainProblem>> {
        let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for path in Embedded::iter() {
            let Some((dir, name)) = path.split_once('/') else {
                continue;
            };
            let file = Embedded::get(&path).expect("listed file exists");
            let text = String::from_utf8_lossy(&file.data).into_owned();
            files
                .entry(dir.to_string())
                .or_default()
                .insert(name.to_string(), text);
        }
        Chain::from_files(files)
    }

    /// The migrations in a folder (a source checkout's `migrations/`).
    pub fn from_dir(dir: &Path) -> Result<Chain, Vec<ChainProblem>> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![ChainProblem(format!(
                "cannot read migrations folder {}: {e}",
                dir.display()
            ))]
        })?;
        let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for entry in entries.flatten() {
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let slot = files.entry(name).or_default();
            for f in std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(text) = std::fs::read_to_string(f.path()) {
                    slot.insert(f.file_name().to_string_lossy().into_owned(), text);
                }
            }
        }
        Chain::from_files(files)
    }

    /// Builds and checks a chain from `folder → file name → content`.
    pub fn from_files(
        files: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Chain, Vec<ChainProblem>> {
        let mut problems = Vec::new();
        let mut migrations = Vec::new();
        for (dir, contents) in files {
            let Some(meta_text) = contents.get("migration.toml") else {
                problems.push(ChainProblem(format!("{dir}: migration.toml is missing")));
                continue;
            };
            let meta: Meta = match toml::from_str(meta_text) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(ChainProblem(format!(
                        "{dir}/migration.toml: {}",
                        e.message()
                    )));
                    continue;
                }
            };
            let mut sql = Vec::new();
            for name in SQL_FILES {
                match contents.get(name) {
                    Some(t) if !t.trim().is_empty() => sql.push(t.clone()),
                    _ => {
                        problems.push(ChainProblem(format!("{dir}: {name} is missing or empty")));
                        sql.push(String::new());
                    }
                }
            }
            let [sqlite_up, sqlite_down, postgres_up, postgres_down]: [String; 4] =
                sql.try_into().expect("four files");
            if let Some(h) = &meta.hook
                && !super::hooks::NAMES.contains(&h.as_str())
            {
                problems.push(ChainProblem(format!(
                    "{dir}: unknown hook {h:?} (known: {})",
                    super::hooks::NAMES.join(", ")
                )));
            }
            migrations.push(Migration {
                revision: meta.revision,
                parent: meta.parent.filter(|p| !p.is_empty()),
                message: meta.message,
                created: meta.created,
                dir,
                sqlite_up,
                sqlite_down,
                postgres_up,
                postgres_down,
                hook: meta.hook,
            });
        }
        match order(migrations) {
            Ok(chain) if problems.is_empty() => Ok(chain),
            Ok(_) => Err(problems),
            Err(mut more) => {
                problems.append(&mut more);
                Err(problems)
            }
        }
    }

    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    pub fn head(&self) -> Option<&Migration> {
        self.migrations.last()
    }

    pub fn head_revision(&self) -> Option<&str> {
        self.head().map(|m| m.revision.as_str())
    }

    /// Position of a revision in the chain (0 = base migration).
    pub fn position(&self, revision: &str) -> Option<usize> {
        self.migrations.iter().position(|m| m.revision == revision)
    }

    pub fn get(&self, revision: &str) -> Option<&Migration> {
        self.migrations.iter().find(|m| m.revision == revision)
    }

    /// Resolves a revision given in full or as a unique prefix (as Alembic allows).
    pub fn resolve(&self, rev: &str) -> Result<&Migration, String> {
        let matches: Vec<&Migration> = self
            .migrations
            .iter()
            .filter(|m| m.revision.starts_with(rev))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(format!("no migration has revision {rev:?}")),
            _ => Err(format!("revision prefix {rev:?} is ambiguous")),
        }
    }
}

/// Orders migrations by their parent links and reports every way they fail to form
/// one linear chain.
fn order(migrations: Vec<Migration>) -> Result<Chain, Vec<ChainProblem>> {
    let mut problems = Vec::new();
    let mut by_rev: HashMap<&str, &Migration> = HashMap::new();
    for m in &migrations {
        if let Some(other) = by_rev.insert(&m.revision, m) {
            problems.push(ChainProblem(format!(
                "duplicate revision {}: {} and {}",
                m.revision, other.dir, m.dir
            )));
        }
    }
    let mut children: HashMap<Option<&str>, Vec<&Migration>> = HashMap::new();
    for m in &migrations {
        if let Some(p) = &m.parent
            && !by_rev.contains_key(p.as_str())
        {
            problems.push(ChainProblem(format!(
                "{}: parent revision {p} does not exist (missing parent)",
                m.dir
            )));
        }
        children.entry(m.parent.as_deref()).or_default().push(m);
    }
    for (parent, kids) in &children {
        if kids.len() > 1 {
            let names: Vec<&str> = kids.iter().map(|k| k.dir.as_str()).collect();
            problems.push(ChainProblem(match parent {
                None => format!("more than one base migration: {}", names.join(", ")),
                Some(p) => format!(
                    "fork: {} all have parent {p}; the chain must be linear",
                    names.join(", ")
                ),
            }));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Walk from the base; anything not reached is in a cycle.
    let mut ordered = Vec::with_capacity(migrations.len());
    let mut seen = HashSet::new();
    let mut cur: Option<&str> = None;
    while let Some(kids) = children.get(&cur) {
        let m = kids[0];
        if !seen.insert(m.revision.as_str()) {
            break;
        }
        ordered.push(m.clone());
        cur = Some(m.revision.as_str());
    }
    if ordered.len() != migrations.len() {
        let lost: Vec<&str> = migrations
            .iter()
            .filter(|m| !seen.contains(m.revision.as_str()))
            .map(|m| m.dir.as_str())
            .collect();
        return Err(vec![ChainProblem(format!(
            "not reachable from the base migration (a cycle?): {}",
            lost.join(", ")
        ))]);
    }
    Ok(Chain {
        migrations: ordered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(specs: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (dir, rev, parent) in specs {
            let mut f = BTreeMap::new();
            let parent = parent
                .map(|p| format!("parent = \"{p}\"\n"))
                .unwrap_or_default();
            f.insert(
                "migration.toml".to_string(),
                format!("revision = \"{rev}\"\n{parent}message = \"m {rev}\"\ncreated = \"2026-11-21\"\n"),
            );
            for name in SQL_FILES {
                f.insert(name.to_string(), format!("SELECT 1; -- {rev} {name}"));
            }
            out.insert(dir.to_string(), f);
        }
        out
    }

    #[test]
    fn embedded_chain_is_linear_and_starts_with_meshview_tables() {
        let chain = Chain::embedded().expect("embedded migrations form a chain");
        let msgs: Vec<&str> = chain
            .migrations()
            .iter()
            .map(|m| m.message.as_str())
            .collect();
        assert_eq!(msgs[0], "create node, packet, packet_seen and traceroute");
        assert!(msgs.contains(&"add route_return to traceroute"));
        assert!(chain.migrations()[0].parent.is_none());
    }

    #[test]
    fn orders_by_parent_not_by_name() {
        let c = Chain::from_files(files(&[
            ("a", "bbb", Some("ccc")),
            ("b", "ccc", None),
            ("c", "aaa", Some("bbb")),
        ]))
        .unwrap();
        let revs: Vec<&str> = c.migrations().iter().map(|m| m.revision.as_str()).collect();
        assert_eq!(revs, ["ccc", "bbb", "aaa"]);
        assert_eq!(c.resolve("bb").unwrap().revision, "bbb");
        assert!(c.resolve("zz").is_err());
    }

    #[test]
    fn detects_missing_parent() {
        let e = Chain::from_files(files(&[("a", "aaa", None), ("b", "bbb", Some("nope"))]))
            .unwrap_err();
        assert!(e[0].0.contains("missing parent"), "{e:?}");
    }

    #[test]
    fn detects_fork_and_duplicates() {
        let e = Chain::from_files(files(&[
            ("a", "aaa", None),
            ("b", "bbb", Some("aaa")),
            ("c", "ccc", Some("aaa")),
        ]))
        .unwrap_err();
        assert!(e.iter().any(|p| p.0.starts_with("fork:")), "{e:?}");
        let e =
            Chain::from_files(files(&[("a", "aaa", None), ("b", "aaa", Some("aaa"))])).unwrap_err();
        assert!(
            e.iter().any(|p| p.0.starts_with("duplicate revision")),
            "{e:?}"
        );
    }

    #[test]
    fn detects_two_bases_and_missing_files() {
        let e = Chain::from_files(files(&[("a", "aaa", None), ("b", "bbb", None)])).unwrap_err();
        assert!(
            e.iter().any(|p| p.0.contains("more than one base")),
            "{e:?}"
        );
        let mut f = files(&[("a", "aaa", None)]);
        f.get_mut("a").unwrap().remove("postgres.down.sql");
        let e = Chain::from_files(f).unwrap_err();
        assert!(e[0].0.contains("postgres.down.sql is missing"), "{e:?}");
    }

    #[test]
    fn checksum_changes_with_content_not_line_endings() {
        let c = Chain::from_files(files(&[("a", "aaa", None)])).unwrap();
        let m = c.migrations()[0].clone();
        let mut crlf = m.clone();
        crlf.sqlite_up = m.sqlite_up.replace('\n', "\r\n") + "";
        assert_eq!(m.checksum(), crlf.checksum());
        let mut edited = m.clone();
        edited.postgres_up.push_str("\nSELECT 2;");
        assert_ne!(m.checksum(), edited.checksum());
    }
}
