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

/// Folds the feed into the views until they reach `target` (30 s at most): on PostgreSQL a
/// batch comes back empty while any transaction begun before an event is still open.
async fn step_views_to(store: &brobyg::store::Store, target: brobyg::store::Cursor) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (at, n) = brobyg::views::step(store).await.expect("views");
        if n == 0 && (at >= target || std::time::Instant::now() > deadline) {
            return;
        }
        if n == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Catches the views up in batches of `page` until they reach `target` (30 s at most); how many
/// events this caller applied.
async fn catch_up_to(store: &brobyg::store::Store, target: brobyg::store::Cursor, page: u32) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut applied = 0;
    loop {
        applied += brobyg::views::catch_up(store, page, |_| {}).await.expect("catch up");
        let at = store.consumer_cursor(brobyg::store::VIEWS_CONSUMER).await.expect("cursor");
        if at.is_some_and(|at| at >= target) || std::time::Instant::now() > deadline {
            return applied;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn the_demo_populates_a_fresh_store_through_the_api(db: &TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = db.settings(dir.path());
    if db.url.starts_with("postgres") {
        db.store().await.close().await;
    }
    let summary = brobyg::demo::run(&settings).await.expect("demo");
    // 50 cases in every state, and a re-referral of each declined young person.
    assert_eq!((summary.agreements, summary.volunteers, summary.cases), (2, 10, 55));
    assert!(summary.concerns >= 3);
    // Fold the views from the feed and count the states per municipality.
    let store = brobyg::store::Store::connect(&settings.effective_database_url(), 2).await.expect("connect");
    // Every event the demo wrote, including any the PostgreSQL feed holds back while another
    // test's transaction is open.
    let written = store.last_committed().await.expect("last");
    step_views_to(&store, written).await;
    let mut states = std::collections::BTreeSet::new();
    let mut cases = 0;
    for org in ["municipality:0746", "municipality:0101"] {
        let rows =
            store.case_summaries(&org.parse().expect("org"), &Default::default(), None, 500).await.expect("caseload");
        cases += rows.len();
        states.extend(rows.into_iter().map(|r| r.state));
    }
    assert_eq!(cases, 55);
    let all: std::collections::BTreeSet<String> =
        brobyg_domain::CaseState::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(states, all, "cases in every state");
    // The waiting list shows pressure: young people waiting in an area, a language or on a day
    // that no free volunteer offers.
    let ngo: brobyg_domain::Org = "ngo:kfum-sa".parse().expect("org");
    let active: Vec<String> =
        store.volunteer_summaries(&ngo).await.expect("volunteers").into_iter().map(|v| v.volunteer_id).collect();
    let kek = brobyg::load_kek(&settings).expect("the demo's key-encryption key");
    let store = store.with_kek(kek);
    let volunteers: Vec<brobyg_domain::volunteer::Volunteer> =
        store.load_many(&active).await.expect("load").into_iter().map(|(_, v)| v.aggregate).collect();
    let filter = brobyg::store::CaseFilter { state: Some(brobyg_domain::CaseState::AwaitingMatch), programme: None };
    let waiting: Vec<String> =
        store.case_summaries(&ngo, &filter, None, 500).await.expect("waiting").into_iter().map(|r| r.case_id).collect();
    let reader = brobyg_projections::policy::Reader::staff(ngo.clone(), brobyg_domain::Role::Coordinator);
    let rows: Vec<_> = store
        .load_many::<brobyg_domain::case::Case>(&waiting)
        .await
        .expect("load")
        .iter()
        .filter_map(|(_, c)| {
            brobyg_projections::waiting::waiting_row(&c.aggregate, &reader, &volunteers, chrono::Utc::now())
        })
        .collect();
    assert!(!rows.is_empty(), "young people wait");
    let board = brobyg_projections::waiting::board(&rows, &volunteers);
    assert!(board.by_area.values().any(|p| p.waiting > 0 && p.free_places == 0), "{board:?}");
    assert!(rows.iter().any(|r| !r.blockers.is_empty()), "some say what blocks them");
    // A rebuild from the start (large, coalesced batches) ends where the live runner did, even
    // with two runners racing over the same batches (two replicas): none is applied twice.
    let before = views_of(&store).await;
    assert!(before.volunteers.iter().any(|v| v.assignments > 0), "the demo matched volunteers");
    // Where the live runner got to: on PostgreSQL a batch can come back empty while another
    // test's transaction is open (the feed stops below it), so the rebuild runs until it is there.
    let reached = store.consumer_cursor(brobyg::store::VIEWS_CONSUMER).await.expect("cursor").expect("a cursor");
    store.reset_views().await.expect("reset");
    assert!(views_of(&store).await.cases.is_empty());
    let other = brobyg::store::Store::connect(&settings.effective_database_url(), 2).await.expect("connect");
    tokio::join!(step_views_to(&store, reached), step_views_to(&other, reached));
    assert_eq!(views_of(&store).await, before);
    // `brobyg replay`'s catch-up, which reads each batch while writing the one before, in small
    // batches and racing another catch-up with batches of another size: the same views again.
    store.reset_views().await.expect("reset");
    let (mine, theirs) = tokio::join!(catch_up_to(&store, reached, 7), catch_up_to(&other, reached, 50));
    assert_eq!(views_of(&store).await, before);
    let events = store.event_count().await.expect("count");
    assert_eq!((mine + theirs) as u64, events, "each event applied once, by one of the two ({mine} + {theirs})");
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
        views.cases.extend(store.case_summaries(&org, &Default::default(), None, 500).await.expect("caseload"));
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

/// Starts the service with `change` on a fresh embedded store; returns its address, the
/// trigger that stops it, and the task that ends when it stopped.
async fn start_with(
    change: impl FnOnce(&mut Settings),
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDb::sqlite().await;
    let mut settings = db.settings(dir.path());
    change(&mut settings);
    let app = Application::build(&settings).await.expect("build");
    let addr = app.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (addr, stop, task, dir)
}

/// Reads from `stream` until the server closes it or `within` passes; whether it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let (addr, stop, task, _dir) = start_with(|s| s.header_read_timeout_seconds = 1).await;
    // Half a request, and then nothing (slowloris).
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: brobyg\r\n").await.expect("write");
    assert!(closed_within(&mut slow, std::time::Duration::from_secs(5)).await, "the half-sent request was not cut off");
    // A connection that never sends anything is closed too.
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    assert!(closed_within(&mut silent, std::time::Duration::from_secs(5)).await, "the silent connection stayed open");
    let _ = stop.send(());
    task.await.expect("join").expect("served");
}

#[tokio::test]
async fn beyond_the_connection_limit_clients_wait_until_a_connection_closes() {
    let (addr, stop, task, _dir) = start_with(|s| {
        s.max_http_connections = 2;
        s.header_read_timeout_seconds = 30;
    })
    .await;
    let held: Vec<tokio::net::TcpStream> =
        futures::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(addr)))
            .await
            .into_iter()
            .map(|c| c.expect("connect"))
            .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let url = format!("http://{addr}/healthz");
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(700), client.get(&url).send()).await;
    assert!(waiting.is_err(), "a third connection was served while two were held");
    drop(held);
    let served = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(&url).send()).await;
    assert_eq!(served.expect("served once a connection closed").expect("answer").status(), 200);
    let _ = stop.send(());
    task.await.expect("join").expect("served");
}

