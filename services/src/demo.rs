//! `brobyg demo`: seeds a realistic, clearly fictitious data set through the real API, so a new
//! user can explore at once. Two municipalities, two NGOs, approved agreements, ten volunteers,
//! fifty cases spread over every state, and a few concerns.

use std::time::Duration;

use chrono::{Datelike, Utc};
use reqwest::Client;
use serde_json::{Value, json};

use crate::devkeys::{Claims, DEV_ISSUER, DevKey};
use crate::settings::Settings;
use crate::{Application, StartError};

/// Why the demo could not seed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The service could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Tokens need the dev key.
    #[error("the demo signs its requests with the dev key: unset BROBYG_JWKS")]
    NeedsDevKey,
    /// A request failed.
    #[error("{step}: {detail}")]
    Request {
        /// What was being done.
        step: String,
        /// What went wrong.
        detail: String,
    },
}

/// What the demo created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Agreements.
    pub agreements: usize,
    /// Volunteers.
    pub volunteers: usize,
    /// Cases.
    pub cases: usize,
    /// Concerns.
    pub concerns: usize,
}

struct Org {
    municipality: &'static str,
    ngo: &'static str,
    programme: &'static str,
}

const PARTNERSHIPS: [Org; 2] = [
    Org { municipality: "municipality:0746", ngo: "ngo:kfum-sa", programme: "klub-move" },
    Org { municipality: "municipality:0101", ngo: "ngo:roede-kors", programme: "giv-et-oejeblik" },
];

const FIRST: [&str; 25] = [
    "Mikkel", "Sofie", "Noah", "Ida", "Oliver", "Freja", "William", "Emma", "Lucas", "Alma", "Victor", "Clara", "Emil",
    "Karla", "Malthe", "Ella", "Oscar", "Agnes", "Aksel", "Lærke", "Magnus", "Asta", "Elias", "Nora", "Anton",
];
const LAST: [&str; 10] = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Poulsen",
];
const VOLUNTEERS: [(&str, &[&str]); 5] = [
    ("Sara", &["football", "drawing"]),
    ("Jonas", &["climbing", "gaming"]),
    ("Amira", &["music", "baking"]),
    ("Mads", &["fishing", "football"]),
    ("Line", &["horses", "climbing"]),
];
/// Target state of case n, cycling through every state.
const STATES: [&str; 9] =
    ["opened", "referred", "accepted", "awaiting_match", "in_course", "closed", "declined", "withdrawn", "redirected"];

struct Demo {
    client: Client,
    base: String,
    key: DevKey,
}

impl Demo {
    fn token(&self, org: &str, role: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: format!("demo-{role}-{}", org.replace(':', "-")),
            org: org.into(),
            roles: vec![role.into()],
            iat: now,
            exp: now + 3600,
            iss: DEV_ISSUER.into(),
            aud: None,
        };
        self.key.mint(&claims).unwrap_or_default()
    }

    async fn post(&self, step: &str, org: &str, role: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        let fail = |detail: String| DemoError::Request { step: step.to_owned(), detail };
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(org, role))
            .json(&body)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(fail(format!("{status} {}", value["detail"].as_str().unwrap_or_default())));
        }
        Ok(value)
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// Seeds the data set through a private instance of the service on a loopback port.
pub async fn run(settings: &Settings) -> Result<DemoSummary, DemoError> {
    if settings.jwks.is_some() {
        return Err(DemoError::NeedsDevKey);
    }
    let mut local = settings.clone();
    // The demo's own server, on a loopback port only it knows, takes only its dev tokens.
    local.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    local.dev_tokens = true;
    local.jwt_issuer = None;
    local.jwt_audience = None;
    let app = Application::build(&local).await?;
    let addr = app.local_addr().map_err(|e| DemoError::Request { step: "start".into(), detail: e.to_string() })?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let key = DevKey::load_or_create(&settings.data_dir).map_err(StartError::from)?;
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| DemoError::Request { step: "client".into(), detail: e.to_string() })?;
    let demo = Demo { client, base: format!("http://{addr}"), key };
    let result = seed(&demo).await;
    let _ = stop.send(());
    let _ = server.await;
    result
}

