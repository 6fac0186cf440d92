//! The journey over HTTP, every error class, isolation, concurrency and idempotency.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(
    the_whole_journey_from_open_to_closed,
    domain_refusals_surface_as_problem_slugs,
    every_error_class_is_a_clear_problem,
    organisations_are_isolated_both_ways,
    twenty_parallel_writes_lose_no_update,
    if_match_pins_the_version,
    an_idempotent_retry_returns_the_first_answer,
    lists_reflect_a_write_when_asked_to_wait_for_it,
    commits_close_together_reach_the_lists_in_one_view_batch_and_a_waiting_reader_does_not_wait_for_it,
    agreements_are_amended_and_terminated,
    the_openapi_document_covers_the_api_and_docs_render_offline,
);

fn ids(v: &Value, key: &str) -> HashSet<String> {
    v[key]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn the_whole_journey_from_open_to_closed(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let volunteer = app.volunteer(Some("2026-09-01")).await;

    let (case, _, holders) = app.open_case("2012-03-14").await;
    let identity = app.add_item(&case, &cw, "identity", "Mikkel, lives with his mother").await;
    let school = app.add_item(&case, &cw, "school", "7th grade, often absent on Mondays").await;
    let health = app.add_item(&case, &cw, "health", "Asthma").await;
    app.consent(
        &case,
        &holders,
        (NGO, "coordinator"),
        &["identity", "school", "wishes"],
        &["referral", "course_planning", "matching"],
    )
    .await
    .ok();
    app.consent(&case, &holders, (MUNI, "caseworker"), &["development"], &["closing_evaluation"]).await.ok();

    // The NGO does not know the case before the referral.
    app.get(&format!("/v1/cases/{case}"), &co).await.problem(404, "not-found");

    let referred = app.refer(&case, &agreement, &[&identity, &school]).await.ok();
    assert_eq!(referred.body["state"], "referred");

    // The coordinator sees exactly the referred items, and the young person's first name.
    let seen = app.get(&format!("/v1/cases/{case}"), &co).await.ok();
    assert_eq!(ids(&seen.body, "items"), HashSet::from([identity.clone(), school.clone()]));
    assert_eq!(seen.body["young_person"]["first_name"], "Mikkel");
    assert!(seen.body["young_person"].get("last_name").is_none());
    assert!(seen.body.get("custody_holders").is_none());
    assert_eq!(seen.body["redacted_categories"], json!(["health"]));
    assert!(!seen.body.to_string().contains("Asthma"));
    // The caseworker sees everything the municipality owns.
    let own = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert_eq!(ids(&own.body, "items"), HashSet::from([identity.clone(), school.clone(), health.clone()]));
    assert_eq!(own.header("etag").as_deref(), Some(format!("\"{}\"", own.body["version"]).as_str()));

    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"],
                "wishes": "Wants to try climbing and make a friend outside class.",
                "disclosures": [] }),
    )
    .await
    .ok();
    // The coordinator tags the young person's wishes for matching.
    app.post(
        &format!("/v1/cases/{case}/matching-needs"),
        &co,
        json!({ "tags": ["climbing"], "languages": ["da"], "area": "8660",
                "availability": [ { "weekday": "tue", "from": "16:00", "to": "19:00" } ] }),
    )
    .await
    .ok();
    let suggestions = app.get(&format!("/v1/cases/{case}/match-suggestions"), &co).await.ok();
    assert_eq!(suggestions.body["items"][0]["volunteer"], volunteer.as_str());
    assert!(suggestions.body["items"][0]["reasons"].to_string().contains("climbing"));
    assert_eq!(suggestions.body["items"][0]["lacks"], json!([]));
    let matched = app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    assert_eq!(matched.body["state"], "in_course");
    app.post(
        &format!("/v1/cases/{case}/activities"),
        &co,
        json!({ "on": "2026-12-01", "kind": "meeting", "note": "Climbing hall" }),
    )
    .await
    .ok();

    let concern = app
        .post(
            &format!("/v1/cases/{case}/concerns"),
            &co,
            json!({ "grounds": ["needs_support"], "text": "Came hungry three times", "observed_on": "2026-11-20" }),
        )
        .await
        .ok();
    assert!(concern.body["receipt_due"].is_string());
    let concern_id = concern.id();
    let for_municipality = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert_eq!(for_municipality.body["concerns"][0]["text"], "Came hungry three times");
    app.post(&format!("/v1/cases/{case}/concerns/{concern_id}/receipt"), &cw, json!({ "investigation_started": true }))
        .await
        .ok();
    let for_reporter = app.get(&format!("/v1/cases/{case}"), &co).await.ok();
    assert_eq!(for_reporter.body["concerns"][0]["investigation_started"], true);

    let development = app.add_item(&case, &co, "development", "More confident, joined a climbing club").await;
    // The NGO's note stays with the NGO until the closing meeting.
    let before = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert!(!ids(&before.body, "items").contains(&development));
    let closed = app
        .post(
            &format!("/v1/cases/{case}/closing-meeting"),
            &co,
            json!({ "held_on": "2026-12-01", "participants": ["coordinator", "caseworker", "young_person", "custody_holder", "volunteer"],
                    "disclosures": [ { "items": [development], "to": MUNI } ],
                    "outcomes": [ { "instrument": "sdq_total", "before": 19, "after": 14 } ] }),
        )
        .await
        .ok();
    assert_eq!(closed.body["state"], "closed");
    let after = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert!(ids(&after.body, "items").contains(&development));
    // The volunteer is free again.
    let v = app.get(&format!("/v1/volunteers/{volunteer}"), &co).await.ok();
    assert_eq!(v.body["assignments"], json!([]));

    let position = closed.header("x-brobyg-position").expect("position header");
    let caseload = app.get(&format!("/v1/cases?min_position={position}"), &cw).await.ok();
    assert_eq!(caseload.body["items"][0]["state"], "closed");
    let ngo_caseload = app.get(&format!("/v1/cases?min_position={position}"), &co).await.ok();
    assert_eq!(ngo_caseload.body["items"].as_array().map(Vec::len), Some(1));
}

