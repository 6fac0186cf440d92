//! Two `brobyg serve` processes on one PostgreSQL, as the Kubernetes manifests run replicas,
//! under concurrent writers on both: each webhook arrives once, the signed checkpoints form one
//! sequence and verify, both replicas' views equal the events, NATS holds each event once.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{dev_token, free_port, wait_healthy};

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn replica(dir: &std::path::Path, url: &str, prefix: &str) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_brobyg"))
        .arg("serve")
        .env("BROBYG_DATA_DIR", dir)
        .env("DATABASE_URL", url)
        .env("BROBYG_KEK_FILE", dir.join("kek.hex"))
        .env("BROBYG_AUDIT_KEY_FILE", dir.join("audit-key.hex"))
        .env("BROBYG_DEV_TOKENS", "true")
        .env("BROBYG_LISTEN", format!("127.0.0.1:{port}"))
        .env("BROBYG_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("BROBYG_CHECKPOINT_EVERY_SECONDS", "1")
        .env("BROBYG_CHECKPOINT_EVERY_EVENTS", "7")
        .env("BROBYG_NATS_URL", "nats://127.0.0.1:4222")
        .env("BROBYG_NATS_SUBJECT_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start brobyg serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    Replica { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and NATS with JetStream on 127.0.0.1 (BROBYG_TEST_POSTGRES_URL); .ci/run runs it"]
async fn two_serve_processes_on_one_database_do_each_duty_once() {
    const MUNI: &str = "municipality:0746";
    const CASES: usize = 40;
    let admin_url = std::env::var("BROBYG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("PostgreSQL");
    let name = format!("brobyg_replicas_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create");
    let url = format!("{}/{name}", admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b));
    let migrated = Command::new(env!("CARGO_BIN_EXE_brobyg")).arg("migrate").env("DATABASE_URL", &url).status();
    assert!(migrated.is_ok_and(|s| s.success()), "brobyg migrate");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("kek.hex"), "07".repeat(32)).expect("kek");
    std::fs::write(dir.path().join("audit-key.hex"), "11".repeat(32)).expect("audit key");
    brobyg::devkeys::DevKey::load_or_create(dir.path()).expect("dev key");
    let prefix = format!("rp{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (a, b) = (replica(dir.path(), &url, &prefix).await, replica(dir.path(), &url, &prefix).await);

    // A receiver that counts each webhook-id.
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = calls.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                seen.lock().expect("lock").push(id);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let subscribed = client
        .post(format!("{}/v1/subscriptions", a.base))
        .bearer_auth(dev_token(dir.path(), MUNI, "integrator"))
        .json(&json!({ "url": hook }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(subscribed.status(), 201);

    // Writers on both replicas at once.
    let cw = dev_token(dir.path(), MUNI, "caseworker");
    let opened: Vec<String> = futures::future::join_all((0..CASES).map(|n| {
        let base = if n % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let (client, cw) = (client.clone(), cw.clone());
        async move {
            let answer: Value = client
                .post(format!("{base}/v1/cases"))
                .bearer_auth(cw)
                .json(&json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2012-01-01" } }))
                .send()
                .await
                .expect("open")
                .json()
                .await
                .expect("json");
            answer["id"].as_str().expect("id").to_owned()
        }
    }))
    .await;

    // Each event reached the receiver once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls.lock().map(|c| c.len()).unwrap_or(0) < CASES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in calls.lock().map(|c| c.clone()).unwrap_or_default() {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), CASES, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "an event was delivered twice: {counts:?}");

    // One sequence of signed checkpoints, and the store verifies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let auditor = dev_token(dir.path(), MUNI, "auditor");
    let checkpoints: Value = client
        .get(format!("{}/v1/audit/checkpoints", b.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("checkpoints")
        .json()
        .await
        .expect("json");
    let sizes: Vec<i64> =
        checkpoints.as_array().expect("list").iter().map(|c| c["event_count"].as_i64().unwrap_or(-1)).collect();
    assert!(!sizes.is_empty());
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "checkpoints signed twice or out of order: {sizes:?}");

    // Both replicas' views equal the events.
    for base in [&a.base, &b.base] {
        let list: Value = client
            .get(format!("{base}/v1/cases?limit=500"))
            .bearer_auth(&cw)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let listed = list["items"].as_array().expect("items");
        assert_eq!(listed.len(), CASES);
        assert!(opened.iter().all(|id| listed.iter().any(|c| c["id"] == id.as_str() && c["version"] == 1)));
    }

    // NATS holds each event once.
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.expect("NATS with JetStream on 127.0.0.1:4222");
    let js = async_nats::jetstream::new(nats);
    let stream = brobyg::nats::stream_name(&prefix, MUNI);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut messages = 0;
    while Instant::now() < deadline && messages < CASES as u64 {
        messages = match js.get_stream(&stream).await {
            Ok(s) => s.get_info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(messages, CASES as u64);
    let _ = js.delete_stream(&stream).await;
    drop((a, b));

    // The operator's verification of the whole store passes.
    let out = Command::new(env!("CARGO_BIN_EXE_brobyg"))
        .args(["audit", "verify"])
        .env("BROBYG_DATA_DIR", dir.path())
        .env("DATABASE_URL", &url)
        .env("BROBYG_KEK_FILE", dir.path().join("kek.hex"))
        .env("BROBYG_AUDIT_KEY_FILE", dir.path().join("audit-key.hex"))
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
    admin.close().await;
}
