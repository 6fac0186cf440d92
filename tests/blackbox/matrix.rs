//! The authorization matrix: every operation of `/openapi.json` × every caller — each role in a
//! party organisation, each role in an organisation that is not a party, a token without a role,
//! a token with only an unknown role, and no token — with the outcome written down for each
//! cell. An operation the document lists and this table does not fails the test, so a new
//! endpoint cannot ship without someone deciding who may call it.
//!
//! Outcomes are classes, so the table states the authorization decision and not the business
//! answer behind it: `A` allowed (anything but 401, 403 or 404), `F` 403, `N` 404 (the record
//! does not exist for the caller), `U` 401. Run with `BROBYG_PRINT_MATRIX=1` to print what the
//! service answers, in the table's own format.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::*;
use crate::support::TestDb;

crate::on_both_backends!(every_operation_answers_every_caller_as_the_table_says);

/// The callers, in the order of the table's columns.
const CALLERS: [(&str, &str, &str); 16] = [
    // Parties of the case, the agreement, the volunteer and the subscription.
    ("cw", MUNI, "caseworker"),
    ("co", NGO, "coordinator"),
    ("aud-m", MUNI, "auditor"),
    ("aud-n", NGO, "auditor"),
    ("int-m", MUNI, "integrator"),
    ("int-n", NGO, "integrator"),
    ("adm-m", MUNI, "admin"),
    ("adm-n", NGO, "admin"),
    // The same roles in organisations that are not parties.
    ("cw-x", OTHER_MUNI, "caseworker"),
    ("co-x", OTHER_NGO, "coordinator"),
    ("aud-x", OTHER_MUNI, "auditor"),
    ("int-x", OTHER_NGO, "integrator"),
    ("adm-x", OTHER_MUNI, "admin"),
    // Tokens the service must not let act at all.
    ("norole", MUNI, ""),
    ("unknown", MUNI, "volunteer"),
    ("anon", "", ""),
];

