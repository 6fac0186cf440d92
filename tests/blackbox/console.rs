//! The console in a real browser: Debian's chromium driven through chromedriver, on the
//! embedded default seeded by the demo, through the auditor's and the coordinator's tasks; the
//! OpenID Connect sign-in against a stand-in identity provider on another loopback host name.
//! Screenshots of every step are kept in `target/console-screenshots/`.
//!
//! The browser tests need `chromium` and `chromium-driver` (Debian's packages; `.ci/run`
//! installs them) and are ignored with that reason otherwise visible in the test list. The
//! rules a hostile page or caller would try (CSRF, open redirects, headers, another
//! organisation's case) are checked over plain HTTP and run everywhere.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use brobyg::Application;
use brobyg::devkeys::DevKey;
use brobyg::settings::Settings;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The embedded default in a fresh data folder, seeded by the demo, serving on loopback.
struct Served {
    base: String,
    dir: tempfile::TempDir,
}

impl Served {
    async fn demo() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings::for_data_dir(dir.path());
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        brobyg::demo::run(&settings).await.expect("demo");
        let base = serve(&settings).await;
        Self { base, dir }
    }

    fn token(&self, org: &str, role: &str) -> String {
        let key = DevKey::load_or_create(self.dir.path()).expect("dev key");
        let now = chrono::Utc::now().timestamp();
        key.mint(&brobyg::devkeys::Claims {
            sub: format!("test-{role}"),
            org: org.into(),
            roles: vec![role.into()],
            iat: now,
            exp: now + 3600,
            iss: brobyg::devkeys::DEV_ISSUER.into(),
            aud: None,
        })
        .expect("mint")
    }

    async fn api(&self, token: &str, path: &str) -> Value {
        let response =
            reqwest::Client::new().get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("api");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("api");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    /// A closed case of municipality 0746 with a referral disclosure and a concern, the concern
    /// acknowledged now (on time); its id and its events as the auditor reads them.
    async fn audited_case(&self) -> (String, Vec<Value>) {
        let caseworker = self.token("municipality:0746", "caseworker");
        let auditor = self.token("municipality:0746", "auditor");
        let list = self.api(&caseworker, "/v1/cases?state=closed&limit=50").await;
        for row in list["items"].as_array().expect("items") {
            let id = row["id"].as_str().expect("id").to_owned();
            let view = self.api(&caseworker, &format!("/v1/cases/{id}")).await;
            let Some(concern) = view["concerns"].as_array().and_then(|c| c.first()).cloned() else { continue };
            if concern.get("acknowledged_at").is_none() {
                let cid = concern["id"].as_str().expect("concern id");
                self.post(
                    &caseworker,
                    &format!("/v1/cases/{id}/concerns/{cid}/receipt"),
                    json!({"investigation_started": false}),
                )
                .await;
            }
            let events: Vec<Value> =
                serde_json::from_value(self.api(&auditor, &format!("/v1/audit/cases/{id}/events")).await)
                    .expect("events");
            return (id, events);
        }
        panic!("the demo has a closed case with a concern");
    }
}

async fn serve(settings: &Settings) -> String {
    let app = Application::build(settings).await.expect("build");
    let addr = app.local_addr().expect("addr");
    tokio::spawn(app.run_until(std::future::pending()));
    format!("http://{addr}")
}

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// Stops chromedriver and the browsers it started (its process group), also when a test
    /// failed before closing its session.
    fn drop(&mut self) {
        // `kill -KILL -PID` is not safe: procps-ng 4.0 reads `-PID` as a signal number and
        // signals `-1` (every process) for a pid that starts with 1. `-s KILL -- -PID` names the
        // group, and a pid of 0 or 1 would name no group of ours.
        let pid = self.child.id();
        if pid > 1 {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{pid}")]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        // Its own process group, so that the browsers it starts stop with it.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"],
               "prefs": {"intl.accept_languages": "da-DK,da"}}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client =
        ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a browser session");
    (driver, client)
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("BROBYG_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
}

