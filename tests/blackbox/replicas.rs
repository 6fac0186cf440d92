//! Several replicas on one PostgreSQL, as the Kubernetes manifests run them: every background
//! duty happens once — each webhook once per attempt, one sequence of signed checkpoints, views
//! that equal the events, NATS without duplicates.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and NATS with JetStream on 127.0.0.1 (BROBYG_TEST_POSTGRES_URL); .ci/run runs it"]
async fn two_replicas_on_one_database_do_each_duty_once() {
    let db = TestDb::postgres().await;
    let shared = tempfile::tempdir().expect("dir");
    let audit_key = shared.path().join("audit-key.hex");
    std::fs::write(&audit_key, "11".repeat(32)).expect("audit key");
    let prefix = format!("rp{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let configure = |s: &mut brobyg::settings::Settings| {
        s.webhook_allow_private = true;
        s.checkpoint_every_seconds = 1;
        s.checkpoint_every_events = 7;
        s.audit_key_file = Some(audit_key.clone());
        s.nats_url = Some("nats://127.0.0.1:4222".into());
        s.nats_subject_prefix = prefix.clone();
    };
    let a = TestApp::spawn_with(&db, tempfile::tempdir().expect("dir"), configure).await;
    let b = TestApp::spawn_with(&db, tempfile::tempdir().expect("dir"), configure).await;

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
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    a.post("/v1/subscriptions", &a.token(MUNI, "integrator", "int"), json!({ "url": url })).await.ok();

    // Writers on both replicas at once.
    const CASES: usize = 30;
    let opened: Vec<String> = futures::future::join_all((0..CASES).map(|n| {
        let app = if n % 2 == 0 { &a } else { &b };
        async move { app.open_case("2012-03-14").await.0 }
    }))
    .await;

    // Each event reaches the receiver once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls.lock().map(|c| c.len()).unwrap_or(0) < CASES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &calls {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), CASES, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "an event was delivered twice: {counts:?}");

    // One sequence of signed checkpoints, and the store verifies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let auditor = a.token(MUNI, "auditor", "aud");
    let checkpoints = a.get("/v1/audit/checkpoints", &auditor).await.ok().body;
    let counts: Vec<i64> =
        checkpoints.as_array().expect("list").iter().map(|c| c["event_count"].as_i64().unwrap_or(-1)).collect();
    assert!(!counts.is_empty());
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "checkpoints signed twice or out of order: {counts:?}");
    let report = a.get("/v1/audit/verify", &auditor).await.ok().body;
    assert_eq!(report["ok"], true, "{report}");

    // The views of either replica equal the events.
    for app in [&a, &b] {
        let cw = app.caseworker();
        let list = app.get("/v1/cases?limit=500", &cw).await.ok().body;
        let listed: Vec<&Value> = list["items"].as_array().expect("items").iter().collect();
        assert_eq!(listed.len(), CASES);
        assert!(listed.iter().all(|c| c["version"] == 1 && c["state"] == "opened"));
        assert!(opened.iter().all(|id| listed.iter().any(|c| c["id"] == id.as_str())));
    }

    // NATS holds each event once.
    let client = async_nats::connect("nats://127.0.0.1:4222").await.expect("NATS with JetStream on 127.0.0.1:4222");
    let js = async_nats::jetstream::new(client);
    let stream = brobyg::nats::stream_name(&prefix, MUNI);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut messages = 0;
    while Instant::now() < deadline {
        messages = match js.get_stream(&stream).await {
            Ok(s) => s.get_info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        };
        if messages >= CASES as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(messages, CASES as u64);
    let _ = js.delete_stream(&stream).await;
    db.cleanup().await;
}