/// The expected class per caller, in the order of [`CALLERS`], for each operation.
const TABLE: &[(&str, &str)] = &[
    //                                                    cw co am an im in dm dn cx ox ax ix dx nr uk an
    ("GET /healthz", "public"),
    ("GET /readyz", "public"),
    ("POST /v1/agreements", /*                          */ "F F F F F F A A F F F F A F F U"),
    ("GET /v1/agreements/{id}", /*                      */ "A A A A A A A A N N N N N F F U"),
    ("POST /v1/agreements/{id}/amendments", /*          */ "F F F F F F A A N N N N N F F U"),
    ("POST /v1/agreements/{id}/approvals", /*           */ "F F F F F F A A N N N N N F F U"),
    ("POST /v1/agreements/{id}/termination", /*         */ "F F F F F F A A N N N N N F F U"),
    ("GET /v1/audit/cases/{id}/access-log", /*          */ "F F A A F F F F N N N N N F F U"),
    ("GET /v1/audit/cases/{id}/events", /*              */ "F F A A F F F F N N N N N F F U"),
    ("GET /v1/audit/cases/{id}/state", /*               */ "F F A A F F F F N N N N N F F U"),
    ("GET /v1/audit/proofs/inclusion", /*               */ "F F A A F F F F N N N N N F F U"),
    ("GET /v1/audit/proofs/consistency", /*             */ "F F A A F F F F F F A F F F F U"),
    ("GET /v1/audit/checkpoints", /*                    */ "F F A A F F F F F F A F F F F U"),
    ("GET /v1/audit/verify", /*                         */ "F F A A F F F F F F A F F F F U"),
    ("GET /v1/cases", /*                                */ "A A F F F F F F A A F F F F F U"),
    ("POST /v1/cases", /*                               */ "A F F F F F F F A F F F F F F U"),
    ("GET /v1/cases/{id}", /*                           */ "A A A A A A F F N N N N N F F U"),
    ("POST /v1/cases/{id}/activities", /*               */ "F A F F F F F F N N N N N F F U"),
    ("GET /v1/cases/{id}/brief", /*                     */ "F A F F F A F F N N N N N F F U"),
    ("POST /v1/cases/{id}/closing-meeting", /*          */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/concerns", /*                 */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/concerns/{cid}/receipt", /*   */ "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/consents", /*                 */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/consents/{cid}/revocation", /**/ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/custody-holders", /*          */ "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/custody-holders/{pid}/removal", "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/disclosures", /*              */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/items", /*                    */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/match", /*                    */ "F A F F F F F F N N N N N F F U"),
    ("GET /v1/cases/{id}/match-suggestions", /*         */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/match/end", /*                */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/measures", /*                 */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/meetings", /*                 */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/meetings/{mid}/missed", /*    */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/meetings/{mid}/move", /*      */ "A A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/matching-needs", /*           */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/move", /*                     */ "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/pre-meeting", /*              */ "F A F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/redirection", /*              */ "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/referral", /*                 */ "A F F F F F F F N N N N N F F U"),
    ("POST /v1/cases/{id}/referral/decision", /*        */ "F A F F F F F F N N N N N F F U"),
    ("GET /v1/cases/{id}/timeline", /*                  */ "A A A A A A F F N N N N N F F U"),
    ("POST /v1/cases/{id}/withdrawal", /*               */ "A A F F F F F F N N N N N F F U"),
    ("GET /v1/concerns", /*                             */ "A A F F F F F F A A F F F F F U"),
    ("GET /v1/feed", /*                                 */ "F F F F A A F F F F F A F F F U"),
    ("GET /v1/feed/stream", /*                          */ "F F F F A A F F F F F A F F F U"),
    ("GET /v1/programmes/{programme}/statistics", /*    */ "A A A A F F A A A A A F A F F U"),
    ("POST /v1/subjects/{id}/erasure", /*               */ "A F F F F F A F N N N N N F F U"),
    ("GET /v1/subjects/{id}/export", /*                 */ "A F F F F F A F N N N N N F F U"),
    ("POST /v1/subscriptions", /*                       */ "F F F F A A F F F F F A F F F U"),
    ("DELETE /v1/subscriptions/{id}", /*                */ "N F N F N A N F N N N N N F F U"),
    ("GET /v1/subscriptions/{id}/deliveries", /*        */ "N F N F N A N F N N N N N F F U"),
    ("POST /v1/subscriptions/{id}/enable", /*           */ "N F N F N A N F N N N N N F F U"),
    ("GET /v1/volunteers", /*                           */ "F A F F F F F F F A F F F F F U"),
    ("GET /v1/waiting-list", /*                         */ "F A F F F F F F F A F F F F F U"),
    ("POST /v1/volunteers", /*                          */ "F A F F F F F F F A F F F F F U"),
    ("GET /v1/volunteers/{id}", /*                      */ "N A N F N F N F N N N N N F F U"),
    ("POST /v1/volunteers/{id}/references", /*          */ "N A N F N F N F N N N N N F F U"),
    ("POST /v1/volunteers/{id}/sessions", /*            */ "N A N F N F N F N N N N N F F U"),
    ("POST /v1/volunteers/{id}/sharing", /*             */ "N A N F N F N F N N N N N F F U"),
    ("POST /v1/volunteers/{id}/status", /*              */ "N A N F N F N F N N N N N F F U"),
    ("POST /v1/volunteers/{id}/vetting", /*             */ "N A N F N F N F N N N N N F F U"),
];