async fn domain_refusals_surface_as_problem_slugs(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());

    // An agreement approved by one side only.
    let draft = app.post("/v1/agreements", &app.token(MUNI, "admin", "a"), agreement_body()).await.ok().id();
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    let health = app.add_item(&case, &cw, "health", "Asthma").await;
    app.refer(&case, &draft, &[&school]).await.problem(409, "agreement-not-approved");

    let agreement = app.approved_agreement().await;
    app.refer(&case, &agreement, &[&school]).await.problem(422, "consent-missing");
    app.consent(&case, &holders[..1], (NGO, "coordinator"), &["school"], &["referral"])
        .await
        .problem(422, "grantor-missing");
    app.consent(&case, &holders, (NGO, "coordinator"), &["school", "health"], &["referral"]).await.ok();
    app.refer(&case, &agreement, &[&school, &health]).await.problem(422, "category-not-in-agreement");
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" }))
        .await
        .problem(404, "not-found");
    app.refer(&case, &agreement, &[&school]).await.ok();
    app.refer(&case, &agreement, &[&school]).await.problem(409, "wrong-state");

    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
    )
    .await
    .ok();
    let unvetted = app.volunteer(None).await;
    app.post(&format!("/v1/cases/{case}/match"), &co, json!({ "volunteer": unvetted }))
        .await
        .problem(422, "volunteer-not-vetted");
    // The refused match did not take the volunteer's capacity.
    let v = app.get(&format!("/v1/volunteers/{unvetted}"), &co).await.ok();
    assert_eq!(v.body["assignments"], json!([]));
}