async fn sign_in(client: &Client, base: &str, org: &str, role: &str, user: &str) {
    client.goto(&format!("{base}/console")).await.expect("goto");
    assert!(client.current_url().await.expect("url").path().ends_with("/console/login"), "signed out: to sign-in");
    assert!(!text_of(client, "#dev-banner").await.is_empty(), "the development sign-in says so");
    let org_field = client.find(Locator::Id("org")).await.expect("org");
    org_field.clear().await.expect("clear");
    org_field.send_keys(org).await.expect("org");
    client.find(Locator::Id("role")).await.expect("role").select_by_value(role).await.expect("role");
    let user_field = client.find(Locator::Id("user")).await.expect("user");
    user_field.clear().await.expect("clear");
    user_field.send_keys(user).await.expect("user");
    client.find(Locator::Id("sign-in")).await.expect("button").click().await.expect("sign in");
    client.wait().for_element(Locator::Id("who")).await.expect("signed in");
    assert!(text_of(client, "#who").await.contains(user));
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver; .ci/run installs them)"]
async fn an_auditor_replays_a_case_in_the_browser() {
    let served = Served::demo().await;
    let (case, events) = served.audited_case().await;
    let (_driver, client) = browser().await;
    sign_in(&client, &served.base, "municipality:0746", "auditor", "au-7").await;
    shot(&client, "01-auditor-find-a-case").await;

    // Find the case by id; its whole timeline is there, newest moment selected.
    client.find(Locator::Id("case")).await.expect("search").send_keys(&case).await.expect("type");
    client.find(Locator::Css("#find button")).await.expect("button").click().await.expect("find");
    client.wait().for_element(Locator::Id("timeline")).await.expect("case page");
    let rows = client.find_all(Locator::Css("#timeline tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), events.len(), "every event of the case");
    assert_eq!(
        client.find(Locator::Id("at")).await.expect("slider").prop("value").await.expect("v"),
        Some(events.len().to_string())
    );
    shot(&client, "02-auditor-case-timeline").await;

    // The referral's disclosure names its checkpoint and the basis of each item.
    let (disclosure, _) =
        events.iter().enumerate().find(|(_, e)| e["event_type"] == "information_disclosed").expect("a disclosure");
    let seq = disclosure + 1;
    let row = text_of(&client, &format!("#ev-{seq}")).await;
    assert!(row.contains("referral") && row.contains("consent: referral"), "checkpoint and basis: {row}");

    // Keyboard: move the slider back to the disclosure and show the case then, as the NGO saw it.
    let slider = client.find(Locator::Id("at")).await.expect("slider");
    slider.send_keys(&"\u{e012}".repeat(events.len() - seq)).await.expect("arrow left"); // ArrowLeft
    assert!(text_of(&client, "#moment-label").await.starts_with(&format!("#{seq} ")), "the label follows the slider");
    // Once the keys rest, the case at that moment loads, once, and the slider keeps the focus
    // there, so the next key press goes on from it.
    let moment = reqwest::Url::parse(&format!("{}/console/cases/{case}?at={seq}&seen_by=", served.base)).expect("url");
    client.wait().for_url(&moment).await.expect("the moment loads when the keys rest");
    client.wait().for_element(Locator::Css(&format!("#at[value='{seq}']"))).await.expect("the moment's page");
    let focused = client.active_element().await.expect("focus").attr("id").await.expect("id");
    assert_eq!(focused.as_deref(), Some("at"), "the slider keeps the focus across the load");
    client.find(Locator::Id("seen_by")).await.expect("seen by").select_by_value("ngo:kfum-sa").await.expect("ngo");
    client
        .wait()
        .for_element(Locator::Css("#seen_by option[value='ngo:kfum-sa'][selected]"))
        .await
        .expect("resubmitted");
    let url = client.current_url().await.expect("url");
    assert!(url.query().is_some_and(|q| q.contains(&format!("at={seq}")) && q.contains("seen_by=ngo")), "{url}");
    // What the referral disclosed reached the NGO at that moment: new, marked; health never.
    let items = text_of(&client, "table.items").await;
    let new_rows = client.find_all(Locator::Css("table.items tr.new")).await.expect("new rows");
    assert!(!new_rows.is_empty(), "the disclosed items are marked new for the NGO: {items}");
    assert!(!items.contains("psychologist"), "the NGO never saw the health item: {items}");
    shot(&client, "03-auditor-as-seen-by-the-ngo-at-the-referral").await;

    // The municipality's own view at the same moment holds the health item.
    client.find(Locator::Id("seen_by")).await.expect("seen by").select_by_value("").await.expect("own");
    client.wait().for_element(Locator::Css("#seen_by option[value=''][selected]")).await.expect("resubmitted");
    assert!(text_of(&client, "table.items").await.contains("psychologist"));

    // Latest moment: the concern with its working-day deadline, acknowledged on time.
    client.find(Locator::Id("later")).await.expect("later link");
    client.goto(&format!("{}/console/cases/{case}", served.base)).await.expect("goto");
    let concerns = text_of(&client, "table.concerns").await;
    assert!(concerns.contains("6 arbejdsdage") && concerns.contains("rettidigt"), "{concerns}");
    shot(&client, "04-auditor-concern-deadlines").await;

    // The access log shows this auditor's reads through the console.
    let log = text_of(&client, "#access-log").await;
    assert!(log.contains("au-7") && log.contains("audit/state"), "{log}");

    // The inclusion proof of an event the latest checkpoint signed (the referral's disclosure)
    // verifies offline against the page's public key; the receipt just given is not signed yet.
    let newest =
        client.find(Locator::Id("proof")).await.expect("proof link").attr("href").await.expect("href").expect("href");
    let cookies = client.get_all_cookies().await.expect("cookies");
    let header = cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ");
    let unsigned = reqwest::Client::new()
        .get(format!("{}{newest}", served.base))
        .header("cookie", &header)
        .send()
        .await
        .expect("proof");
    assert_eq!(unsigned.status(), 409, "the receipt came after the latest checkpoint");
    assert!(unsigned.text().await.expect("html").contains("not among the events that checkpoint signed"));
    client.goto(&format!("{}/console/cases/{case}?at={seq}", served.base)).await.expect("goto");
    let href =
        client.find(Locator::Id("proof")).await.expect("proof link").attr("href").await.expect("href").expect("href");
    let key = text_of(&client, "#verification dd.hash:last-of-type").await;
    let download = reqwest::Client::new()
        .get(format!("{}{href}", served.base))
        .header("cookie", header)
        .send()
        .await
        .expect("proof");
    assert_eq!(download.status(), 200, "{href}");
    assert!(download.headers()["content-disposition"].to_str().expect("name").starts_with("attachment;"));
    let body = download.text().await.expect("body");
    let proof: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let trusted = brobyg::audit::TrustedKeys::from_hex(&key).expect("key");
    brobyg::audit::verify_proof(&proof, &trusted).expect("the downloaded proof verifies");

    // Verification on demand.
    client.find(Locator::Id("verify")).await.expect("verify").click().await.expect("click");
    client.wait().for_element(Locator::Id("verify-result")).await.expect("result");
    assert!(text_of(&client, "#verify-result").await.contains("stemmer"));
    shot(&client, "05-auditor-verification").await;

    // English, on the same page.
    client.find(Locator::Id("lang-switch")).await.expect("switch").click().await.expect("click");
    client.wait().for_element(Locator::Css("html[lang='en'] #verify-result")).await.expect("result in English");
    assert!(text_of(&client, "#verify-result").await.contains("holds"));
    client.goto(&format!("{}/console/cases/{case}", served.base)).await.expect("goto");
    assert_eq!(text_of(&client, "#timeline-h").await, "Timeline");
    shot(&client, "06-auditor-case-in-english").await;
    client.close().await.expect("close");
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver; .ci/run installs them)"]
async fn a_coordinator_sees_the_caseload_the_waiting_list_and_a_timeline() {
    let served = Served::demo().await;
    let coordinator = served.token("ngo:kfum-sa", "coordinator");
    let waiting = served.api(&coordinator, "/v1/waiting-list").await;
    let (_driver, client) = browser().await;
    sign_in(&client, &served.base, "ngo:kfum-sa", "coordinator", "co-3").await;
    let caseload = client.find_all(Locator::Css("#caseload tbody tr")).await.expect("rows");
    assert!(!caseload.is_empty(), "the caseload");
    shot(&client, "11-coordinator-caseload").await;

    client.find(Locator::Css("a[href='/console/waiting']")).await.expect("nav").click().await.expect("click");
    client.wait().for_element(Locator::Id("waiting")).await.expect("waiting list");
    let rows = client.find_all(Locator::Css("#waiting tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), waiting["items"].as_array().map_or(0, Vec::len), "the API's waiting list");
    let days = text_of(&client, "#waiting tbody tr:first-child .days-waiting").await;
    assert_eq!(days, waiting["items"][0]["days_waiting"].to_string(), "days waiting");
    shot(&client, "12-coordinator-waiting-list").await;
    // On a tablet held upright the page does not scroll sideways; wide tables scroll in place.
    client.set_window_size(768, 1024).await.expect("tablet");
    let overflow = client
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
        .await
        .expect("measure");
    assert!(overflow.as_i64().is_some_and(|o| o <= 0), "the page is wider than a tablet: {overflow}");
    shot(&client, "12b-coordinator-waiting-list-on-a-tablet").await;
    client.set_window_size(1280, 1000).await.expect("laptop");

    // One case's timeline as the coordinator may see it: the API's timeline, no more.
    let first = waiting["items"][0]["case"].as_str().expect("case").to_owned();
    client.find(Locator::Css("#waiting tbody tr:first-child a")).await.expect("link").click().await.expect("click");
    client.wait().for_element(Locator::Id("timeline")).await.expect("timeline");
    let timeline = served.api(&coordinator, &format!("/v1/cases/{first}/timeline?limit=500")).await;
    let rows = client.find_all(Locator::Css("#timeline tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), timeline["entries"].as_array().map_or(0, Vec::len));
    let page = client.source().await.expect("source");
    let municipality_view =
        served.api(&served.token("municipality:0746", "caseworker"), &format!("/v1/cases/{first}")).await;
    for item in municipality_view["items"].as_array().into_iter().flatten() {
        if item["category"] == "health" {
            let content = item["content"].as_str().unwrap_or_default();
            assert!(!page.contains(content), "the municipality's health item never reaches the coordinator's console");
        }
    }
    shot(&client, "13-coordinator-case-timeline").await;

    // Signing out ends the session.
    client
        .find(Locator::Css("form[action='/console/logout'] button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    client.wait().for_element(Locator::Id("sign-in")).await.expect("signed out");
    client.goto(&format!("{}/console/waiting", served.base)).await.expect("goto");
    assert!(client.current_url().await.expect("url").path().ends_with("/console/login"));
    client.close().await.expect("close");
}

// ---- OpenID Connect against a stand-in identity provider ----

/// A code the stand-in issued: its PKCE challenge, the nonce and the redirect it was for.
type Issued = std::collections::HashMap<String, (String, String, String)>;

#[derive(Clone)]
struct Idp {
    issuer: String,
    key: Arc<DevKey>,
    codes: Arc<Mutex<Issued>>,
    org: String,
    role: String,
}

async fn idp_discovery(axum::extract::State(idp): axum::extract::State<Idp>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": idp.issuer,
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn idp_jwks(axum::extract::State(idp): axum::extract::State<Idp>) -> axum::Json<Value> {
    axum::Json(idp.key.jwks())
}

/// Signs the user in at once (a stand-in has no password page) and sends the browser back.
async fn idp_authorize(
    axum::extract::State(idp): axum::extract::State<Idp>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some("brobyg-console")
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope").is_some_and(|s| s.split(' ').any(|x| x == "openid"));
    if !ok {
        return (axum::http::StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = uuid::Uuid::new_v4().to_string();
    let redirect = q["redirect_uri"].clone();
    idp.codes
        .lock()
        .expect("lock")
        .insert(code.clone(), (q["code_challenge"].clone(), q["nonce"].clone(), redirect.clone()));
    let to = format!(
        "{redirect}?{}",
        serde_urlencoded::to_string([("code", code.as_str()), ("state", q["state"].as_str())]).expect("query")
    );
    axum::response::Redirect::to(&to).into_response()
}

async fn idp_token(
    axum::extract::State(idp): axum::extract::State<Idp>,
    axum::extract::Form(f): axum::extract::Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use base64::Engine;
    use sha2::Digest;
    let Some((challenge, nonce, redirect)) = f.get("code").and_then(|c| idp.codes.lock().expect("lock").remove(c))
    else {
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != challenge
        || f.get("redirect_uri") != Some(&redirect)
        || f.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let access = idp
        .key
        .mint(&json!({"sub": "idp-user-1", "org": idp.org, "roles": [idp.role], "iat": now, "exp": now + 600,
                      "iss": idp.issuer, "aud": "brobyg"}))
        .expect("mint");
    let id = idp
        .key
        .mint(&json!({"sub": "idp-user-1", "iat": now, "exp": now + 600, "iss": idp.issuer, "aud": "brobyg-console", "nonce": nonce}))
        .expect("mint");
    axum::Json(json!({"access_token": access, "id_token": id, "token_type": "Bearer", "expires_in": 600}))
        .into_response()
}

/// The stand-in on `localhost` (another site than the service's `127.0.0.1`) and the service
/// configured against it; returns the service's base URL.
async fn with_idp(dir: &std::path::Path, org: &str, role: &str) -> String {
    let key_dir = dir.join("idp");
    let key = Arc::new(DevKey::load_or_create(&key_dir).expect("idp key"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://localhost:{}", listener.local_addr().expect("addr").port());
    let idp = Idp { issuer: issuer.clone(), key, codes: Arc::default(), org: org.into(), role: role.into() };
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(idp_discovery))
        .route("/jwks", axum::routing::get(idp_jwks))
        .route("/authorize", axum::routing::get(idp_authorize))
        .route("/token", axum::routing::post(idp_token))
        .with_state(idp);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let port = free_port();
    let mut settings = Settings::for_data_dir(&dir.join("data"));
    settings.listen = SocketAddr::from(([127, 0, 0, 1], port));
    settings.jwks = Some(format!("{issuer}/jwks"));
    settings.jwt_issuer = Some(issuer);
    settings.jwt_audience = Some("brobyg".into());
    settings.oidc_client_id = Some("brobyg-console".into());
    settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    serve(&settings).await
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver; .ci/run installs them)"]
async fn an_auditor_signs_in_through_openid_connect_with_pkce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = with_idp(dir.path(), "municipality:0746", "auditor").await;
    let (_driver, client) = browser().await;
    client.goto(&format!("{base}/console")).await.expect("goto");
    assert!(client.find(Locator::Id("dev-banner")).await.is_err(), "no development sign-in with an identity provider");
    shot(&client, "21-oidc-sign-in").await;
    client.find(Locator::Id("sign-in")).await.expect("sign-in link").click().await.expect("click");
    client.wait().for_element(Locator::Id("find")).await.expect("back in the console, signed in");
    assert!(text_of(&client, "#who").await.contains("idp-user-1 · auditor · municipality:0746"));
    let cookies = client.get_all_cookies().await.expect("cookies");
    let session = cookies.iter().find(|c| c.name() == "brobyg_session").expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Strict));
    assert!(cookies.iter().all(|c| c.name() != "brobyg_oidc"), "the sign-in's state is gone");
    shot(&client, "22-oidc-signed-in").await;
    client.close().await.expect("close");
}

#[tokio::test]
async fn a_callback_without_the_browsers_own_state_signs_nobody_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = with_idp(dir.path(), "municipality:0746", "auditor").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // Start a sign-in: the redirect carries state, nonce and an S256 challenge, never the verifier.
    let start = http.get(format!("{base}/console/login/oidc")).send().await.expect("start");
    assert_eq!(start.status(), 303);
    let location = start.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.contains("code_challenge_method=S256") && location.contains("nonce="), "{location}");
    let pending = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("brobyg_oidc="))
        .expect("the sign-in's state cookie")
        .to_owned();
    assert!(
        pending.contains("HttpOnly") && pending.contains("Secure") && pending.contains("SameSite=Lax"),
        "{pending}"
    );
    let cookie = pending.split(';').next().expect("pair").to_owned();
    let verifier = cookie.rsplit('.').next().expect("verifier");
    assert!(!location.contains(verifier), "the PKCE verifier never leaves the browser's cookie");
    // The provider answers with a code for that state.
    let back = http.get(&location).send().await.expect("authorize");
    let callback = back.headers()["location"].to_str().expect("callback").to_owned();
    // An attacker's page replays the callback in a browser without the state cookie: refused.
    let forged = http.get(&callback).send().await.expect("forged");
    assert_eq!(forged.status(), 403);
    assert!(
        forged
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap_or("").starts_with("brobyg_session=ey"))
    );
    // With another state in the cookie: refused as well.
    let wrong = http.get(&callback).header("cookie", "brobyg_oidc=other.nonce.verifier").send().await.expect("wrong");
    assert_eq!(wrong.status(), 403);
    // The real browser's cookie: signed in, the session strict; the code cannot be used twice.
    let real = http.get(&callback).header("cookie", &cookie).send().await.expect("real");
    assert_eq!(real.status(), 200);
    let session = real
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("brobyg_session=ey"))
        .expect("a session")
        .to_owned();
    assert!(session.contains("HttpOnly") && session.contains("Secure") && session.contains("SameSite=Strict"));
    let again = http.get(&callback).header("cookie", &cookie).send().await.expect("again");
    assert_eq!(again.status(), 403, "a code is exchanged once");
}

// ---- what a hostile page or caller would try, over plain HTTP ----

fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).and_then(|r| r.split(';').next()).map(str::to_owned))
}

#[tokio::test]
async fn the_console_refuses_forged_forms_open_redirects_and_other_organisations_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::for_data_dir(dir.path());
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let base = serve(&settings).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // Every page: a strict policy, never cached, never framed.
    let page = http.get(format!("{base}/console/login")).send().await.expect("login page");
    let h = page.headers().clone();
    assert_eq!(h["content-security-policy"], brobyg::console::CSP);
    assert!(brobyg::console::CSP.contains("script-src 'self'") && !brobyg::console::CSP.contains("unsafe"));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    let csrf = cookie_value(&page, "brobyg_csrf").expect("a CSRF cookie");
    let body = page.text().await.expect("html");
    assert!(body.contains(&format!("value=\"{csrf}\"")), "the form carries its cookie's value");

    // A sign-in form posted from another site, or without the cookie's value: refused.
    let form = [("org", "municipality:0746"), ("role", "auditor"), ("user", "mallory")];
    let cookie = format!("brobyg_csrf={csrf}");
    let no_token =
        http.post(format!("{base}/console/login")).header("cookie", &cookie).form(&form).send().await.expect("post");
    assert_eq!(no_token.status(), 403);
    let mut with_token = form.to_vec();
    with_token.push(("csrf", csrf.as_str()));
    let cross = http
        .post(format!("{base}/console/login"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&with_token)
        .send()
        .await
        .expect("post");
    assert_eq!(cross.status(), 403);
    let no_cookie = http.post(format!("{base}/console/login")).form(&with_token).send().await.expect("post");
    assert_eq!(no_cookie.status(), 403);
    // Bad input says what was wrong and signs nobody in.
    let mut bad = with_token.clone();
    bad[0] = ("org", "kommune 746");
    let refused =
        http.post(format!("{base}/console/login")).header("cookie", &cookie).form(&bad).send().await.expect("post");
    assert_eq!(refused.status(), 422);
    assert!(cookie_value(&refused, "brobyg_session").is_none());
    assert!(refused.text().await.expect("html").contains("org:"));
    // The real form signs in with an HttpOnly, Secure, strict session on the console's path.
    let ok = http
        .post(format!("{base}/console/login"))
        .header("cookie", &cookie)
        .form(&with_token)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 303);
    let session = cookie_value(&ok, "brobyg_session").expect("session");
    let raw = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("brobyg_session"))
        .expect("cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(raw.contains(part), "{raw} lacks {part}");
    }

    // The language switch only ever sends back into the console.
    for evil in [
        "https://evil.example/",
        "//evil.example/console",
        "/console/../../evil",
        "/console\\..\\evil",
        "/console/%2e%2e/evil",
        "/console/%2e%2e/evil\r\nx: y",
    ] {
        let r =
            http.get(format!("{base}/console/lang")).query(&[("to", "en"), ("back", evil)]).send().await.expect("lang");
        let to = r.headers()["location"].to_str().expect("location");
        assert!(to.starts_with("/console") && !to.contains("//") && !to.contains("evil"), "{evil} → {to}");
    }

    // Another organisation's case is not found, as in the API; a bad id says what to type.
    let session_cookie = format!("brobyg_session={session}; {cookie}");
    let other = http
        .get(format!("{base}/console/cases/{}", uuid::Uuid::new_v4()))
        .header("cookie", &session_cookie)
        .send()
        .await
        .expect("case");
    assert_eq!(other.status(), 404);
    let find = http
        .get(format!("{base}/console/find?case=14-03-2012"))
        .header("cookie", &session_cookie)
        .send()
        .await
        .expect("find");
    assert_eq!(find.status(), 422);
    assert!(find.text().await.expect("html").contains("expected a case id"));
    // Sign-out is a form too.
    let forged_out = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &session_cookie)
        .form(&[("csrf", "x")])
        .send()
        .await
        .expect("out");
    assert_eq!(forged_out.status(), 403);
}

