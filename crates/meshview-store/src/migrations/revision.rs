//! `meshview db revision -m "…"`: writes a new migration's files, ready to fill in.

use std::path::{Path, PathBuf};

use super::chain::{Chain, SQL_FILES};

/// Creates `NNNN_<revision>_<slug>/` under `dir` with the current head as parent.
/// Returns the new folder.
pub fn create(dir: &Path, message: &str) -> Result<PathBuf, String> {
    let message = message.trim();
    if message.is_empty() {
        return Err("the message (-m) must not be empty".into());
    }
    let has_any = std::fs::read_dir(dir)
        .map(|mut it| it.any(|e| e.map(|e| e.path().is_dir()).unwrap_or(false)))
        .unwrap_or(false);
    let (parent, next_number) = if has_any {
        let chain = Chain::from_dir(dir).map_err(|problems| {
            format!(
                "the existing migrations in {} do not form a chain; fix them first: {}",
                dir.display(),
                problems
                    .iter()
                    .map(|p| p.0.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let n = chain
            .migrations()
            .iter()
            .filter_map(|m| m.dir.split('_').next()?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        (chain.head_revision().map(str::to_string), n + 1)
    } else {
        (None, 1)
    };
    let revision = new_revision_id();
    let slug: String = message
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .fold(String::new(), |mut acc, word| {
            // Whole words only, up to about 60 characters.
            if acc.len() + word.len() < 60 {
                if !acc.is_empty() {
                    acc.push('_');
                }
                acc.push_str(word);
            }
            acc
        });
    let folder = dir.join(format!("{next_number:04}_{revision}_{slug}"));
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let parent_line = parent
        .as_ref()
        .map(|p| format!("parent = \"{p}\"\n"))
        .unwrap_or_default();
    let escaped = message.replace('\\', "\\\\").replace('"', "\\\"");
    let meta = format!(
        "revision = \"{revision}\"\n{parent_line}message = \"{escaped}\"\ncreated = \"{}\"\n",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    write(&folder.join("migration.toml"), &meta)?;
    for name in SQL_FILES {
        let (backend, direction) = name.trim_end_matches(".sql").split_once('.').expect("name");
        let body = format!(
            "-- {message}\n-- {direction} on {backend}. Runs in one transaction; on SQLite use the \
             table-rebuild pattern for changes ALTER TABLE cannot make (docs/database-migrations.md).\n"
        );
        write(&folder.join(name), &body)?;
    }
    Ok(folder)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// 12 random hex digits, like Alembic's revision ids.
pub fn new_revision_id() -> String {
    let bytes: [u8; 6] = rand::random();
    hex::encode(bytes)
}
