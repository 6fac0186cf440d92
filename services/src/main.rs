//! `brobyg`: the one binary — `serve`, `migrate`, `token`, `demo`, `replay`, `retention run`
//! and `audit verify` (see `--help`); configuration is loaded once here.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use brobyg::devkeys::{Claims, DEV_ISSUER, DevKey};
use brobyg::settings::{LogFormat, Settings};
use brobyg::{Application, open_store};
use brobyg_domain::{Org, Role};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: a request allocates many small JSON values across
/// threads, where glibc's arenas spent about a quarter of the CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// brobyg: case journeys between municipalities and NGOs, as events.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML settings file (also `BROBYG_CONFIG`).
    #[arg(long, global = true, env = "BROBYG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (SQLite in the data folder unless DATABASE_URL is set).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Seed a realistic, fictitious data set through the API (two municipalities, two NGOs).
    Demo,
    /// Erase the NGO side's personal data of cases whose retention period has passed.
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Auditing tools.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Rebuild the list views (caseloads, volunteers, concerns) from the event feed.
    /// Stop `serve` first: it would keep updating the views while they are rebuilt.
    Replay,
    /// Print a development token signed by the local dev key.
    Token {
        /// Organisation, e.g. municipality:0746 or ngo:kfum-sa.
        #[arg(long)]
        org: Org,
        /// Role: caseworker, coordinator, auditor, integrator or admin (repeatable).
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// The user id (JWT `sub`).
        #[arg(long)]
        sub: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 480)]
        ttl_minutes: i64,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Recompute every hash chain and signed checkpoint; name the first bad case and event.
    Verify {
        /// The mirrored checkpoints to check the store against: a `checkpoints.jsonl` file or
        /// its directory (default: `BROBYG_CHECKPOINT_MIRROR`).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Check a saved inclusion or consistency proof (the JSON `/v1/audit/proofs/…` answers)
    /// offline, with nothing but the checkpoint public key.
    VerifyProof {
        /// The saved proof.
        file: PathBuf,
        /// The checkpoint public key(s), hex, comma-separated (default: that of
        /// `BROBYG_AUDIT_KEY_FILE` and `BROBYG_AUDIT_PUBLIC_KEYS`).
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionAction {
    /// Run retention now.
    Run,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::ALL.iter().copied().find(|r| r.as_str() == s).ok_or_else(|| {
        format!("unknown role {s:?}; one of {}", Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brobyg: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brobyg: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let provider = {
        let _guard = runtime.enter();
        init_tracing(&settings)
    };
    if !settings.ignored_variables.is_empty() {
        tracing::warn!(
            variables = %settings.ignored_variables.join(", "),
            "ignored Kubernetes service-link variables (set enableServiceLinks: false in the pod spec)"
        );
    }
    let outcome = runtime.block_on(run(cli.command, settings));
    if let Some(provider) = provider {
        let _ = provider.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "brobyg stopped");
            eprintln!("brobyg: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            let backend = format!("{:?}", app.store().backend()).to_lowercase();
            tracing::info!(addr = %app.local_addr()?, backend, version = env!("CARGO_PKG_VERSION"), "brobyg listening");
            app.run_until(shutdown_signal()).await?;
            tracing::info!("brobyg stopped cleanly");
        }
        Command::Migrate => {
            let store = open_store(&settings).await?;
            store.migrate().await?;
            tracing::info!(backend = ?store.backend(), "migrations applied");
            store.close().await;
        }
        Command::Retention { action: RetentionAction::Run } => {
            let store = brobyg::open_sealed_store(&settings).await?;
            let report = brobyg::retention::run_once(&store, chrono::Utc::now()).await?;
            writeln!(
                std::io::stdout().lock(),
                "retention: examined {} ended cases, erased the NGO side's personal data of {}",
                report.examined,
                report.erased
            )?;
            store.close().await;
        }
        Command::Audit { action: AuditAction::Verify { checkpoints } } => {
            let store = open_store(&settings).await?;
            let total = store.event_count().await?;
            let bar = indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template("{spinner} verifying {pos}/{len} events [{bar:40}] eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let options = brobyg::verify_options(&settings, brobyg::audit::Scope::Everything, checkpoints.as_deref())?;
            if options.mirrored.is_empty() {
                writeln!(
                    std::io::stderr(),
                    "note: no mirrored checkpoints (BROBYG_CHECKPOINT_MIRROR or --checkpoints); checking the store's own"
                )?;
            }
            let report = brobyg::audit::verify(&store, &options, |n| bar.set_position(n.min(total))).await?;
            bar.finish_and_clear();
            store.close().await;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{}: {} events in {} chains, {} signed checkpoints",
                if report.ok { "verified" } else { "TAMPERED" },
                report.events,
                report.chains,
                report.checkpoints
            )?;
            for f in &report.problems {
                let at = match (&f.aggregate_type, &f.aggregate_id, f.sequence) {
                    (Some(t), Some(id), Some(seq)) => format!("{t} {id} event {seq}: "),
                    _ => String::new(),
                };
                writeln!(out, "  {at}{}", f.problem)?;
            }
            if !report.ok {
                return Err("verification failed".into());
            }
        }
        Command::Audit { action: AuditAction::VerifyProof { file, public_key } } => {
            let trusted = match public_key {
                Some(keys) => brobyg::audit::TrustedKeys::from_hex(&keys)?,
                None => {
                    let key = brobyg::load_audit_key(&settings)?;
                    brobyg::audit::TrustedKeys::new(&key, settings.audit_public_keys.as_deref())?
                }
            };
            let proof: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
            match brobyg::audit::verify_proof(&proof, &trusted) {
                Ok(what) => writeln!(std::io::stdout().lock(), "verified: {what}")?,
                Err(why) => {
                    writeln!(std::io::stdout().lock(), "NOT VERIFIED: {why}")?;
                    return Err("the proof does not verify".into());
                }
            }
        }
        Command::Replay => {
            let store = open_store(&settings).await?;
            let total = store.event_count().await?;
            let bar = indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} replaying {pos}/{len} events [{bar:40}] {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let started = std::time::Instant::now();
            store.reset_views().await?;
            let mut done = 0u64;
            brobyg::views::catch_up(&store, brobyg::limits::WORKER_PAGE, |n| {
                done += n as u64;
                bar.set_position(done.min(total));
            })
            .await?;
            bar.finish_and_clear();
            let seconds = started.elapsed().as_secs_f64();
            writeln!(
                std::io::stdout().lock(),
                "replayed {done} events in {seconds:.2} s ({:.0} events/s)",
                done as f64 / seconds.max(1e-9)
            )?;
            store.close().await;
        }
        Command::Demo => {
            let summary = brobyg::demo::run(&settings).await?;
            writeln!(
                std::io::stdout().lock(),
                "seeded {} agreements, {} volunteers, {} cases, {} concerns into {}\n\
                 try: cargo run -p brobyg -- serve, then\n\
                 curl -H \"Authorization: Bearer $(cargo run -q -p brobyg -- token --org municipality:0746 --role caseworker --sub demo)\" http://127.0.0.1:8080/v1/cases",
                summary.agreements,
                summary.volunteers,
                summary.cases,
                summary.concerns,
                if settings.is_embedded() {
                    settings.data_dir.display().to_string()
                } else {
                    "the database".to_owned()
                },
            )?;
        }
        Command::Token { org, roles, sub, ttl_minutes } => {
            let key = DevKey::load_or_create(&settings.data_dir)?;
            let now = chrono::Utc::now().timestamp();
            let claims = Claims {
                sub,
                org: org.to_string(),
                roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
                iat: now,
                exp: now + ttl_minutes.max(1) * 60,
                iss: settings.jwt_issuer.clone().unwrap_or_else(|| DEV_ISSUER.to_owned()),
                aud: settings.jwt_audience.clone(),
            };
            let token = key.mint(&claims)?;
            writeln!(std::io::stdout().lock(), "{token}")?;
        }
    }
    Ok(())
}

/// Logs to stderr (text or JSON) and, with `OTEL_EXPORTER_OTLP_ENDPOINT`, traces over OTLP.
fn init_tracing(settings: &Settings) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let provider = settings.otel_exporter_otlp_endpoint.as_deref().and_then(|endpoint| {
        brobyg::telemetry::otlp_provider(endpoint).map_err(|e| eprintln!("brobyg: OTLP export disabled: {e}")).ok()
    });
    let otel = provider.as_ref().map(brobyg::telemetry::otel_layer);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match settings.log_format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .init(),
    }
    provider
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
