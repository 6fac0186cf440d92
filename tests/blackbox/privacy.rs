//! Personal data sealed at rest, erasure by crypto-shredding, retention, subject access export.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(
    an_erased_subject_leaves_no_plaintext_in_the_database_or_the_logs,
    erasure_is_refused_while_a_concern_is_open_or_the_record_must_be_kept,
    retention_erases_the_ngo_side_and_keeps_what_the_municipality_received,
    the_export_lists_what_is_held_every_disclosure_and_every_read,
    outcomes_reach_the_caseworker_only_under_an_outcome_flow_and_consent,
    a_consent_the_parents_gave_before_the_15th_birthday_shows_as_due_for_renewal,
);

const NAME: &str = "Zebulonia";
const LAST: &str = "Quixotewright";
const ITEM: &str = "Distinctive-Item-Text-9f3a";
const DEVELOPMENT: &str = "Development-Text-77q";
const INSTRUMENT: &str = "sdq-total-Instrument-4kx";

/// Everything the service logs in this test process, at every level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    crate::support::telemetry().logs.clone()
}

/// The raw bytes of the whole database: every SQLite file, or a pg_dump.
fn raw_database(app: &TestApp, db: &TestDb) -> Vec<u8> {
    if db.url.starts_with("postgres") {
        let name = db.url.rsplit('/').next().expect("db name");
        let out = std::process::Command::new("pg_dump")
            .args(["-h", "127.0.0.1", "-U", "postgres", "--data-only", name])
            .output()
            .expect("pg_dump runs");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    } else {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(app.data_dir()).expect("data dir") {
            let path = entry.expect("entry").path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("brobyg.db")) {
                bytes.extend(std::fs::read(&path).expect("read db file"));
            }
        }
        assert!(bytes.len() > 4096, "the SQLite file was read");
        bytes
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A closed journey with distinctive personal data; returns (case, subject).
async fn closed_journey(app: &TestApp, acknowledge: bool) -> (String, String) {
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let opened = app
        .post(
            "/v1/cases",
            &cw,
            json!({ "young_person": { "first_name": NAME, "last_name": LAST, "birth_date": "2012-03-14" },
                                         "custody_holders": [ { "name": format!("Mother {LAST}") } ] }),
        )
        .await
        .ok();
    let case = opened.id();
    let subject = opened.body["young_person"]["id"].as_str().expect("subject").to_owned();
    let holders: Vec<String> = vec![opened.body["custody_holders"][0]["id"].as_str().expect("holder").to_owned()];
    let school = app.add_item(&case, &cw, "school", ITEM).await;
    let identity = app.add_item(&case, &cw, "identity", &format!("{NAME} {LAST}")).await;
    app.consent(&case, &holders, (NGO, "coordinator"), &["identity", "school"], &["referral"]).await.ok();
    app.consent(&case, &holders, (MUNI, "caseworker"), &["development"], &["closing_evaluation"]).await.ok();
    app.refer(&case, &agreement, &[&school, &identity]).await.ok();
    app.get(&format!("/v1/cases/{case}"), &co).await.ok();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"], "wishes": format!("{NAME} wants to climb") }),
    )
    .await
    .ok();
    app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    let concern = app
        .post(
            &format!("/v1/cases/{case}/concerns"),
            &co,
            json!({ "grounds": ["needs_support"], "text": format!("{NAME} came hungry"), "observed_on": "2026-11-20" }),
        )
        .await
        .ok()
        .id();
    if acknowledge {
        app.post(
            &format!("/v1/cases/{case}/concerns/{concern}/receipt"),
            &cw,
            json!({ "investigation_started": false }),
        )
        .await
        .ok();
    }
    let development = app.add_item(&case, &co, "development", DEVELOPMENT).await;
    app.post(
        &format!("/v1/cases/{case}/closing-meeting"),
        &co,
        json!({ "held_on": "2026-12-01", "participants": ["coordinator", "caseworker", "young_person", "custody_holder", "volunteer"],
        "disclosures": [ { "items": [development], "to": MUNI } ],
        "outcomes": [ { "instrument": INSTRUMENT, "before": 19, "after": 14 } ] }),
    )
    .await
    .ok();
    (case, subject)
}

