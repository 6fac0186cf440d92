//! Trust: every caller is who they claim, in a role the service knows, and sees only what a
//! basis allows. Each test is an attack a review found, tried the way the attacker did.

use serde_json::json;

use crate::app::*;
use crate::audit::{is_postgres, tamper};
use crate::support::TestDb;

crate::on_both_backends!(
    a_token_without_a_known_role_reads_nothing_and_is_not_logged_as_an_integrator,
    issuer_and_audience_are_required_when_configured,
    another_organisations_case_is_404_whatever_the_headers,
    an_ngo_auditor_sees_only_what_the_ngo_holds,
    agreement_terms_have_bounds,
    an_auditors_verification_names_only_its_own_cases,
    webhook_targets_in_disguise_are_refused_and_subscriptions_can_be_deleted,
    a_stored_answer_holds_no_secret_and_expires,
);

async fn a_token_without_a_known_role_reads_nothing_and_is_not_logged_as_an_integrator(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (case, _) = app.referred_case(&agreement).await;
    let mut without_claim = app.claims(MUNI, &[], "x1");
    without_claim.as_object_mut().expect("object").remove("roles");
    for token in [
        app.mint(&without_claim),
        app.mint(&app.claims(MUNI, &[], "x2")),
        app.mint(&app.claims(MUNI, &["volunteer"], "x3")),
        app.mint(&app.claims(NGO, &["volunteer", "superuser"], "x4")),
    ] {
        let answer = app.get(&format!("/v1/cases/{case}"), &token).await;
        answer.problem(403, "forbidden");
        assert!(answer.body["detail"].as_str().is_some_and(|d| d.contains("no role")), "{}", answer.body);
        app.post(&format!("/v1/cases/{case}/items"), &token, json!({ "category": "school", "content": "x" }))
            .await
            .problem(403, "forbidden");
    }
    let log = app.get(&format!("/v1/audit/cases/{case}/access-log"), &app.token(MUNI, "auditor", "aud")).await.ok();
    let roles: Vec<&str> =
        log.body["entries"].as_array().expect("entries").iter().filter_map(|e| e["role"].as_str()).collect();
    assert!(!roles.contains(&"integrator"), "no read was made, so none is logged: {roles:?}");
}

async fn issuer_and_audience_are_required_when_configured(db: &TestDb) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_with(db, data_dir, |s| {
        s.jwt_issuer = Some("https://idp.test".into());
        s.jwt_audience = Some("brobyg".into());
    })
    .await;
    let with = |iss: Option<&str>, aud: Option<&str>, exp_in: i64| {
        let mut c = app.claims(MUNI, &["caseworker"], "cw-1");
        let now = chrono::Utc::now().timestamp();
        c["exp"] = json!(now + exp_in);
        match iss {
            Some(iss) => c["iss"] = json!(iss),
            None => drop(c.as_object_mut().expect("object").remove("iss")),
        }
        if let Some(aud) = aud {
            c["aud"] = json!(aud);
        }
        app.mint(&c)
    };
    for (token, why) in [
        (with(Some("brobyg-dev"), None, 600), "the dev issuer, no audience"),
        (with(Some("https://idp.test"), None, 600), "no audience"),
        (with(Some("https://idp.test"), Some("another-service"), 600), "another audience"),
        (with(Some("https://other.test"), Some("brobyg"), 600), "another issuer"),
        (with(None, Some("brobyg"), 600), "no issuer"),
        (with(Some("https://idp.test"), Some("brobyg"), -120), "expired two minutes ago"),
    ] {
        let answer = app.get("/v1/cases", &token).await;
        assert_eq!(answer.status, 401, "{why}: {}", answer.body);
        assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"), "{why}");
    }
    app.get("/v1/cases", &with(Some("https://idp.test"), Some("brobyg"), 600)).await.ok();
    // A clock a little behind the identity provider's is forgiven.
    app.get("/v1/cases", &with(Some("https://idp.test"), Some("brobyg"), -30)).await.ok();
}

#[tokio::test]
async fn a_deployment_without_a_key_set_for_tokens_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = brobyg::settings::Settings::for_data_dir(dir.path());
    settings.database_url = Some("postgres://postgres@127.0.0.1:1/none".to_owned().into());
    let err = brobyg::Application::build(&settings).await.expect_err("no JWKS");
    assert!(err.to_string().contains("BROBYG_JWKS"), "{err}");
    settings.dev_tokens = true;
    let err = brobyg::Application::build(&settings).await.expect_err("no database there");
    assert!(!err.to_string().contains("BROBYG_JWKS"), "with BROBYG_DEV_TOKENS the dev key is allowed: {err}");
}

