//! Stores outlive versions: a store written by an earlier landed version (1981a38, adeeb88, and
//! the one before this change, 376147f) opens, migrates and verifies, keeps every case and key,
//! and goes on under the current encodings.

use serde_json::json;

use crate::app::*;

/// Copies the fixture store of `version` into a fresh data folder.
fn fixture(version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/store-{version}"));
    for name in ["brobyg.db", "dev-kek.hex", "audit-signing-key.hex", "dev-signing-key.pem"] {
        std::fs::copy(from.join(name), dir.path().join(name)).expect("copy fixture");
    }
    dir
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let answer = client.get(url).bearer_auth(token).send().await.expect("request");
    assert!(answer.status().is_success(), "GET {url}: {}", answer.status());
    answer.json().await.expect("json")
}

fn options(settings: &brobyg::settings::Settings) -> brobyg::audit::VerifyOptions {
    brobyg::verify_options(settings, brobyg::audit::Scope::Everything, None).expect("options")
}

#[tokio::test]
async fn a_store_of_version_1981a38_opens_verifies_and_goes_on() {
    opens_verifies_and_goes_on("1981a38").await;
}

#[tokio::test]
async fn a_store_of_version_adeeb88_opens_verifies_and_goes_on() {
    opens_verifies_and_goes_on("adeeb88").await;
}

#[tokio::test]
async fn a_store_of_the_previous_version_opens_verifies_and_goes_on() {
    opens_verifies_and_goes_on("376147f").await;
}

/// Whether the fixture's closing meetings carry outcomes in the clear (before 376147f).
fn legacy_outcomes(version: &str) -> bool {
    matches!(version, "1981a38" | "adeeb88")
}

async fn opens_verifies_and_goes_on(version: &str) {
    let dir = fixture(version);
    let mut settings = brobyg::settings::Settings::for_data_dir(dir.path());
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    // Migrated at start on the embedded default; the old KEK still opens the data.
    let store = brobyg::open_sealed_store(&settings).await.expect("the old store opens");
    assert!(store.migrations_current().await.expect("migrations"));
    let before = brobyg::audit::verify(&store, &options(&settings), |_| {}).await.expect("verify");
    assert!(before.ok, "{before:?}");
    assert!(before.events > 500 && before.checkpoints >= 1, "{before:?}");
    // The checkpointer continues from the old checkpoint (no tree then): the tree is rebuilt.
    let key = brobyg::load_audit_key(&settings).expect("key");
    store.close().await;

    let app = brobyg::Application::build(&settings).await.expect("build");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let dev = brobyg::devkeys::DevKey::load_or_create(dir.path()).expect("dev key");
    let now = chrono::Utc::now().timestamp();
    let token = dev
        .mint(&json!({ "sub": "cw", "org": MUNI, "roles": ["caseworker"], "iat": now, "exp": now + 600 }))
        .expect("token");
    let client = reqwest::Client::new();
    let list: serde_json::Value = get_json(&client, &format!("{base}/v1/cases"), &token).await;
    let case = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["state"] == "opened"))
        .and_then(|c| c["id"].as_str())
        .expect("an open case of the old store")
        .to_owned();
    let read: serde_json::Value = get_json(&client, &format!("{base}/v1/cases/{case}"), &token).await;
    assert!(read["young_person"]["last_name"].as_str().is_some_and(|n| n != "[erased]" && !n.is_empty()), "{read}");
    // Meetings recorded before they were planned read as held, with who took part; the timeline
    // reads every old event.
    let in_course = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["state"] == "in_course"))
        .and_then(|c| c["id"].as_str())
        .expect("a case in course")
        .to_owned();
    let course: serde_json::Value = get_json(&client, &format!("{base}/v1/cases/{in_course}"), &token).await;
    assert_eq!(course["meetings"][0]["status"], "held", "{course}");
    assert!(course["meetings"][0]["present"].as_array().is_some_and(|p| !p.is_empty()), "{course}");
    let timeline: serde_json::Value = get_json(&client, &format!("{base}/v1/cases/{in_course}/timeline"), &token).await;
    let events = timeline["entries"].as_array().expect("entries");
    assert!(events.iter().any(|e| e["event"] == "pre_meeting_held"), "{timeline}");
    let sequences: Vec<u64> = events.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]) && sequences.first() == Some(&1), "{timeline}");
    // A new event on an old chain is hashed under the current encoding.
    let added = client
        .post(format!("{base}/v1/cases/{case}/items"))
        .bearer_auth(&token)
        .json(&json!({ "category": "school", "content": "Written after the upgrade" }))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 201);
    // The list views go on from the cursor the old version stored: the new event is in them.
    let position = added.headers()["x-brobyg-position"].to_str().expect("position").to_owned();
    let etag = added.headers()["etag"].to_str().expect("etag").trim_matches('"').to_owned();
    let list: serde_json::Value =
        get_json(&client, &format!("{base}/v1/cases?limit=500&min_position={position}"), &token).await;
    let row = list["items"].as_array().and_then(|items| items.iter().find(|c| c["id"] == case.as_str())).cloned();
    assert_eq!(row.map(|r| r["version"].to_string()), Some(etag), "{list}");
    // Outcomes older closing meetings carried in the clear are the NGO's: its systems receive
    // them, the municipality's do not.
    let closing_data = |org: &'static str| {
        let client = client.clone();
        let base = base.clone();
        let token = dev
            .mint(&json!({ "sub": "int", "org": org, "roles": ["integrator"], "iat": now, "exp": now + 600 }))
            .expect("token");
        async move {
            let page: serde_json::Value = get_json(&client, &format!("{base}/v1/feed?limit=1000"), &token).await;
            page["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter(|e| e["type"].as_str().is_some_and(|t| t.contains("closing_meeting_held")))
                .map(|e| e["data"].clone())
                .collect::<Vec<_>>()
        }
    };
    let for_ngo = closing_data(NGO).await;
    let carried = for_ngo.iter().any(|d| d["outcomes"].as_array().is_some_and(|o| !o.is_empty()));
    assert_eq!(carried, legacy_outcomes(version), "{for_ngo:?}");
    let for_municipality = closing_data(MUNI).await;
    assert!(!for_municipality.is_empty());
    assert!(for_municipality.iter().all(|d| d.get("outcomes").is_none()), "{for_municipality:?}");
    let _ = stop.send(());
    let _ = server.await;

    let store = brobyg::open_sealed_store(&settings).await.expect("store");
    let signed = brobyg::audit::checkpoint_once(&store, &key, 1_000_000).await.expect("checkpoint");
    assert!(signed.iter().all(|c| c.tree_root.is_some()));
    let after = brobyg::audit::verify(&store, &options(&settings), |_| {}).await.expect("verify");
    assert!(after.ok, "{after:?}");
    assert!(after.checkpoints > before.checkpoints, "{after:?}");
    store.close().await;
}