async fn an_erased_subject_leaves_no_plaintext_in_the_database_or_the_logs(db: &TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| s.municipal_retention_days = 0).await;
    let cw = app.caseworker();
    let (case, subject) = closed_journey(&app, true).await;
    let before = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(before["young_person"]["first_name"], NAME);
    let ngo_before = app.get(&format!("/v1/cases/{case}"), &app.coordinator()).await.ok().body;
    let outcome =
        |view: &Value| view["items"].as_array().expect("items").iter().find(|i| i["category"] == "outcome").cloned();
    let recorded = outcome(&ngo_before).expect("the NGO sees its outcome");
    assert_eq!(recorded["measure"], json!({ "instrument": INSTRUMENT, "before": 19.0, "after": 14.0 }));
    // The consent for the caseworker names development only: the outcome stays with the NGO.
    assert!(outcome(&before).is_none(), "{before}");
    // Sealed from the first event: the plaintext was never written.
    let raw = raw_database(&app, db);
    for secret in [NAME, LAST, ITEM, DEVELOPMENT, INSTRUMENT] {
        assert!(!contains(&raw, secret), "{secret} is in the raw database before erasure");
    }

    let erased = app
        .post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "GDPR art. 17 request" }))
        .await
        .ok();
    assert!(erased.body["keys_destroyed"].as_u64().unwrap_or(0) >= 2, "{}", erased.body);

    // The case still loads, with every personal value erased and its state intact.
    let after = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(after["state"], "closed");
    assert_eq!(after["version"], before["version"].as_u64().expect("version") + 1);
    assert_eq!(after["young_person"]["first_name"], "[erased]");
    assert!(after["young_person"].get("age").is_none());
    assert!(after["items"].as_array().expect("items").iter().all(|i| i["content"] == "[erased]"), "{after}");
    assert_eq!(after["concerns"][0]["text"], "[erased]");
    let coordinator_view = app.get(&format!("/v1/cases/{case}"), &app.coordinator()).await.ok().body;
    assert!(!coordinator_view.to_string().contains(NAME));
    let erased_outcome = outcome(&coordinator_view).expect("the outcome item stays, erased");
    assert_eq!(erased_outcome["content"], "[erased]");
    assert!(erased_outcome.get("measure").is_none(), "{erased_outcome}");
    // Its history replays: the store folds every event.
    let store =
        brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store").with_kek(app_kek(&app, db));
    let loaded = store.load::<brobyg_domain::case::Case>(&case).await.expect("replays");
    assert_eq!(loaded.version as u64, after["version"].as_u64().expect("version"));
    assert!(loaded.aggregate.erased_at.is_some());
    store.close().await;
    // Nothing personal can be added any more.
    app.post(&format!("/v1/cases/{case}/items"), &cw, json!({ "category": "school", "content": "new" }))
        .await
        .problem(409, "wrong-state");

    let raw = raw_database(&app, db);
    for secret in [NAME, LAST, ITEM, DEVELOPMENT, INSTRUMENT] {
        assert!(!contains(&raw, secret), "{secret} is in the raw database after erasure");
    }
    let logged = logs.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(logged.len() > 100, "logs were captured");
    for secret in [NAME, LAST, ITEM, DEVELOPMENT] {
        assert!(!contains(&logged, secret), "{secret} is in the service's logs");
    }
}

fn app_kek(app: &TestApp, db: &TestDb) -> brobyg::store::Kek {
    if db.url.starts_with("postgres") {
        crate::support::test_kek()
    } else {
        brobyg::store::Kek::from_file(&app.data_dir().join("dev-kek.hex")).expect("dev kek")
    }
}

async fn erasure_is_refused_while_a_concern_is_open_or_the_record_must_be_kept(db: &TestDb) {
    let app = TestApp::spawn(db).await; // default: the municipality keeps records five years
    let cw = app.caseworker();
    let (case, subject) = closed_journey(&app, false).await;
    let open = app.post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "request" })).await;
    open.problem(409, "concern-open");
    let concern = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body["concerns"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(&format!("/v1/cases/{case}/concerns/{concern}/receipt"), &cw, json!({ "investigation_started": true }))
        .await
        .ok();
    let kept = app.post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "request" })).await;
    kept.problem(409, "retention-duty");
    assert!(kept.body["detail"].as_str().unwrap_or("").contains("must keep this record until"));
    // Others may not ask.
    app.post(&format!("/v1/subjects/{subject}/erasure"), &app.coordinator(), json!({ "reason": "x" }))
        .await
        .problem(403, "forbidden");
    app.post(
        &format!("/v1/subjects/{subject}/erasure"),
        &app.token(OTHER_MUNI, "caseworker", "x"),
        json!({ "reason": "x" }),
    )
    .await
    .problem(404, "not-found");
    // Nothing was erased.
    let still = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(still["young_person"]["first_name"], NAME);
}

