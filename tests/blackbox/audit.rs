//! Auditor replay: history, as-of and as-seen-by, tamper evidence, checkpoints.

use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(
    the_history_carries_actor_basis_correlation_and_chain_hash,
    as_of_and_as_seen_by_reconstruct_what_each_party_could_see_then,
    a_changed_byte_is_found_and_named,
    a_deleted_event_is_found_and_named,
    two_swapped_events_are_found_and_named,
    a_truncated_feed_is_found_by_the_signed_checkpoint,
    the_chain_still_verifies_after_erasure,
    a_forged_organisation_in_the_metadata_is_found_and_named,
    a_deleted_tail_with_its_feed_rows_and_checkpoints_is_found_by_the_mirror,
    a_checkpoint_signed_with_another_key_is_refused,
    inclusion_and_consistency_proofs_verify_offline_with_the_public_key_only,
    a_sealed_value_moved_to_another_field_of_the_same_key_does_not_open,
);

fn auditor(app: &TestApp) -> String {
    app.token(MUNI, "auditor", "aud-1")
}

async fn verify(app: &TestApp) -> Value {
    app.get("/v1/audit/verify", &auditor(app)).await.ok().body
}

/// Waits until every stored event is visible in the feed (on PostgreSQL a commit shows once all
/// older transactions of the cluster have finished; other tests' transactions can delay it).
async fn feed_complete(app: &TestApp, db: &TestDb) {
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let total = store.event_count().await.expect("count") as usize;
    for _ in 0..500 {
        if store.read_feed(brobyg::store::Cursor::START, 10_000).await.expect("feed").events.len() >= total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store.close().await;
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

/// Runs raw SQL on the app's database with the append-only guards lifted, as an attacker with
/// database access would.
pub(crate) async fn tamper(app: &TestApp, db: &TestDb, statements: &[String]) {
    let url = app.database_url(db);
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        sqlx::raw_sql("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
            .execute(&pool)
            .await
            .expect("disable");
        for s in statements {
            sqlx::raw_sql(s).execute(&pool).await.expect("tamper");
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        sqlx::raw_sql("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete")
            .execute(&pool)
            .await
            .expect("drop");
        for s in statements {
            sqlx::raw_sql(s).execute(&pool).await.expect("tamper");
        }
        pool.close().await;
    }
}

pub(crate) fn is_postgres(db: &TestDb) -> bool {
    db.url.starts_with("postgres")
}

async fn the_history_carries_actor_basis_correlation_and_chain_hash(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (case, _) = app.referred_case(&agreement).await;
    feed_complete(&app, db).await;
    let events = app.get(&format!("/v1/audit/cases/{case}/events"), &auditor(&app)).await.ok().body;
    let events = events.as_array().expect("events");
    assert_eq!(events[0]["event_type"], "case_opened");
    assert_eq!(events[0]["organisation"], MUNI);
    assert_eq!(events[0]["role"], "caseworker");
    assert!(events[0]["correlation_id"].is_string() && events[0]["causation_id"].is_string());
    assert_eq!(events[0]["hash"].as_str().map(str::len), Some(64));
    let disclosure = events.iter().find(|e| e["event_type"] == "information_disclosed").expect("disclosure");
    assert_eq!(disclosure["bases"][0]["basis"]["kind"], "consent");
    assert_eq!(disclosure["bases"][0]["basis"]["purpose"], "referral");
    // The auditor sees the content; the read is in the access log.
    assert!(events.iter().any(|e| e["payload"].to_string().contains("often absent on Mondays")));
    let log = app.get(&format!("/v1/audit/cases/{case}/access-log"), &auditor(&app)).await.ok().body;
    assert!(log["entries"].as_array().expect("entries").iter().any(|e| e["endpoint"] == "audit/events"));
    // Only auditors in scope.
    app.get(&format!("/v1/audit/cases/{case}/events"), &app.caseworker()).await.problem(403, "forbidden");
    app.get(&format!("/v1/audit/cases/{case}/events"), &app.token(OTHER_MUNI, "auditor", "x"))
        .await
        .problem(404, "not-found");
    assert_eq!(verify(&app).await["ok"], true);
}

async fn as_of_and_as_seen_by_reconstruct_what_each_party_could_see_then(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co, aud) = (app.caseworker(), app.coordinator(), auditor(&app));
    let agreement = app.approved_agreement().await;
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    let consent = app.consent(&case, &holders, (NGO, "coordinator"), &["school"], &["referral"]).await.ok().id();
    pause().await;
    let t_opened = now();
    pause().await;
    app.refer(&case, &agreement, &[&school]).await.ok();
    pause().await;
    let t_referred = now();
    pause().await;
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    pause().await;
    let t_accepted = now();
    pause().await;
    app.post(&format!("/v1/cases/{case}/consents/{consent}/revocation"), &cw, json!({ "reason": "no" })).await.ok();
    pause().await;
    let t_revoked = now();
    let state_at = |t: &str, org: Option<&str>| {
        let mut path = format!("/v1/audit/cases/{case}/state?as_of={}", urlencode(t));
        if let Some(o) = org {
            path.push_str(&format!("&as_seen_by={o}"));
        }
        let app = &app;
        let aud = aud.clone();
        async move { app.get(&path, &aud).await.ok().body }
    };
    assert_eq!(state_at(&t_opened, None).await["state"], "opened");
    assert_eq!(state_at(&t_referred, None).await["state"], "referred");
    assert_eq!(state_at(&t_accepted, None).await["state"], "accepted");
    // The NGO saw the referred item after the referral and before the revocation, not after.
    let seen_then = state_at(&t_accepted, Some(NGO)).await;
    assert_eq!(seen_then["items"][0]["id"], school.as_str());
    let seen_later = state_at(&t_revoked, Some(NGO)).await;
    assert_eq!(seen_later["items"], json!([]));
    // Before the referral the NGO had no case at all.
    app.get(&format!("/v1/audit/cases/{case}/state?as_of={}&as_seen_by={NGO}", urlencode(&t_opened)), &aud)
        .await
        .problem(404, "not-found");
    // The municipality's view is unchanged by the revocation.
    assert_eq!(state_at(&t_revoked, Some(MUNI)).await["items"][0]["content"], "7th grade");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn case_with_history(app: &TestApp, db: &TestDb) -> String {
    let agreement = app.approved_agreement().await;
    let case = app.referred_case(&agreement).await.0;
    feed_complete(app, db).await;
    case
}

fn named(report: &Value, case: &str, sequence: i64) {
    assert_eq!(report["ok"], false, "{report}");
    let first = &report["first_problem"];
    assert_eq!(first["aggregate_id"], case, "{report}");
    assert_eq!(first["sequence"], sequence, "{report}");
}

async fn a_changed_byte_is_found_and_named(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    assert_eq!(verify(&app).await["ok"], true);
    let change = if is_postgres(db) {
        format!(
            "UPDATE events SET payload = replace(payload::text, '\"school\"', '\"schoom\"')::json WHERE aggregate_id = '{case}' AND sequence = 3"
        )
    } else {
        format!(
            "UPDATE events SET payload = replace(payload, '\"school\"', '\"schoom\"') WHERE aggregate_id = '{case}' AND sequence = 3"
        )
    };
    tamper(&app, db, &[change]).await;
    let report = verify(&app).await;
    named(&report, &case, 3);
    assert!(report["first_problem"]["problem"].as_str().unwrap_or("").contains("changed"), "{report}");
}

async fn a_deleted_event_is_found_and_named(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    let mut statements = vec![format!("DELETE FROM events WHERE aggregate_id = '{case}' AND sequence = 3")];
    if !is_postgres(db) {
        statements.push(format!("DELETE FROM event_feed WHERE aggregate_id = '{case}' AND sequence = 3"));
    }
    tamper(&app, db, &statements).await;
    let report = verify(&app).await;
    named(&report, &case, 4);
    assert!(report["first_problem"]["problem"].as_str().unwrap_or("").contains("missing"), "{report}");
}

async fn two_swapped_events_are_found_and_named(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    let swap = |from: i64, to: i64| {
        format!("UPDATE events SET sequence = {to} WHERE aggregate_id = '{case}' AND sequence = {from}")
    };
    tamper(&app, db, &[swap(2, 1000), swap(3, 2), swap(1000, 3)]).await;
    let report = verify(&app).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_problem"]["aggregate_id"], case.as_str(), "{report}");
    assert!(matches!(report["first_problem"]["sequence"].as_i64(), Some(2 | 3)), "{report}");
}

async fn a_truncated_feed_is_found_by_the_signed_checkpoint(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    // Sign the head now (the service does it every minute by default).
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let key = brobyg::audit::AuditKey::load_or_generate(&app.data_dir().join("audit-signing-key.hex")).expect("key");
    // The feed on PostgreSQL shows a commit once older transactions are done: wait for it.
    let total = store.event_count().await.expect("count");
    for _ in 0..200 {
        if store.read_feed(brobyg::store::Cursor::START, 10_000).await.expect("feed").events.len() as u64 >= total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!brobyg::audit::checkpoint_once(&store, &key, 1_000_000).await.expect("checkpoint").is_empty());
    let checkpoints = app.get("/v1/audit/checkpoints", &auditor(&app)).await.ok().body;
    let last = checkpoints.as_array().and_then(|a| a.last()).cloned().expect("a checkpoint");
    assert_eq!(last["event_count"].as_u64(), Some(total));
    assert_eq!(verify(&app).await["ok"], true);
    // Remove the case's last event: its chain stays consistent, the signed head does not.
    let last_seq = 7;
    let mut statements = vec![format!("DELETE FROM events WHERE aggregate_id = '{case}' AND sequence = {last_seq}")];
    if !is_postgres(db) {
        statements.push(format!("DELETE FROM event_feed WHERE aggregate_id = '{case}' AND sequence = {last_seq}"));
    }
    tamper(&app, db, &statements).await;
    let report = verify(&app).await;
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["first_problem"]["problem"].as_str().unwrap_or("").contains("checkpoint"), "{report}");
    store.close().await;
}

async fn the_chain_still_verifies_after_erasure(db: &TestDb) {
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| s.municipal_retention_days = 0).await;
    let cw = app.caseworker();
    let (case, _, _) = app.open_case("2012-03-14").await;
    app.add_item(&case, &cw, "school", "7th grade").await;
    app.post(&format!("/v1/cases/{case}/withdrawal"), &cw, json!({ "by": "family", "reason": "moved" })).await.ok();
    let person = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body["young_person"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(&format!("/v1/subjects/{person}/erasure"), &cw, json!({ "reason": "GDPR art. 17" })).await.ok();
    feed_complete(&app, db).await;
    let report = verify(&app).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events"].as_u64().unwrap_or(0) >= 4);
}

async fn a_forged_organisation_in_the_metadata_is_found_and_named(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    assert_eq!(verify(&app).await["ok"], true);
    // An administrator makes the municipality's second event look like the NGO coordinator's.
    let forge = if is_postgres(db) {
        format!(
            "UPDATE events SET metadata = replace(replace(metadata::text, '\"municipality:0746\"', '\"ngo:kfum-sa\"'), \
             '\"caseworker\"', '\"coordinator\"')::json WHERE aggregate_id = '{case}' AND sequence = 2"
        )
    } else {
        format!(
            "UPDATE events SET metadata = replace(replace(metadata, '\"municipality:0746\"', '\"ngo:kfum-sa\"'), \
             '\"caseworker\"', '\"coordinator\"') WHERE aggregate_id = '{case}' AND sequence = 2"
        )
    };
    tamper(&app, db, &[forge]).await;
    let history = app.get(&format!("/v1/audit/cases/{case}/events"), &auditor(&app)).await.ok().body;
    assert_eq!(history[1]["organisation"], "ngo:kfum-sa", "the forgery is in place: {history}");
    let report = verify(&app).await;
    named(&report, &case, 2);
    assert!(report["first_problem"]["problem"].as_str().unwrap_or("").contains("chain hash"), "{report}");
}

/// Settings for a verification as `brobyg audit verify` makes it, on the app's data folder.
fn cli_options(app: &TestApp, db: &TestDb, mirror: &std::path::Path) -> brobyg::audit::VerifyOptions {
    let settings = db.settings(app.data_dir());
    brobyg::verify_options(&settings, brobyg::audit::Scope::Everything, Some(mirror)).expect("options")
}

async fn a_deleted_tail_with_its_feed_rows_and_checkpoints_is_found_by_the_mirror(db: &TestDb) {
    let mirror = tempfile::tempdir().expect("mirror");
    let mirror_dir = mirror.path().to_owned();
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| {
        s.checkpoint_mirror = Some(mirror_dir.clone());
        s.checkpoint_every_seconds = 1;
    })
    .await;
    let agreement = app.approved_agreement().await;
    let case = app.referred_case(&agreement).await.0;
    let concern = json!({ "grounds": ["neglect"], "text": "Came to the club hungry", "observed_on": "2026-11-01" });
    app.post(&format!("/v1/cases/{case}/concerns"), &app.coordinator(), concern).await.ok();
    feed_complete(&app, db).await;
    // Wait until the checkpointer has signed and mirrored the head.
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let total = store.event_count().await.expect("count") as i64;
    let file = brobyg::mirror::Mirror::open(&mirror_dir).expect("mirror");
    for _ in 0..100 {
        if file.read().expect("read").last().is_some_and(|c| c.event_count == total) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(file.read().expect("read").last().map(|c| c.event_count), Some(total), "the head is mirrored");
    assert!(brobyg::audit::verify(&store, &cli_options(&app, db, &mirror_dir), |_| {}).await.expect("verify").ok);
    // Remove the concern report, its feed row, and every checkpoint that signed it.
    let mut statements = vec![
        format!("DELETE FROM events WHERE aggregate_id = '{case}' AND event_type = 'concern_reported'"),
        "DELETE FROM audit_checkpoints".to_owned(),
    ];
    if !is_postgres(db) {
        statements.insert(1, format!("DELETE FROM event_feed WHERE aggregate_id = '{case}' AND sequence = 8"));
    }
    tamper(&app, db, &statements).await;
    let report = brobyg::audit::verify(&store, &cli_options(&app, db, &mirror_dir), |_| {}).await.expect("verify");
    assert!(!report.ok, "{report:?}");
    let problems: Vec<&str> = report.problems.iter().map(|p| p.problem.as_str()).collect();
    assert!(problems.iter().any(|p| p.contains("mirror is missing from the store")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("feed ends before") || p.contains("signed")), "{problems:?}");
    // The service does not sign the tampered feed: it raises the alarm instead.
    let mut ready = 200;
    for _ in 0..50 {
        ready = app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz").status().as_u16();
        if ready == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 503, "readiness shows the alarm");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(store.checkpoints().await.expect("checkpoints").is_empty(), "nothing was signed over the tampered feed");
    store.close().await;
}

async fn a_checkpoint_signed_with_another_key_is_refused(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    case_with_history(&app, db).await;
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let other = tempfile::tempdir().expect("dir");
    let forger = brobyg::audit::AuditKey::load_or_generate(&other.path().join("key.hex")).expect("key");
    // A validly signed checkpoint, by a key nobody configured, over whatever the feed holds now.
    brobyg::audit::checkpoint_once(&store, &forger, 1_000_000).await.expect("forged checkpoint");
    let report = verify(&app).await;
    assert_eq!(report["ok"], false, "{report}");
    assert!(report.to_string().contains("is not signed by a configured key"), "{report}");
    store.close().await;
}

/// Waits for a signed checkpoint over exactly `size` events.
async fn signed_at_size(app: &TestApp, size: i64) -> Value {
    for _ in 0..100 {
        let list = app.get("/v1/audit/checkpoints", &auditor(app)).await.ok().body;
        if let Some(c) = list.as_array().and_then(|l| l.iter().find(|c| c["event_count"] == size)) {
            return c.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no checkpoint over {size} events");
}

async fn inclusion_and_consistency_proofs_verify_offline_with_the_public_key_only(db: &TestDb) {
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| s.checkpoint_every_seconds = 1).await;
    let agreement = app.approved_agreement().await;
    let (case, _) = app.referred_case(&agreement).await;
    feed_complete(&app, db).await;
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let first = store.event_count().await.expect("count") as i64;
    let early = signed_at_size(&app, first).await;
    app.add_item(&case, &app.caseworker(), "school", "Started in the chess club").await;
    feed_complete(&app, db).await;
    let second = store.event_count().await.expect("count") as i64;
    let late = signed_at_size(&app, second).await;
    assert_eq!(late["tree_root"].as_str().map(str::len), Some(64), "{late}");
    let key = brobyg::audit::AuditKey::load_or_generate(&app.data_dir().join("audit-signing-key.hex")).expect("key");
    let public = brobyg::audit::TrustedKeys::from_hex(&key.public_hex()).expect("public key");

    let inclusion = app
        .get(&format!("/v1/audit/proofs/inclusion?event=case:{case}:2&checkpoint={second}"), &auditor(&app))
        .await
        .ok()
        .body;
    let said = brobyg::audit::verify_proof(&inclusion, &public).expect("the inclusion proof verifies");
    assert!(said.contains(&format!("case:{case}:2")), "{said}");
    // A changed hash in the path, another leaf, or another key: refused.
    let mut bent = inclusion.clone();
    let first_hash = bent["audit_path"][0].as_str().expect("path").to_owned();
    bent["audit_path"][0] =
        json!(format!("{}{}", if first_hash.starts_with('0') { "1" } else { "0" }, &first_hash[1..]));
    assert!(brobyg::audit::verify_proof(&bent, &public).is_err());
    let mut moved = inclusion.clone();
    moved["leaf_index"] = json!(inclusion["leaf_index"].as_u64().expect("index") + 1);
    assert!(brobyg::audit::verify_proof(&moved, &public).is_err());
    let other = tempfile::tempdir().expect("dir");
    let stranger = brobyg::audit::AuditKey::load_or_generate(&other.path().join("k.hex")).expect("key");
    let wrong = brobyg::audit::TrustedKeys::from_hex(&stranger.public_hex()).expect("key");
    let refused = brobyg::audit::verify_proof(&inclusion, &wrong).expect_err("another key");
    assert!(refused.contains("not signed by a configured key"), "{refused}");

    let consistency =
        app.get(&format!("/v1/audit/proofs/consistency?from={first}&to={second}"), &auditor(&app)).await.ok().body;
    assert_eq!(consistency["from"]["tree_root"], early["tree_root"]);
    brobyg::audit::verify_proof(&consistency, &public).expect("the consistency proof verifies");
    let mut forked = consistency.clone();
    forked["from"]["tree_root"] = late["tree_root"].clone();
    assert!(brobyg::audit::verify_proof(&forked, &public).is_err(), "a root that was not signed");
    // The event must be in the checkpoint, and of a case of the auditor's organisation.
    app.get(&format!("/v1/audit/proofs/inclusion?event=case:{case}:9&checkpoint={first}"), &auditor(&app))
        .await
        .problem(409, "not-in-checkpoint");
    app.get(
        &format!("/v1/audit/proofs/inclusion?event=case:{case}:2&checkpoint={second}"),
        &app.token(OTHER_MUNI, "auditor", "x"),
    )
    .await
    .problem(404, "not-found");
    store.close().await;
}

async fn a_sealed_value_moved_to_another_field_of_the_same_key_does_not_open(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let case = case_with_history(&app, db).await;
    let cw = app.caseworker();
    let before = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(before["young_person"]["last_name"], "Jensen");
    // A database administrator copies the first name's ciphertext over the last name's: the
    // same event, the same key. Bound only to its key, it would open and read "Mikkel".
    let (from, to) = ("case_opened,young_person,first_name", "case_opened,young_person,last_name");
    let change = if is_postgres(db) {
        format!(
            "UPDATE events SET payload = jsonb_set(payload::jsonb, '{{{to}}}', payload::jsonb #> '{{{from}}}')::json \
             WHERE aggregate_id = '{case}' AND sequence = 1"
        )
    } else {
        let (from, to) = (from.replace(',', "."), to.replace(',', "."));
        format!(
            "UPDATE events SET payload = json_set(payload, '$.{to}', json(json_extract(payload, '$.{from}'))) \
             WHERE aggregate_id = '{case}' AND sequence = 1"
        )
    };
    tamper(&app, db, &[change]).await;
    let after = app.get(&format!("/v1/cases/{case}"), &cw).await;
    assert_eq!(after.status, 500, "{}", after.body);
    assert!(!after.body.to_string().contains("Mikkel"), "{}", after.body);
    // And the chain names the event.
    named(&verify(&app).await, &case, 1);
}
