//! Changes to the operator's config file that keep the rest of it as written: comments,
//! order, spelling, line endings (`meshview keys add`).

use std::io::Write as _;
use std::path::Path;

/// `text` with `key` appended to `[mqtt] secondary_keys`: on the existing line, or on a
/// new line at the end of the `[mqtt]` section, or in a new `[mqtt]` section.
pub fn add_secondary_key(text: &str, key: &str) -> String {
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut section = String::new();
    // Where the [mqtt] section's last setting ends (insert after it), if there is one.
    let mut mqtt_end: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            if section == "mqtt" {
                mqtt_end = Some(i + 1);
            }
            continue;
        }
        if section != "mqtt" {
            continue;
        }
        if !t.is_empty() && !t.starts_with('#') && !t.starts_with(';') {
            mqtt_end = Some(i + 1);
        }
        let Some((name, value)) = t.split_once(['=', ':']) else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("secondary_keys") {
            let body = line.trim_end_matches(['\r', '\n']);
            let ending = &line[body.len()..];
            let sep = if value.trim().is_empty() {
                if body.ends_with(' ') { "" } else { " " }
            } else {
                ", "
            };
            let mut out = String::with_capacity(text.len() + key.len() + 2);
            lines[..i].iter().for_each(|l| out.push_str(l));
            out.push_str(body);
            out.push_str(sep);
            out.push_str(key);
            out.push_str(if ending.is_empty() { eol } else { ending });
            lines[i + 1..].iter().for_each(|l| out.push_str(l));
            return out;
        }
    }
    let mut out = String::with_capacity(text.len() + key.len() + 32);
    match mqtt_end {
        Some(at) => {
            lines[..at].iter().for_each(|l| out.push_str(l));
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(&format!("secondary_keys = {key}{eol}"));
            lines[at..].iter().for_each(|l| out.push_str(l));
        }
        None => {
            out.push_str(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(&format!("{eol}[mqtt]{eol}secondary_keys = {key}{eol}"));
        }
    }
    out
}

/// Replaces the file at `path` with `text`, atomically (a temporary file beside it,
/// renamed over it), keeping its permissions: a crash leaves the old or the new file.
pub fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::add_secondary_key as add;

    #[test]
    fn appends_to_the_existing_setting() {
        let t = "[server]\nport = 8081\n\n[mqtt]\n# keys\nsecondary_keys = AAA=\ntopics = [\"msh/#\"]\n";
        assert_eq!(
            add(t, "BBB="),
            "[server]\nport = 8081\n\n[mqtt]\n# keys\nsecondary_keys = AAA=, BBB=\ntopics = [\"msh/#\"]\n"
        );
        // An empty value, another spelling, CRLF, no final newline.
        assert_eq!(
            add("[MQTT]\r\nSecondary_Keys:\r\n", "K"),
            "[MQTT]\r\nSecondary_Keys: K\r\n"
        );
        assert_eq!(
            add("[mqtt]\nsecondary_keys =", "K"),
            "[mqtt]\nsecondary_keys = K\n"
        );
        // A secondary_keys in another section is not the one.
        assert_eq!(
            add(
                "[site]\nsecondary_keys = x\n[mqtt]\nsecondary_keys = y\n",
                "K"
            ),
            "[site]\nsecondary_keys = x\n[mqtt]\nsecondary_keys = y, K\n"
        );
    }

    #[test]
    fn adds_the_setting_or_the_section() {
        assert_eq!(
            add("[mqtt]\nserver = x\n\n# next\n[site]\ntitle = t\n", "K"),
            "[mqtt]\nserver = x\nsecondary_keys = K\n\n# next\n[site]\ntitle = t\n"
        );
        assert_eq!(
            add("[site]\ntitle = t", "K"),
            "[site]\ntitle = t\n\n[mqtt]\nsecondary_keys = K\n"
        );
        assert_eq!(add("", "K"), "\n[mqtt]\nsecondary_keys = K\n");
    }
}
