//! `brobyg audit verify` as an operator runs it: the real binary on a store, exit code and output.

use std::process::Command;

use brobyg::settings::Settings;

async fn store_with_a_case(dir: &std::path::Path) -> (String, String) {
    let mut settings = Settings::for_data_dir(dir);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    let app = brobyg::Application::build(&settings).await.expect("build");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let key = brobyg::devkeys::DevKey::load_or_create(dir).expect("dev key");
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "sub": "cw-1", "org": "municipality:0746", "roles": ["caseworker"],
                                     "iat": now, "exp": now + 600 });
    let token = key.mint(&claims).expect("token");
    let opened: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/cases"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "young_person": { "first_name": "Mikkel", "last_name": "Jensen",
                                                     "birth_date": "2012-03-14" } }))
        .send()
        .await
        .expect("open")
        .json()
        .await
        .expect("json");
    let _ = stop.send(());
    let _ = server.await;
    let store = brobyg::open_store(&settings).await.expect("store");
    let audit_key = brobyg::load_audit_key(&settings).expect("audit key");
    brobyg::audit::checkpoint_once(&store, &audit_key, 1000).await.expect("checkpoint");
    store.close().await;
    (opened["id"].as_str().expect("id").to_owned(), settings.effective_database_url())
}

fn verify(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brobyg"))
        .args(["audit", "verify"])
        .env("BROBYG_DATA_DIR", dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run brobyg");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn audit_verify_exits_non_zero_and_names_the_case_and_event_of_a_forged_organisation() {
    let dir = tempfile::tempdir().expect("dir");
    let (case, url) = store_with_a_case(dir.path()).await;
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
    assert!(out.starts_with("verified"), "{out}");
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    sqlx::raw_sql("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete").execute(&pool).await.expect("drop");
    sqlx::query(
        "UPDATE events SET metadata = replace(metadata, 'municipality:0746', 'ngo:kfum-sa') WHERE aggregate_id = ?",
    )
    .bind(&case)
    .execute(&pool)
    .await
    .expect("forge");
    pool.close().await;
    let (ok, out) = verify(dir.path());
    assert!(!ok, "a forged store must fail: {out}");
    assert!(out.contains("TAMPERED") && out.contains(&format!("case {case} event 1")), "{out}");
}
