//! The journey as practitioners run it (seed 004, Boks 6-7): meetings planned, moved, missed and
//! held with who took part; each party disclosing its own items under its own user; measures from
//! baseline to follow-up; closing after a volunteer left; the case read back as a timeline.

use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(
    meetings_measures_and_the_timeline_as_each_party_may_see_them,
    a_course_closes_after_the_volunteer_left_and_is_followed_up,
    mistakes_the_service_refuses_with_what_to_type,
    a_young_person_referred_again_is_one_subject_to_export_and_erase,
    custody_changes_follow_the_consent_rule_and_stay_with_the_municipality,
    a_caseload_people_can_read,
    the_municipality_follows_a_running_course_where_the_agreement_allows,
    a_family_moves_and_the_case_goes_to_the_new_municipality,
    the_waiting_list_shows_who_waits_and_what_blocks_each_match,
);

fn today() -> chrono::NaiveDate {
    brobyg_domain::calendar::copenhagen_date(chrono::Utc::now())
}

/// Every entry of a case's timeline, following `next_after` through pages of `limit`.
async fn whole_timeline(app: &TestApp, case: &str, token: &str, limit: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let page = app.get(&format!("/v1/cases/{case}/timeline?limit={limit}&after={after}"), token).await.ok().body;
        entries.extend(page["entries"].as_array().cloned().unwrap_or_default());
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return entries,
        }
    }
}