async fn every_error_class_is_a_clear_problem(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let (case, _, _) = app.open_case("2012-03-14").await;

    // 401: no token, a malformed token, a token signed by another key, an HS256 token.
    let none = app.send(Method::GET, &format!("/v1/cases/{case}"), None, None, &[]).await;
    none.problem(401, "unauthenticated");
    assert_eq!(none.header("www-authenticate").as_deref(), Some("Bearer"));
    app.get(&format!("/v1/cases/{case}"), "not-a-token").await.problem(401, "unauthenticated");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let foreign = brobyg::devkeys::DevKey::load_or_create(other_dir.path()).expect("key");
    let now = chrono::Utc::now().timestamp();
    let claims = brobyg::devkeys::Claims {
        sub: "x".into(),
        org: MUNI.into(),
        roles: vec!["caseworker".into()],
        iat: now,
        exp: now + 60,
        iss: "brobyg-dev".into(),
        aud: None,
    };
    app.get(&format!("/v1/cases/{case}"), &foreign.mint(&claims).expect("mint")).await.problem(401, "unauthenticated");
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .expect("hs256");
    app.get(&format!("/v1/cases/{case}"), &hs).await.problem(401, "unauthenticated");

    // 422: a NUL character in a query parameter (PostgreSQL stores no such text; the fuzzer's
    // `programme=í%00ª` was a 500 there), named, on both backends.
    let nul = app.get("/v1/cases?programme=%C3%AD%00%C2%AA&sort=name", &cw).await;
    nul.problem(422, "invalid-field");
    assert!(
        nul.body["detail"].as_str().is_some_and(|d| d.contains("programme") && d.contains("NUL")),
        "{:?}",
        nul.body
    );
    app.get("/v1/waiting-list?programme=a%00b", &app.coordinator()).await.problem(422, "invalid-field");

    // 403: a coordinator may not open a case.
    app.post(
        "/v1/cases",
        &app.coordinator(),
        json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2012-01-01" } }),
    )
    .await
    .problem(403, "forbidden");
    // 404: unknown and malformed ids.
    app.get(&format!("/v1/cases/{}", uuid::Uuid::new_v4()), &cw).await.problem(404, "not-found");
    app.get("/v1/cases/not-a-uuid", &cw).await.problem(404, "not-found");
    // 400: malformed JSON, an unknown field, a wrong type.
    let path = format!("/v1/cases/{case}/items");
    let raw = |body: &'static str| {
        let request = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&cw)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.expect("send") }
    };
    let malformed = raw("{\"category\": ").await;
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["type"], "/problems/invalid-body");
    let unknown = app.post(&path, &cw, json!({ "category": "school", "content": "x", "colour": "red" })).await;
    unknown.problem(400, "invalid-body");
    assert!(unknown.body["detail"].as_str().unwrap_or("").contains("colour"), "{}", unknown.body);
    app.post(&path, &cw, json!({ "category": "shoe size", "content": "x" })).await.problem(400, "invalid-body");
    // 415: not JSON.
    let text =
        app.client.post(format!("{}{path}", app.base)).bearer_auth(&cw).body("hello").send().await.expect("send");
    assert_eq!(text.status(), 415);
    // 413: above 1 MiB.
    let big = "x".repeat(1_100_000);
    app.post(&path, &cw, json!({ "category": "school", "content": big })).await.problem(413, "payload-too-large");
    // 422: domain validation.
    app.post(&path, &cw, json!({ "category": "school", "content": "  " })).await.problem(422, "invalid-field");
    // 409: wrong state.
    app.post(&format!("/v1/cases/{case}/match/end"), &cw, json!({ "reason": "x" })).await.problem(403, "forbidden");
    app.post(&format!("/v1/cases/{case}/withdrawal"), &cw, json!({ "by": "family", "reason": "moved" })).await.ok();
    app.post(&format!("/v1/cases/{case}/redirection"), &cw, json!({ "reason": "x" })).await.problem(409, "wrong-state");
    // Nothing of the refused requests was stored: the case has its open event, three... no items.
    let after = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert_eq!(after.body["items"], json!([]));
    assert_eq!(after.body["state"], "withdrawn");
    // Unknown routes are problems too.
    app.get("/v1/nothing-here", &cw).await.problem(404, "not-found");
}