async fn seed(d: &Demo) -> Result<DemoSummary, DemoError> {
    let mut summary = DemoSummary::default();
    let mut moved_one = false;
    let today = brobyg_domain::calendar::copenhagen_date(Utc::now());
    for (p, partnership) in PARTNERSHIPS.iter().enumerate() {
        let (m, n) = (partnership.municipality, partnership.ngo);
        let agreement = d
            .post("draft agreement", m, "admin", "/v1/agreements", json!({
                "municipality": m, "ngo": n, "programme": partnership.programme,
                "flows": [
                    { "checkpoint": "referral", "from": "municipality", "to": "ngo",
                      "categories": ["identity", "contact", "practical", "background", "school"], "purposes": ["referral", "course_planning"] },
                    { "checkpoint": "pre_meeting", "from": "municipality", "to": "ngo",
                      "categories": ["wishes", "school"], "purposes": ["course_planning", "matching"] },
                    { "checkpoint": "closing_meeting", "from": "ngo", "to": "municipality",
                      "categories": ["development", "outcome"], "purposes": ["closing_evaluation"] } ],
                "retention_days_after_closing": 180 }))
            .await?;
        let agreement = id(&agreement);
        d.post(
            "approve agreement",
            m,
            "admin",
            &format!("/v1/agreements/{agreement}/approvals"),
            json!({ "version": 1 }),
        )
        .await?;
        d.post(
            "approve agreement",
            n,
            "admin",
            &format!("/v1/agreements/{agreement}/approvals"),
            json!({ "version": 1 }),
        )
        .await?;
        summary.agreements += 1;

        let mut volunteers = Vec::new();
        for (first_name, interests) in VOLUNTEERS {
            let v = d
                .post(
                    "register volunteer",
                    n,
                    "coordinator",
                    "/v1/volunteers",
                    json!({
                    "first_name": first_name, "interests": interests, "languages": ["da"], "area": "8660",
                    "availability": [ { "weekday": "tue", "from": "17:00", "to": "20:00" } ], "capacity": 3 }),
                )
                .await?;
            let vid = id(&v);
            d.post(
                "vet volunteer",
                n,
                "coordinator",
                &format!("/v1/volunteers/{vid}/vetting"),
                json!({
                "child_certificate_date": today.with_day(1).unwrap_or(today).to_string(),
                "confidentiality_declaration_date": today.with_day(1).unwrap_or(today).to_string() }),
            )
            .await?;
            volunteers.push(vid);
            summary.volunteers += 1;
        }

        for c in 0..25 {
            let n_case = p * 25 + c;
            let target = STATES[n_case % STATES.len()];
            let first = FIRST[(n_case * 7) % FIRST.len()];
            let last = LAST[n_case % LAST.len()];
            let birth = format!("{}-{:02}-{:02}", 2009 + (n_case % 7), 1 + n_case % 12, 1 + n_case % 28);
            let case = d
                .post(
                    "open case",
                    m,
                    "caseworker",
                    "/v1/cases",
                    json!({
                    "young_person": { "first_name": first, "last_name": last, "birth_date": birth },
                    "custody_holders": [ { "name": format!("Forælder {last}") } ] }),
                )
                .await?;
            let cid = id(&case);
            summary.cases += 1;
            let mut grantors: Vec<String> =
                case["custody_holders"].as_array().map(|a| a.iter().map(id).collect()).unwrap_or_default();
            grantors.push(case["young_person"]["id"].as_str().unwrap_or_default().to_owned());
            let path = |s: &str| format!("/v1/cases/{cid}{s}");
            let identity = id(&d
                .post(
                    "add item",
                    m,
                    "caseworker",
                    &path("/items"),
                    json!({ "category": "identity", "content": format!("{first} {last}, lives at home") }),
                )
                .await?);
            let school = id(&d
                .post(
                    "add item",
                    m,
                    "caseworker",
                    &path("/items"),
                    json!({ "category": "school", "content": "Often absent on Mondays; likes sports." }),
                )
                .await?);
            d.post(
                "add item",
                m,
                "caseworker",
                &path("/items"),
                json!({ "category": "health", "content": "Sees a psychologist monthly." }),
            )
            .await?;
            d.post("give consent", m, "caseworker", &path("/consents"), json!({
                "grantors": grantors, "recipients": [ { "org": n, "role": "coordinator" }, { "org": n, "role": "volunteer" } ],
                "categories": ["identity", "school", "wishes"], "purposes": ["referral", "course_planning", "matching", "statistics"],
                "valid_from": today.to_string(), "valid_until": today.with_year(today.year() + 1).unwrap_or(today).to_string(),
                "evidence": format!("demo form {n_case}") }))
                .await?;
            d.post("give consent", m, "caseworker", &path("/consents"), json!({
                "grantors": grantors, "recipients": [ { "org": m, "role": "caseworker" } ],
                "categories": ["development", "outcome"], "purposes": ["closing_evaluation"],
                "valid_from": today.to_string(), "valid_until": today.with_year(today.year() + 1).unwrap_or(today).to_string(),
                "evidence": format!("demo form {n_case}b") }))
                .await?;
            match target {
                // One family of the first municipality moved before the referral: the case and
                // its school item passed to the other municipality (relocation duty).
                "opened" if p == 0 && !moved_one => {
                    moved_one = true;
                    let to = PARTNERSHIPS[1].municipality;
                    d.post(
                        "move",
                        m,
                        "caseworker",
                        &path("/move"),
                        json!({ "to": to, "on": today.to_string(), "items": [school] }),
                    )
                    .await?;
                    continue;
                }
                "opened" => continue,
                "withdrawn" => {
                    d.post(
                        "withdraw",
                        m,
                        "caseworker",
                        &path("/withdrawal"),
                        json!({ "by": "family", "reason": "Family moved away" }),
                    )
                    .await?;
                    continue;
                }
                "redirected" => {
                    d.post(
                        "redirect",
                        m,
                        "caseworker",
                        &path("/redirection"),
                        json!({ "reason": "Needs municipal support" }),
                    )
                    .await?;
                    continue;
                }
                _ => {}
            }
            d.post(
                "refer",
                m,
                "caseworker",
                &path("/referral"),
                json!({ "agreement": agreement, "items": [identity, school], "note": "Would enjoy an adult friend." }),
            )
            .await?;
            if c % 4 == 1 {
                d.post("report concern", n, "coordinator", &path("/concerns"), json!({
                    "grounds": ["needs_support"], "text": "Seemed very tired and hungry at pick-up.", "observed_on": today.to_string() }))
                    .await?;
                summary.concerns += 1;
            }
            match target {
                "referred" => continue,
                "declined" => {
                    d.post(
                        "decline",
                        n,
                        "coordinator",
                        &path("/referral/decision"),
                        json!({ "decision": "decline", "reason": "No volunteer nearby" }),
                    )
                    .await?;
                    // Referred again later: a new case of the same young person, linked.
                    d.post("re-referral", m, "caseworker", "/v1/cases", json!({ "earlier_case": cid })).await?;
                    summary.cases += 1;
                    continue;
                }
                _ => {}
            }
            d.post("accept", n, "coordinator", &path("/referral/decision"), json!({ "decision": "accept" })).await?;
            if target == "accepted" {
                // The pre-meeting is planned: the caseload shows it as the next deadline.
                let on = today + chrono::TimeDelta::days(3 + (c % 5) as i64);
                d.post(
                    "plan meeting",
                    m,
                    "caseworker",
                    &path("/meetings"),
                    json!({
                    "checkpoint": "pre_meeting", "on": on.to_string(),
                    "invited": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
                )
                .await?;
                continue;
            }
            let meeting = id(&d
                .post(
                    "plan meeting",
                    n,
                    "coordinator",
                    &path("/meetings"),
                    json!({
                    "checkpoint": "pre_meeting", "on": today.to_string(),
                    "invited": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
                )
                .await?);
            // Some parents cannot come; the absence is recorded with its reason (the NGO's).
            let (present, absent) = if c % 3 == 0 {
                (
                    json!(["coordinator", "caseworker", "young_person"]),
                    json!([ { "participant": "custody_holder", "reason": "At work; agreed by phone beforehand." } ]),
                )
            } else {
                (json!(["coordinator", "caseworker", "young_person", "custody_holder"]), json!([]))
            };
            d.post(
                "pre-meeting",
                n,
                "coordinator",
                &path("/pre-meeting"),
                json!({
                "held_on": today.to_string(), "meeting": meeting, "participants": present, "absent": absent,
                "wishes": "Would like to try climbing and make a friend outside class." }),
            )
            .await?;
            // The municipality discloses its own school item at the meeting, under its own user.
            d.post(
                "disclose",
                m,
                "caseworker",
                &path("/disclosures"),
                json!({
                "checkpoint": "pre_meeting", "items": [school] }),
            )
            .await?;
            d.post(
                "baseline",
                n,
                "coordinator",
                &path("/measures"),
                json!({
                "instrument": "sdq_total", "point": "baseline", "on": today.to_string(), "value": 17 + (c % 6) }),
            )
            .await?;
            // The wishes tagged for matching: some in an area, a language or on a day no
            // volunteer offers, so the waiting list shows where demand outruns capacity.
            let interests = ["climbing", "football", "drawing", "music", "horses", "gaming"];
            let (area, language, weekday) = match c % 4 {
                0 => ("8660", "da", "tue"),
                1 => ("8000", "da", "tue"),
                2 => ("8660", "ar", "tue"),
                _ => ("8600", "da", "sat"),
            };
            d.post(
                "needs",
                n,
                "coordinator",
                &path("/matching-needs"),
                json!({
                "tags": [interests[c % interests.len()]], "languages": [language], "area": area,
                "availability": [ { "weekday": weekday, "from": "16:00", "to": "19:00" } ] }),
            )
            .await?;
            if target == "awaiting_match" {
                continue;
            }
            let volunteer = &volunteers[c % volunteers.len()];
            d.post("match", n, "coordinator", &path("/match"), json!({ "volunteer": volunteer })).await?;
            d.post(
                "activity",
                n,
                "coordinator",
                &path("/activities"),
                json!({ "on": today.to_string(), "kind": "climbing", "note": "Went climbing.", "on_track": c % 5 != 0 }),
            )
            .await?;
            if target == "closed" {
                let development = id(&d
                    .post(
                        "add item",
                        n,
                        "coordinator",
                        &path("/items"),
                        json!({ "category": "development", "content": "More confident; joined a club." }),
                    )
                    .await?);
                d.post(
                    "closing score",
                    n,
                    "coordinator",
                    &path("/measures"),
                    json!({
                    "instrument": "sdq_total", "point": "closing", "on": today.to_string(), "value": 12 + (c % 5) }),
                )
                .await?;
                d.post(
                    "closing meeting",
                    n,
                    "coordinator",
                    &path("/closing-meeting"),
                    json!({
                    "held_on": today.to_string(),
                    "participants": ["coordinator", "caseworker", "young_person", "custody_holder", "volunteer"],
                    "disclosures": [ { "items": [development], "to": m } ],
                    "outcomes": [ { "instrument": "sdq_total", "before": 19, "after": 14 } ] }),
                )
                .await?;
            }
        }
    }
    Ok(summary)
}