#[test]
fn the_kubernetes_pods_get_no_service_links() {
    let manifest = include_str!("../../deploy/k8s/brobyg.yaml");
    let pod_specs = manifest.matches("restartPolicy: OnFailure").count() + manifest.matches("kind: Deployment").count();
    assert_eq!(manifest.matches("enableServiceLinks: false").count(), pod_specs, "every pod spec turns them off");
    assert!(manifest.contains("BROBYG_JWKS:"), "the deployment names its key set");
    assert!(include_str!("../../deploy/compose.yaml").contains("BROBYG_JWKS:"));
}

async fn another_organisations_case_is_404_whatever_the_headers(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (case, _) = app.referred_case(&agreement).await;
    let stranger = app.token(OTHER_MUNI, "caseworker", "cw-x");
    let item = json!({ "category": "school", "content": "x" });
    for if_match in ["\"13\"", "\"1\"", "\"0\""] {
        let answer = app
            .send(
                reqwest::Method::POST,
                &format!("/v1/cases/{case}/items"),
                Some(&stranger),
                Some(item.clone()),
                &[("if-match", if_match)],
            )
            .await;
        answer.problem(404, "not-found");
        assert!(!answer.body.to_string().contains("version"), "no version is named: {}", answer.body);
    }
    // A random id answers exactly the same.
    let random = uuid::Uuid::new_v4();
    app.send(
        reqwest::Method::POST,
        &format!("/v1/cases/{random}/items"),
        Some(&stranger),
        Some(item),
        &[("if-match", "\"13\"")],
    )
    .await
    .problem(404, "not-found");
    // Opening a case under an id another municipality uses says nothing of it either.
    let answer = app
        .post(
            "/v1/cases",
            &stranger,
            json!({ "id": case, "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2012-01-01" } }),
        )
        .await;
    answer.problem(404, "not-found");
    // A role that could never do it, in an organisation that is no party: 404, not 403.
    app.post(
        &format!("/v1/cases/{case}/referral/decision"),
        &app.token(OTHER_NGO, "auditor", "a"),
        json!({
            "decision": "accept"
        }),
    )
    .await
    .problem(404, "not-found");
}

