//! Who sees what, over HTTP: revocation, concerns, the volunteer brief, statistics, access log.

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(
    a_revocation_hides_disclosed_items_from_the_ngo_only,
    the_volunteer_brief_holds_only_its_categories,
    statistics_suppress_small_cells_and_their_complement,
    every_read_leaves_one_access_log_entry,
);

fn item_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn a_revocation_hides_disclosed_items_from_the_ngo_only(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let identity = app.add_item(&case, &cw, "identity", "Mikkel, lives with his mother").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    let consent =
        app.consent(&case, &holders, (NGO, "coordinator"), &["identity", "school"], &["referral"]).await.ok().id();
    app.refer(&case, &agreement, &[&identity, &school]).await.ok();
    let mut expected = vec![identity.clone(), school.clone()];
    expected.sort();
    assert_eq!(item_ids(&app.get(&format!("/v1/cases/{case}"), &co).await.ok().body), expected);
    let caseworker_before = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;

    app.post(
        &format!("/v1/cases/{case}/consents/{consent}/revocation"),
        &cw,
        json!({ "reason": "the family changed its mind" }),
    )
    .await
    .ok();
    let ngo_after = app.get(&format!("/v1/cases/{case}"), &co).await.ok().body;
    assert_eq!(item_ids(&ngo_after), Vec::<String>::new(), "disclosed items vanish from the NGO");
    assert!(ngo_after["young_person"].get("first_name").is_none(), "the name went with the identity item");
    assert!(!ngo_after.to_string().contains("7th grade"));
    let caseworker_after = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(item_ids(&caseworker_after), item_ids(&caseworker_before), "the caseworker's view is unchanged");
    // The disclosure itself stays on record for both.
    assert_eq!(ngo_after["disclosures"].as_array().map(Vec::len), Some(1));

    // A concern after the revocation still reaches the municipality.
    app.post(
        &format!("/v1/cases/{case}/concerns"),
        &co,
        json!({ "grounds": ["neglect"], "text": "Bruises on his arm", "observed_on": "2026-11-20" }),
    )
    .await
    .ok();
    let with_concern = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
    assert_eq!(with_concern["concerns"][0]["text"], "Bruises on his arm");
}

async fn the_volunteer_brief_holds_only_its_categories(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let identity = app.add_item(&case, &cw, "identity", "Mikkel").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    let practical = app.add_item(&case, &cw, "practical", "Needs to be home by 19:00").await;
    app.consent(
        &case,
        &holders,
        (NGO, "coordinator"),
        &["identity", "school", "practical", "wishes"],
        &["referral", "course_planning"],
    )
    .await
    .ok();
    app.refer(&case, &agreement, &[&identity, &school, &practical]).await.ok();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"], "wishes": "Wants to try climbing" }),
    )
    .await
    .ok();
    // No volunteer is matched: there is no brief.
    app.get(&format!("/v1/cases/{case}/brief"), &co).await.problem(409, "wrong-state");
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    // No consent names the volunteers yet: the brief names the volunteer and holds nothing else.
    let empty = app.get(&format!("/v1/cases/{case}/brief"), &co).await.ok().body;
    assert_eq!(empty["volunteer"], volunteer.as_str());
    assert_eq!(empty["items"], json!([]));
    assert!(empty.get("first_name").is_none() && empty.get("age").is_none(), "{empty}");
    // A consent naming the volunteers for statistics only gives the brief nothing.
    app.consent(&case, &holders, (NGO, "volunteer"), &["identity", "practical", "wishes"], &["statistics"]).await.ok();
    let still = app.get(&format!("/v1/cases/{case}/brief"), &co).await.ok().body;
    assert_eq!(still["items"], json!([]), "{still}");
    assert!(still.get("first_name").is_none() && still.get("age").is_none(), "{still}");

    app.consent(&case, &holders, (NGO, "volunteer"), &["identity", "school", "practical", "wishes"], &["matching"])
        .await
        .ok();
    let brief = app.get(&format!("/v1/cases/{case}/brief"), &co).await.ok().body;
    assert_eq!(brief["first_name"], "Mikkel");
    assert!(brief["age"].is_number());
    let categories: Vec<&str> =
        brief["items"].as_array().expect("items").iter().filter_map(|i| i["category"].as_str()).collect();
    assert_eq!(categories.len(), 2, "{brief}");
    assert!(categories.contains(&"practical") && categories.contains(&"wishes"));
    assert!(!brief.to_string().contains("7th grade"), "school is not in the brief");
    // The municipality has no brief.
    app.get(&format!("/v1/cases/{case}/brief"), &cw).await.problem(403, "forbidden");
    app.get(&format!("/v1/cases/{case}/brief"), &app.token(OTHER_NGO, "coordinator", "x"))
        .await
        .problem(404, "not-found");
}

