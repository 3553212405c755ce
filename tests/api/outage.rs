//! `/health` turns 503 when the database goes away, API calls answer 503 (never 500),
//! and both recover when it comes back.

use std::time::Duration;

use meshview::config::DatabaseUrl;
use meshview_store::connect::{Conn, Role};

use crate::common::{Backend, get_json, pg_admin_url};
use crate::helpers::Served;

async fn wait_status(base: &str, path: &str, want: u16) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get_json(&format!("{base}{path}")).await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} stayed {status}, want {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn admin(sql: &str) {
    let url = DatabaseUrl::parse(&pg_admin_url()).unwrap();
    let mut c = Conn::open(&url, Role::Writer).await.unwrap();
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.close().await;
}

async fn health_reports_a_lost_database(backend: Backend) {
    let s = Served::start(backend).await;
    match backend {
        Backend::Sqlite => {
            let path = s.db.sqlite_path().unwrap().to_path_buf();
            let moved = path.with_extension("moved");
            std::fs::rename(&path, &moved).unwrap();
            let body = wait_status(&s.base, "/health", 503).await;
            assert_eq!(body["status"], "unhealthy");
            assert_eq!(body["database"], "disconnected");
            std::fs::rename(&moved, &path).unwrap();
        }
        Backend::Postgres => {
            let name = s.db.url_string.rsplit('/').next().unwrap().to_string();
            admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
            admin(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .await;
            let body = wait_status(&s.base, "/health", 503).await;
            assert_eq!(body["status"], "unhealthy");
            // Requests fail as unavailable, not as internal errors.
            let (status, body) = get_json(&format!("{}/api/nodes", s.base)).await;
            assert_eq!(status, 503, "{body}; log:\n{}", s.server.log());
            assert!(body["error"].is_string());
            admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
        }
    }
    let body = wait_status(&s.base, "/health", 200).await;
    assert_eq!(body["status"], "healthy");
    wait_status(&s.base, "/api/nodes", 200).await;
}

crate::both_backends!(health_reports_a_lost_database);
