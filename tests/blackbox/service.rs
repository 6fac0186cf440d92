//! The service as a user meets it: start on port 0, health and readiness.

use brobyg::Application;
use brobyg::settings::Settings;

use crate::support::*;

crate::on_both_backends!(
    the_service_starts_and_reports_health_and_readiness,
    the_demo_populates_a_fresh_store_through_the_api
);

pub async fn spawn(db: &TestDb, data_dir: &std::path::Path) -> String {
    let settings = db.settings(data_dir);
    if db.url.starts_with("postgres") {
        db.store().await.close().await; // migrate, as `brobyg migrate` would
    }
    let app = Application::build(&settings).await.expect("build");
    let addr = app.local_addr().expect("addr");
    tokio::spawn(app.run_until(std::future::pending()));
    format!("http://{addr}")
}

async fn the_service_starts_and_reports_health_and_readiness(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = spawn(db, dir.path()).await;
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let ready = client.get(format!("{base}/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("dev-signing-key.pem").exists(), "a dev signing key is generated");
}

#[tokio::test]
async fn the_embedded_default_creates_its_data_folder_and_migrates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("nested").join("data");
    let mut settings = Settings::for_data_dir(&data);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    let app = Application::build(&settings).await.expect("build");
    assert!(app.store().migrations_current().await.expect("check"));
    assert!(data.join("brobyg.db").exists());
}

async fn the_demo_populates_a_fresh_store_through_the_api(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = db.settings(dir.path());
    if db.url.starts_with("postgres") {
        db.store().await.close().await;
    }
    let summary = brobyg::demo::run(&settings).await.expect("demo");
    assert_eq!((summary.agreements, summary.volunteers, summary.cases), (2, 10, 50));
    assert!(summary.concerns >= 3);
    // Fold the views from the feed and count the states per municipality.
    let store = brobyg::store::Store::connect(&settings.effective_database_url(), 2).await.expect("connect");
    while brobyg::views::step(&store).await.expect("views").1 > 0 {}
    let mut states = std::collections::BTreeSet::new();
    let mut cases = 0;
    for org in ["municipality:0746", "municipality:0101"] {
        let rows = store.case_summaries(&org.parse().expect("org"), None, 500).await.expect("caseload");
        cases += rows.len();
        states.extend(rows.into_iter().map(|r| r.state));
    }
    assert_eq!(cases, 50);
    let all: std::collections::BTreeSet<String> =
        brobyg_domain::CaseState::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(states, all, "cases in every state");
    // A rebuild from the start (large, coalesced batches) ends where the live runner did, even
    // with two runners racing over the same batches (two replicas): none is applied twice.
    let before = views_of(&store).await;
    assert!(before.volunteers.iter().any(|v| v.assignments > 0), "the demo matched volunteers");
    store.reset_views().await.expect("reset");
    assert!(views_of(&store).await.cases.is_empty());
    let other = brobyg::store::Store::connect(&settings.effective_database_url(), 2).await.expect("connect");
    let rebuild = |s: brobyg::store::Store| async move { while brobyg::views::step(&s).await.expect("views").1 > 0 {} };
    tokio::join!(rebuild(store.clone()), rebuild(other.clone()));
    assert_eq!(views_of(&store).await, before);
    other.close().await;
    store.close().await;
}

#[derive(Debug, PartialEq)]
struct Views {
    cases: Vec<brobyg::store::CaseSummary>,
    concerns: Vec<brobyg::store::ConcernSummary>,
    volunteers: Vec<brobyg::store::VolunteerSummary>,
}

async fn views_of(store: &brobyg::store::Store) -> Views {
    let mut views = Views { cases: vec![], concerns: vec![], volunteers: vec![] };
    for org in ["municipality:0746", "municipality:0101", "ngo:kfum-sa", "ngo:roede-kors"] {
        let org: brobyg_domain::Org = org.parse().expect("org");
        views.cases.extend(store.case_summaries(&org, None, 500).await.expect("caseload"));
        views.concerns.extend(store.concern_summaries(&org, false).await.expect("concerns"));
        if !org.is_municipality() {
            views.volunteers.extend(store.volunteer_summaries(&org).await.expect("volunteers"));
        }
    }
    views
}

/// Serves a JWK Set on loopback from a shared, changeable value.
async fn jwks_server(keys: std::sync::Arc<std::sync::Mutex<serde_json::Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys.lock().map(|k| k.clone()).unwrap_or_default()) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/jwks.json")
}