#[tokio::test]
async fn shutdown_waits_for_open_connections_only_until_its_deadline() {
    use tokio::io::AsyncWriteExt;
    let (addr, stop, task, dir) = start_with(|s| {
        s.shutdown_deadline_seconds = 1;
        s.header_read_timeout_seconds = 60;
    })
    .await;
    // A stream that never ends, and a request whose headers never finish.
    let key = brobyg::devkeys::DevKey::load_or_create(dir.path()).expect("key");
    let now = chrono::Utc::now().timestamp();
    let token = key
        .mint(&serde_json::json!({ "sub": "i", "org": "municipality:0746", "roles": ["integrator"], "iat": now, "exp": now + 600 }))
        .expect("token");
    let stream = reqwest::Client::new()
        .get(format!("http://{addr}/v1/feed/stream"))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    let started = std::time::Instant::now();
    let _ = stop.send(());
    let result = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
    assert!(result.is_ok(), "shutdown did not finish");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(12), "shutdown took {took:?}");
    assert!(took >= std::time::Duration::from_millis(900), "shutdown did not wait for open connections: {took:?}");
    drop(stream);
}

#[tokio::test]
async fn a_request_that_takes_too_long_is_answered_503_with_retry_after() {
    let (addr, stop, task, dir) = start_with(|s| s.request_timeout_seconds = 1).await;
    let key = brobyg::devkeys::DevKey::load_or_create(dir.path()).expect("key");
    let now = chrono::Utc::now().timestamp();
    let token = key
        .mint(&serde_json::json!({ "sub": "i", "org": "municipality:0746", "roles": ["integrator"], "iat": now, "exp": now + 600 }))
        .expect("token");
    // A long poll of 5 s on a quiet feed outlasts a 1 s request limit.
    let started = std::time::Instant::now();
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/v1/feed?wait=5"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    assert!(answer.headers().contains_key("retry-after"));
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["type"], "/problems/request-timeout");
    let _ = stop.send(());
    task.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (BROBYG_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); .ci/run runs it"]