/// What the matrix acts on: records of the parties.
#[derive(Clone)]
struct Fixture {
    agreement: String,
    case: String,
    young_person: String,
    consent: String,
    concern: String,
    volunteer: String,
    subscription: String,
    meeting: String,
    /// The tree size of a signed checkpoint.
    signed: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let agreement = app.approved_agreement().await;
    let (case, young_person, holders) = app.open_case("2012-03-14").await;
    let cw = app.caseworker();
    let school = app.add_item(&case, &cw, "school", "7th grade").await;
    let consent = app
        .consent(&case, &holders, (NGO, "coordinator"), &["school", "wishes"], &["referral", "course_planning"])
        .await
        .ok()
        .id();
    app.refer(&case, &agreement, &[&school]).await.ok();
    let concern = app
        .post(
            &format!("/v1/cases/{case}/concerns"),
            &app.coordinator(),
            json!({ "grounds": ["needs_support"], "text": "Seemed hungry", "observed_on": "2026-11-01" }),
        )
        .await
        .ok()
        .id();
    let volunteer = app.volunteer(Some("2026-09-01")).await;
    let subscription = new_subscription(app).await;
    let on = chrono::Utc::now().date_naive() + chrono::TimeDelta::days(30);
    let meeting = app
        .post(
            &format!("/v1/cases/{case}/meetings"),
            &cw,
            json!({ "checkpoint": "pre_meeting", "on": on.to_string(), "invited": ["coordinator", "caseworker"] }),
        )
        .await
        .ok()
        .id();
    let auditor = app.token(MUNI, "auditor", "aud-m");
    let mut signed = 0;
    for _ in 0..100 {
        let list = app.get("/v1/audit/checkpoints", &auditor).await.ok().body;
        if let Some(size) = list.as_array().and_then(|l| l.last()).and_then(|c| c["event_count"].as_i64()) {
            signed = size;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(signed > 0, "a checkpoint was signed");
    Fixture { agreement, case, young_person, consent, concern, volunteer, subscription, meeting, signed }
}

async fn new_subscription(app: &TestApp) -> String {
    app.post("/v1/subscriptions", &app.token(NGO, "integrator", "int-n"), json!({ "url": "http://127.0.0.1:9/hook" }))
        .await
        .ok()
        .id()
}

/// The path with its parameters filled, and a body that passes validation.
fn request(op: &str, f: &Fixture) -> (Method, String, Option<Value>) {
    let (method, template) = op.split_once(' ').expect("METHOD path");
    let path = template
        .replace("/v1/agreements/{id}", &format!("/v1/agreements/{}", f.agreement))
        .replace("/v1/cases/{id}", &format!("/v1/cases/{}", f.case))
        .replace("/v1/audit/cases/{id}", &format!("/v1/audit/cases/{}", f.case))
        .replace("/v1/subjects/{id}", &format!("/v1/subjects/{}", f.young_person))
        .replace("/v1/volunteers/{id}", &format!("/v1/volunteers/{}", f.volunteer))
        .replace("/v1/subscriptions/{id}", &format!("/v1/subscriptions/{}", f.subscription))
        .replace("consents/{cid}", &format!("consents/{}", f.consent))
        .replace("concerns/{cid}", &format!("concerns/{}", f.concern))
        .replace("meetings/{mid}", &format!("meetings/{}", f.meeting))
        .replace("custody-holders/{pid}", &format!("custody-holders/{}", uuid::Uuid::new_v4()))
        .replace("{programme}", "klub-move");
    let path = match template {
        "/v1/audit/cases/{id}/state" => {
            format!("{path}?as_of={}", chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        "/v1/audit/proofs/inclusion" => format!("{path}?event=case:{}:1&checkpoint={}", f.case, f.signed),
        "/v1/audit/proofs/consistency" => format!("{path}?from={}&to={}", f.signed, f.signed),
        _ => path,
    };
    let body = match template {
        "/v1/agreements" | "/v1/agreements/{id}/amendments" => Some(agreement_body()),
        "/v1/agreements/{id}/approvals" => Some(json!({ "version": 1 })),
        "/v1/agreements/{id}/termination" => Some(json!({ "reason": "matrix" })),
        "/v1/cases" => {
            Some(json!({ "young_person": { "first_name": "Ida", "last_name": "Holm", "birth_date": "2011-05-02" } }))
        }
        "/v1/cases/{id}/activities" => Some(json!({ "on": "2026-11-02", "kind": "meeting" })),
        "/v1/cases/{id}/closing-meeting" => Some(
            json!({ "held_on": "2026-11-20", "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
        ),
        "/v1/cases/{id}/concerns" => {
            Some(json!({ "grounds": ["needs_support"], "text": "x", "observed_on": "2026-11-01" }))
        }
        "/v1/cases/{id}/concerns/{cid}/receipt" => Some(json!({ "investigation_started": false })),
        "/v1/cases/{id}/consents" => Some(json!({ "grantors": [], "recipients": [], "categories": ["school"],
            "purposes": ["referral"], "valid_from": "2026-01-01", "valid_until": "2027-01-01", "evidence": "x" })),
        "/v1/cases/{id}/consents/{cid}/revocation"
        | "/v1/cases/{id}/match/end"
        | "/v1/cases/{id}/redirection"
        | "/v1/subjects/{id}/erasure" => Some(json!({ "reason": "matrix" })),
        "/v1/cases/{id}/items" => Some(json!({ "category": "school", "content": "x" })),
        "/v1/cases/{id}/disclosures" => Some(json!({ "checkpoint": "pre_meeting", "items": [] })),
        "/v1/cases/{id}/custody-holders" => Some(json!({ "name": "", "guardian": false })),
        "/v1/cases/{id}/custody-holders/{pid}/removal" => Some(json!({ "reason": "matrix" })),
        // The case's own municipality: refused by the rules, after the authorization decision.
        "/v1/cases/{id}/matching-needs" => {
            Some(json!({ "tags": ["climbing"], "languages": ["da"], "area": "8660", "availability": [] }))
        }
        "/v1/cases/{id}/move" => Some(json!({ "to": MUNI, "on": "2026-11-01", "items": [] })),
        "/v1/cases/{id}/measures" => {
            Some(json!({ "instrument": "sdq_total", "point": "baseline", "on": "2026-11-01", "value": 1 }))
        }
        "/v1/cases/{id}/meetings" => {
            Some(json!({ "checkpoint": "pre_meeting", "on": "2099-01-01", "invited": ["coordinator"] }))
        }
        "/v1/cases/{id}/meetings/{mid}/move" => Some(json!({ "to": "2099-01-02", "reason": "matrix" })),
        "/v1/cases/{id}/meetings/{mid}/missed" => Some(json!({ "reason": "matrix" })),
        "/v1/cases/{id}/match" => Some(json!({ "volunteer": f.volunteer })),
        "/v1/cases/{id}/pre-meeting" => Some(json!({ "held_on": "2026-11-10", "participants": ["coordinator"] })),
        "/v1/cases/{id}/referral" => Some(json!({ "agreement": f.agreement, "items": [] })),
        "/v1/cases/{id}/referral/decision" => Some(json!({ "decision": "accept" })),
        "/v1/cases/{id}/withdrawal" => Some(json!({ "by": "family" })),
        "/v1/subscriptions" => Some(json!({ "url": "http://127.0.0.1:9/hook" })),
        "/v1/volunteers" => Some(json!({ "first_name": "Ole", "interests": [], "languages": ["da"], "area": "8000",
            "availability": [], "capacity": 1 })),
        "/v1/volunteers/{id}/status" => Some(json!({ "status": "active" })),
        "/v1/volunteers/{id}/sharing" => Some(json!({ "with_municipality": false })),
        "/v1/volunteers/{id}/sessions" => Some(json!({ "kind": "supervision", "on": "2026-11-01" })),
        "/v1/volunteers/{id}/references" => Some(json!({ "on": "2026-11-01", "note": "matrix" })),
        "/v1/volunteers/{id}/vetting" => {
            Some(json!({ "child_certificate_date": "2026-09-01", "confidentiality_declaration_date": "2026-09-01" }))
        }
        _ => None,
    };
    (method.parse().expect("method"), path, body)
}

fn class(status: u16) -> &'static str {
    match status {
        401 => "U",
        403 => "F",
        404 => "N",
        _ => "A",
    }
}

async fn every_operation_answers_every_caller_as_the_table_says(db: &TestDb) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_with(db, data_dir, |s| {
        s.webhook_allow_private = true;
        s.checkpoint_every_seconds = 1;
    })
    .await;
    let doc: Value =
        app.client.get(format!("{}/openapi.json", app.base)).send().await.expect("get").json().await.expect("json");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let table: BTreeMap<&str, &str> = TABLE.iter().copied().collect();
    let missing: Vec<&String> = operations.iter().filter(|op| !table.contains_key(op.as_str())).collect();
    assert!(missing.is_empty(), "operations without a row in the authorization matrix: {missing:?}");
    let gone: Vec<&&str> = table.keys().filter(|op| !operations.iter().any(|o| o == *op)).collect();
    assert!(gone.is_empty(), "rows for operations the document no longer has: {gone:?}");

    let fixture = fixture(&app).await;
    let tokens: Vec<Option<String>> = CALLERS
        .iter()
        .map(|(name, org, role)| match (*org, *role) {
            ("", _) => None,
            (org, "") => Some(app.mint(&app.claims(org, &[], name))),
            (org, role) => Some(app.token(org, role, name)),
        })
        .collect();
    let print = std::env::var("BROBYG_PRINT_MATRIX").is_ok();
    let mut wrong = Vec::new();
    for op in &operations {
        let expected = table[op.as_str()];
        if expected == "public" {
            continue;
        }
        let expected: Vec<&str> = expected.split(' ').collect();
        assert_eq!(expected.len(), CALLERS.len(), "{op}: one class per caller");
        let mut observed = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let mut f = fixture.clone();
            if op == "DELETE /v1/subscriptions/{id}" {
                // Each delete gets its own subscription, so a successful one takes nothing away.
                f.subscription = new_subscription(&app).await;
            }
            let (method, path, body) = request(op, &f);
            let mut builder = app.client.request(method, format!("{}{path}", app.base));
            if let Some(t) = token {
                builder = builder.bearer_auth(t);
            }
            if let Some(b) = body {
                builder = builder.json(&b);
            }
            // Only the status: a stream's body never ends.
            let status = builder.send().await.expect("request").status().as_u16();
            observed.push(class(status));
            if class(status) != expected[i] {
                wrong.push(format!("{op} as {}: expected {}, got {status}", CALLERS[i].0, expected[i]));
            }
        }
        if print {
            eprintln!("    (\"{op}\", \"{}\"),", observed.join(" "));
        }
    }
    assert!(wrong.is_empty(), "{} cells differ from the table:\n{}", wrong.len(), wrong.join("\n"));
}
