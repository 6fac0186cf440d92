//! The service as a user meets it: start on port 0, health and readiness.

use brobyg::Application;
use brobyg::settings::Settings;

use crate::support::*;

crate::on_both_backends!(the_service_starts_and_reports_health_and_readiness);

pub async fn spawn(db: &TestDb, data_dir: &std::path::Path) -> String {
    let mut settings = Settings::for_data_dir(data_dir);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    if db.url.starts_with("postgres") {
        settings.database_url = Some(db.url.clone().into());
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
