//! Test databases (a fresh SQLite file or PostgreSQL database per test) and domain fixtures.

use std::collections::BTreeSet;

use brobyg::store::Store;
use brobyg_domain::agreement::{Agreement, AgreementAction, AgreementCommand, Flow, ReportingDuties, Terms};
use brobyg_domain::case::{CaseAction, CaseCommand, CustodyHolder, Recipient, YoungPerson};
use brobyg_domain::{
    Actor, AgreementId, CaseId, Category, Checkpoint, ConsentId, DisclosureId, ItemId, Org, PersonId, Personal,
    Purpose, RecipientRole, Role, Side, UserId,
};
use chrono::{DateTime, NaiveDate, Utc};

/// Where PostgreSQL tests connect to create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("BROBYG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database for one test.
pub struct TestDb {
    pub url: String,
    pub _dir: Option<tempfile::TempDir>,
    pub postgres_name: Option<String>,
}

impl TestDb {
    /// A new SQLite file in a temporary folder.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = Store::sqlite_url_in(dir.path());
        Self { url, _dir: Some(dir), postgres_name: None }
    }

    /// A new PostgreSQL database on the local server; fails loudly if there is none.
    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL test needs a server at {admin_url} (set BROBYG_TEST_POSTGRES_URL): {e}")
        });
        let name = format!("brobyg_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create test database");
        admin.close().await;
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_owned();
        Self { url: format!("{base}/{name}"), _dir: None, postgres_name: Some(name) }
    }

    /// A migrated store on this database, sealing with [`test_kek`].
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, 16).await.expect("connect").with_kek(test_kek());
        store.migrate().await.expect("migrate");
        store
    }

    /// Settings for the application on this database, with a data folder and a KEK file in `dir`.
    pub fn settings(&self, dir: &std::path::Path) -> brobyg::settings::Settings {
        let mut settings = brobyg::settings::Settings::for_data_dir(dir);
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        if self.url.starts_with("postgres") {
            settings.database_url = Some(self.url.clone().into());
            let kek = dir.join("kek.hex");
            std::fs::write(&kek, TEST_KEK_HEX).expect("write kek");
            settings.kek_file = Some(kek);
            // A development PostgreSQL: the tests mint tokens with the dev key.
            settings.dev_tokens = true;
        }
        settings
    }

    /// Drops the PostgreSQL database (SQLite files go with the temporary folder).
    pub async fn cleanup(self) {
        if let Some(name) = &self.postgres_name
            && let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await
        {
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
            admin.close().await;
        }
    }
}

/// The key-encryption key of the tests' stores.
pub const TEST_KEK_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

pub fn test_kek() -> brobyg::store::Kek {
    brobyg::store::Kek::from_bytes([7; 32])
}

/// Generates one test per backend from `async fn name(db: &TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $crate::on_postgres!($($name),*);
        }
    };
}

/// Generates a PostgreSQL test from `async fn name(db: &TestDb)`, for what only PostgreSQL has
/// (transaction ids, visibility below the oldest open transaction), in a module of its own,
/// `postgres_only`.
#[macro_export]
macro_rules! on_postgres_only {
    ($($name:ident),* $(,)?) => {
        mod postgres_only {
            $crate::on_postgres!($($name),*);
        }
    };
}

/// The PostgreSQL tests of the enclosing module's `async fn name(db: &TestDb)`: ignored with
/// the reason where PostgreSQL is not set up; `.ci/run` runs them.
#[macro_export]
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[ignore = "needs PostgreSQL (BROBYG_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); .ci/run runs it"]
            async fn $name() {
                let db = $crate::support::TestDb::postgres().await;
                super::$name(&db).await;
                db.cleanup().await;
            }
        )*
    };
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("valid instant")
}

pub fn date(s: &str) -> NaiveDate {
    s.parse().expect("valid date")
}

pub fn muni() -> Org {
    "municipality:0746".parse().expect("org")
}

pub fn ngo() -> Org {
    "ngo:kfum-sa".parse().expect("org")
}

pub fn actor(org: Org, role: Role) -> Actor {
    Actor { user: UserId(format!("{}-1", role.as_str())), org, role, at: at("2026-11-10T09:00:00Z") }
}

