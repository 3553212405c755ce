//! `database.connection_string`: MeshView's SQLAlchemy URLs and plain sqlx-style URLs.

use std::fmt;
use std::path::PathBuf;

/// Which database, parsed from the connection string.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (relative paths are relative to the working directory).
    Sqlite { path: PathBuf },
    /// A PostgreSQL URL in libpq form (`postgres://user:pass@host:port/db?…`).
    Postgres { url: String },
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// Parses a connection string; the error says what was expected.
    pub fn parse(s: &str) -> Result<DatabaseUrl, String> {
        let s = s.trim();
        let expected = || {
            "sqlite+aiosqlite:///FILE (relative), sqlite+aiosqlite:////ABSOLUTE/FILE, \
             sqlite://FILE, postgresql+asyncpg://USER:PASS@HOST:PORT/DB or postgres://…"
                .to_string()
        };
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(expected());
        };
        let scheme = scheme.to_ascii_lowercase();
        // SQLAlchemy names the driver after a '+'; we pick our own driver.
        let dialect = scheme.split('+').next().unwrap_or("");
        match dialect {
            "sqlite" => {
                // SQLAlchemy names a driver (`sqlite+aiosqlite:`) and writes the path after
                // a third slash: `///rel.db`, `////abs.db`. A plain `sqlite:` URL follows sqlx:
                // everything after `//` is the path, so `sqlite:///abs.db` is absolute.
                let path = if scheme.contains('+') {
                    rest.strip_prefix('/').unwrap_or(rest)
                } else {
                    rest
                };
                // Whitespace around the path (`x.db ?mode=rwc`) is a typo, as around the
                // whole string: trimmed, so the redacted form names the same file.
                let path = path.split('?').next().unwrap_or("").trim();
                if path.is_empty() || path == ":memory:" {
                    return Err(format!(
                        "a database file (an in-memory database would lose everything on restart); {}",
                        expected()
                    ));
                }
                Ok(DatabaseUrl::Sqlite {
                    path: PathBuf::from(path),
                })
            }
            "postgres" | "postgresql" => {
                if rest.is_empty() {
                    return Err(expected());
                }
                Ok(DatabaseUrl::Postgres {
                    url: format!("postgres://{rest}"),
                })
            }
            _ => Err(format!(
                "a supported scheme (not {scheme:?}): {}",
                expected()
            )),
        }
    }

    /// For logs and errors: the password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres { url } => redact_url(url),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { .. })
    }
}

/// Replaces the password of `scheme://user:password@host…` with `***`.
pub fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return s.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_sqlite_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite+aiosqlite:///packets.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "packets.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite+aiosqlite:////var/lib/meshview/packets.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "/var/lib/meshview/packets.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "data/x.db".into()
            }
        );
        // sqlx's convention for plain URLs: three slashes make an absolute path.
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/meshview/packets.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "/var/lib/meshview/packets.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("SQLITE:///tmp/x.db?mode=rwc").unwrap(),
            DatabaseUrl::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite+pysqlite:///rel.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "rel.db".into()
            }
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite+aiosqlite:///").is_err());
    }

    #[test]
    fn postgres_urls() {
        assert_eq!(
            DatabaseUrl::parse("postgresql+asyncpg://u:p@h:5432/db").unwrap(),
            DatabaseUrl::Postgres {
                url: "postgres://u:p@h:5432/db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://h/db").unwrap(),
            DatabaseUrl::Postgres {
                url: "postgres://h/db".into()
            }
        );
    }

    #[test]
    fn unknown_scheme_is_rejected() {
        let e = DatabaseUrl::parse("mysql://u:p@h/db").unwrap_err();
        assert!(e.contains("\"mysql\""), "{e}");
        assert!(DatabaseUrl::parse("packets.db").is_err());
    }

    /// Found by the `database_url` fuzz target: whitespace before the query string stayed
    /// in the path, so the redacted URL (which has no query) named another file.
    #[test]
    fn fuzz_sqlite_path_whitespace_before_query() {
        let input = b"sqlite:///\x9db.db\0\0\0\0\0\0\0\x0c?mode=rAc";
        let s = String::from_utf8_lossy(input);
        let url = DatabaseUrl::parse(&s).unwrap();
        assert_eq!(
            url,
            DatabaseUrl::Sqlite {
                path: "/\u{fffd}b.db\0\0\0\0\0\0\0".into()
            }
        );
        assert_eq!(DatabaseUrl::parse(&url.redacted()).unwrap(), url);
        assert_eq!(
            DatabaseUrl::parse("sqlite+aiosqlite:///packets.db ?mode=rwc").unwrap(),
            DatabaseUrl::Sqlite {
                path: "packets.db".into()
            }
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://meshview:s3cr%40t@db:5432/mv"),
            "postgres://meshview:***@db:5432/mv"
        );
        assert_eq!(redact_url("postgres://db/mv"), "postgres://db/mv");
        let u = DatabaseUrl::parse("postgresql+asyncpg://a:secret@h/d").unwrap();
        assert!(!format!("{u:?}").contains("secret"));
    }
}