async fn a_database_that_stops_answering_gives_503_and_an_unready_service_then_both_recover() {
    let db = TestDb::postgres().await;
    let name = db.postgres_name.clone().expect("name");
    let app = crate::app::TestApp::spawn(&db).await;
    let cw = app.caseworker();
    app.open_case("2012-03-14").await;
    let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.expect("admin");
    // The database refuses connections and drops the ones it has: as in a failover.
    sqlx::raw_sql(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&admin)
    .await
    .expect("refuse connections");
    let answer = app.get("/v1/cases", &cw).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.slug(), "dependency-unavailable");
    assert!(answer.header("retry-after").is_some());
    assert!(answer.body["detail"].as_str().unwrap_or("").contains("the event store"), "{}", answer.body);
    let opened = app
        .post(
            "/v1/cases",
            &cw,
            serde_json::json!({ "young_person": { "first_name": "A", "last_name": "B", "birth_date": "2012-01-01" } }),
        )
        .await;
    assert_eq!(opened.status, 503, "{}", opened.body);
    let ready = reqwest::get(format!("{}/readyz", app.base)).await.expect("readyz");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert!(body["detail"].as_str().unwrap_or("").contains("event store"), "{body}");
    // Back: the service recovers without a restart.
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).execute(&admin).await.expect("allow");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let answer = app.get("/v1/cases", &cw).await;
        if answer.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not recovered: {} {}", answer.status, answer.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    admin.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn readiness_names_a_background_worker_that_keeps_failing() {
    // NATS configured on a port where nothing listens: the publisher fails and retries.
    let (addr, stop, task, _dir) = start_with(|s| s.nats_url = Some("nats://127.0.0.1:1".into())).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let body = loop {
        let ready = reqwest::get(format!("http://{addr}/readyz")).await.expect("readyz");
        assert_eq!(ready.status(), 200, "a failing NATS publisher does not stop the API");
        let body: serde_json::Value = ready.json().await.expect("json");
        if body["status"] == "degraded" || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["failing"], serde_json::json!(["nats"]), "{body}");
    assert!(body["workers"]["nats"]["failures"].as_u64().unwrap_or(0) >= 1, "{body}");
    assert!(body["workers"]["nats"]["last_failure_at"].is_string(), "{body}");
    let _ = stop.send(());
    task.await.expect("join").expect("served");
}
