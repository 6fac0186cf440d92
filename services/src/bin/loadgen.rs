//! `loadgen`: drives the real HTTP API with concurrent clients through journey commands and
//! reads, and in the same run measures the raw database doing the equivalent work, printing each
//! figure with its ratio to the raw one, and a JSON summary at the end.
//!
//! `cargo run --release -p brobyg --bin loadgen -- --seconds 3 [--postgres postgres://…]` (docs/benchmarks.md)

#![expect(clippy::print_stdout, reason = "a command-line report: stdout is its output")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use brobyg::devkeys::{Claims, DEV_ISSUER, DevKey};
use brobyg::settings::Settings;
use brobyg::store::{Cursor, Store};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// mimalloc instead of glibc's allocator: a request allocates many small JSON values across
/// threads, where glibc's arenas spent about a quarter of the CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "brobyg load generator: API figures and their ratios to the raw database")]
struct Args {
    /// Seconds per throughput scenario.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Concurrency levels for commands.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Reads per read scenario.
    #[arg(long, default_value_t = 200)]
    reads: usize,
    /// Also run against this PostgreSQL server (a fresh database is created on it).
    #[arg(long)]
    postgres: Option<String>,
    /// Events already in the store for the growth scenario's large point.
    #[arg(long, default_value_t = 1_000_000)]
    growth_events: usize,
    /// Skip the growth scenario.
    #[arg(long)]
    no_growth: bool,
    /// Volunteers of the programme the suggestions scenario ranks.
    #[arg(long, default_value_t = 1_000)]
    volunteers: usize,
    /// Which scenarios to run (the feed and rebuild read what the commands wrote).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "commands,reads,feed,rebuild,commit,growth,suggestions,console"
    )]
    scenarios: Vec<String>,
    /// Where to write the JSON summary.
    #[arg(long, default_value = "target/loadgen.json")]
    json: String,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99))
}

/// The raw database beside the service: the same file or server, reached with plain sqlx, for
/// the baseline figures. Its table lives only in the benchmark's database.
enum Baseline {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Baseline {
    /// Connects as the service does (SQLite: WAL, `synchronous = FULL`), and creates the
    /// baseline table: an event-shaped row, no triggers.
    async fn connect(url: &str, max_connections: u32) -> Result<Self, Error> {
        use std::str::FromStr;
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30));
            let pool =
                sqlx::sqlite::SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?;
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS bench_raw (aggregate_id text NOT NULL, sequence integer NOT NULL, \
                 payload text NOT NULL, metadata text NOT NULL, PRIMARY KEY (aggregate_id, sequence))",
            )
            .execute(&pool)
            .await?;
            Ok(Self::Sqlite(pool))
        } else {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(max_connections).connect(url).await?;
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS bench_raw (aggregate_id text NOT NULL, sequence bigint NOT NULL, \
                 payload json NOT NULL, metadata json NOT NULL, PRIMARY KEY (aggregate_id, sequence))",
            )
            .execute(&pool)
            .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// One single-row insert of an event-shaped row, in its own transaction.
    async fn insert(&self, id: &str, sequence: i64, payload: &str) -> Result<(), Error> {
        let metadata = format!("{{\"at\":\"{}\"}}", chrono::Utc::now().to_rfc3339());
        match self {
            Self::Sqlite(p) => {
                sqlx::query("INSERT INTO bench_raw (aggregate_id, sequence, payload, metadata) VALUES (?, ?, ?, ?)")
                    .bind(id)
                    .bind(sequence)
                    .bind(payload)
                    .bind(metadata)
                    .execute(p)
                    .await?;
            }
            Self::Postgres(p) => {
                sqlx::query(
                    "INSERT INTO bench_raw (aggregate_id, sequence, payload, metadata) VALUES ($1, $2, $3::json, $4::json)",
                )
                .bind(id)
                .bind(sequence)
                .bind(payload)
                .bind(metadata)
                .execute(p)
                .await?;
            }
        }
        Ok(())
    }

    /// The raw read of every volunteer's rows (what ranking a programme's volunteers loads).
    async fn read_volunteers(&self) -> Result<usize, Error> {
        let sql = "SELECT aggregate_id, event_type, payload FROM events WHERE aggregate_type = 'volunteer' \
                   ORDER BY aggregate_id, sequence";
        Ok(match self {
            Self::Sqlite(p) => sqlx::query(sql).fetch_all(p).await?.len(),
            Self::Postgres(p) => sqlx::query(&sql.replace("payload", "payload::text")).fetch_all(p).await?.len(),
        })
    }

    /// The raw read of one case's rows (what a case read does before folding).
    async fn read_case(&self, id: &str) -> Result<usize, Error> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query(
                "SELECT aggregate_type, event_type, payload, metadata FROM events \
                      WHERE aggregate_type = 'case' AND aggregate_id = ? ORDER BY sequence",
            )
            .bind(id)
            .fetch_all(p)
            .await?
            .len(),
            Self::Postgres(p) => sqlx::query(
                "SELECT aggregate_type, event_type, payload::text, metadata::text FROM events \
                      WHERE aggregate_type = 'case' AND aggregate_id = $1 ORDER BY sequence",
            )
            .bind(id)
            .fetch_all(p)
            .await?
            .len(),
        })
    }
}