async fn retention_erases_the_ngo_side_and_keeps_what_the_municipality_received(db: &TestDb) {
    // Retention runs in another process here (as `brobyg retention run` does): the service sees
    // the destroyed keys once its cached copies expire.
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| s.key_cache_seconds = 1).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    // An agreement whose NGO keeps nothing after closing.
    let mut body = agreement_body();
    body["retention_days_after_closing"] = json!(0);
    let admin_m = app.token(MUNI, "admin", "a");
    let agreement = app.post("/v1/agreements", &admin_m, body).await.ok().id();
    app.post(&format!("/v1/agreements/{agreement}/approvals"), &admin_m, json!({ "version": 1 })).await.ok();
    app.post(&format!("/v1/agreements/{agreement}/approvals"), &app.token(NGO, "admin", "b"), json!({ "version": 1 }))
        .await
        .ok();
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &cw, "school", ITEM).await;
    app.consent(&case, &holders, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    app.consent(&case, &holders, (MUNI, "caseworker"), &["development"], &["closing_evaluation"]).await.ok();
    app.refer(&case, &agreement, &[&school]).await.ok();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
    )
    .await
    .ok();
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    let ngo_note = app.add_item(&case, &co, "background", "NGO-only-note").await;
    let development = app.add_item(&case, &co, "development", DEVELOPMENT).await;
    app.post(
        &format!("/v1/cases/{case}/closing-meeting"),
        &co,
        json!({ "held_on": "2026-12-01", "participants": ["coordinator", "caseworker", "young_person", "custody_holder", "volunteer"],
        "disclosures": [ { "items": [development.clone()], "to": MUNI } ] }),
    )
    .await
    .ok();
    // Let the views see the closing, then run retention.
    let position = app
        .post(
            "/v1/cases",
            &cw,
            json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2010-01-01" } }),
        )
        .await
        .ok()
        .header("x-brobyg-position")
        .expect("position");
    app.get(&format!("/v1/cases?min_position={position}"), &cw).await.ok();
    let store =
        brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store").with_kek(app_kek(&app, db));
    let report = brobyg::retention::run_once(&store, chrono::Utc::now()).await.expect("retention");
    assert_eq!(report.erased, 1, "{report:?}");
    assert_eq!(brobyg::retention::run_once(&store, chrono::Utc::now()).await.expect("again").erased, 0, "idempotent");
    store.close().await;

    let content = |view: &Value, id: &str| {
        view["items"].as_array().and_then(|a| a.iter().find(|i| i["id"] == id)).map(|i| i["content"].clone())
    };
    // Within the key cache's lifetime (one second here) the erasure shows everywhere.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let ngo_view = loop {
        let view = app.get(&format!("/v1/cases/{case}"), &co).await.ok().body;
        if content(&view, &ngo_note) == Some(json!("[erased]")) || std::time::Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(content(&ngo_view, &ngo_note), Some(json!("[erased]")), "the NGO's own data is gone");
    assert_eq!(content(&ngo_view, &school), Some(json!("[erased]")), "and so is its copy of the referral");
    let municipal_view = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(content(&municipal_view, &school), Some(json!(ITEM)), "the municipality's record stays");
    assert_eq!(content(&municipal_view, &development), Some(json!(DEVELOPMENT)), "and what the NGO disclosed to it");
}

