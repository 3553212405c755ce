// The git revision and the web pages' static assets (our `web/` folder and the npm
// libraries pinned by package-lock.json, under content-hashed names: see `web_assets`) are
// embedded at build time; rebuild when they change. The migrations are the store crate's.
fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    // A build without the repository (a container's context) is told the revision.
    println!("cargo:rerun-if-env-changed=MESHVIEW_GIT_REVISION");
    let given = std::env::var("MESHVIEW_GIT_REVISION")
        .ok()
        .filter(|s| !s.trim().is_empty() && s != "unknown");
    let rev = given
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MESHVIEW_GIT_REVISION={rev}");
    web_assets::generate();
}

/// Static assets of the pages: copies `web/**` and the vendored library files into
/// `$OUT_DIR/assets/`, names each `stem.<hash>.ext` (FNV-1a of the content), rewrites our
/// modules' relative imports (`'./x.js'`) to the hashed names, and writes
/// `$OUT_DIR/assets.rs`, a table the server includes. Runs `npm ci` when a library file
/// is missing (a fresh checkout), and fails with a clear message when npm is absent.
mod web_assets {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    /// (file under node_modules, name served under /static/)
    const VENDOR: &[(&str, &str)] = &[
        ("leaflet/dist/leaflet.js", "vendor/leaflet.js"),
        ("leaflet/dist/leaflet.css", "vendor/leaflet.css"),
        ("leaflet/LICENSE", "vendor/leaflet.LICENSE.txt"),
        (
            "leaflet.heat/dist/leaflet-heat.js",
            "vendor/leaflet-heat.js",
        ),
        ("leaflet.heat/LICENSE", "vendor/leaflet-heat.LICENSE.txt"),
        ("echarts/dist/echarts.min.js", "vendor/echarts.js"),
        ("echarts/LICENSE", "vendor/echarts.LICENSE.txt"),
        ("qrcode-generator/dist/qrcode.js", "vendor/qrcode.js"),
    ];

    pub fn generate() {
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
        let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
        println!("cargo:rerun-if-changed=web");
        println!("cargo:rerun-if-changed=package-lock.json");
        let modules = root.join("node_modules");
        if VENDOR.iter().any(|(f, _)| !modules.join(f).is_file()) {
            npm_ci(&root);
        }
        // name → content
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (from, to) in VENDOR {
            let path = modules.join(from);
            println!("cargo:rerun-if-changed={}", path.display());
            let data = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `npm ci` in {}",
                    path.display(),
                    root.display()
                )
            });
            files.insert(to.to_string(), data);
        }
        collect(&root.join("web"), "", &mut files);

        // Hash in dependency order: a module's name depends on its imports' names.
        let mut hashed: BTreeMap<String, String> = BTreeMap::new();
        let mut pending: Vec<String> = files.keys().cloned().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|name| {
                let deps = imports(name, &files[name]);
                if deps.iter().any(|d| !hashed.contains_key(d)) {
                    return true;
                }
                let data = rewrite(name, &files[name], &hashed);
                hashed.insert(name.clone(), hashed_name(name, &data));
                false
            });
            assert!(
                pending.len() < before,
                "web/: import cycle or missing module among {pending:?}"
            );
        }

        let dir = out.join("assets");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
        for (i, (name, data)) in files.iter().enumerate() {
            let data = rewrite(name, data, &hashed);
            let file = dir.join(format!("{i}.bin"));
            std::fs::write(&file, &data).unwrap();
            writeln!(
                table,
                "    Asset {{ name: {name:?}, hashed: {:?}, mime: {:?}, body: include_bytes!({:?}) }},",
                hashed[name],
                mime(name),
                file.display().to_string()
            )
            .unwrap();
        }
        table.push_str("];\n");
        std::fs::write(out.join("assets.rs"), table).unwrap();
    }

    fn npm_ci(root: &Path) {
        let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
        println!("cargo:warning=node_modules is incomplete: running `npm ci` (once)");
        let status = std::process::Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!(
                "`npm ci` failed ({s}) in {}: the web pages embed Leaflet (with Leaflet.heat), \
                 ECharts and a QR generator from the npm registry (pinned by package-lock.json). \
                 Fix the network or npm cache and run `npm ci` there, then build again.",
                root.display()
            ),
            Err(e) => panic!(
                "cannot run npm ({e}): the web pages embed Leaflet (with Leaflet.heat), ECharts \
                 and a QR generator from the npm registry. Install Node.js and npm (Debian: \
                 `apt-get install npm`), run `npm ci` in {}, then build again.",
                root.display()
            ),
        }
    }

    fn collect(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            if path.is_dir() {
                collect(&path, &format!("{prefix}{name}/"), files);
            } else {
                files.insert(format!("{prefix}{name}"), std::fs::read(&path).unwrap());
            }
        }
    }

    /// Relative module specifiers in a JS file, resolved against its folder.
    fn imports(name: &str, data: &[u8]) -> Vec<String> {
        if !name.ends_with(".js") || name.starts_with("vendor/") {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(data);
        let folder = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut out = Vec::new();
        for (at, _) in text.match_indices("'./") {
            if let Some(end) = text[at + 1..].find('\'') {
                let spec = &text[at + 3..at + 1 + end];
                if spec.ends_with(".js") {
                    out.push(join(folder, spec));
                }
            }
        }
        out
    }

    fn join(folder: &str, file: &str) -> String {
        if folder.is_empty() {
            file.to_string()
        } else {
            format!("{folder}/{file}")
        }
    }

    fn rewrite(name: &str, data: &[u8], hashed: &BTreeMap<String, String>) -> Vec<u8> {
        let deps = imports(name, data);
        if deps.is_empty() {
            return data.to_vec();
        }
        let mut text = String::from_utf8_lossy(data).into_owned();
        for dep in deps {
            let plain = dep.rsplit('/').next().unwrap();
            let new = hashed[&dep].rsplit('/').next().unwrap();
            text = text.replace(&format!("'./{plain}'"), &format!("'./{new}'"));
        }
        text.into_bytes()
    }

    fn hashed_name(name: &str, data: &[u8]) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in data {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        let hash = format!("{h:016x}");
        match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}.{}.{ext}", &hash[..12]),
            _ => format!("{name}.{}", &hash[..12]),
        }
    }

    fn mime(name: &str) -> &'static str {
        match name.rsplit_once('.').map(|(_, e)| e) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            Some("woff2") => "font/woff2",
            Some("json") => "application/json",
            _ => "text/plain; charset=utf-8",
        }
    }
}