/// Appends `count` events (cases of 100 item events) through the sealing store, reporting
/// progress.
async fn fill(store: &Store, count: usize, mut progress: impl FnMut(usize)) -> Result<(), Error> {
    use brobyg_domain::case::{Case, CaseEvent, Item};
    use brobyg_domain::{Category, ItemId, Org, Personal, UserId};
    let municipality: Org = "municipality:0746".parse()?;
    let mut left = count;
    while left > 0 {
        let id = uuid::Uuid::new_v4().to_string();
        let n = left.min(100);
        let events: Vec<CaseEvent> = (0..n)
            .map(|i| CaseEvent::ItemAdded {
                item: Item {
                    id: ItemId::new(),
                    category: Category::School,
                    owner: municipality.clone(),
                    author: UserId("loadgen".into()),
                    content: Personal::new(format!("filler {i}")),
                    added_at: chrono::Utc::now(),
                    measure: None,
                    score: None,
                },
            })
            .collect();
        let metadata = std::collections::HashMap::from([("org".to_owned(), municipality.to_string())]);
        store.append::<Case>(&id, 0, events, metadata).await.map_err(|e| e.to_string())?;
        left -= n;
        progress(n);
    }
    Ok(())
}

struct Target {
    name: &'static str,
    base: String,
    store: Store,
    raw: Store,
    baseline: Baseline,
    client: reqwest::Client,
    key: DevKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Target {
    fn token(&self, org: &str, role: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: format!("loadgen-{role}"),
            org: org.into(),
            roles: vec![role.into()],
            iat: now,
            exp: now + 3600,
            iss: DEV_ISSUER.into(),
            aud: None,
        };
        self.key.mint(&claims).unwrap_or_default()
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Result<Value, Error> {
        let r = self.client.post(format!("{}{path}", self.base)).bearer_auth(token).json(&body).send().await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("POST {path}: {status} {v}").into());
        }
        Ok(v)
    }

    async fn open_case(&self, token: &str) -> Result<String, Error> {
        let v = self
            .post(
                "/v1/cases",
                token,
                json!({ "young_person": { "first_name": "Bench", "last_name": "Mark", "birth_date": "2012-03-14" } }),
            )
            .await?;
        Ok(v["id"].as_str().unwrap_or_default().to_owned())
    }
}

async fn start(name: &'static str, database_url: Option<String>) -> Result<Target, Error> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::for_data_dir(dir.path());
    settings.listen = "127.0.0.1:0".parse()?;
    settings.max_connections = 40;
    // Sign audit checkpoints promptly, so the growth scenario can wait for them to catch up.
    settings.checkpoint_every_seconds = 2;
    if let Some(url) = &database_url {
        let kek = dir.path().join("kek.hex");
        std::fs::write(&kek, hex::encode(rand::random::<[u8; 32]>()))?;
        settings.kek_file = Some(kek);
        settings.dev_tokens = true;
        settings.database_url = Some(url.clone().into());
        let store = Store::connect(url, 2).await?;
        store.migrate().await?;
        store.close().await;
    }
    let app = brobyg::Application::build(&settings).await?;
    let base = format!("http://{}", app.local_addr()?);
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let raw = Store::connect(&settings.effective_database_url(), 40).await?;
    let baseline = Baseline::connect(&settings.effective_database_url(), 40).await?;
    let key = DevKey::load_or_create(dir.path())?;
    Ok(Target { name, base, store, raw, baseline, client: reqwest::Client::new(), key, stop: Some(stop), _dir: dir })
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{spinner} {msg:40} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(what.to_owned());
    b
}