async fn organisations_are_isolated_both_ways(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (case, items) = app.referred_case(&agreement).await;
    let other_muni = app.token(OTHER_MUNI, "caseworker", "cw-x");
    let other_ngo = app.token(OTHER_NGO, "coordinator", "co-x");
    app.get(&format!("/v1/cases/{case}"), &other_muni).await.problem(404, "not-found");
    app.get(&format!("/v1/cases/{case}"), &other_ngo).await.problem(404, "not-found");
    app.post(&format!("/v1/cases/{case}/items"), &other_muni, json!({ "category": "school", "content": "x" }))
        .await
        .problem(404, "not-found");
    app.post(&format!("/v1/cases/{case}/referral/decision"), &other_ngo, json!({ "decision": "accept" }))
        .await
        .problem(404, "not-found");
    app.get(&format!("/v1/agreements/{agreement}"), &other_ngo).await.problem(404, "not-found");
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    app.get(&format!("/v1/volunteers/{volunteer}"), &other_ngo).await.problem(404, "not-found");
    // Another NGO cannot match its own volunteer into this case either.
    app.post(&format!("/v1/cases/{case}/match"), &other_ngo, json!({ "volunteer": volunteer }))
        .await
        .problem(404, "not-found");
    // NGO-owned items stay with the NGO.
    let co = app.coordinator();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    let note = app.add_item(&case, &co, "background", "Talked about his brother").await;
    let seen = app.get(&format!("/v1/cases/{case}"), &app.caseworker()).await.ok();
    let visible = ids(&seen.body, "items");
    assert!(!visible.contains(&note));
    assert!(items.iter().all(|i| visible.contains(i)));
    // Caseloads: each sees its own.
    let other_list = app.get("/v1/cases", &other_muni).await.ok();
    assert_eq!(other_list.body["items"], json!([]));
    let other_volunteers = app.get("/v1/volunteers", &other_ngo).await.ok();
    assert_eq!(other_volunteers.body["items"], json!([]));
}

async fn twenty_parallel_writes_lose_no_update(db: &TestDb) {
    let app = std::sync::Arc::new(TestApp::spawn(db).await);
    let (case, _, _) = app.open_case("2012-03-14").await;
    let cw = app.caseworker();
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let (app, case, cw) = (app.clone(), case.clone(), cw.clone());
            tokio::spawn(async move {
                app.post(
                    &format!("/v1/cases/{case}/items"),
                    &cw,
                    json!({ "category": "school", "content": format!("note {n}") }),
                )
                .await
            })
        })
        .collect();
    let mut created = HashSet::new();
    for task in tasks {
        let answer = task.await.expect("task");
        match answer.status {
            StatusCode::CREATED => {
                created.insert(answer.id());
            }
            StatusCode::CONFLICT => answer.problem(409, "version-conflict"),
            other => panic!("expected 201 or 409, got {other} {}", answer.body),
        }
    }
    let case_now = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert_eq!(ids(&case_now.body, "items"), created, "every acknowledged write is there, nothing else");
    assert_eq!(case_now.body["version"], json!(1 + created.len()));
}