/// Accepts a referred case and records its pre-meeting on `held_on`, with everyone present.
async fn accepted_and_met(app: &TestApp, case: &str, held_on: chrono::NaiveDate) {
    let co = app.coordinator();
    app.post(&format!("/v1/cases/{case}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    app.post(
        &format!("/v1/cases/{case}/pre-meeting"),
        &co,
        json!({ "held_on": held_on.to_string(),
                "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
    )
    .await
    .ok();
}

fn events(entries: &[Value]) -> Vec<&str> {
    entries.iter().filter_map(|e| e["event"].as_str()).collect()
}

async fn meetings_measures_and_the_timeline_as_each_party_may_see_them(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let (case, items) = app.referred_case(&agreement).await;
    let school = &items[1];
    let path = |s: &str| format!("/v1/cases/{case}{s}");
    app.post(&path("/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();

    // The caseworker plans the pre-meeting; the coordinator moves it, with the NGO's reason.
    let planned = app
        .post(
            &path("/meetings"),
            &cw,
            json!({ "checkpoint": "pre_meeting", "on": (today() + chrono::TimeDelta::days(2)).to_string(),
                    "invited": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
        )
        .await
        .ok();
    let meeting = planned.id();
    app.post(
        &path("/meetings"),
        &co,
        json!({ "checkpoint": "pre_meeting", "on": today().to_string(), "invited": ["coordinator"] }),
    )
    .await
    .problem(409, "wrong-state");
    app.post(
        &path(&format!("/meetings/{meeting}/move")),
        &co,
        json!({ "to": today().to_string(), "reason": "Mother in hospital this week" }),
    )
    .await
    .ok();

    // Held: who must take part is present or absent with a reason.
    let held = |participants: Value, absent: Value| {
        json!({ "held_on": today().to_string(), "meeting": meeting, "participants": participants, "absent": absent,
                "wishes": "Wants to try climbing" })
    };
    app.post(&path("/pre-meeting"), &co, held(json!([]), json!([]))).await.problem(422, "invalid-field");
    let missing = app.post(&path("/pre-meeting"), &co, held(json!(["coordinator", "caseworker"]), json!([]))).await;
    missing.problem(422, "participants-missing");
    assert!(
        missing.body["detail"].as_str().is_some_and(|d| d.contains("young_person") && d.contains("custody_holder"))
    );
    app.post(
        &path("/pre-meeting"),
        &co,
        held(
            json!(["coordinator", "caseworker", "young_person"]),
            json!([ { "participant": "custody_holder", "reason": "Father works nights" } ]),
        ),
    )
    .await
    .ok();

    // Each party discloses its own items, under its own user.
    app.post(&path("/disclosures"), &co, json!({ "checkpoint": "pre_meeting", "items": [school] }))
        .await
        .problem(422, "item-not-owned");
    let disclosed =
        app.post(&path("/disclosures"), &cw, json!({ "checkpoint": "pre_meeting", "items": [school] })).await.ok();
    assert_eq!(disclosed.body["to"], NGO);
    app.post(&path("/disclosures"), &cw, json!({ "checkpoint": "closing_meeting", "items": [school] }))
        .await
        .problem(409, "checkpoint-not-open");

    // A baseline measure is the NGO's development item.
    let baseline = app
        .post(
            &path("/measures"),
            &co,
            json!({ "instrument": "sdq_total", "point": "baseline", "on": today().to_string(), "value": 19 }),
        )
        .await
        .ok();
    assert_eq!(baseline.body["category"], "development");
    app.post(&path("/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    app.post(
        &path("/activities"),
        &co,
        json!({ "on": today().to_string(), "kind": "climbing", "note": "Reached the top twice", "on_track": true }),
    )
    .await
    .ok();

    // The coordinator reads the NGO's course back: meetings with reasons, the log, the match.
    let ngo_view = app.get(&path(""), &co).await.ok().body;
    let m = &ngo_view["meetings"][0];
    assert_eq!((m["status"].as_str(), m["id"].as_str()), (Some("held"), Some(meeting.as_str())));
    assert_eq!(m["present"], json!(["coordinator", "caseworker", "young_person"]));
    assert_eq!(m["absent"][0]["reason"], "Father works nights");
    assert_eq!(m["changes"][0]["reason"], "Mother in hospital this week");
    assert_eq!(ngo_view["activities"][0]["on_track"], true);
    assert_eq!(ngo_view["matches"][0]["volunteer"], volunteer.as_str());
    assert_eq!(ngo_view["referral"]["note"], "Could use a friend");
    let score = ngo_view["items"].as_array().expect("items").iter().find(|i| i["score"].is_object()).cloned();
    assert_eq!(score.expect("a score item")["score"]["value"], 19.0);

    // The caseworker follows the course without its content: dates and who took part, no reasons,
    // no log, no measure the NGO has not disclosed.
    let muni_view = app.get(&path(""), &cw).await.ok().body;
    let m = &muni_view["meetings"][0];
    assert_eq!(m["status"], "held");
    assert_eq!(m["absent"][0]["participant"], "custody_holder");
    assert!(m["absent"][0].get("reason").is_none());
    assert_eq!(m["changes"][0]["organisation"], NGO);
    assert!(m["changes"][0].get("reason").is_none());
    assert!(muni_view.get("activities").is_none());
    assert_eq!(muni_view["matches"][0]["volunteer"], volunteer.as_str());
    let muni_text = muni_view.to_string();
    for secret in ["Father works nights", "Mother in hospital", "Reached the top", "sdq_total"] {
        assert!(!muni_text.contains(secret), "the municipality's view holds {secret:?}");
    }

    // The timeline: each party's events as the feed would deliver them, the same through pages.
    let muni_line = whole_timeline(&app, &case, &cw, 3).await;
    assert_eq!(muni_line, whole_timeline(&app, &case, &cw, 500).await, "pages join up");
    let muni_events = events(&muni_line);
    for expected in ["case_opened", "referral_submitted", "meeting_planned", "meeting_moved", "pre_meeting_held"] {
        assert!(muni_events.contains(&expected), "{expected} in {muni_events:?}");
    }
    assert!(!muni_events.contains(&"activity_logged"), "the course log stays with the NGO");
    let disclosure = muni_line
        .iter()
        .find(|e| e["event"] == "information_disclosed" && e["data"]["disclosure"]["checkpoint"] == "pre_meeting");
    let disclosure = disclosure.expect("the caseworker's disclosure");
    assert_eq!(disclosure["by"], "cw-1");
    assert_eq!(disclosure["organisation"], MUNI);
    let muni_text = serde_json::to_string(&muni_line).expect("json");
    for secret in ["Father works nights", "Mother in hospital", "Reached the top", "Wants to try climbing"] {
        assert!(!muni_text.contains(secret), "the municipality's timeline holds {secret:?}");
    }
    let ngo_line = whole_timeline(&app, &case, &co, 4).await;
    let ngo_events = events(&ngo_line);
    assert!(!ngo_events.contains(&"case_opened"), "the NGO did not see the case opened");
    assert!(ngo_events.contains(&"activity_logged"));
    let ngo_text = serde_json::to_string(&ngo_line).expect("json");
    assert!(ngo_text.contains("Father works nights") && ngo_text.contains("Reached the top"));
    assert!(!ngo_text.contains("Asthma"), "the undisclosed health item never reaches the NGO");

    // Each timeline read is in the access log, with what it carried.
    let auditor = app.token(MUNI, "auditor", "aud-m");
    let log = app.get(&format!("/v1/audit/cases/{case}/access-log"), &auditor).await.ok().body;
    let reads: Vec<&Value> =
        log["entries"].as_array().expect("entries").iter().filter(|e| e["endpoint"] == "timeline").collect();
    assert!(reads.iter().any(|e| e["organisation"] == NGO && e["categories"].to_string().contains("note")));
    // Not a party: the case does not exist.
    let stranger = app.token(OTHER_NGO, "coordinator", "co-x");
    app.get(&path("/timeline"), &stranger).await.problem(404, "not-found");
    app.get(&path("/timeline?limit=0"), &co).await.problem(400, "invalid-request");
    for after in ["-1", "9223372036854775808"] {
        app.get(&path(&format!("/timeline?after={after}")), &co).await.problem(400, "invalid-request");
    }
}

async fn a_course_closes_after_the_volunteer_left_and_is_followed_up(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let (case, _) = app.referred_case(&agreement).await;
    let path = |s: &str| format!("/v1/cases/{case}{s}");
    let yesterday = today() - chrono::TimeDelta::days(1);
    accepted_and_met(&app, &case, yesterday).await;
    app.post(&path("/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    app.post(&path("/match/end"), &co, json!({ "reason": " " })).await.problem(422, "invalid-field");
    app.post(&path("/match/end"), &co, json!({ "reason": "The volunteer moved to Aalborg" })).await.ok();
    // Checkpoint 3 and the outcomes are not lost when the volunteer stops.
    let closed = app
        .post(
            &path("/closing-meeting"),
            &co,
            json!({ "held_on": yesterday.to_string(), "participants": ["coordinator", "caseworker", "young_person", "custody_holder"],
                    "outcomes": [ { "instrument": "sdq_total", "before": 19, "after": 15 } ] }),
        )
        .await
        .ok();
    assert_eq!(closed.body["state"], "closed");
    // A follow-up measure months later (here: the day after the meeting).
    app.post(
        &path("/measures"),
        &co,
        json!({ "instrument": "sdq_total", "point": "follow_up", "on": yesterday.to_string(), "value": 12 }),
    )
    .await
    .problem(422, "invalid-field");
    let follow_up = app
        .post(
            &path("/measures"),
            &co,
            json!({ "instrument": "sdq_total", "point": "follow_up", "on": today().to_string(), "value": 12 }),
        )
        .await
        .ok();
    assert_eq!(follow_up.body["category"], "outcome");
    // Only a measure may be recorded after closing.
    app.post(&path("/items"), &co, json!({ "category": "development", "content": "x" }))
        .await
        .problem(409, "wrong-state");
    let view = app.get(&path(""), &co).await.ok().body;
    assert_eq!(view["matches"][0]["end_reason"], "The volunteer moved to Aalborg");
    assert_eq!(view["meetings"].as_array().map(Vec::len), Some(2));
    let muni = app.get(&path(""), &cw).await.ok().body;
    assert!(muni["matches"][0].get("end_reason").is_none());
    assert!(muni["matches"][0]["ended_at"].is_string());
}

async fn mistakes_the_service_refuses_with_what_to_type(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    // A Danish-style birth date names the field and the form to use, and never echoes the value.
    let wrong = app
        .post(
            "/v1/cases",
            &cw,
            json!({ "young_person": { "first_name": "Ida", "last_name": "Holm", "birth_date": "14-03-2012" } }),
        )
        .await;
    wrong.problem(400, "invalid-body");
    assert_eq!(wrong.body["detail"], "young_person.birth_date: expected a date as YYYY-MM-DD (e.g. 2012-03-14)");
    assert!(!wrong.body.to_string().contains("14-03-2012"));

    let agreement = app.approved_agreement().await;
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let (case, _) = app.referred_case(&agreement).await;
    let path = |s: &str| format!("/v1/cases/{case}{s}");
    // A concern from a volunteer names one of the NGO's volunteers.
    let unknown = uuid::Uuid::new_v4();
    app.post(
        &path("/concerns"),
        &co,
        json!({ "grounds": ["needs_support"], "text": "Seemed hungry", "observed_on": today().to_string(), "volunteer": unknown }),
    )
    .await
    .problem(422, "unknown-volunteer");
    // A volunteer with a match cannot retire and leave the case in course with nobody.
    accepted_and_met(&app, &case, today()).await;
    app.post(&path("/match"), &co, json!({ "volunteer": volunteer })).await.ok();
    let retire = app.post(&format!("/v1/volunteers/{volunteer}/status"), &co, json!({ "status": "retired" })).await;
    retire.problem(409, "wrong-state");
    assert!(retire.body["detail"].as_str().is_some_and(|d| d.contains(&case)));
    // Renewing the declaration keeps the child certificate.
    app.post(
        &format!("/v1/volunteers/{volunteer}/vetting"),
        &co,
        json!({ "confidentiality_declaration_date": today().to_string() }),
    )
    .await
    .ok();
    let v = app.get(&format!("/v1/volunteers/{volunteer}"), &co).await.ok().body;
    assert_eq!(v["child_certificate_date"], "2026-09-01");
    // Redirection is the caseworker's decision.
    app.post(&path("/redirection"), &co, json!({ "reason": "Needs more" })).await.problem(403, "forbidden");
}

async fn a_young_person_referred_again_is_one_subject_to_export_and_erase(db: &TestDb) {
    let app = TestApp::spawn_with(db, tempfile::tempdir().expect("dir"), |s| s.municipal_retention_days = 0).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (first, _) = app.referred_case(&agreement).await;
    let first_view = app.get(&format!("/v1/cases/{first}"), &cw).await.ok().body;
    let subject = first_view["young_person"]["id"].as_str().expect("person").to_owned();
    let holders: Vec<Value> = first_view["custody_holders"].as_array().expect("holders").clone();
    app.post(
        &format!("/v1/cases/{first}/referral/decision"),
        &co,
        json!({ "decision": "decline", "reason": "No volunteer nearby" }),
    )
    .await
    .ok();

    // The re-referral carries the earlier case's persons: no names typed again, the same ids.
    app.post("/v1/cases", &cw, json!({ "earlier_case": first, "young_person": { "first_name": "M", "last_name": "J", "birth_date": "2012-03-14" } }))
        .await
        .problem(422, "invalid-field");
    app.post("/v1/cases", &cw, json!({})).await.problem(422, "invalid-field");
    app.post("/v1/cases", &cw, json!({ "earlier_case": uuid::Uuid::new_v4() })).await.problem(422, "unknown-case");
    let other_muni = app.token(OTHER_MUNI, "caseworker", "cw-x");
    app.post("/v1/cases", &other_muni, json!({ "earlier_case": first })).await.problem(422, "unknown-case");
    let again = app.post("/v1/cases", &cw, json!({ "earlier_case": first })).await.ok();
    assert_eq!(again.body["young_person"]["id"], subject.as_str());
    let second = again.id();
    let second_view = app.get(&format!("/v1/cases/{second}"), &cw).await.ok().body;
    assert_eq!(second_view["earlier_case"], first.as_str());
    assert_eq!(second_view["young_person"]["first_name"], "Mikkel");
    assert_eq!(&second_view["custody_holders"].as_array().expect("holders")[..], &holders[..]);
    app.post("/v1/cases", &cw, json!({ "earlier_case": second })).await.problem(409, "wrong-state");

    // The subject's export holds both cases.
    let export = app.get(&format!("/v1/subjects/{subject}/export"), &cw).await.ok().body;
    let cases: Vec<&str> =
        export["cases"].as_array().expect("cases").iter().filter_map(|c| c["case"].as_str()).collect();
    assert_eq!(cases, vec![first.as_str(), second.as_str()]);
    assert_eq!(export["case"], second.as_str());

    // Erasure covers both, or neither: the open second case keeps the first too.
    let refused = app.post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "GDPR art. 17" })).await;
    refused.problem(409, "wrong-state");
    assert!(refused.body["detail"].as_str().is_some_and(|d| d.contains(&second)));
    let still = app.get(&format!("/v1/cases/{first}"), &cw).await.ok().body;
    assert_eq!(still["young_person"]["first_name"], "Mikkel");
    app.post(&format!("/v1/cases/{second}/withdrawal"), &cw, json!({ "by": "family", "reason": "Moved away" }))
        .await
        .ok();
    let erased =
        app.post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "GDPR art. 17" })).await.ok();
    assert_eq!(erased.body["cases"], json!([first, second]));
    for case in [&first, &second] {
        let view = app.get(&format!("/v1/cases/{case}"), &cw).await.ok().body;
        assert_eq!(view["young_person"]["first_name"], "[erased]", "{case}");
    }
}

async fn custody_changes_follow_the_consent_rule_and_stay_with_the_municipality(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (case, _, holders) = app.open_case("2012-03-14").await;
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    app.consent(&case, &holders, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    let path = |s: &str| format!("/v1/cases/{case}{s}");
    // A guardian is for a young person nobody holds custody of.
    app.post(&path("/custody-holders"), &cw, json!({ "name": "Værge Hansen", "guardian": true }))
        .await
        .problem(422, "invalid-field");
    let stepmother = app.post(&path("/custody-holders"), &cw, json!({ "name": "Lise Jensen" })).await.ok().id();
    // A role that may not disclose hears so first, whatever the case's state.
    let auditor = app.token(MUNI, "auditor", "aud-m");
    app.post(&path("/disclosures"), &auditor, json!({ "checkpoint": "pre_meeting", "items": [] }))
        .await
        .problem(403, "forbidden");
    app.post(&path("/custody-holders"), &co, json!({ "name": "x" })).await.problem(404, "not-found");
    // The consent the parents gave lacks the new custody holder's grant: nothing crosses on it.
    let refused = app.refer(&case, &agreement, &[&school]).await;
    refused.problem(422, "grantor-missing");
    assert!(refused.body["detail"].as_str().is_some_and(|d| d.contains(&stepmother)));
    app.post(&path(&format!("/custody-holders/{}/removal", holders[1])), &cw, json!({ "reason": "custody decision" }))
        .await
        .ok();
    let today: Vec<String> = vec![holders[0].clone(), stepmother.clone()];
    app.consent(&case, &today, (NGO, "coordinator"), &["school"], &["referral"]).await.ok();
    app.refer(&case, &agreement, &[&school]).await.ok();
    let view = app.get(&path(""), &cw).await.ok().body;
    let names: Vec<&str> =
        view["custody_holders"].as_array().expect("holders").iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(names, vec!["Anne Jensen", "Lise Jensen"]);
    // The family's changes stay with the municipality.
    let ngo_line = whole_timeline(&app, &case, &co, 100).await;
    assert!(!events(&ngo_line).iter().any(|e| e.starts_with("custody_holder")), "{ngo_line:?}");
    assert!(!serde_json::to_string(&ngo_line).expect("json").contains("Lise"));
}

/// Opens a case for `first last` born `birth`, with an identity item and a consent that lets it
/// reach the NGO at the referral; returns (case, identity item).
async fn named_case(app: &TestApp, first: &str, last: &str, birth: &str) -> (String, String) {
    let cw = app.caseworker();
    let opened = app
        .post(
            "/v1/cases",
            &cw,
            json!({ "young_person": { "first_name": first, "last_name": last, "birth_date": birth },
                    "custody_holders": [ { "name": format!("Forælder {last}") } ] }),
        )
        .await
        .ok();
    let case = opened.id();
    let mut grantors: Vec<String> = opened.body["custody_holders"]
        .as_array()
        .expect("holders")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_owned())
        .collect();
    grantors.push(opened.body["young_person"]["id"].as_str().expect("id").to_owned());
    let identity = app.add_item(&case, &cw, "identity", &format!("{first} {last}")).await;
    app.consent(&case, &grantors, (NGO, "coordinator"), &["identity", "school"], &["referral"]).await.ok();
    (case, identity)
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().expect("items").iter().map(|i| i["name"].as_str().unwrap_or("-").to_owned()).collect()
}

async fn a_caseload_people_can_read(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = app.approved_agreement().await;
    let (mikkel, identity) = named_case(&app, "Mikkel", "Jensen", "2012-03-14").await;
    let (ida, _) = named_case(&app, "Ida", "Holm", "2011-05-02").await;
    let (aya, _) = named_case(&app, "Aya", "Nielsen", "2010-08-20").await;
    app.refer(&mikkel, &agreement, &[&identity]).await.ok();
    // Aya is referred without her identity item: the NGO does not learn her name.
    let last = app.refer(&aya, &agreement, &[]).await.ok();
    app.post(&format!("/v1/cases/{aya}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    let in_five = today() + chrono::TimeDelta::days(5);
    app.post(
        &format!("/v1/cases/{aya}/meetings"),
        &cw,
        json!({ "checkpoint": "pre_meeting", "on": in_five.to_string(), "invited": ["coordinator", "caseworker"] }),
    )
    .await
    .ok();
    let concern = app
        .post(
            &format!("/v1/cases/{mikkel}/concerns"),
            &co,
            json!({ "grounds": ["needs_support"], "text": "Seemed hungry", "observed_on": today().to_string() }),
        )
        .await
        .ok();
    let position = concern.header("x-brobyg-position").or(last.header("x-brobyg-position")).expect("position");
    let list = |query: String, token: String| {
        let (app, position) = (&app, position.clone());
        async move { app.get(&format!("/v1/cases?min_position={position}&{query}"), &token).await.ok().body }
    };

    // The caseworker sees names, what each case waits for, and the next deadline.
    let all = list(String::new(), cw.clone()).await;
    assert_eq!(names(&all), vec!["Mikkel Jensen", "Ida Holm", "Aya Nielsen"]);
    let rows = all["items"].as_array().expect("items");
    assert_eq!(rows[0]["waits_for"], "concern_receipt");
    assert_eq!(rows[0]["next_deadline"]["kind"], "concern_receipt");
    assert_eq!(rows[1]["waits_for"], "referral");
    assert!(rows[1].get("next_deadline").is_none());
    assert_eq!(rows[2]["waits_for"], "pre_meeting");
    assert_eq!(rows[2]["next_deadline"], json!({ "on": in_five.to_string(), "kind": "meeting" }));
    assert_eq!(rows[1]["age"], 15);
    // Sorted and filtered.
    assert_eq!(names(&list("sort=name".into(), cw.clone()).await), vec!["Aya Nielsen", "Ida Holm", "Mikkel Jensen"]);
    assert_eq!(
        names(&list("sort=deadline".into(), cw.clone()).await),
        vec!["Mikkel Jensen", "Aya Nielsen", "Ida Holm"]
    );
    assert_eq!(names(&list("name=HOLM".into(), cw.clone()).await), vec!["Ida Holm"]);
    assert_eq!(names(&list("state=opened".into(), cw.clone()).await), vec!["Ida Holm"]);
    assert_eq!(
        names(&list("programme=klub-move&sort=name".into(), cw.clone()).await),
        vec!["Aya Nielsen", "Mikkel Jensen"]
    );
    let first = list("sort=name&limit=2".into(), cw.clone()).await;
    assert_eq!(first["next_cursor"], "2");
    assert_eq!(names(&list("sort=name&limit=2&cursor=2".into(), cw.clone()).await), vec!["Mikkel Jensen"]);
    let keyset = list("limit=2".into(), cw.clone()).await;
    let cursor = keyset["next_cursor"].as_str().expect("cursor").replace('|', "%7C");
    assert_eq!(names(&list(format!("limit=2&cursor={cursor}"), cw.clone()).await), vec!["Aya Nielsen"]);
    app.get("/v1/cases?sort=surname", &cw).await.problem(400, "invalid-request");
    app.get(&format!("/v1/cases?name={}", "a".repeat(101)), &cw).await.problem(400, "invalid-request");
    app.get("/v1/cases?programme=", &cw).await.problem(400, "invalid-request");
    app.get("/v1/cases?sort=name&cursor=123456", &cw).await.problem(400, "invalid-request");
    app.get("/v1/cases?cursor=12", &cw).await.problem(422, "invalid-field");
    app.get(&format!("/v1/cases?sort=name&cursor={cursor}"), &cw).await.problem(422, "invalid-field");

    // The coordinator sees the first name and age once the identity item reached the NGO.
    let ngo = list(String::new(), co.clone()).await;
    let rows = ngo["items"].as_array().expect("items");
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["name"].as_str(), rows[0]["age"].as_u64()), (Some("Mikkel"), Some(14)));
    assert!(rows[1].get("name").is_none() && rows[1].get("age").is_none(), "{ngo}");
    assert!(!ngo.to_string().contains("Jensen") && !ngo.to_string().contains("Aya"));
    assert_eq!(rows[1]["waits_for"], "pre_meeting");
    assert!(names(&list("name=aya".into(), co.clone()).await).is_empty(), "a name the NGO does not see is no match");

    // Showing a name is a read: in the access log.
    let auditor = app.token(MUNI, "auditor", "aud-m");
    let log = app.get(&format!("/v1/audit/cases/{ida}/access-log"), &auditor).await.ok().body;
    assert!(log["entries"].as_array().expect("entries").iter().any(|e| e["endpoint"] == "caseload"), "{log}");
}

async fn the_municipality_follows_a_running_course_where_the_agreement_allows(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let mut body = agreement_body();
    body["interim_status"] = json!(true);
    let agreement = approved(&app, body).await;
    let plain = app.approved_agreement().await;
    let mut cases = Vec::new();
    for agreement in [&agreement, &plain] {
        let volunteer = app.volunteer(Some("2026-09-01")).await;
        let (case, _) = app.referred_case(agreement).await;
        let path = |s: &str| format!("/v1/cases/{case}{s}");
        accepted_and_met(&app, &case, today()).await;
        let before = app.get(&path(""), &cw).await.ok().body;
        assert!(before.get("interim").is_none(), "nothing to follow before a match");
        app.post(&path("/match"), &co, json!({ "volunteer": volunteer })).await.ok();
        app.post(
            &path("/activities"),
            &co,
            json!({ "on": today().to_string(), "kind": "climbing", "note": "Cried after school", "on_track": false }),
        )
        .await
        .ok();
        app.post(&path("/match/end"), &co, json!({ "reason": "Paused for the holidays" })).await.ok();
        app.post(&path("/match"), &co, json!({ "volunteer": volunteer })).await.ok();
        cases.push(case);
    }
    let followed = app.get(&format!("/v1/cases/{}", cases[0]), &cw).await.ok().body;
    assert_eq!(
        followed["interim"],
        json!({ "course_active": true, "last_contact_on": today().to_string(), "on_track": false })
    );
    assert!(!followed.to_string().contains("Cried") && !followed.to_string().contains("holidays"));
    // Without the agreement's word, nothing between checkpoints; the NGO has its log instead.
    let unfollowed = app.get(&format!("/v1/cases/{}", cases[1]), &cw).await.ok().body;
    assert!(unfollowed.get("interim").is_none(), "{unfollowed}");
    let ngo = app.get(&format!("/v1/cases/{}", cases[0]), &co).await.ok().body;
    assert!(ngo.get("interim").is_none());
    let terms = app.get(&format!("/v1/agreements/{agreement}"), &cw).await.ok().body;
    assert_eq!(terms["interim_status"], true);
}

/// An agreement drafted by the admin of its municipality and approved by both sides.
async fn approved(app: &TestApp, body: Value) -> String {
    let admin = app.token(body["municipality"].as_str().expect("municipality"), "admin", "adm");
    let id = app.post("/v1/agreements", &admin, body).await.ok().id();
    app.post(&format!("/v1/agreements/{id}/approvals"), &admin, json!({ "version": 1 })).await.ok();
    let ngo_admin = app.token(NGO, "admin", "adm-n");
    app.post(&format!("/v1/agreements/{id}/approvals"), &ngo_admin, json!({ "version": 1 })).await.ok();
    id
}

/// The new municipality's agreement with the NGO for the same programme, approved by both.
async fn agreement_of_the_new_municipality(app: &TestApp) -> String {
    let mut body = agreement_body();
    body["municipality"] = json!(OTHER_MUNI);
    approved(app, body).await
}

async fn a_family_moves_and_the_case_goes_to_the_new_municipality(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let new_cw = app.token(OTHER_MUNI, "caseworker", "cw-x");
    let agreement = app.approved_agreement().await;
    let theirs = agreement_of_the_new_municipality(&app).await;
    let (case, items) = app.referred_case(&agreement).await;
    let (identity, school, health) = (&items[0], &items[1], &items[2]);
    accepted_and_met(&app, &case, today()).await;
    let concern = app
        .post(
            &format!("/v1/cases/{case}/concerns"),
            &co,
            json!({ "grounds": ["needs_support"], "text": "Came hungry twice", "observed_on": today().to_string() }),
        )
        .await
        .ok()
        .id();
    let path = |s: &str| format!("/v1/cases/{case}{s}");
    let move_body = |agreement: Option<&str>| json!({ "to": OTHER_MUNI, "on": today().to_string(), "items": [school], "agreement": agreement });

    // What the caseworker must give: the new municipality's agreement with the NGO, a day that
    // has come, a municipality.
    app.post(&path("/move"), &cw, move_body(None)).await.problem(422, "agreement-required");
    app.post(&path("/move"), &cw, move_body(Some(&agreement))).await.problem(422, "agreement-mismatch");
    let unknown = uuid::Uuid::new_v4().to_string();
    app.post(&path("/move"), &cw, move_body(Some(&unknown))).await.problem(422, "agreement-mismatch");
    let tomorrow = (today() + chrono::TimeDelta::days(1)).to_string();
    app.post(&path("/move"), &cw, json!({ "to": OTHER_MUNI, "on": tomorrow, "items": [], "agreement": theirs }))
        .await
        .problem(422, "invalid-field");
    app.post(&path("/move"), &cw, json!({ "to": NGO, "on": today().to_string(), "items": [] }))
        .await
        .problem(422, "invalid-field");
    app.post(&path("/move"), &co, move_body(Some(&theirs))).await.problem(403, "forbidden");
    app.post(&path("/move"), &new_cw, move_body(Some(&theirs))).await.problem(404, "not-found");
    let moved = app.post(&path("/move"), &cw, move_body(Some(&theirs))).await.ok();
    let position = moved.header("x-brobyg-position").expect("position");

    // The old municipality keeps its own records, read-only.
    let old = app.get(&path(""), &cw).await.ok().body;
    assert_eq!(old["access"], "former");
    assert_eq!(old["municipality"], OTHER_MUNI);
    assert_eq!(old["state"], "awaiting_match", "the state when the case left");
    let mut own: Vec<&str> = old["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
    own.sort_unstable();
    let mut expected = vec![identity.as_str(), school.as_str(), health.as_str()];
    expected.sort_unstable();
    assert_eq!(own, expected, "its own items, nothing the NGO recorded");
    assert_eq!(old["meetings"], json!([]));
    assert_eq!(old["moves"][0]["to"], OTHER_MUNI);
    app.post(&path("/items"), &cw, json!({ "category": "school", "content": "new school" }))
        .await
        .problem(409, "case-moved");
    app.post(&path(&format!("/concerns/{concern}/receipt")), &cw, json!({ "investigation_started": true }))
        .await
        .problem(409, "case-moved");
    let old_list = app.get(&format!("/v1/cases?min_position={position}"), &cw).await.ok().body;
    assert!(old_list["items"].as_array().expect("items").iter().all(|c| c["id"] != case.as_str()));
    let old_timeline = whole_timeline(&app, &case, &cw, 100).await;
    assert_eq!(events(&old_timeline).last(), Some(&"case_moved"));
    assert!(!events(&old_timeline).contains(&"pre_meeting_held"), "the course's records are not its own");

    // The new municipality is the party: the young person, the custody holders, the item chosen,
    // the open concern to acknowledge; its caseload and concern list show the case.
    let new = app.get(&path(""), &new_cw).await.ok().body;
    assert_eq!(new["access"], "party");
    assert_eq!(new["young_person"]["first_name"], "Mikkel");
    assert_eq!(new["young_person"]["last_name"], "Jensen");
    assert_eq!(new["custody_holders"].as_array().map(Vec::len), Some(2));
    let seen: Vec<&str> = new["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(seen, vec![school.as_str()], "only the item passed");
    assert_eq!(new["items"][0]["content"], "7th grade, often absent on Mondays");
    assert_eq!(new["concerns"][0]["text"], "Came hungry twice");
    let listed = app.get(&format!("/v1/cases?min_position={position}"), &new_cw).await.ok().body;
    assert!(listed["items"].as_array().expect("items").iter().any(|c| c["id"] == case.as_str()));
    let concerns = app.get(&format!("/v1/concerns?min_position={position}"), &new_cw).await.ok().body;
    assert!(concerns["items"].as_array().expect("items").iter().any(|c| c["id"] == concern.as_str()));
    let old_concerns = app.get(&format!("/v1/concerns?min_position={position}"), &cw).await.ok().body;
    assert!(old_concerns["items"].as_array().expect("items").iter().all(|c| c["id"] != concern.as_str()));
    app.post(&path(&format!("/concerns/{concern}/receipt")), &new_cw, json!({ "investigation_started": true }))
        .await
        .ok();

    // The NGO works on with the new municipality and sees the move, not what passed.
    let for_ngo = app.get(&path(""), &co).await.ok().body;
    assert_eq!(for_ngo["municipality"], OTHER_MUNI);
    assert_eq!(for_ngo["moves"][0]["from"], MUNI);
    let ngo_timeline = whole_timeline(&app, &case, &co, 100).await;
    let moved_entry = ngo_timeline.iter().find(|e| e["event"] == "case_moved").expect("the move");
    assert!(moved_entry["data"].get("young_person").is_none() && moved_entry["data"].get("items").is_none());

    // Each municipality answers a subject request with its own records; erasure is the new one's.
    let subject = new["young_person"]["id"].as_str().expect("subject").to_owned();
    let export = app.get(&format!("/v1/subjects/{subject}/export"), &cw).await.ok().body;
    assert_eq!(export["cases"][0]["held"]["access"], "former");
    assert!(export.to_string().contains("relocation"), "the move is among its disclosures");
    app.post(&format!("/v1/subjects/{subject}/erasure"), &cw, json!({ "reason": "GDPR art. 17" }))
        .await
        .problem(409, "case-moved");
}

/// An agreement whose programme lists its interest tags.
async fn agreement_with_tags(app: &TestApp, tags: &[&str]) -> String {
    let mut body = agreement_body();
    body["interest_tags"] = json!(tags);
    approved(app, body).await
}

async fn the_waiting_list_shows_who_waits_and_what_blocks_each_match(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (cw, co) = (app.caseworker(), app.coordinator());
    let agreement = agreement_with_tags(&app, &["climbing", "drawing"]).await;
    let terms = app.get(&format!("/v1/agreements/{agreement}"), &co).await.ok().body;
    assert_eq!(terms["interest_tags"], json!(["climbing", "drawing"]));
    // Three young people of 14: two met (awaiting a match), one accepted only.
    let (a, _) = app.referred_case(&agreement).await;
    let (b, _) = app.referred_case(&agreement).await;
    let (c, _) = app.referred_case(&agreement).await;
    accepted_and_met(&app, &a, today()).await;
    accepted_and_met(&app, &b, today()).await;
    app.post(&format!("/v1/cases/{c}/referral/decision"), &co, json!({ "decision": "accept" })).await.ok();
    let vetted = app.volunteer(Some("2026-09-01")).await;
    let _unvetted = app.volunteer(None).await;

    let needs = |tags: Value, languages: Value, area: &str, day: &str| {
        json!({ "tags": tags, "languages": languages, "area": area,
                "availability": [ { "weekday": day, "from": "16:00", "to": "19:00" } ] })
    };
    // Tags come from the programme's list; only the coordinator records needs.
    app.post(&format!("/v1/cases/{a}/matching-needs"), &co, needs(json!(["football"]), json!(["da"]), "8660", "tue"))
        .await
        .problem(422, "unknown-tag");
    app.post(&format!("/v1/cases/{a}/matching-needs"), &co, needs(json!(["climbing"]), json!(["da"]), "86", "tue"))
        .await
        .problem(422, "invalid-field");
    app.post(&format!("/v1/cases/{a}/matching-needs"), &cw, needs(json!(["climbing"]), json!(["da"]), "8660", "tue"))
        .await
        .problem(403, "forbidden");
    app.post(&format!("/v1/cases/{a}/matching-needs"), &co, needs(json!(["climbing"]), json!(["da"]), "8660", "tue"))
        .await
        .ok();
    let last = app
        .post(&format!("/v1/cases/{b}/matching-needs"), &co, needs(json!(["drawing"]), json!(["ar"]), "2400", "sat"))
        .await
        .ok();
    // The municipality never sees the NGO's record of needs.
    assert!(app.get(&format!("/v1/cases/{a}"), &cw).await.ok().body.get("needs").is_none());
    assert_eq!(app.get(&format!("/v1/cases/{a}"), &co).await.ok().body["needs"]["tags"], json!(["climbing"]));

    // Suggestions name only the volunteer the rules allow (the other lacks a child certificate
    // for a 14-year-old), with reasons and what it lacks.
    let fits = app.get(&format!("/v1/cases/{a}/match-suggestions"), &co).await.ok().body;
    assert_eq!(fits["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(fits["items"][0]["volunteer"], vetted.as_str());
    assert_eq!(fits["items"][0]["lacks"], json!([]));
    assert_eq!(fits["barred"], json!({ "not_vetted_for_age": 1 }));
    let poor = app.get(&format!("/v1/cases/{b}/match-suggestions"), &co).await.ok().body;
    assert_eq!(
        poor["items"][0]["lacks"],
        json!(["no common language", "lives in another area (8660)", "no common hour in the week"])
    );
    assert_eq!(poor["blockers"], poor["items"][0]["lacks"]);

    // The waiting list: every waiting case, its needs and blockers; the board of demand against
    // free places (both volunteers have one place in 8660 on Tuesdays).
    let position = last.header("x-brobyg-position").expect("position");
    let list = app.get(&format!("/v1/waiting-list?min_position={position}"), &co).await.ok().body;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    let row = |case: &str| items.iter().find(|i| i["case"] == case).expect("row").clone();
    assert_eq!(row(&a)["tags"], json!(["climbing"]));
    assert_eq!(row(&a)["eligible_volunteers"], 1);
    assert_eq!(row(&a)["best_volunteer"], vetted.as_str());
    assert_eq!(row(&a)["first_name"], "Mikkel", "the identity item reached the NGO at the referral");
    assert_eq!(row(&c)["state"], "accepted");
    assert_eq!(row(&c)["blockers"], json!(["no needs recorded for the young person"]));
    assert!(items.iter().all(|i| i["days_waiting"] == 0));
    let board = &list["board"];
    assert_eq!(
        (board["waiting"].as_u64(), board["without_needs"].as_u64(), board["free_places"].as_u64()),
        (Some(3), Some(1), Some(2))
    );
    assert!(
        board["by_area"]
            .as_array()
            .expect("areas")
            .contains(&json!({ "value": "8660", "waiting": 1, "free_places": 2 }))
    );
    assert!(
        board["by_area"]
            .as_array()
            .expect("areas")
            .contains(&json!({ "value": "2400", "waiting": 1, "free_places": 0 }))
    );
    assert!(
        board["by_weekday"]
            .as_array()
            .expect("days")
            .contains(&json!({ "value": "sat", "waiting": 1, "free_places": 0 }))
    );
    app.get("/v1/waiting-list", &cw).await.problem(403, "forbidden");
    app.get("/v1/waiting-list?limit=0", &co).await.problem(400, "invalid-request");

    // Once the vetted volunteer is matched, nobody is free: each waiting case says why.
    let matched = app.post(&format!("/v1/cases/{a}/match"), &co, json!({ "volunteer": vetted })).await.ok();
    let position = matched.header("x-brobyg-position").expect("position");
    let list = app.get(&format!("/v1/waiting-list?min_position={position}"), &co).await.ok().body;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let b_row = items.iter().find(|i| i["case"] == b.as_str()).expect("b");
    assert_eq!(b_row["blockers"], json!(["no_free_place", "not_vetted_for_age"]));
    // The municipality knows who the volunteer is only once the volunteer agreed to it: the
    // first name, the vetting status and the start date, nothing else.
    assert!(app.get(&format!("/v1/cases/{a}"), &cw).await.ok().body.get("volunteer").is_none());
    let shared =
        app.post(&format!("/v1/volunteers/{vetted}/sharing"), &co, json!({ "with_municipality": true })).await.ok();
    assert_eq!(shared.body["shares_with_municipality"], true);
    assert_eq!(shared.body["vetting_renewal_due"], false);
    assert_eq!(shared.body["child_certificate_valid_until"], "2028-08-31");
    let known = app.get(&format!("/v1/cases/{a}"), &cw).await.ok().body;
    assert_eq!(known["volunteer"], json!({ "first_name": "Sara", "vetted": true, "since": today().to_string() }));
    assert!(
        app.get(&format!("/v1/cases/{b}"), &cw).await.ok().body.get("volunteer").is_none(),
        "only the matched case"
    );
    app.post(&format!("/v1/volunteers/{vetted}/sharing"), &cw, json!({ "with_municipality": true }))
        .await
        .problem(404, "not-found");
    app.post(&format!("/v1/volunteers/{vetted}/sharing"), &co, json!({ "with_municipality": false })).await.ok();
    assert!(app.get(&format!("/v1/cases/{a}"), &cw).await.ok().body.get("volunteer").is_none(), "withdrawn");
    // The volunteer's course with the NGO: training, supervision, references, pause and return.
    let path = format!("/v1/volunteers/{vetted}");
    app.post(&format!("{path}/sessions"), &co, json!({ "kind": "training", "on": "2026-09-02" })).await.ok();
    app.post(&format!("{path}/sessions"), &co, json!({ "kind": "supervision", "on": today().to_string() })).await.ok();
    let tomorrow = (today() + chrono::TimeDelta::days(1)).to_string();
    app.post(&format!("{path}/sessions"), &co, json!({ "kind": "supervision", "on": tomorrow }))
        .await
        .problem(422, "invalid-field");
    app.post(&format!("{path}/sessions"), &co, json!({ "kind": "party", "on": "2026-09-02" }))
        .await
        .problem(400, "invalid-body");
    let referenced = app
        .post(&format!("{path}/references"), &co, json!({ "on": "2026-08-20", "note": "Good with teenagers" }))
        .await
        .ok();
    assert_eq!(referenced.body["references_checked"], 1);
    assert_eq!(referenced.body["last_supervision_on"], today().to_string());
    assert_eq!(referenced.body["sessions"].as_array().map(Vec::len), Some(2));
    assert!(!referenced.body.to_string().contains("Good with teenagers"), "the note stays with the record");
    // A child certificate 23 months old runs out within 60 days: the list says whom to remind.
    let old_certificate = (today() - chrono::Months::new(23)).to_string();
    let renew = app.volunteer(Some(&old_certificate)).await;
    // The list is a view: read it as of this volunteer's last write.
    let written = app
        .post(&format!("/v1/volunteers/{renew}/references"), &co, json!({ "on": "2026-08-20", "note": "Reliable" }))
        .await
        .ok();
    let position = written.header("x-brobyg-position").expect("position");
    let due = app.get(&format!("/v1/volunteers?vetting_renewal_due=true&min_position={position}"), &co).await.ok().body;
    let due: Vec<&str> = due["items"].as_array().expect("items").iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(due, vec![renew.as_str()]);
    app.post(&format!("{path}/status"), &co, json!({ "status": "paused" })).await.ok();
    assert_eq!(
        app.post(&format!("{path}/status"), &co, json!({ "status": "active" })).await.ok().body["status"],
        "active"
    );
    // The municipality sees the wait only as group figures under k = 5.
    let stats = app.get("/v1/programmes/klub-move/statistics", &cw).await.ok().body;
    assert_eq!(stats["waiting"], json!({ "suppressed": true }));
}

/// On PostgreSQL the feed stops below any transaction still open anywhere in the cluster
/// (decision 0002). A subject's export must still reflect the case its caller opened a moment
/// ago: it waits for the last committed event, not for the head readers can see now (which
/// would let it answer at once, without the case).
async fn an_export_reflects_a_case_opened_just_before_while_another_transaction_is_open(db: &TestDb) {
    use sqlx::Connection;
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql("BEGIN; SELECT pg_current_xact_id();").execute(&mut blocker).await.expect("an open transaction");
    let (case, subject, _) = app.open_case("2012-03-14").await;
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        sqlx::raw_sql("COMMIT").execute(&mut blocker).await.expect("commit");
    };
    let path = format!("/v1/subjects/{subject}/export");
    let (export, ()) = tokio::join!(app.get(&path, &cw), release);
    let export = export.ok().body;
    let cases: Vec<&str> =
        export["cases"].as_array().expect("cases").iter().filter_map(|c| c["case"].as_str()).collect();
    assert_eq!(cases, vec![case.as_str()]);
    blocker.close().await.expect("close");
}

crate::on_postgres_only!(an_export_reflects_a_case_opened_just_before_while_another_transaction_is_open);
