//! A crash under load, as an operator meets it: the real `brobyg serve` binary is killed with
//! SIGKILL while eight writers commit, started again, and every request that got no answer is
//! sent again with its `Idempotency-Key`. Nothing acknowledged is lost, no retried write is
//! applied twice, and `brobyg audit verify` passes. Both backends.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{dev_token, free_port, wait_healthy};

const WRITERS: usize = 8;

struct Server {
    child: Child,
    base: String,
}

/// Starts `brobyg serve` on `dir` (and `database_url`, when PostgreSQL) and waits until it answers.
async fn start(dir: &std::path::Path, database_url: Option<&str>) -> Server {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_brobyg"));
    command
        .arg("serve")
        .env("BROBYG_DATA_DIR", dir)
        .env("BROBYG_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match database_url {
        Some(url) => {
            command
                .env("DATABASE_URL", url)
                .env("BROBYG_KEK_FILE", dir.join("kek.hex"))
                .env("BROBYG_DEV_TOKENS", "true");
        }
        None => {
            command.env_remove("DATABASE_URL");
        }
    }
    let child = command.spawn().expect("start brobyg serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    Server { child, base }
}

/// One write: add item `key` to `case` with `Idempotency-Key: key`; its status, if answered.
async fn send(client: &reqwest::Client, base: &str, token: &str, case: &str, key: &str) -> Option<u16> {
    let answer = client
        .post(format!("{base}/v1/cases/{case}/items"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "category": "school", "content": key }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    answer.ok().map(|r| r.status().as_u16())
}

async fn add(client: &reqwest::Client, base: &str, token: &str, case: &str, key: &str) -> bool {
    send(client, base, token, case, key).await == Some(201)
}

async fn crash_under_load_loses_nothing_and_applies_nothing_twice(database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("dir");
    if database_url.is_some() {
        std::fs::write(dir.path().join("kek.hex"), "07".repeat(32)).expect("kek");
    }
    let url = database_url.as_deref();
    let server = start(dir.path(), url).await;
    let token = dev_token(dir.path(), "municipality:0746", "caseworker");
    let client = reqwest::Client::new();
    let mut cases = Vec::new();
    for _ in 0..WRITERS {
        let opened: Value = client
            .post(format!("{}/v1/cases", server.base))
            .bearer_auth(&token)
            .json(&json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2012-01-01" } }))
            .send()
            .await
            .expect("open")
            .json()
            .await
            .expect("json");
        cases.push(opened["id"].as_str().expect("id").to_owned());
    }

    // Writers until the kill: each write's key, and whether its answer came.
    let outcomes: Arc<Mutex<BTreeMap<String, (String, bool)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, case) in cases.iter().enumerate() {
        let (client, base, token, case) = (client.clone(), server.base.clone(), token.clone(), case.clone());
        let (outcomes, stop) = (outcomes.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let key = format!("crash-{w}-{i}");
                outcomes.lock().expect("lock").insert(key.clone(), (case.clone(), false));
                let answered = add(&client, &base, &token, &case, &key).await;
                outcomes.lock().expect("lock").insert(key, (case.clone(), answered));
                if !answered {
                    break;
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut child = server.child;
    child.kill().expect("SIGKILL"); // SIGKILL on Unix: no shutdown, no flush
    let _ = child.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        let _ = w.await;
    }
    let outcomes = outcomes.lock().expect("lock").clone();
    let acknowledged = outcomes.values().filter(|(_, ok)| *ok).count();
    assert!(acknowledged >= WRITERS, "the writers wrote before the kill: {acknowledged}");

    // Started again: every write without an answer is sent again with the same key. It runs now
    // (201), or its first attempt's answer is replayed (201), or — the one in flight when the
    // process died — its key is still marked in progress (409) and nothing runs twice.
    let server = start(dir.path(), url).await;
    let mut in_flight = Vec::new();
    for (key, (case, answered)) in &outcomes {
        if !answered {
            match send(&client, &server.base, &token, case, key).await {
                Some(201) => {}
                Some(409) => in_flight.push(key.clone()),
                other => panic!("the retry of {key} answered {other:?}"),
            }
        }
    }
    assert!(in_flight.len() <= WRITERS, "at most one write per writer was in flight: {in_flight:?}");
    // Every acknowledged or retried key is in its case exactly once; one in flight at most once.
    for case in &cases {
        let view: Value = client
            .get(format!("{}/v1/cases/{case}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("json");
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for item in view["items"].as_array().expect("items") {
            *seen.entry(item["content"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        for (key, (of, _)) in outcomes.iter().filter(|(_, (of, _))| of == case) {
            let n = seen.get(key).copied().unwrap_or(0);
            if in_flight.contains(key) {
                assert!(n <= 1, "{key} of {of} applied {n} times");
            } else {
                assert_eq!(n, 1, "{key} of {of}: {seen:?}");
            }
        }
        assert!(seen.values().all(|n| *n == 1), "a write applied twice: {seen:?}");
    }
    let mut child = server.child;
    child.kill().expect("stop");
    let _ = child.wait();

    // The store verifies.
    let mut verify = Command::new(env!("CARGO_BIN_EXE_brobyg"));
    verify.args(["audit", "verify"]).env("BROBYG_DATA_DIR", dir.path());
    match url {
        Some(url) => {
            verify.env("DATABASE_URL", url).env("BROBYG_KEK_FILE", dir.path().join("kek.hex"));
        }
        None => {
            verify.env_remove("DATABASE_URL");
        }
    }
    let out = verify.output().expect("verify");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_sigkill_under_load_loses_nothing_and_applies_nothing_twice() {
    crash_under_load_loses_nothing_and_applies_nothing_twice(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (BROBYG_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); .ci/run runs it"]
async fn postgres_a_sigkill_under_load_loses_nothing_and_applies_nothing_twice() {
    let admin_url = std::env::var("BROBYG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("PostgreSQL");
    let name = format!("brobyg_crash_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create");
    let url = format!("{}/{name}", admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b));
    let migrated = Command::new(env!("CARGO_BIN_EXE_brobyg")).arg("migrate").env("DATABASE_URL", &url).status();
    assert!(migrated.is_ok_and(|s| s.success()), "brobyg migrate");
    crash_under_load_loses_nothing_and_applies_nothing_twice(Some(url)).await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
    admin.close().await;
}