async fn the_export_lists_what_is_held_every_disclosure_and_every_read(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let (case, subject) = closed_journey(&app, true).await;
    app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    let export = app.get(&format!("/v1/subjects/{subject}/export"), &cw).await.ok().body;
    assert_eq!(export["case"], case.as_str());
    assert_eq!(export["held"]["young_person"]["last_name"], LAST);
    let disclosures = export["disclosures"].as_array().expect("disclosures");
    assert_eq!(disclosures.len(), 2, "referral and closing meeting");
    assert_eq!(disclosures[0]["to"], NGO);
    assert_eq!(disclosures[0]["items"][0]["basis"], "consent");
    assert_eq!(disclosures[0]["items"][0]["purpose"], "referral");
    assert_eq!(disclosures[1]["checkpoint"], "closing_meeting");
    let reads = export["reads"].as_array().expect("reads");
    assert!(reads.len() >= 3, "{reads:?}");
    assert!(reads.iter().any(|r| r["purpose"] == "subject_access"));
    let text = export["reads"].to_string();
    assert!(!text.contains("cw-1") && !text.contains("co-1"), "no staff identity in the reads: {text}");
    app.get(&format!("/v1/subjects/{subject}/export"), &app.coordinator()).await.problem(403, "forbidden");
    app.get(&format!("/v1/subjects/{}/export", uuid::Uuid::new_v4()), &cw).await.problem(404, "not-found");
}

#[tokio::test]
async fn a_wrong_or_missing_key_encryption_key_refuses_to_start() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let settings = db.settings(dir.path());
    let app = brobyg::Application::build(&settings).await.expect("first start generates a key");
    drop(app);
    let kek = dir.path().join("dev-kek.hex");
    assert!(kek.exists());
    std::fs::write(&kek, "11".repeat(32)).expect("write");
    let err = brobyg::Application::build(&settings).await.expect_err("a wrong key refuses to start");
    assert!(err.to_string().contains("does not match"), "{err}");
    std::fs::remove_file(&kek).expect("remove");
    let err = brobyg::Application::build(&settings).await.expect_err("a lost key refuses to start too");
    assert!(err.to_string().contains("does not match"), "{err}");
    std::fs::write(&kek, "not hex").expect("write");
    assert!(brobyg::Application::build(&settings).await.is_err());
    // PostgreSQL without BROBYG_KEK_FILE is refused before anything is read.
    let mut pg = brobyg::settings::Settings::for_data_dir(dir.path());
    pg.database_url = Some("postgres://postgres@127.0.0.1:1/none".to_owned().into());
    let err = brobyg::load_kek(&pg).expect_err("no kek");
    assert!(err.to_string().contains("BROBYG_KEK_FILE"), "{err}");
}

/// Closes a case with an outcome; `outcome_consent`: whether a consent names the caseworker for
/// `outcome` at the closing meeting. Returns the case.
async fn closed_with_outcome(app: &TestApp, agreement: &str, outcome_consent: bool) -> String {
    let (cw, co) = (app.caseworker(), app.coordinator());
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    app.consent(&case, &holders, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    let categories: &[&str] = if outcome_consent { &["development", "outcome"] } else { &["development"] };
    app.consent(&case, &holders, (MUNI, "caseworker"), categories, &["closing_evaluation"]).await.ok();
    app.refer(&case, agreement, &[&school]).await.ok();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
    )
    .await
    .ok();
    app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/closing-meeting"),
        &co,
        json!({ "held_on": "2026-12-01", "participants": ["coordinator", "caseworker", "young_person", "custody_holder", "volunteer"],
                "outcomes": [ { "instrument": "sdq_total", "before": 19, "after": 14 } ] }),
    )
    .await
    .ok();
    case
}