pub fn caseworker() -> Actor {
    actor(muni(), Role::Caseworker)
}

pub const YP: PersonId = PersonId(uuid::Uuid::from_u128(10));
pub const MOTHER: PersonId = PersonId(uuid::Uuid::from_u128(11));

pub fn open_case(case: CaseId) -> CaseCommand {
    CaseCommand {
        actor: caseworker(),
        action: CaseAction::Open {
            case,
            young_person: YoungPerson {
                id: YP,
                first_name: Personal::new("Mikkel".into()),
                last_name: Personal::new("Jensen".into()),
                birth_date: Personal::new(date("2010-03-14")),
            },
            custody_holders: vec![CustodyHolder {
                id: MOTHER,
                name: Personal::new("Anne Jensen".into()),
                guardian: false,
            }],
            earlier: None,
        },
    }
}

pub fn add_item(item: ItemId, category: Category) -> CaseCommand {
    CaseCommand {
        actor: caseworker(),
        action: CaseAction::AddItem { item, category, content: Personal::new(format!("{category} notes")) },
    }
}

pub fn consent(consent: ConsentId, categories: &[Category]) -> CaseCommand {
    CaseCommand {
        actor: caseworker(),
        action: CaseAction::GiveConsent {
            consent,
            grantors: BTreeSet::from([YP, MOTHER]),
            recipients: BTreeSet::from([Recipient { org: ngo(), role: RecipientRole::Coordinator }]),
            categories: categories.iter().copied().collect(),
            purposes: BTreeSet::from([Purpose::Referral]),
            valid_from: date("2026-11-01"),
            valid_until: date("2027-11-01"),
            evidence: Personal::new("signed form".into()),
        },
    }
}

pub fn terms() -> Terms {
    Terms {
        municipality: muni(),
        ngo: ngo(),
        programme: "klub-move".into(),
        flows: vec![Flow {
            checkpoint: Checkpoint::Referral,
            from: Side::Municipality,
            to: Side::Ngo,
            categories: BTreeSet::from([Category::Identity, Category::School]),
            purposes: BTreeSet::from([Purpose::Referral]),
        }],
        retention_days_after_closing: 180,
        reporting_duties: ReportingDuties::default(),
        interim_status: false,
        interest_tags: Default::default(),
    }
}

/// Drafts and approves an agreement in the store; returns it as folded.
pub async fn approved_agreement(store: &Store, id: AgreementId) -> Agreement {
    let key = id.to_string();
    for (actor, action) in [
        (actor(muni(), Role::Admin), AgreementAction::Draft { id, terms: terms() }),
        (actor(muni(), Role::Admin), AgreementAction::Approve { version: 1 }),
        (actor(ngo(), Role::Admin), AgreementAction::Approve { version: 1 }),
    ] {
        store
            .execute::<Agreement>(&key, AgreementCommand { actor, action }, None, Default::default(), |_| true)
            .await
            .expect("agreement command");
    }
    store.load::<Agreement>(&key).await.expect("load agreement").aggregate
}

pub fn refer(agreement: Agreement, items: &[ItemId]) -> CaseCommand {
    CaseCommand {
        actor: caseworker(),
        action: CaseAction::SubmitReferral {
            agreement: Box::new(agreement),
            items: items.to_vec(),
            note: Personal::new("note".into()),
            disclosure: DisclosureId::new(),
        },
    }
}

/// What the process's tracing captured: log lines and exported spans.
pub struct Telemetry {
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    pub spans: opentelemetry_sdk::trace::InMemorySpanExporter,
    pub provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test process) a subscriber that captures every log line, at every level,
/// and exports every span to memory through the service's own OpenTelemetry layer.
pub fn telemetry() -> &'static Telemetry {
    use tracing_subscriber::layer::SubscriberExt;
    static TELEMETRY: std::sync::OnceLock<Telemetry> = std::sync::OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = logs.clone();
        let spans = opentelemetry_sdk::trace::InMemorySpanExporterBuilder::new().build();
        let provider =
            opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || LogWriter(writer.clone())))
            .with(brobyg::telemetry::otel_layer(&provider));
        let _ = tracing::subscriber::set_global_default(subscriber);
        Telemetry { logs, spans, provider }
    })
}