async fn if_match_pins_the_version(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (case, _, _) = app.open_case("2012-03-14").await;
    let cw = app.caseworker();
    let path = format!("/v1/cases/{case}/items");
    let first = app
        .send(
            Method::POST,
            &path,
            Some(&cw),
            Some(json!({ "category": "school", "content": "a" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("etag").as_deref(), Some("\"2\""));
    let stale = app
        .send(
            Method::POST,
            &path,
            Some(&cw),
            Some(json!({ "category": "school", "content": "b" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.problem(412, "precondition-failed");
    app.send(
        Method::POST,
        &path,
        Some(&cw),
        Some(json!({ "category": "school", "content": "b" })),
        &[("if-match", "soon")],
    )
    .await
    .problem(400, "invalid-request");
}

async fn an_idempotent_retry_returns_the_first_answer(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (case, _, _) = app.open_case("2012-03-14").await;
    let cw = app.caseworker();
    let path = format!("/v1/cases/{case}/items");
    let body = json!({ "category": "school", "content": "once" });
    let key = [("idempotency-key", "retry-1")];
    let first = app.send(Method::POST, &path, Some(&cw), Some(body.clone()), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.send(Method::POST, &path, Some(&cw), Some(body), &key).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotency-replayed").as_deref(), Some("true"));
    assert_eq!(again.header("etag"), first.header("etag"));
    let other =
        app.send(Method::POST, &path, Some(&cw), Some(json!({ "category": "school", "content": "twice" })), &key).await;
    other.problem(422, "idempotency-key-reused");
    // Another user's key space is their own.
    let colleague = app.token(MUNI, "caseworker", "cw-2");
    let theirs = app
        .send(Method::POST, &path, Some(&colleague), Some(json!({ "category": "school", "content": "theirs" })), &key)
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let case_now = app.get(&format!("/v1/cases/{case}"), &cw).await.ok();
    assert_eq!(case_now.body["items"].as_array().map(Vec::len), Some(2));
}

async fn lists_reflect_a_write_when_asked_to_wait_for_it(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let mut last = None;
    for _ in 0..3 {
        let answer = app
            .post(
                "/v1/cases",
                &cw,
                json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2010-01-01" } }),
            )
            .await
            .ok();
        last = answer.header("x-brobyg-position");
    }
    let position = last.expect("position");
    let page = app.get(&format!("/v1/cases?min_position={position}&limit=2"), &cw).await.ok();
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    let next = page.body["next_cursor"].as_str().expect("a next page");
    let rest = app.get(&format!("/v1/cases?cursor={next}"), &cw).await.ok();
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(1));
    app.get("/v1/cases?min_position=nonsense", &cw).await.problem(400, "invalid-request");
    app.get("/v1/cases?colour=red", &cw).await.problem(400, "invalid-request");
}

/// The views let the commits of a moment gather and write them in one transaction (on SQLite
/// one durable commit on the writer the commands need, not one per command); a reader that
/// asks for its own write is answered at once all the same. The gather is made long here so
/// that both show without a race.
async fn commits_close_together_reach_the_lists_in_one_view_batch_and_a_waiting_reader_does_not_wait_for_it(
    db: &TestDb,
) {
    let gather = std::time::Duration::from_secs(3);
    let data_dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_with(db, data_dir, |s| s.views_gather_ms = gather.as_millis() as u64).await;
    let cw = app.caseworker();
    let body = || json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2010-01-01" } });
    let batches = || async {
        let text =
            app.client.get(format!("{}/metrics", app.base)).send().await.expect("scrape").text().await.expect("text");
        text.lines().find_map(|l| l.strip_prefix("views_batches_total ")).map_or(0.0, |v| v.parse().expect("a number"))
    };
    // The views have read the empty store to its end: the next commit finds them idle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ready: Value =
            app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz").json().await.expect("json");
        if ready["workers"]["views"]["state"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the views never ran: {ready}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = batches().await;

    // Five commands at once, then a reader asking for the last one's position.
    let answers = futures::future::join_all((0..5).map(|_| app.post("/v1/cases", &cw, body()))).await;
    let last = answers
        .iter()
        .map(|a| a.header("x-brobyg-position").expect("position").parse::<brobyg::store::Cursor>().expect("a cursor"))
        .max()
        .expect("five");
    let asked = std::time::Instant::now();
    let page = app.get(&format!("/v1/cases?min_position={last}"), &cw).await.ok();
    assert!(asked.elapsed() < gather / 2, "the reader waited for the gather: {:?}", asked.elapsed());
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(5), "every command's case is listed");
    let used = batches().await - before;
    assert!((1.0..=2.0).contains(&used), "five commits close together took {used} view batches");

    // Left alone, a command reaches the lists once the gather is over, not before.
    app.post("/v1/cases", &cw, body()).await.ok();
    let listed =
        || async { app.get("/v1/cases?limit=100", &cw).await.ok().body["items"].as_array().map_or(0, Vec::len) };
    assert_eq!(listed().await, 5, "the views wait for more commits to gather");
    let deadline = std::time::Instant::now() + gather * 3;
    while listed().await < 6 {
        assert!(std::time::Instant::now() < deadline, "the views never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn agreements_are_amended_and_terminated(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (m_admin, n_admin) = (app.token(MUNI, "admin", "adm-m"), app.token(NGO, "admin", "adm-n"));
    let mut amended = agreement_body();
    amended["retention_days_after_closing"] = json!(90);
    let a = app.post(&format!("/v1/agreements/{agreement}/amendments"), &n_admin, amended).await.ok();
    assert_eq!(
        (a.body["version"].clone(), a.body["status"].clone(), a.body["in_force_version"].clone()),
        (json!(2), json!("draft"), json!(1))
    );
    // Referrals continue under version 1 while version 2 awaits approval.
    let (case, _) = app.referred_case(&agreement).await;
    assert!(!case.is_empty());
    // An approval of version 1, read before the amendment, does not approve version 2.
    app.post(&format!("/v1/agreements/{agreement}/approvals"), &m_admin, json!({ "version": 1 }))
        .await
        .problem(409, "version-conflict");
    app.post(&format!("/v1/agreements/{agreement}/approvals"), &m_admin, json!({ "version": 2 })).await.ok();
    let in_force =
        app.post(&format!("/v1/agreements/{agreement}/approvals"), &n_admin, json!({ "version": 2 })).await.ok();
    assert_eq!(in_force.body["in_force_version"], 2);
    app.post(&format!("/v1/agreements/{agreement}/termination"), &m_admin, json!({ "reason": "programme ended" }))
        .await
        .ok();
    let (case2, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case2, &app.caseworker(), "school", "x").await;
    app.consent(&case2, &holders, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    app.refer(&case2, &agreement, &[&school]).await.problem(409, "agreement-terminated");
    app.post(&format!("/v1/agreements/{agreement}/amendments"), &m_admin, agreement_body())
        .await
        .problem(409, "agreement-terminated");
}

async fn the_openapi_document_covers_the_api_and_docs_render_offline(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let doc: Value =
        app.client.get(format!("{}/openapi.json", app.base)).send().await.expect("get").json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/agreements",
        "/v1/agreements/{id}/approvals",
        "/v1/agreements/{id}",
        "/v1/volunteers",
        "/v1/volunteers/{id}/vetting",
        "/v1/cases",
        "/v1/cases/{id}",
        "/v1/cases/{id}/items",
        "/v1/cases/{id}/consents",
        "/v1/cases/{id}/consents/{cid}/revocation",
        "/v1/cases/{id}/referral",
        "/v1/cases/{id}/referral/decision",
        "/v1/cases/{id}/pre-meeting",
        "/v1/cases/{id}/match",
        "/v1/cases/{id}/match/end",
        "/v1/cases/{id}/match-suggestions",
        "/v1/cases/{id}/activities",
        "/v1/cases/{id}/concerns",
        "/v1/cases/{id}/concerns/{cid}/receipt",
        "/v1/concerns",
        "/v1/cases/{id}/closing-meeting",
        "/v1/cases/{id}/withdrawal",
        "/v1/cases/{id}/redirection",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(path), "the OpenAPI document lacks {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.client.get(format!("{}/docs/", app.base)).send().await.expect("docs");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(!html.contains("https://"), "the docs page loads nothing from the internet");
    let init = app.client.get(format!("{}/docs/swagger-initializer.js", app.base)).send().await.expect("init");
    assert!(init.text().await.expect("js").contains("/openapi.json"));
}
