//! What the tests of the real binary share: a free port, waiting for `/healthz`, a dev token.

use std::time::{Duration, Instant};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Waits until `base` answers `/healthz`.
pub async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "brobyg serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token of `role` at `org`, signed by the dev key in `dir`.
pub fn dev_token(dir: &std::path::Path, org: &str, role: &str) -> String {
    let key = brobyg::devkeys::DevKey::load_or_create(dir).expect("dev key");
    let now = chrono::Utc::now().timestamp();
    key.mint(
        &serde_json::json!({ "sub": format!("{role}-1"), "org": org, "roles": [role], "iat": now, "exp": now + 3600 }),
    )
    .expect("token")
}
