//! `TestApp`: the real application on port 0 with a fresh database, tokens from its dev key,
//! and one helper per endpoint.

use brobyg::Application;
use brobyg::devkeys::{Claims, DEV_ISSUER, DevKey};
use brobyg::settings::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestDb;

pub const MUNI: &str = "municipality:0746";
pub const OTHER_MUNI: &str = "municipality:0101";
pub const NGO: &str = "ngo:kfum-sa";
pub const OTHER_NGO: &str = "ngo:red-cross";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    _data_dir: tempfile::TempDir,
    key: DevKey,
}

/// A response: status, headers and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {:?}", self.body)).to_owned()
    }

    /// The problem slug of an error answer.
    pub fn slug(&self) -> &str {
        self.body["type"].as_str().and_then(|t| t.strip_prefix("/problems/")).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.status.is_success(), "expected success, got {} {}", self.status, self.body);
        self
    }

    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) {
        assert_eq!(
            (self.status.as_u16(), self.slug()),
            (status, slug),
            "expected {status} {slug}, got {} {}",
            self.status,
            self.body
        );
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"));
    }
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::spawn_with(db, data_dir, |_| {}).await
    }

    /// Spawns with settings changed by `change`.
    pub async fn spawn_with(db: &TestDb, data_dir: tempfile::TempDir, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = db.settings(data_dir.path());
        change(&mut settings);
        if db.url.starts_with("postgres") {
            db.store().await.close().await;
        }
        let app = Application::build(&settings).await.expect("build");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        tokio::spawn(app.run_until(std::future::pending()));
        let key = DevKey::load_or_create(data_dir.path()).expect("dev key");
        Self { base, client: reqwest::Client::new(), _data_dir: data_dir, key }
    }

    /// The app's data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// The database the app uses.
    pub fn database_url(&self, db: &TestDb) -> String {
        if db.url.starts_with("postgres") {
            db.url.clone()
        } else {
            brobyg::store::Store::sqlite_url_in(self._data_dir.path())
        }
    }

    pub fn token(&self, org: &str, role: &str, sub: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.into(),
            org: org.into(),
            roles: vec![role.into()],
            iat: now,
            exp: now + 600,
            iss: DEV_ISSUER.into(),
            aud: None,
        };
        self.key.mint(&claims).expect("mint")
    }

    /// A token with exactly these claims, signed by the app's dev key.
    pub fn mint(&self, claims: &Value) -> String {
        self.key.mint(claims).expect("mint")
    }

    /// Claims of a dev token for `org` with `roles`, valid for ten minutes, to change and mint.
    pub fn claims(&self, org: &str, roles: &[&str], sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({ "sub": sub, "org": org, "roles": roles, "iat": now, "exp": now + 600, "iss": DEV_ISSUER })
    }

    pub fn caseworker(&self) -> String {
        self.token(MUNI, "caseworker", "cw-1")
    }

    pub fn coordinator(&self) -> String {
        self.token(NGO, "coordinator", "co-1")
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(body), &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    // ---- helpers per endpoint ----

    pub async fn approved_agreement(&self) -> String {
        let draft = self.post("/v1/agreements", &self.token(MUNI, "admin", "adm-m"), agreement_body()).await.ok();
        let id = draft.id();
        self.post(
            &format!("/v1/agreements/{id}/approvals"),
            &self.token(MUNI, "admin", "adm-m"),
            json!({ "version": 1 }),
        )
        .await
        .ok();
        let approved = self
            .post(
                &format!("/v1/agreements/{id}/approvals"),
                &self.token(NGO, "admin", "adm-n"),
                json!({ "version": 1 }),
            )
            .await
            .ok();
        assert_eq!(approved.body["status"], "approved");
        id
    }

    /// Opens a case; returns (case id, young person id, custody holder ids).
    pub async fn open_case(&self, birth_date: &str) -> (String, String, Vec<String>) {
        let answer = self
            .post(
                "/v1/cases",
                &self.caseworker(),
                json!({ "young_person": { "first_name": "Mikkel", "last_name": "Jensen", "birth_date": birth_date },
                        "custody_holders": [ { "name": "Anne Jensen" }, { "name": "Peter Jensen" } ] }),
            )
            .await
            .ok();
        assert_eq!(answer.status, StatusCode::CREATED);
        let holders = answer.body["custody_holders"]
            .as_array()
            .expect("holders")
            .iter()
            .map(|h| h["id"].as_str().expect("id").to_owned())
            .collect();
        (answer.id(), answer.body["young_person"]["id"].as_str().expect("yp").to_owned(), holders)
    }

    pub async fn add_item(&self, case: &str, token: &str, category: &str, content: &str) -> String {
        self.post(&format!("/v1/cases/{case}/items"), token, json!({ "category": category, "content": content }))
            .await
            .ok()
            .id()
    }

    pub async fn consent(
        &self,
        case: &str,
        grantors: &[String],
        to: (&str, &str),
        categories: &[&str],
        purposes: &[&str],
    ) -> Answer {
        self.post(
            &format!("/v1/cases/{case}/consents"),
            &self.caseworker(),
            json!({ "grantors": grantors, "recipients": [ { "org": to.0, "role": to.1 } ],
                    "categories": categories, "purposes": purposes,
                    "valid_from": "2026-01-01", "valid_until": "2030-12-31", "evidence": "signed form 2026-1234" }),
        )
        .await
    }

    pub async fn refer(&self, case: &str, agreement: &str, items: &[&str]) -> Answer {
        self.post(
            &format!("/v1/cases/{case}/referral"),
            &self.caseworker(),
            json!({ "agreement": agreement, "items": items, "note": "Could use a friend" }),
        )
        .await
    }

    pub async fn volunteer(&self, certificate: Option<&str>) -> String {
        let co = self.coordinator();
        let id = self
            .post(
                "/v1/volunteers",
                &co,
                json!({ "first_name": "Sara", "interests": ["climbing", "drawing"], "languages": ["da"], "area": "8660",
                        "availability": [ { "weekday": "tue", "from": "17:00", "to": "20:00" } ], "capacity": 1 }),
            )
            .await
            .ok()
            .id();
        self.post(
            &format!("/v1/volunteers/{id}/vetting"),
            &co,
            json!({ "child_certificate_date": certificate, "confidentiality_declaration_date": "2026-09-01" }),
        )
        .await
        .ok();
        id
    }

    /// A case referred with identity and school items under consent; returns (case, items).
    pub async fn referred_case(&self, agreement: &str) -> (String, Vec<String>) {
        let (case, _, holders) = self.open_case("2012-03-14").await;
        let cw = self.caseworker();
        let identity = self.add_item(&case, &cw, "identity", "Mikkel, lives with mother").await;
        let school = self.add_item(&case, &cw, "school", "7th grade, often absent on Mondays").await;
        let health = self.add_item(&case, &cw, "health", "Asthma").await;
        self.consent(
            &case,
            &holders,
            (NGO, "coordinator"),
            &["identity", "school", "wishes"],
            &["referral", "course_planning"],
        )
        .await
        .ok();
        self.refer(&case, agreement, &[&identity, &school]).await.ok();
        (case, vec![identity, school, health])
    }
}

pub fn agreement_body() -> Value {
    json!({ "municipality": MUNI, "ngo": NGO, "programme": "klub-move",
      "flows": [
        { "checkpoint": "referral", "from": "municipality", "to": "ngo",
          "categories": ["identity", "contact", "practical", "background", "school"], "purposes": ["referral", "course_planning"] },
        { "checkpoint": "pre_meeting", "from": "municipality", "to": "ngo",
          "categories": ["wishes", "school"], "purposes": ["course_planning", "matching"] },
        { "checkpoint": "closing_meeting", "from": "ngo", "to": "municipality",
          "categories": ["development", "outcome"], "purposes": ["closing_evaluation"] },
        { "checkpoint": "closing_meeting", "from": "municipality", "to": "ngo",
          "categories": ["school"], "purposes": ["closing_evaluation"] } ],
      "retention_days_after_closing": 180 })
}