/// Commands over HTTP at `clients` concurrency for `seconds`: commands/s, p50, p99 (ms).
async fn commands(t: &Arc<Target>, clients: usize, seconds: u64) -> Result<(f64, f64, f64), Error> {
    let token = t.token("municipality:0746", "caseworker");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (t, token) = (t.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut case = t.open_case(&token).await?;
            let mut n = 0;
            while Instant::now() < deadline {
                let started = Instant::now();
                // A fresh case every 20 commands keeps each case's fold realistic (a case of the
                // seeds has tens of events, not thousands), and the next commands go to it.
                if n % 20 == 19 {
                    case = t.open_case(&token).await?;
                } else {
                    let path = format!("/v1/cases/{case}/items");
                    t.post(&path, &token, json!({ "category": "school", "content": format!("note {n}") })).await?;
                }
                lat.push(started.elapsed().as_secs_f64() * 1000.0);
                n += 1;
            }
            Ok::<_, Error>(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = summary(all);
    Ok((rate, p50, p99))
}

/// The raw database: single-row inserts of an event-shaped row at `clients` concurrency.
async fn raw_inserts(t: &Arc<Target>, clients: usize, seconds: u64) -> Result<f64, Error> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let id = uuid::Uuid::new_v4().to_string();
            while Instant::now() < deadline {
                t.baseline.insert(&id, n as i64, &format!("{{\"item_added\":{{\"n\":{n},\"c\":{c}}}}}")).await?;
                n += 1;
            }
            Ok::<_, Error>(n)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// A case of municipality 0746 with `events` events, and the caseworker's token that wrote it.
async fn case_with_events(t: &Arc<Target>, events: usize) -> Result<(String, String), Error> {
    let token = t.token("municipality:0746", "caseworker");
    let case = t.open_case(&token).await?;
    let b = bar(events as u64, &format!("{}: building a {events}-event case", t.name));
    for i in 1..events {
        t.post(
            &format!("/v1/cases/{case}/items"),
            &token,
            json!({ "category": "school", "content": format!("note {i}") }),
        )
        .await?;
        b.inc(1);
    }
    b.finish_and_clear();
    Ok((token, case))
}

/// Waits for the steady state: the background work that follows the feed (the list views, the
/// audit checkpoints, signed every two seconds here) has caught up with what the scenario before
/// wrote, as it has in a store between bursts of use. Latency scenarios measure from there, so a
/// read's figure is the read's and not that of the previous scenario's tail.
async fn settle(t: &Arc<Target>) -> Result<(), Error> {
    let behind = || async {
        let views = t.store.consumer_lags().await?.into_iter().find(|(c, _)| c == "views").map_or(0, |(_, n)| n);
        let signed = t.store.checkpoints().await?.last().map_or(0, |c| c.event_count);
        let total = i64::try_from(t.store.event_count().await?).unwrap_or(i64::MAX);
        Ok::<i64, Error>(views + (total - signed).max(0))
    };
    let first = behind().await?;
    if first > 0 {
        let b = bar(first.unsigned_abs(), &format!("{}: views and checkpoints catching up", t.name));
        loop {
            let now = behind().await?;
            b.set_position((first - now).max(0).unsigned_abs());
            if now == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        b.finish_and_clear();
    }
    Ok(())
}

/// Reads of a case with `events` events: p50, p99 (ms) over HTTP and raw.
async fn reads(t: &Arc<Target>, events: usize, n: usize) -> Result<((f64, f64), (f64, f64)), Error> {
    let (token, case) = case_with_events(t, events).await?;
    settle(t).await?;
    let mut api = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = t.client.get(format!("{}/v1/cases/{case}", t.base)).bearer_auth(&token).send().await?;
        r.bytes().await?;
        api.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut raw = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        t.baseline.read_case(&case).await?;
        raw.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((summary(api), summary(raw)))
}

/// The auditor's console page of a case with `events` events (its timeline, the case at the
/// latest moment and the moment before, the checkpoint and the access log, drawn from five
/// in-process API calls): p50 and p99 over `n` requests, beside the raw read of the events.
async fn console(t: &Arc<Target>, events: usize, n: usize) -> Result<((f64, f64), (f64, f64)), Error> {
    let (_, case) = case_with_events(t, events).await?;
    settle(t).await?;
    let cookie = format!("brobyg_session={}", t.token("municipality:0746", "auditor"));
    let mut page = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = t.client.get(format!("{}/console/cases/{case}", t.base)).header("cookie", &cookie).send().await?;
        if !r.status().is_success() {
            return Err(format!("console page: {}", r.status()).into());
        }
        r.bytes().await?;
        page.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut raw = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        t.baseline.read_case(&case).await?;
        raw.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((summary(page), summary(raw)))
}

/// Suggestions for one waiting case of a programme with `volunteers` volunteers: the endpoint's
/// p50 and p99 over `n` requests, the pure ranking's p99 in-process (what the endpoint spends
/// beside loading), and the raw read of the volunteers' rows.
async fn suggestions(t: &Arc<Target>, volunteers: usize, n: usize) -> Result<Value, Error> {
    let (muni, ngo) = ("municipality:0746", "ngo:kfum-sa");
    let (cw, co) = (t.token(muni, "caseworker"), t.token(ngo, "coordinator"));
    let agreement = t
        .post(
            "/v1/agreements",
            &t.token(muni, "admin"),
            json!({ "municipality": muni, "ngo": ngo, "programme": "klub-move",
            "flows": [ { "checkpoint": "referral", "from": "municipality", "to": "ngo",
                         "categories": ["identity"], "purposes": ["referral"] } ],
            "retention_days_after_closing": 180 }),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for (org, sub) in [(muni, "admin"), (ngo, "admin")] {
        t.post(&format!("/v1/agreements/{agreement}/approvals"), &t.token(org, sub), json!({ "version": 1 })).await?;
    }
    let tags = ["climbing", "football", "drawing", "music", "horses", "gaming"];
    let areas = ["8660", "8600", "8000", "2400"];
    let days = ["tue", "wed", "sat"];
    let today = chrono::Utc::now().date_naive().to_string();
    let b = bar(volunteers as u64, &format!("{}: registering {volunteers} volunteers", t.name));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..volunteers {
        let (t, co, today) = (t.clone(), co.clone(), today.clone());
        set.spawn(async move {
            let v = t
                .post(
                    "/v1/volunteers",
                    &co,
                    json!({
                    "first_name": format!("V{i}"), "interests": [tags[i % 6], tags[(i / 6) % 6]],
                    "languages": if i % 5 == 0 { json!(["en"]) } else { json!(["da"]) }, "area": areas[i % 4],
                    "availability": [ { "weekday": days[i % 3], "from": "16:00", "to": "20:00" } ],
                    "capacity": 1 + i % 3 }),
                )
                .await?;
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            let vetting = json!({ "child_certificate_date": if i % 4 == 0 { Value::Null } else { json!(today) },
                                  "confidentiality_declaration_date": today });
            t.post(&format!("/v1/volunteers/{id}/vetting"), &co, vetting).await?;
            Ok::<_, Error>(())
        });
        while set.len() >= 8 {
            if let Some(done) = set.join_next().await {
                done??;
                b.inc(1);
            }
        }
    }
    while let Some(done) = set.join_next().await {
        done??;
        b.inc(1);
    }
    b.finish_and_clear();
    let case = t
        .post(
            "/v1/cases",
            &cw,
            json!({ "young_person": { "first_name": "Bench", "last_name": "Mark", "birth_date": "2012-03-14" },
            "custody_holders": [ { "name": "Parent Mark" } ] }),
        )
        .await?;
    let id = case["id"].as_str().unwrap_or_default().to_owned();
    let holder = case["custody_holders"][0]["id"].clone();
    let path = |s: &str| format!("/v1/cases/{id}{s}");
    let identity =
        t.post(&path("/items"), &cw, json!({ "category": "identity", "content": "Bench" })).await?["id"].clone();
    t.post(
        &path("/consents"),
        &cw,
        json!({ "grantors": [holder], "recipients": [ { "org": ngo, "role": "coordinator" } ],
        "categories": ["identity"], "purposes": ["referral"], "valid_from": today, "valid_until": "2099-12-31",
        "evidence": "bench" }),
    )
    .await?;
    t.post(&path("/referral"), &cw, json!({ "agreement": agreement, "items": [identity] })).await?;
    t.post(&path("/referral/decision"), &co, json!({ "decision": "accept" })).await?;
    t.post(
        &path("/pre-meeting"),
        &co,
        json!({ "held_on": today,
        "participants": ["coordinator", "caseworker", "young_person", "custody_holder"] }),
    )
    .await?;
    t.post(
        &path("/matching-needs"),
        &co,
        json!({ "tags": ["climbing", "drawing"], "languages": ["da"], "area": "8660",
        "availability": [ { "weekday": "tue", "from": "17:00", "to": "19:00" } ] }),
    )
    .await?;
    let mut api = Vec::with_capacity(n);
    let mut named = 0;
    for _ in 0..n {
        let started = Instant::now();
        let r = t.client.get(format!("{}{}", t.base, path("/match-suggestions"))).bearer_auth(&co).send().await?;
        let body: Value = r.json().await?;
        api.push(started.elapsed().as_secs_f64() * 1000.0);
        named = body["items"].as_array().map_or(0, Vec::len);
    }
    // The ranking alone, on the same case and volunteers.
    let loaded = t.store.load::<brobyg_domain::case::Case>(&id).await?.aggregate;
    let ids: Vec<String> =
        t.store.volunteer_summaries(&ngo.parse()?).await?.into_iter().map(|v| v.volunteer_id).collect();
    let all: Vec<brobyg_domain::volunteer::Volunteer> =
        t.store.load_many(&ids).await?.into_iter().map(|(_, v)| v.aggregate).collect();
    let needs = loaded.needs.as_ref().and_then(|n| n.known()).cloned();
    let mut pure = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let ranking =
            brobyg_projections::matching::rank(&loaded, needs.as_ref(), all.iter(), chrono::Utc::now().date_naive());
        std::hint::black_box(&ranking);
        pure.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut raw = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        t.baseline.read_volunteers().await?;
        raw.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let ((p50, p99), (_, rank99), (r50, r99)) = (summary(api), summary(pure), summary(raw));
    println!(
        "suggestions {volunteers} volunteers ({named} named): p50 {p50:.1} ms, p99 {p99:.1} ms; ranking alone p99 {rank99:.2} ms; raw read p50 {r50:.1} ms, p99 {r99:.1} ms  p99 ratio {:.1}x",
        p99 / r99.max(1e-9)
    );
    Ok(json!({ "volunteers": volunteers, "named": named, "p50_ms": p50, "p99_ms": p99, "ranking_p99_ms": rank99,
               "raw_p50_ms": r50, "raw_p99_ms": r99 }))
}

/// A feed page as the feed scenario reads it: each event parsed (checked to be JSON) and counted.
#[derive(serde::Deserialize)]
struct FeedPageRead {
    events: Vec<serde::de::IgnoredAny>,
    next_cursor: String,
}

/// The feed read by an integrator page by page from the start, and the raw ordered read, each
/// repeated for at least `seconds`: events/s, and the events in one pass.
async fn feed(t: &Arc<Target>, seconds: u64) -> Result<(f64, f64, u64), Error> {
    let token = t.token("municipality:0746", "integrator");
    let started = Instant::now();
    let (mut seen, mut pass) = (0u64, 0u64);
    while pass == 0 || started.elapsed() < Duration::from_secs(seconds) {
        let mut cursor: Option<String> = None;
        pass = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/feed?limit=1000&cursor={c}"),
                None => "/v1/feed?limit=1000".to_owned(),
            };
            // Every byte is received and parsed as JSON, as an integrator's client would, but
            // the events are not built into trees the benchmark would only count.
            let page: FeedPageRead =
                t.client.get(format!("{}{path}", t.base)).bearer_auth(&token).send().await?.json().await?;
            let n = page.events.len();
            pass += n as u64;
            cursor = Some(page.next_cursor);
            if n == 0 {
                break;
            }
        }
        seen += pass;
    }
    let api = seen as f64 / started.elapsed().as_secs_f64();
    Ok((api, raw_feed(t, seconds).await?, pass))
}

/// The raw ordered read of the whole feed, repeated for at least `seconds`: rows/s.
async fn raw_feed(t: &Arc<Target>, seconds: u64) -> Result<f64, Error> {
    let (started, mut read) = (Instant::now(), 0usize);
    while read == 0 || started.elapsed() < Duration::from_secs(seconds) {
        let mut c = Cursor::START;
        loop {
            let page = t.raw.read_feed_for_delivery(c, 1000).await?;
            if page.events.is_empty() {
                break;
            }
            read += page.events.len();
            c = page.next;
        }
        if read == 0 {
            break;
        }
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// Rebuild of the list views from the feed, as `brobyg replay` does it, and the raw read of the
/// same events, each repeated for at least `seconds` (one pass of a few thousand events takes a
/// tenth of a second, too short to measure alone): events/s and rows/s.
async fn rebuild(t: &Arc<Target>, seconds: u64) -> Result<(f64, f64), Error> {
    let (mut took, mut done) = (Duration::ZERO, 0usize);
    while done == 0 || took < Duration::from_secs(seconds) {
        t.raw.reset_views().await?;
        let started = Instant::now();
        let applied = brobyg::views::catch_up(&t.raw, brobyg::limits::WORKER_PAGE, |_| {}).await?;
        took += started.elapsed();
        if applied == 0 {
            break;
        }
        done += applied;
    }
    let views = done as f64 / took.as_secs_f64();
    Ok((views, raw_feed(t, seconds).await?))
}

/// Commit-to-feed latency: a write's return until an integrator's long poll sees it; p50, p99 (ms).
async fn commit_to_feed(t: &Arc<Target>, samples: usize) -> Result<(f64, f64), Error> {
    let writer = t.token("municipality:0746", "caseworker");
    let reader = t.token("municipality:0746", "integrator");
    let head: Value =
        t.client.get(format!("{}/v1/feed?limit=1000", t.base)).bearer_auth(&reader).send().await?.json().await?;
    let mut cursor = head["next_cursor"].as_str().unwrap_or_default().to_owned();
    // Drain to the head first.
    loop {
        let page: Value = t
            .client
            .get(format!("{}/v1/feed?limit=1000&cursor={cursor}", t.base))
            .bearer_auth(&reader)
            .send()
            .await?
            .json()
            .await?;
        let n = page["events"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        if n == 0 {
            break;
        }
    }
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let case = t.open_case(&writer).await?;
        loop {
            let page: Value = t
                .client
                .get(format!("{}/v1/feed?limit=100&wait=5&cursor={cursor}", t.base))
                .bearer_auth(&reader)
                .send()
                .await?
                .json()
                .await?;
            cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
            if page["events"].as_array().is_some_and(|e| e.iter().any(|e| e["subject"] == case.as_str())) {
                break;
            }
        }
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summary(lat))
}

/// Concurrent writers filling the store for the growth scenario.
const FILL_WRITERS: usize = 4;

/// p50 of a command and of a read with about `events` events in the store.
async fn growth_point(t: &Arc<Target>, events: usize) -> Result<(f64, f64), Error> {
    let have = t.store.event_count().await? as usize;
    if have < events {
        let b = bar((events - have) as u64, &format!("{}: filling the store to {events} events", t.name));
        // Several writers: PostgreSQL takes concurrent appends (SQLite queues them).
        let missing = events - have;
        let mut fillers = Vec::new();
        for i in 0..FILL_WRITERS {
            let share = missing / FILL_WRITERS + usize::from(i < missing % FILL_WRITERS);
            let (store, b) = (t.store.clone(), b.clone());
            fillers.push(tokio::spawn(async move { fill(&store, share, |n| b.inc(n as u64)).await }));
        }
        for f in fillers {
            f.await??;
        }
        b.finish_and_clear();
    }
    settle(t).await?;
    let token = t.token("municipality:0746", "caseworker");
    let case = t.open_case(&token).await?;
    let mut cmd = Vec::new();
    let mut read = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        t.post(
            &format!("/v1/cases/{case}/items"),
            &token,
            json!({ "category": "school", "content": format!("g {i}") }),
        )
        .await?;
        cmd.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        t.client.get(format!("{}/v1/cases/{case}", t.base)).bearer_auth(&token).send().await?.bytes().await?;
        read.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((summary(cmd).0, summary(read).0))
}

async fn run_backend(name: &'static str, url: Option<String>, args: &Args) -> Result<Value, Error> {
    let t = Arc::new(start(name, url).await?);
    let mut out = json!({ "backend": name });
    println!("\n== {name} ==");
    let run = |name: &str| args.scenarios.iter().any(|s| s == name);
    let mut cmd_rows = Vec::new();
    for &c in args.clients.iter().filter(|_| run("commands")) {
        let (rate, p50, p99) = commands(&t, c, args.seconds).await?;
        let raw = raw_inserts(&t, c, args.seconds).await?;
        println!(
            "commands   {c:>3} clients: {rate:>9.0}/s (p50 {p50:.1} ms, p99 {p99:.1} ms) raw {raw:>9.0}/s  ratio {:>5.1} %",
            100.0 * rate / raw
        );
        cmd_rows.push(json!({ "clients": c, "per_second": rate, "p50_ms": p50, "p99_ms": p99, "raw_per_second": raw, "ratio": rate / raw }));
    }
    out["commands"] = Value::Array(cmd_rows);
    let mut read_rows = Vec::new();
    for events in [20, 200].into_iter().filter(|_| run("reads")) {
        let ((p50, p99), (r50, r99)) = reads(&t, events, args.reads).await?;
        println!(
            "case read {events:>4} events: p50 {p50:.2} ms, p99 {p99:.2} ms   raw p50 {r50:.2} ms, p99 {r99:.2} ms  p99 ratio {:.1}x",
            p99 / r99.max(1e-9)
        );
        read_rows.push(json!({ "events": events, "p50_ms": p50, "p99_ms": p99, "raw_p50_ms": r50, "raw_p99_ms": r99 }));
    }
    out["reads"] = Value::Array(read_rows);
    if run("feed") {
        let (api, raw, seen) = feed(&t, args.seconds).await?;
        println!(
            "feed read: {api:.0} events/s ({seen} events a pass)  raw {raw:.0} rows/s  ratio {:.1} %",
            100.0 * api / raw
        );
        out["feed"] = json!({ "events_per_second": api, "raw_per_second": raw, "events": seen });
    }
    if run("rebuild") {
        let (views, raw) = rebuild(&t, args.seconds).await?;
        println!("view rebuild: {views:.0} events/s  raw read {raw:.0} rows/s  ratio {:.1} %", 100.0 * views / raw);
        out["rebuild"] = json!({ "events_per_second": views, "raw_per_second": raw });
    }
    if run("commit") {
        let (p50, p99) = commit_to_feed(&t, 50).await?;
        println!("commit-to-feed: p50 {p50:.1} ms, p99 {p99:.1} ms");
        out["commit_to_feed"] = json!({ "p50_ms": p50, "p99_ms": p99 });
    }
    if run("console") {
        let ((p50, p99), (r50, r99)) = console(&t, 500, args.reads.min(50)).await?;
        println!(
            "console page, 500 events: p50 {p50:.1} ms, p99 {p99:.1} ms   raw p50 {r50:.2} ms, p99 {r99:.2} ms  p99 ratio {:.1}x",
            p99 / r99.max(1e-9)
        );
        out["console"] = json!({ "events": 500, "p50_ms": p50, "p99_ms": p99, "raw_p50_ms": r50, "raw_p99_ms": r99 });
    }
    if run("suggestions") {
        out["suggestions"] = suggestions(&t, args.volunteers, args.reads).await?;
    }
    if run("growth") && !args.no_growth {
        let small = growth_point(&t, 10_000).await?;
        let large = growth_point(&t, args.growth_events).await?;
        println!(
            "growth: command p50 {:.1} → {:.1} ms, read p50 {:.2} → {:.2} ms (10k → {} events)",
            small.0, large.0, small.1, large.1, args.growth_events
        );
        out["growth"] = json!({ "small_events": 10_000, "large_events": args.growth_events,
            "command_p50_ms": [small.0, large.0], "read_p50_ms": [small.1, large.1] });
    }
    if let Ok(mut t) = Arc::try_unwrap(t)
        && let Some(stop) = t.stop.take()
    {
        let _ = stop.send(());
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let started = Instant::now();
    println!(
        "loadgen on {} cores, {} s per throughput scenario",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.seconds
    );
    let mut results = vec![run_backend("sqlite", None, &args).await?];
    if let Some(admin) = &args.postgres {
        let name = format!("brobyg_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let pool = sqlx::PgPool::connect(admin).await?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&pool).await?;
        let url = format!("{}/{name}", admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b));
        let result = run_backend("postgres", Some(url), &args).await;
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await;
        results.push(result?);
    }
    let summary = json!({ "seconds_per_scenario": args.seconds, "elapsed_seconds": started.elapsed().as_secs_f64(), "results": results });
    if let Some(dir) = std::path::Path::new(&args.json).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&summary)?)?;
    println!("\nsummary written to {} ({:.0} s)", args.json, started.elapsed().as_secs_f64());
    Ok(())
}