fn claims(org: &str) -> brobyg::devkeys::Claims {
    let now = chrono::Utc::now().timestamp();
    brobyg::devkeys::Claims {
        sub: "u-1".into(),
        org: org.into(),
        roles: vec!["caseworker".into()],
        iat: now,
        exp: now + 60,
        iss: "external-idp".into(),
        aud: None,
    }
}

#[tokio::test]
async fn tokens_verify_against_a_jwks_url_and_a_rotated_key_is_picked_up() {
    use brobyg::auth::{KeySource, Verifier};
    let (a_dir, b_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let a = brobyg::devkeys::DevKey::load_or_create(a_dir.path()).expect("key a");
    let b = brobyg::devkeys::DevKey::load_or_create(b_dir.path()).expect("key b");
    let served = std::sync::Arc::new(std::sync::Mutex::new(a.jwks()));
    let url = jwks_server(served.clone()).await;
    let verifier = Verifier::new(KeySource::from_setting(&url))
        .await
        .expect("verifier")
        .with_min_refresh_interval(std::time::Duration::ZERO);
    let caller = verifier.verify(&a.mint(&claims("municipality:0746")).expect("mint")).await.expect("key a verifies");
    assert_eq!(caller.org.as_str(), "municipality:0746");
    let rotated = b.mint(&claims("municipality:0746")).expect("mint");
    assert!(verifier.verify(&rotated).await.is_err(), "key b is not published yet");
    let mut both = a.jwks();
    if let (Some(keys), Some(more)) = (both["keys"].as_array_mut(), b.jwks()["keys"].as_array()) {
        keys.extend(more.iter().cloned());
    }
    *served.lock().expect("lock") = both;
    verifier.verify(&rotated).await.expect("the unknown kid triggers a refresh");
    // A token with a role the service does not know gets no role, and a bad org is refused.
    let mut odd = claims("kommune 746");
    odd.roles = vec!["superuser".into()];
    assert!(verifier.verify(&a.mint(&odd).expect("mint")).await.is_err());
}

#[tokio::test]
async fn tokens_verify_against_a_jwks_file() {
    use brobyg::auth::{KeySource, Verifier};
    let dir = tempfile::tempdir().expect("dir");
    let key = brobyg::devkeys::DevKey::load_or_create(dir.path()).expect("key");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, key.jwks().to_string()).expect("write");
    let verifier = Verifier::new(KeySource::from_setting(file.to_str().expect("path"))).await.expect("verifier");
    let caller = verifier.verify(&key.mint(&claims("ngo:kfum-sa")).expect("mint")).await.expect("verifies");
    assert_eq!(caller.org.as_str(), "ngo:kfum-sa");
    assert!(
        Verifier::new(KeySource::from_setting("/nonexistent/jwks.json")).await.is_err(),
        "a missing file fails at start"
    );
}

#[tokio::test]
async fn es256_tokens_verify_against_an_ec_jwk_and_hs256_never_does() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use brobyg::auth::{KeySource, Verifier};
    use p256::pkcs8::EncodePrivateKey;
    let secret = loop {
        if let Ok(s) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break s;
        }
    };
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let (x, y) = (point.x().expect("x"), point.y().expect("y"));
    let jwks = serde_json::json!({ "keys": [ {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "ec-1",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) } ] });
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("write");
    let verifier = Verifier::new(KeySource::from_setting(file.to_str().expect("path"))).await.expect("verifier");
    let der = secret.to_pkcs8_der().expect("pkcs8");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims("municipality:0746"),
        &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
    )
    .expect("es256 token");
    let caller = verifier.verify(&token).await.expect("ES256 verifies");
    assert_eq!(caller.user.0, "u-1");
    // The same claims under HS256 with the key's x as the "secret" (the classic confusion attack).
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("ec-1".into());
    let forged = jsonwebtoken::encode(&hs, &claims("municipality:0746"), &jsonwebtoken::EncodingKey::from_secret(x))
        .expect("hs256 token");
    assert!(verifier.verify(&forged).await.is_err());
}