async fn an_ngo_auditor_sees_only_what_the_ngo_holds(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (case, items) = app.referred_case(&agreement).await; // identity and school disclosed, health not
    let health = &items[2];
    let ngo_auditor = app.token(NGO, "auditor", "aud-n");
    let muni_auditor = app.token(MUNI, "auditor", "aud-m");

    let seen = app.get(&format!("/v1/cases/{case}"), &ngo_auditor).await.ok();
    assert_eq!(seen.body["access"], "audit");
    let ids: Vec<&str> =
        seen.body["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
    assert!(!ids.contains(&health.as_str()), "the undisclosed health item: {ids:?}");
    assert_eq!(ids.len(), 2);
    let text = seen.body.to_string();
    for secret in ["Asthma", "Anne Jensen", "signed form 2026-1234"] {
        assert!(!text.contains(secret), "{secret} leaks to the NGO's auditor: {text}");
    }
    // The municipality's auditor sees what the municipality holds.
    let full = app.get(&format!("/v1/cases/{case}"), &muni_auditor).await.ok().body.to_string();
    assert!(full.contains("Asthma") && full.contains("Anne Jensen") && full.contains("signed form 2026-1234"));

    // The history keeps every event and its metadata, and withholds the other party's values.
    let history = app.get(&format!("/v1/audit/cases/{case}/events"), &ngo_auditor).await.ok();
    let text = history.body.to_string();
    assert!(history.body.as_array().is_some_and(|e| e.len() == 7), "every event, with its metadata: {text}");
    for secret in ["Asthma", "Anne Jensen", "Jensen", "signed form 2026-1234"] {
        assert!(!text.contains(secret), "{secret} leaks through the history: {text}");
    }
    assert!(text.contains("$withheld"));
    assert!(text.contains("7th grade"), "what was disclosed to the NGO shows in its copy");
    assert!(
        app.get(&format!("/v1/audit/cases/{case}/events"), &muni_auditor)
            .await
            .ok()
            .body
            .to_string()
            .contains("Asthma")
    );

    // As the municipality saw it, but only as far as the NGO may see.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let as_seen = app
        .get(&format!("/v1/audit/cases/{case}/state?as_of={now}&as_seen_by={MUNI}"), &ngo_auditor)
        .await
        .ok()
        .body
        .to_string();
    for secret in ["Asthma", "Anne Jensen", "signed form 2026-1234"] {
        assert!(!as_seen.contains(secret), "{secret} leaks through as_seen_by: {as_seen}");
    }
    let muni_as_seen = app
        .get(&format!("/v1/audit/cases/{case}/state?as_of={now}&as_seen_by={MUNI}"), &muni_auditor)
        .await
        .ok()
        .body
        .to_string();
    assert!(muni_as_seen.contains("Asthma"));
}

async fn agreement_terms_have_bounds(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = app.token(MUNI, "admin", "adm-m");
    let mut body = agreement_body();
    body["retention_days_after_closing"] = json!(4_000_000_000u64);
    app.post("/v1/agreements", &admin, body).await.problem(422, "invalid-field");
    // A caseworker drafts nothing, whatever the terms.
    app.post("/v1/agreements", &app.caseworker(), agreement_body()).await.problem(403, "forbidden");
    let id = app.post("/v1/agreements", &admin, agreement_body()).await.ok().id();
    let mut amended = agreement_body();
    amended["retention_days_after_closing"] = json!(3651);
    app.post(&format!("/v1/agreements/{id}/amendments"), &app.token(NGO, "admin", "adm-n"), amended)
        .await
        .problem(422, "invalid-field");
    app.post(&format!("/v1/agreements/{id}/approvals"), &admin, json!({ "version": 2 }))
        .await
        .problem(409, "version-conflict");
    app.post(&format!("/v1/agreements/{id}/approvals"), &admin, json!({})).await.problem(400, "invalid-body");
}

async fn an_auditors_verification_names_only_its_own_cases(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let agreement = app.approved_agreement().await;
    let (own, _) = app.referred_case(&agreement).await;
    let other = app
        .post(
            "/v1/cases",
            &app.token(OTHER_MUNI, "caseworker", "cw-x"),
            json!({ "young_person": { "first_name": "Ida", "last_name": "Holm", "birth_date": "2011-05-02" } }),
        )
        .await
        .ok()
        .id();
    let auditor = app.token(MUNI, "auditor", "aud-m");
    let clean = app.get("/v1/audit/verify", &auditor).await.ok();
    assert_eq!(clean.body["ok"], true, "{}", clean.body);
    assert_eq!(clean.body["chains"], 1, "one case of the municipality: {}", clean.body);
    // One case of its own: that case alone; another municipality's case, or a case that does
    // not exist, is not found (as the case itself), and a bad id says what was wrong.
    let one = app.get(&format!("/v1/audit/verify?case={own}"), &auditor).await.ok();
    assert_eq!((one.body["ok"].clone(), one.body["chains"].clone()), (json!(true), json!(1)), "{}", one.body);
    app.get(&format!("/v1/audit/verify?case={other}"), &auditor).await.problem(404, "not-found");
    app.get(&format!("/v1/audit/verify?case={}", uuid::Uuid::new_v4()), &auditor).await.problem(404, "not-found");
    let bad = app.get("/v1/audit/verify?case=14-03-2012", &auditor).await;
    bad.problem(422, "invalid-field");
    assert!(bad.body["detail"].as_str().is_some_and(|d| d.starts_with("case")), "{}", bad.body);
    let change = if is_postgres(db) {
        format!(
            "UPDATE events SET payload = replace(payload::text, '{OTHER_MUNI}', 'municipality:0102')::json \
             WHERE aggregate_id = '{other}' AND sequence = 1"
        )
    } else {
        format!(
            "UPDATE events SET payload = replace(payload, '{OTHER_MUNI}', 'municipality:0102') \
             WHERE aggregate_id = '{other}' AND sequence = 1"
        )
    };
    tamper(&app, db, &[change]).await;
    let report = app.get("/v1/audit/verify", &auditor).await.ok();
    assert_eq!(report.body["ok"], false, "the store is not intact: {}", report.body);
    let text = report.body.to_string();
    assert!(!text.contains(&other), "another municipality's case is not named: {text}");
    assert!(!text.contains(&own), "the own case verifies: {text}");
    // One case of its own: the store is not intact and says so, naming neither case.
    let one = app.get(&format!("/v1/audit/verify?case={own}"), &auditor).await.ok();
    assert_eq!((one.body["ok"].clone(), one.body["chains"].clone()), (json!(false), json!(1)), "{}", one.body);
    assert!(!one.body.to_string().contains(&other) && !one.body.to_string().contains(&own), "{}", one.body);
    // The other municipality's auditor finds its own case altered, by name.
    let theirs =
        app.get(&format!("/v1/audit/verify?case={other}"), &app.token(OTHER_MUNI, "auditor", "aud-o")).await.ok();
    assert_eq!(theirs.body["ok"], false, "{}", theirs.body);
    assert!(theirs.body.to_string().contains(&other), "{}", theirs.body);
}

async fn webhook_targets_in_disguise_are_refused_and_subscriptions_can_be_deleted(db: &TestDb) {
    // Public targets only: nothing here connects anywhere (the addresses are refused first).
    let app = TestApp::spawn(db).await;
    let integrator = app.token(NGO, "integrator", "int-n");
    for url in [
        "http://1.1.1.1/hook",
        "https://[::127.0.0.1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "https://[2002:7f00:1::1]/hook",
        "https://198.18.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://[fd00::1]/hook",
    ] {
        let answer = app.post("/v1/subscriptions", &integrator, json!({ "url": url })).await;
        answer.problem(422, "invalid-field");
        assert!(answer.body["detail"].as_str().is_some_and(|d| d.starts_with("url:")), "{url}: {}", answer.body);
    }
    // With private targets allowed (tests, on-premises receivers), a subscription can be made and
    // deleted by its organisation only.
    let data_dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_with(db, data_dir, |s| s.webhook_allow_private = true).await;
    let integrator = app.token(NGO, "integrator", "int-n");
    let id = app.post("/v1/subscriptions", &integrator, json!({ "url": "http://127.0.0.1:9/hook" })).await.ok().id();
    let path = format!("/v1/subscriptions/{id}");
    app.send(reqwest::Method::DELETE, &path, Some(&app.token(OTHER_NGO, "integrator", "x")), None, &[])
        .await
        .problem(404, "not-found");
    let deleted = app.send(reqwest::Method::DELETE, &path, Some(&integrator), None, &[]).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    app.get(&format!("{path}/deliveries"), &integrator).await.problem(404, "not-found");
    app.send(reqwest::Method::DELETE, &path, Some(&integrator), None, &[]).await.problem(404, "not-found");
}

async fn a_stored_answer_holds_no_secret_and_expires(db: &TestDb) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_with(db, data_dir, |s| {
        s.webhook_allow_private = true;
        s.idempotency_ttl_hours = 1;
    })
    .await;
    let integrator = app.token(NGO, "integrator", "int-n");
    let subscribe = |url: &'static str| {
        app.send(
            reqwest::Method::POST,
            "/v1/subscriptions",
            Some(&integrator),
            Some(json!({ "url": url })),
            &[("idempotency-key", "sub-1")],
        )
    };
    let first = subscribe("http://127.0.0.1:9/hook").await.ok();
    let secret = first.body["secret"].as_str().expect("secret").to_owned();
    let replay = subscribe("http://127.0.0.1:9/hook").await.ok();
    assert_eq!(replay.body["secret"], secret.as_str(), "the retry gets the first answer");
    let stored = query(&app, db, "SELECT body FROM idempotency_keys").await;
    assert!(!stored.is_empty());
    for body in &stored {
        assert!(!String::from_utf8_lossy(body).contains("whsec_"), "the stored answer holds the secret in the clear");
    }
    // Reusing the key for another request is refused while the answer lives…
    subscribe("http://127.0.0.1:10/hook").await.problem(422, "idempotency-key-reused");
    // …and allowed once it expired.
    let past = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    execute(&app, db, &format!("UPDATE idempotency_keys SET created_at = '{past}'")).await;
    let again = subscribe("http://127.0.0.1:10/hook").await.ok();
    assert_ne!(again.body["id"], first.body["id"]);
}

async fn query(app: &TestApp, db: &TestDb, sql: &str) -> Vec<Vec<u8>> {
    use sqlx::Row;
    let url = app.database_url(db);
    if is_postgres(db) {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&pool).await.expect("query");
        rows.iter().filter_map(|r| r.try_get::<Option<Vec<u8>>, _>(0).ok().flatten()).collect()
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&pool).await.expect("query");
        rows.iter().filter_map(|r| r.try_get::<Option<Vec<u8>>, _>(0).ok().flatten()).collect()
    }
}

async fn execute(app: &TestApp, db: &TestDb, sql: &str) {
    let url = app.database_url(db);
    if is_postgres(db) {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        sqlx::raw_sql(sql).execute(&pool).await.expect("execute");
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        sqlx::raw_sql(sql).execute(&pool).await.expect("execute");
    }
}
