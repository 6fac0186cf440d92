//! Operability: traces over OpenTelemetry, Prometheus metrics.

use opentelemetry::trace::{SpanId, TraceId};
use serde_json::json;

use crate::app::*;
use crate::support::{TestDb, telemetry};

crate::on_both_backends!(
    requests_and_commands_are_traced_without_personal_data,
    metrics_are_scraped_in_prometheus_text
);

async fn requests_and_commands_are_traced_without_personal_data(db: &TestDb) {
    let t = telemetry();
    let app = TestApp::spawn(db).await;
    let cw = app.caseworker();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let opened = app
        .send(
            reqwest::Method::POST,
            "/v1/cases",
            Some(&cw),
            Some(json!({ "young_person": { "first_name": "Traceable-Name", "last_name": "X", "birth_date": "2012-01-01" } })),
            &[("traceparent", traceparent)],
        )
        .await
        .ok();
    let case = opened.id();
    // The request span ends once the response body went out, which the client may see first:
    // wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let spans = loop {
        let _ = t.provider.force_flush();
        let spans = t.spans.get_finished_spans().expect("spans");
        let done = spans
            .iter()
            .find(|s| s.name == "command" && s.attributes.iter().any(|a| a.value.as_str().contains(case.as_str())))
            .is_some_and(|c| spans.iter().any(|s| s.name == "request" && s.span_context.span_id() == c.parent_span_id));
        if done || std::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id");
    let command = spans
        .iter()
        .find(|s| s.name == "command" && s.attributes.iter().any(|a| a.value.as_str().contains(case.as_str())))
        .expect("a command span for the case");
    let request = spans
        .iter()
        .find(|s| s.name == "request" && s.span_context.span_id() == command.parent_span_id)
        .expect("the command span's parent is the request span");
    assert_eq!(request.span_context.trace_id(), trace_id, "the caller's trace continues");
    assert_eq!(request.parent_span_id, SpanId::from_hex("00f067aa0ba902b7").expect("span id"));
    let attrs = |s: &opentelemetry_sdk::trace::SpanData| {
        s.attributes.iter().map(|a| format!("{}={}", a.key, a.value.as_str())).collect::<Vec<_>>()
    };
    let command_attrs = attrs(command);
    assert!(command_attrs.iter().any(|a| a == "outcome=committed"), "{command_attrs:?}");
    assert!(command_attrs.iter().any(|a| a == "caller.org=municipality:0746"), "{command_attrs:?}");
    for s in &spans {
        assert!(!attrs(s).iter().any(|a| a.contains("Traceable-Name")), "personal data in span {}", s.name);
    }
    // The event carries the command's trace context, and so does the integrator's CloudEvent.
    let events = app.get(&format!("/v1/audit/cases/{case}/events"), &app.token(MUNI, "auditor", "a")).await.ok().body;
    let stored = events[0]["traceparent"].as_str().expect("the event's metadata holds the trace context");
    assert!(stored.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{stored}");
    let feed = app.get("/v1/feed?wait=2", &app.token(MUNI, "integrator", "i")).await.ok().body;
    let ce = feed["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["subject"] == case.as_str()))
        .cloned()
        .expect("event");
    let tp = ce["traceparent"].as_str().expect("traceparent extension");
    assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{tp}");
    assert!(tp.contains(&command.span_context.span_id().to_string()), "the event links to the command span");
}

async fn metrics_are_scraped_in_prometheus_text(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (case, _, _) = app.open_case("2012-03-14").await;
    app.get(&format!("/v1/cases/{case}"), &app.caseworker()).await.ok();
    app.get("/v1/cases/not-a-case", &app.caseworker()).await;
    // The views' lag appears once the view runner stored its first cursor.
    let mut text = String::new();
    for _ in 0..100 {
        text =
            app.client.get(format!("{}/metrics", app.base)).send().await.expect("scrape").text().await.expect("text");
        if text.contains("feed_consumer_lag_events{consumer=\"views\"}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut samples = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.insert(series.to_owned(), value);
    }
    let has = |name: &str, labels: &[&str]| {
        samples.keys().any(|k| k.starts_with(name) && labels.iter().all(|l| k.contains(l)))
    };
    assert!(has("http_requests_total", &["route=\"/v1/cases\"", "status=\"201\""]), "{text}");
    assert!(has("http_requests_total", &["route=\"/v1/cases/{id}\"", "status=\"404\""]), "{text}");
    assert!(has("http_request_duration_seconds_bucket", &["route=\"/v1/cases/{id}\""]));
    assert!(has("commands_total", &["aggregate=\"case\"", "outcome=\"committed\""]));
    assert!(has("events_appended_total", &["aggregate=\"case\""]));
    assert!(has("db_pool_connections", &[]));
    assert!(has("feed_consumer_lag_events", &["consumer=\"views\""]));
}

/// A PostgreSQL cluster of the test's own on a loopback port, which the test may stop.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn pg_ctl(&self, args: &[&str]) -> bool {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.dir.path().to_str().unwrap_or_default()])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn new() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::Builder::new().prefix("brobyg-pg").tempdir_in("/tmp").expect("dir");
        let chown = std::process::Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
        assert!(chown.is_ok_and(|s| s.success()));
        let init = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .status();
        assert!(init.is_ok_and(|s| s.success()), "initdb");
        let port = 20000 + (std::process::id() % 20000) as u16;
        let pg = Self { dir, bin, port };
        assert!(pg.start(), "start the private cluster");
        pg
    }

    fn start(&self) -> bool {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        self.pg_ctl(&["-o", &options, "-l", "/dev/null", "-w", "start"])
    }

    fn stop(&self) -> bool {
        self.pg_ctl(&["-m", "fast", "-w", "stop"])
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL server binaries and the postgres user to run a private cluster; .ci/run runs it"]
async fn readiness_follows_postgresql_going_away_and_coming_back() {
    let pg = PrivatePostgres::new();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let db = TestDb { url: url.clone(), ..TestDb::sqlite().await };
    let dir = tempfile::tempdir().expect("dir");
    let app = TestApp::spawn_with(&db, dir, |_| {}).await;
    let ready = |app: &TestApp| {
        let request = app.client.get(format!("{}/readyz", app.base)).timeout(std::time::Duration::from_secs(30));
        async move { request.send().await.expect("readyz").status().as_u16() }
    };
    assert_eq!(ready(&app).await, 200);
    assert!(pg.stop(), "stop PostgreSQL");
    assert_eq!(ready(&app).await, 503, "unready while PostgreSQL is down");
    assert!(pg.start(), "start PostgreSQL again");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut status = 0;
    while std::time::Instant::now() < deadline {
        status = ready(&app).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status, 200, "ready again once PostgreSQL is back");
}