#[tokio::test]
async fn a_deployment_with_an_identity_provider_offers_no_development_sign_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = DevKey::load_or_create(dir.path()).expect("key");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, key.jwks().to_string()).expect("jwks");
    let mut settings = Settings::for_data_dir(&dir.path().join("data"));
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.jwks = Some(jwks.to_string_lossy().into_owned());
    let base = serve(&settings).await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{base}/console/login")).send().await.expect("page");
    let csrf = cookie_value(&page, "brobyg_csrf").expect("csrf");
    let html = page.text().await.expect("html");
    assert!(!html.contains("dev-sign-in") && !html.contains("dev-banner"), "no development sign-in offered");
    let minted = http
        .post(format!("{base}/console/login"))
        .header("cookie", format!("brobyg_csrf={csrf}"))
        .form(&[("csrf", csrf.as_str()), ("org", "municipality:0746"), ("role", "auditor"), ("user", "mallory")])
        .send()
        .await
        .expect("post");
    assert_eq!(minted.status(), 404, "the service mints no token where an identity provider is configured");
}

/// What a caller would try with a session of their own against a real case of another
/// organisation: an auditor or a coordinator of another organisation, a token with no role the
/// service knows, and a token signed with a key of the caller's own making. None of them sees
/// the case's young person or anything written about them, on any of the case's pages.
#[tokio::test]
async fn sessions_of_another_organisation_without_a_role_or_forged_see_nothing_of_a_real_case() {
    let served = Served::demo().await;
    let (case, _) = served.audited_case().await;
    let caseworker = served.token("municipality:0746", "caseworker");
    let view = served.api(&caseworker, &format!("/v1/cases/{case}")).await;
    let name = view["young_person"]["first_name"].as_str().expect("the caseworker sees the name").to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = |token: String, path: String| {
        let http = http.clone();
        let url = format!("{}{path}", served.base);
        async move {
            let r = http.get(url).header("cookie", format!("brobyg_session={token}")).send().await.expect("page");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        }
    };
    let pages = [
        format!("/console/cases/{case}"),
        format!("/console/cases/{case}/verify"),
        format!("/console/cases/{case}/proof?seq=1&checkpoint=1"),
    ];

    // The case's own auditor sees it: the control that the pages below would show the name.
    let (status, own) = page(served.token("municipality:0746", "auditor"), pages[0].clone()).await;
    assert_eq!(status, 200);
    assert!(own.contains(&name), "the municipality's own auditor sees the young person");

    for (org, role) in [
        ("municipality:0101", "auditor"),
        ("municipality:0101", "caseworker"),
        ("ngo:another-association", "coordinator"),
        ("ngo:another-association", "auditor"),
        ("municipality:0746", "janitor"),
    ] {
        let token = served.token(org, role);
        for path in &pages {
            let (status, body) = page(token.clone(), path.clone()).await;
            // A role the service does not know signs nobody in: to sign-in (303).
            let refused = if role == "janitor" { status == 303 } else { matches!(status, 403 | 404) };
            assert!(refused, "{org} {role} {path}: {status}");
            assert!(!body.contains(&name), "{org} {role} {path}: the young person's name shows");
        }
        let (status, home) = page(token.clone(), "/console".into()).await;
        assert_eq!(status, if role == "janitor" { 303 } else { 200 }, "{org} {role}: the home page");
        assert!(!home.contains(&case), "{org} {role}: the case is listed");
    }

    // A token the caller signed with a key of their own: no page, the cookie is dropped.
    let forged = DevKey::load_or_create(tempfile::tempdir().expect("tempdir").path())
        .expect("another key")
        .mint(&brobyg::devkeys::Claims {
            sub: "mallory".into(),
            org: "municipality:0746".into(),
            roles: vec!["auditor".into()],
            iat: chrono::Utc::now().timestamp(),
            exp: chrono::Utc::now().timestamp() + 3600,
            iss: brobyg::devkeys::DEV_ISSUER.into(),
            aud: None,
        })
        .expect("mint");
    for path in &pages {
        let r = http
            .get(format!("{}{path}", served.base))
            .header("cookie", format!("brobyg_session={forged}"))
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), 303, "{path}: to sign-in");
        assert_eq!(r.headers()["location"], "/console/login");
        let dropped = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("brobyg_session=;") && v.contains("Max-Age=0"));
        assert!(dropped, "{path}: the forged session is dropped");
        assert!(!r.text().await.expect("body").contains(&name));
    }
}
