//! Black-box tests: the real `Application` on port 0 or the real `Store`, a fresh database per
//! test, on both backends (`on_both_backends!`; what only PostgreSQL has, `on_postgres_only!`).
//! PostgreSQL tests are `#[ignore]`d with the reason and run by `.ci/run` (`cargo nextest run
//! --run-ignored only`; `-E 'test(/postgres/)'` picks them alone), as are the console's browser
//! tests (they need Debian's chromium and chromedriver).

mod app;
mod support;

mod api;
mod audit;
mod console;
mod feeds;
mod journey;
mod matrix;
mod operations;
mod policy;
mod privacy;
mod service;
mod store;
mod trust;
mod upgrade;