/// A referred case with (or without) consent to statistics; declined if asked.
async fn counted_case(app: &TestApp, agreement: &str, statistics: bool, decline: bool) {
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &app.caseworker(), "school", "x").await;
    let purposes: &[&str] = if statistics { &["referral", "statistics"] } else { &["referral"] };
    app.consent(&case, &holders, (NGO, "coordinator"), &["school"], purposes).await.ok();
    app.refer(&case, agreement, &[&school]).await.ok();
    if decline {
        app.post(
            &format!("/v1/cases/{case}/referral/decision"),
            &app.coordinator(),
            json!({ "decision": "decline", "reason": "full" }),
        )
        .await
        .ok();
    }
}

async fn statistics_now(app: &TestApp) -> Value {
    // Wait until the list view has every write (the statistics read the caseload view).
    let last = app
        .post(
            "/v1/cases",
            &app.caseworker(),
            json!({ "young_person": { "first_name": "Z", "last_name": "Z", "birth_date": "2010-01-01" } }),
        )
        .await
        .ok();
    let position = last.header("x-brobyg-position").expect("position");
    app.get(&format!("/v1/cases?min_position={position}"), &app.caseworker()).await.ok();
    app.get("/v1/programmes/klub-move/statistics", &app.caseworker()).await.ok().body
}

async fn statistics_suppress_small_cells_and_their_complement(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let suppressed = json!({ "suppressed": true });
    for _ in 0..4 {
        counted_case(&app, &agreement, true, false).await;
    }
    counted_case(&app, &agreement, false, false).await; // no consent to statistics: never counted
    let four = statistics_now(&app).await;
    assert_eq!(four["cases"], suppressed, "{four}");
    assert_eq!(four["by_state"]["referred"], suppressed);
    assert_eq!(four["by_state"]["declined"], suppressed);

    counted_case(&app, &agreement, true, false).await;
    let five = statistics_now(&app).await;
    assert_eq!(five["cases"], 5, "{five}");
    assert_eq!(five["by_state"]["referred"], 5);
    assert_eq!(five["by_state"]["declined"], 0);

    // One declined case: a cell of 1, and its complement (referred = 5) must go with it, or
    // 6 − 5 would give it away.
    counted_case(&app, &agreement, true, true).await;
    let six = statistics_now(&app).await;
    assert_eq!(six["cases"], 6, "{six}");
    assert_eq!(six["by_state"]["declined"], suppressed);
    assert_eq!(six["by_state"]["referred"], suppressed, "the complementary cell");
    assert_eq!(six["by_state"]["in_course"], 0);
    // The NGO partner sees the same programme through its own cases.
    let ngo = app.get("/v1/programmes/klub-move/statistics", &app.coordinator()).await.ok().body;
    assert_eq!(ngo["cases"], 6);
    // Another municipality has no cases there.
    let other =
        app.get("/v1/programmes/klub-move/statistics", &app.token(OTHER_MUNI, "caseworker", "x")).await.ok().body;
    assert_eq!(other["cases"], suppressed);
}

async fn every_read_leaves_one_access_log_entry(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (case, _) = app.referred_case(&agreement).await;
    app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    app.send(Method::GET, &format!("/v1/cases/{case}"), Some(&co), None, &[("x-purpose", "course_planning")])
        .await
        .ok();
    app.send(Method::GET, &format!("/v1/cases/{case}"), Some(&co), None, &[("x-purpose", "gossip")])
        .await
        .problem(400, "invalid-request");
    // An auditor sees everything in scope, and is logged too.
    let auditor = app.token(MUNI, "auditor", "aud-1");
    let audit_view = app.get(&format!("/v1/cases/{case}"), &auditor).await.ok().body;
    assert_eq!(audit_view["access"], "audit");
    assert_eq!(audit_view["items"].as_array().map(Vec::len), Some(3));
    let log = app.get(&format!("/v1/audit/cases/{case}/access-log"), &auditor).await.ok().body;
    let entries = log["entries"].as_array().expect("entries");
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["reader"].as_str().unwrap_or_default().to_owned(),
                e["purpose"].as_str().unwrap_or_default().to_owned(),
                e["endpoint"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("cw-1".into(), "case_work".into(), "case".into()),
            ("cw-1".into(), "case_work".into(), "case".into()),
            ("co-1".into(), "course_planning".into(), "case".into()),
            ("aud-1".into(), "audit".into(), "case".into()),
            ("aud-1".into(), "audit".into(), "audit/access-log".into()),
        ]
    );
    assert_eq!(entries[2]["categories"], json!(["identity", "school"]), "the coordinator was shown two categories");
    // Only auditors read the log; other organisations' auditors do not see the case.
    app.get(&format!("/v1/audit/cases/{case}/access-log"), &cw).await.problem(403, "forbidden");
    app.get(&format!("/v1/audit/cases/{case}/access-log"), &app.token(OTHER_MUNI, "auditor", "x"))
        .await
        .problem(404, "not-found");
    // The subject-facing form: dates and purposes, no staff identity.
    let store = brobyg::store::Store::connect(&app.database_url(db), 1).await.expect("store");
    let raw = store.access_log(&case).await.expect("log");
    let subject = brobyg::api::audit::subject_form(&raw);
    assert_eq!(subject.len(), raw.len());
    let text = serde_json::to_string(&subject).expect("json");
    assert!(!text.contains("cw-1") && !text.contains("aud-1") && text.contains("course_planning"));
    store.close().await;
}