async fn outcomes_reach_the_caseworker_only_under_an_outcome_flow_and_consent(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let agreement = app.approved_agreement().await;
    let outcome_of =
        |view: &Value| view["items"].as_array().expect("items").iter().find(|i| i["category"] == "outcome").cloned();

    // Without a consent for outcomes nothing crosses, not even on the closing event of the feed.
    let kept = closed_with_outcome(&app, &agreement, false).await;
    let view = app.get(&format!("/v1/cases/{kept}"), &cw).await.ok().body;
    assert!(outcome_of(&view).is_none(), "{view}");
    assert_eq!(view["redacted_categories"], json!(["outcome"]), "{view}");
    // On PostgreSQL a commit shows in the feed once older transactions ended: read until it does.
    let integrator = app.token(MUNI, "integrator", "int-m");
    let is_closing = |e: &&Value| {
        e["subject"] == kept.as_str() && e["type"].as_str().is_some_and(|t| t.contains("closing_meeting_held"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let muni_feed = loop {
        let page = app.get("/v1/feed?limit=1000", &integrator).await.ok().body;
        let found = page["events"].as_array().is_some_and(|events| events.iter().any(|e| is_closing(&e)));
        if found || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let closing: Vec<&Value> = muni_feed["events"].as_array().expect("events").iter().filter(is_closing).collect();
    assert_eq!(closing.len(), 1);
    assert!(closing[0]["data"].get("outcomes").is_none(), "{}", closing[0]);
    assert!(!muni_feed.to_string().contains("sdq_total"), "no outcome reaches the municipality's systems");

    // With an outcome flow (the agreement has one) and a consent, the outcome is disclosed at
    // the closing meeting, and the caseworker's own read shows it with its scores.
    let shared = closed_with_outcome(&app, &agreement, true).await;
    let view = app.get(&format!("/v1/cases/{shared}"), &cw).await.ok().body;
    let outcome = outcome_of(&view).expect("disclosed outcome");
    assert_eq!(outcome["owner"], NGO);
    assert_eq!(outcome["content"], "sdq_total: 19 → 14");
    assert_eq!(outcome["measure"], json!({ "instrument": "sdq_total", "before": 19.0, "after": 14.0 }));
    assert!(outcome["disclosed_at"].is_string());
    let last = view["disclosures"].as_array().expect("disclosures").last().cloned().expect("one");
    assert_eq!((last["checkpoint"].as_str(), last["to"].as_str()), (Some("closing_meeting"), Some(MUNI)));
}

async fn a_consent_the_parents_gave_before_the_15th_birthday_shows_as_due_for_renewal(db: &TestDb) {
    use brobyg_domain::case::{Case, CaseEvent, Consent, Recipient};
    use brobyg_domain::{Category, ConsentId, PersonId, Personal, Purpose, RecipientRole, UserId};
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    // Two cases of a 16-year-old; on one, a consent the parents alone recorded two years ago
    // (when that was enough), as an earlier version of the service stored it.
    let (due, _, holders) = app.open_case("2010-01-01").await;
    let (fine, yp, fine_holders) = app.open_case("2010-01-01").await;
    let mut grantors: Vec<String> = fine_holders.clone();
    grantors.push(yp);
    app.consent(&fine, &grantors, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    let store =
        brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store").with_kek(app_kek(&app, db));
    let two_years_ago = chrono::Utc::now() - chrono::TimeDelta::days(730);
    let consent = Consent {
        id: ConsentId::new(),
        grantors: holders.iter().map(|h| PersonId(h.parse().expect("uuid"))).collect(),
        recipients: [Recipient { org: NGO.parse().expect("org"), role: RecipientRole::Coordinator }].into(),
        categories: [Category::School].into(),
        purposes: [Purpose::Referral].into(),
        valid_from: two_years_ago.date_naive(),
        valid_until: two_years_ago.date_naive() + chrono::TimeDelta::days(365 * 5),
        evidence: Personal::new("signed by both parents".into()),
        recorded_by: UserId("cw-1".into()),
        given_at: two_years_ago,
        revoked_at: None,
    };
    let metadata = std::collections::HashMap::from([("org".to_owned(), MUNI.to_owned())]);
    let appended = store
        .append::<Case>(&due, 1, vec![CaseEvent::ConsentGiven { consent }], metadata)
        .await
        .map_err(|e| e.to_string())
        .expect("appended");
    assert_eq!(appended.len(), 1);
    store.close().await;

    let view = app.get(&format!("/v1/cases/{due}"), &cw).await.ok().body;
    assert_eq!(view["consent_renewal_due"], true, "{view}");
    let view = app.get(&format!("/v1/cases/{fine}"), &cw).await.ok().body;
    assert_eq!(view["consent_renewal_due"], false, "{view}");
    // A referral under the old consent is refused: the young person's own grant is missing.
    let agreement = app.approved_agreement().await;
    let added = app
        .post(&format!("/v1/cases/{due}/items"), &cw, json!({ "category": "school", "content": "7th grade" }))
        .await
        .ok();
    let school = added.id();
    app.refer(&due, &agreement, &[&school]).await.problem(422, "grantor-missing");
    // The caseload filter finds exactly the case to renew.
    let position = added.header("x-brobyg-position").expect("position");
    let path = format!("/v1/cases?consent_renewal_due=true&min_position={position}");
    let list = app.get(&path, &cw).await.ok().body;
    let ids: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, vec![due.as_str()], "{list}");
    app.get("/v1/cases?consent_renewal_due=maybe", &cw).await.problem(400, "invalid-request");
}
