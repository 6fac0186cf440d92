//! The console's pages and sign-in handlers. Every page is drawn from `/v1` answers
//! (`super::api_get`), never from the store.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::SameSite;
use serde::Deserialize;
use serde_json::Value;

use super::session;
use super::{ApiFailure, Chrome, Ctx, SignIn, Visit, api_get};
use crate::auth::Caller;
use brobyg_domain::Role;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(dev_sign_in))
        .route("/console/login/oidc", get(oidc_start))
        .route("/console/callback", get(oidc_callback))
        .route("/console/logout", post(sign_out))
        .route("/console/lang", get(set_lang))
        .route("/console/find", get(find))
        .route("/console/waiting", get(waiting))
        .route("/console/cases/{id}", get(case_page))
        .route("/console/cases/{id}/verify", get(verify_page))
        .route("/console/cases/{id}/proof", get(proof))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
}

const SESSION_HOURS: i64 = 8;

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/console.css"))
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/console.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// The signed-in user: the session's token and who it says they are (verified again on every
/// request, as the API does).
struct Signed {
    token: String,
    caller: Caller,
}

async fn signed_in(ctx: &Ctx, headers: &HeaderMap) -> Option<Signed> {
    let token = session::read(headers, session::SESSION)?;
    let caller = ctx.app.verifier.verify(&token).await.ok()?;
    Some(Signed { token, caller })
}

/// To the sign-in page, dropping a session that no longer verifies.
fn to_sign_in() -> Response {
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set(session::SESSION, "", session::PATH, SameSite::Strict, 0));
    response
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    message: String,
}

fn error_page(ctx: &Ctx, visit: &Visit, caller: Option<&Caller>, status: StatusCode, message: String) -> Response {
    let c = visit.chrome(&ctx.app.console, caller, visit.lang.words().error);
    visit.html(status, ErrorPage { c, status: status.as_u16(), message }.render())
}

/// An API refusal as a page: a lapsed session goes to sign-in, anything else says what the API
/// said (a case of another organisation is "not found", as in the API).
fn failure(ctx: &Ctx, visit: &Visit, caller: &Caller, f: ApiFailure) -> Response {
    if f.status == StatusCode::UNAUTHORIZED {
        return to_sign_in();
    }
    error_page(ctx, visit, Some(caller), f.status, f.detail)
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    problem: Option<String>,
    dev: bool,
    oidc_issuer: Option<String>,
    roles: Vec<(&'static str, bool)>,
    org: String,
    user: String,
}

fn login(ctx: &Ctx, visit: &Visit, status: StatusCode, problem: Option<String>, form: Option<&DevSignIn>) -> Response {
    let c = visit.chrome(&ctx.app.console, None, visit.lang.words().sign_in);
    let (dev, oidc_issuer) = match &*ctx.app.console.sign_in {
        SignIn::Dev { .. } => (true, None),
        SignIn::Oidc(client) => (false, Some(client.issuer.clone())),
        SignIn::Unavailable => (false, None),
    };
    let page = LoginPage {
        c,
        problem,
        dev,
        oidc_issuer,
        roles: ["auditor", "coordinator", "caseworker"]
            .into_iter()
            .map(|r| (r, form.map_or(r == "auditor", |f| f.role == r)))
            .collect(),
        org: form.map_or_else(|| "municipality:0746".to_owned(), |f| f.org.clone()),
        user: form.map_or_else(|| "dev-user".to_owned(), |f| f.user.clone()),
    };
    visit.html(status, page.render())
}

async fn login_page(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if signed_in(&ctx, &headers).await.is_some() {
        return Redirect::to("/console").into_response();
    }
    let visit = Visit::of(&headers, "/console/login");
    login(&ctx, &visit, StatusCode::OK, None, None)
}

#[derive(Debug, Deserialize)]
struct DevSignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    user: String,
}

async fn dev_sign_in(State(ctx): State<Ctx>, headers: HeaderMap, Form(form): Form<DevSignIn>) -> Response {
    let visit = Visit::of(&headers, "/console/login");
    let SignIn::Dev { key, issuer, audience } = &*ctx.app.console.sign_in else {
        return error_page(&ctx, &visit, None, StatusCode::NOT_FOUND, "there is no development sign-in here".into());
    };
    if !session::form_allowed(&headers, &form.csrf) {
        return login(&ctx, &visit, StatusCode::FORBIDDEN, Some(stale_form(&visit)), Some(&form));
    }
    let org: Result<brobyg_domain::Org, _> = form.org.trim().parse();
    let role = Role::ALL.iter().copied().find(|r| r.as_str() == form.role);
    let user = form.user.trim();
    let problem = match (&org, role) {
        (Err(e), _) => Some(format!("org: {e}")),
        (_, None) => Some("role: choose auditor, coordinator or caseworker".to_owned()),
        _ if user.is_empty()
            || user.len() > 64
            || !user.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) =>
        {
            Some("user: 1–64 letters, digits, '-', '_', '.' or '@'".to_owned())
        }
        _ => None,
    };
    let (Some(role), Ok(org), None) = (role, org, problem.as_ref()) else {
        return login(&ctx, &visit, StatusCode::UNPROCESSABLE_ENTITY, problem, Some(&form));
    };
    let now = chrono::Utc::now().timestamp();
    let claims = crate::devkeys::Claims {
        sub: user.to_owned(),
        org: org.to_string(),
        roles: vec![role.as_str().to_owned()],
        iat: now,
        exp: now + SESSION_HOURS * 3600,
        iss: issuer.clone(),
        aud: audience.clone(),
    };
    let token = match key.mint(&claims) {
        Ok(t) => t,
        Err(e) => return error_page(&ctx, &visit, None, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    tracing::info!(org = %org, role = role.as_str(), "console development sign-in");
    let mut response = Redirect::to("/console").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set(session::SESSION, &token, session::PATH, SameSite::Strict, SESSION_HOURS * 3600),
    );
    response
}

fn stale_form(visit: &Visit) -> String {
    match visit.lang {
        super::Lang::Da => "Formularen er udløbet eller kom fra et andet websted. Prøv igen.".into(),
        super::Lang::En => "The form expired or came from another site. Please try again.".into(),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(ctx): State<Ctx>, headers: HeaderMap, Form(form): Form<CsrfOnly>) -> Response {
    let visit = Visit::of(&headers, "/console");
    if !session::form_allowed(&headers, &form.csrf) {
        return error_page(&ctx, &visit, None, StatusCode::FORBIDDEN, stale_form(&visit));
    }
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set(session::SESSION, "", session::PATH, SameSite::Strict, 0));
    response
}

async fn oidc_start(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let visit = Visit::of(&headers, "/console/login");
    let SignIn::Oidc(client) = &*ctx.app.console.sign_in else {
        return error_page(&ctx, &visit, None, StatusCode::NOT_FOUND, "there is no OpenID Connect sign-in here".into());
    };
    let provider = match client.provider().await {
        Ok(p) => p,
        Err(e) => return error_page(&ctx, &visit, None, StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let (state, nonce, verifier) = (session::random_token(), session::random_token(), session::random_token());
    let url = client.authorization_url(provider, &state, &nonce, &verifier);
    let mut response = Redirect::to(&url).into_response();
    // Lax: the identity provider's redirect back is a top-level navigation from another site.
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set(session::OIDC, &format!("{state}.{nonce}.{verifier}"), "/console/callback", SameSite::Lax, 600),
    );
    response
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/signed_in.html")]
struct SignedInPage {
    lang: &'static str,
    continue_label: &'static str,
}

async fn oidc_callback(State(ctx): State<Ctx>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let visit = Visit::of(&headers, "/console/login");
    let SignIn::Oidc(client) = &*ctx.app.console.sign_in else {
        return error_page(&ctx, &visit, None, StatusCode::NOT_FOUND, "there is no OpenID Connect sign-in here".into());
    };
    let refuse = |why: String| login(&ctx, &visit, StatusCode::FORBIDDEN, Some(why), None);
    if let Some(error) = q.error {
        return refuse(format!(
            "the identity provider refused the sign-in ({})",
            error.chars().take(64).collect::<String>()
        ));
    }
    let pending = session::read(&headers, session::OIDC).unwrap_or_default();
    let mut parts = pending.splitn(3, '.');
    let (Some(state), Some(nonce), Some(verifier)) = (parts.next(), parts.next(), parts.next()) else {
        return refuse("no sign-in was under way in this browser; start again".into());
    };
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        return refuse("the identity provider sent no code".into());
    };
    if !session::same(state, &returned) {
        return refuse("the sign-in's state does not match this browser's; start again".into());
    }
    let provider = match client.provider().await {
        Ok(p) => p,
        Err(e) => return error_page(&ctx, &visit, None, StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let tokens = match client.exchange(provider, &code, verifier).await {
        Ok(t) => t,
        Err(e) => return refuse(e.to_string()),
    };
    if let Err(e) = ctx.app.verifier.verify_id_token(&tokens.id_token, &client.issuer, &client.client_id, nonce).await {
        return refuse(e.to_string());
    }
    if let Err(e) = ctx.app.verifier.verify(&tokens.access_token).await {
        return refuse(format!("the access token is not one this service accepts: {e}"));
    }
    let max_age = expires_in(&tokens.access_token).clamp(60, SESSION_HOURS * 3600);
    tracing::info!("console sign-in through OpenID Connect");
    let page = SignedInPage { lang: visit.lang.code(), continue_label: visit.lang.words().home };
    let mut response = visit.html(StatusCode::OK, page.render());
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set(session::SESSION, &tokens.access_token, session::PATH, SameSite::Strict, max_age),
    );
    h.append(header::SET_COOKIE, session::set(session::OIDC, "", "/console/callback", SameSite::Lax, 0));
    response
}

/// Seconds until a (verified) token's `exp`.
fn expires_in(token: &str) -> i64 {
    use base64::Engine;
    let exp = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("exp").and_then(Value::as_i64))
        .unwrap_or(0);
    exp - chrono::Utc::now().timestamp()
}

#[derive(Debug, Deserialize)]
struct LangSwitch {
    to: String,
    #[serde(default)]
    back: String,
}

async fn set_lang(Query(q): Query<LangSwitch>) -> Response {
    let lang = if q.to == "en" { "en" } else { "da" };
    // Only back into the console: never an open redirect.
    let safe = q.back.starts_with("/console")
        && !q.back.contains("//")
        && !q.back.contains("..")
        && q.back.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.?=&:".contains(c));
    let back = if safe { q.back } else { "/console".to_owned() };
    let mut response = Redirect::to(&back).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set(session::LANG, lang, session::PATH, SameSite::Strict, 365 * 86_400));
    response
}

// ---- pages ----

#[derive(Debug)]
struct CaseRow {
    id: String,
    name: String,
    age: String,
    state: String,
    programme: String,
    deadline: String,
    waits_for: String,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    c: Chrome,
    cases: Vec<CaseRow>,
}

async fn home(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let visit = Visit::of(&headers, "/console");
    let mut cases = Vec::new();
    if me.caller.has(Role::Coordinator) || me.caller.has(Role::Caseworker) {
        let list: Value = match api_get(&ctx, &me.token, "case_work", "/v1/cases?sort=deadline&limit=200").await {
            Ok(v) => v,
            Err(f) => return failure(&ctx, &visit, &me.caller, f),
        };
        cases = items(&list, "items")
            .iter()
            .map(|r| CaseRow {
                id: text(r, "id"),
                name: text(r, "name"),
                age: text(r, "age"),
                state: text(r, "state"),
                programme: text(r, "programme"),
                deadline: r
                    .get("next_deadline")
                    .map(|d| format!("{} ({})", text(d, "on"), text(d, "kind")))
                    .unwrap_or_default(),
                waits_for: text(r, "waits_for"),
            })
            .collect();
    }
    let title = if me.caller.has(Role::Auditor) { visit.lang.words().find_case } else { visit.lang.words().caseload };
    let c = visit.chrome(&ctx.app.console, Some(&me.caller), title);
    visit.html(StatusCode::OK, HomePage { c, cases }.render())
}

#[derive(Debug)]
struct WaitingRow {
    id: String,
    name: String,
    age: String,
    state: String,
    days_waiting: String,
    eligible: String,
    blockers: String,
}

#[derive(Template)]
#[template(path = "console/waiting.html")]
struct WaitingPage {
    c: Chrome,
    rows: Vec<WaitingRow>,
}

async fn waiting(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let visit = Visit::of(&headers, "/console/waiting");
    let list: Value = match api_get(&ctx, &me.token, "matching", "/v1/waiting-list").await {
        Ok(v) => v,
        Err(f) => return failure(&ctx, &visit, &me.caller, f),
    };
    let rows = items(&list, "items")
        .iter()
        .map(|r| WaitingRow {
            id: text(r, "case"),
            name: text(r, "first_name"),
            age: text(r, "age"),
            state: text(r, "state"),
            days_waiting: text(r, "days_waiting"),
            eligible: text(r, "eligible_volunteers"),
            blockers: strings(r, "blockers"),
        })
        .collect();
    let c = visit.chrome(&ctx.app.console, Some(&me.caller), visit.lang.words().waiting_list);
    visit.html(StatusCode::OK, WaitingPage { c, rows }.render())
}

#[derive(Debug, Deserialize)]
struct FindQuery {
    #[serde(default)]
    case: String,
}

async fn find(State(ctx): State<Ctx>, headers: HeaderMap, Query(q): Query<FindQuery>) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let visit = Visit::of(&headers, "/console");
    match uuid::Uuid::parse_str(q.case.trim()) {
        Ok(id) => Redirect::to(&format!("/console/cases/{id}")).into_response(),
        Err(_) => error_page(
            &ctx,
            &visit,
            Some(&me.caller),
            StatusCode::UNPROCESSABLE_ENTITY,
            "case: expected a case id such as 0eab558d-21dc-4268-a1f9-6daae2e2654d".into(),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct CaseQuery {
    at: Option<usize>,
    #[serde(default)]
    seen_by: String,
}

/// A row of a table in a case view, marked against the moment before.
#[derive(Debug, Clone)]
struct Row {
    key: String,
    json: Value,
    mark: &'static str,
    mark_label: &'static str,
    cells: Vec<String>,
    status: String,
    status_class: &'static str,
}

#[derive(Debug)]
struct Section {
    title: &'static str,
    class: &'static str,
    head: Vec<&'static str>,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct EventRow {
    seq: usize,
    at: String,
    event: String,
    actor: String,
    org: String,
    role: String,
    checkpoint: String,
    basis: String,
}

#[derive(Debug)]
struct Party {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug)]
struct CheckpointRow {
    size: i64,
    signed_at: String,
    root: String,
    key: String,
}

#[derive(Template)]
#[template(path = "console/case_audit.html")]
struct AuditPage {
    c: Chrome,
    id: String,
    state: String,
    parties_line: String,
    events: Vec<EventRow>,
    at: usize,
    max: usize,
    prev: Option<usize>,
    next: Option<usize>,
    moment_label: String,
    seen_by: String,
    seen_label: String,
    parties: Vec<Party>,
    view_note: Option<String>,
    redacted: String,
    marks: bool,
    sections: Vec<Section>,
    checkpoint: Option<CheckpointRow>,
    access: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "console/case_work.html")]
struct WorkPage {
    c: Chrome,
    state: String,
    parties_line: String,
    redacted: String,
    marks: bool,
    sections: Vec<Section>,
    events: Vec<EventRow>,
}

async fn case_page(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let here = format!("/console/cases/{id}");
    let visit = Visit::of(&headers, &here);
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error_page(&ctx, &visit, Some(&me.caller), StatusCode::NOT_FOUND, "no such case".into());
    };
    if me.caller.has(Role::Auditor) {
        audit_page(&ctx, &visit, &me, id, q).await
    } else {
        work_page(&ctx, &visit, &me, id).await
    }
}

async fn audit_page(ctx: &Ctx, visit: &Visit, me: &Signed, id: uuid::Uuid, q: CaseQuery) -> Response {
    let w = visit.lang.words();
    let events: Vec<Value> = match api_get(ctx, &me.token, "audit", &format!("/v1/audit/cases/{id}/events")).await {
        Ok(v) => v,
        Err(f) => return failure(ctx, visit, &me.caller, f),
    };
    let max = events.len().max(1);
    let at = q.at.unwrap_or(max).clamp(1, max);
    let current = events.get(at - 1).cloned().unwrap_or(Value::Null);
    let at_text = text(&current, "at");
    let Ok(moment) = chrono::DateTime::parse_from_rfc3339(&at_text) else {
        return error_page(ctx, visit, Some(&me.caller), StatusCode::BAD_GATEWAY, "an event without a time".into());
    };
    let moment = moment.with_timezone(&chrono::Utc);
    let before = moment - chrono::TimeDelta::nanoseconds(1);
    // The parties: every organisation that wrote to the case (a moved case names both municipalities).
    let mut orgs: Vec<String> = Vec::new();
    for e in &events {
        let org = text(e, "organisation");
        if !org.is_empty() && !orgs.contains(&org) {
            orgs.push(org);
        }
    }
    let seen_by = if orgs.contains(&q.seen_by) && q.seen_by != me.caller.org.as_str() {
        q.seen_by.clone()
    } else {
        String::new()
    };
    let seen_label =
        if seen_by.is_empty() { format!("{} ({})", w.as_auditor, me.caller.org.as_str()) } else { seen_by.clone() };
    let mut parties =
        vec![Party { value: String::new(), label: seen_label_own(w, &me.caller), selected: seen_by.is_empty() }];
    parties.extend(orgs.iter().filter(|o| o.as_str() != me.caller.org.as_str()).map(|o| Party {
        value: o.clone(),
        label: o.clone(),
        selected: *o == seen_by,
    }));
    let state_path = |when: chrono::DateTime<chrono::Utc>| {
        let mut query = vec![("as_of", when.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))];
        if !seen_by.is_empty() {
            query.push(("as_seen_by", seen_by.clone()));
        }
        format!("/v1/audit/cases/{id}/state?{}", serde_urlencoded::to_string(query).unwrap_or_default())
    };
    let (now_view, view_note) = match api_get::<Value>(ctx, &me.token, "audit", &state_path(moment)).await {
        Ok(v) => (v, None),
        Err(f) if f.status == StatusCode::NOT_FOUND => (Value::Null, Some(f.detail)),
        Err(f) => return failure(ctx, visit, &me.caller, f),
    };
    let before_view = if at > 1 {
        match api_get::<Value>(ctx, &me.token, "audit", &state_path(before)).await {
            Ok(v) => v,
            Err(f) if f.status == StatusCode::NOT_FOUND => Value::Null,
            Err(f) => return failure(ctx, visit, &me.caller, f),
        }
    } else {
        Value::Null
    };
    let checkpoints: Vec<Value> = match api_get(ctx, &me.token, "audit", "/v1/audit/checkpoints").await {
        Ok(v) => v,
        Err(f) => return failure(ctx, visit, &me.caller, f),
    };
    let access: Value = match api_get(ctx, &me.token, "audit", &format!("/v1/audit/cases/{id}/access-log")).await {
        Ok(v) => v,
        Err(f) => return failure(ctx, visit, &me.caller, f),
    };
    let mut sections = sections_of(w, &now_view);
    let before_sections = sections_of(w, &before_view);
    if at > 1 {
        for (now, then) in sections.iter_mut().zip(before_sections) {
            mark(w, now, then);
        }
    }
    let checkpoint =
        checkpoints.iter().max_by_key(|c| c.get("event_count").and_then(Value::as_i64)).map(|c| CheckpointRow {
            size: c.get("event_count").and_then(Value::as_i64).unwrap_or(0),
            signed_at: short_time(&text(c, "signed_at")),
            root: text(c, "tree_root"),
            key: text(c, "public_key"),
        });
    let access = items(&access, "entries")
        .iter()
        .rev()
        .map(|a| {
            vec![
                short_time(&text(a, "read_at")),
                text(a, "reader"),
                text(a, "organisation"),
                text(a, "role"),
                text(a, "purpose"),
                strings(a, "categories"),
                text(a, "endpoint"),
            ]
        })
        .collect();
    let event_rows: Vec<EventRow> = events.iter().map(audit_event_row).collect();
    let moment_label = event_rows.get(at - 1).map(|e| format!("{} · {}", e.at, e.event)).unwrap_or_default();
    let page = AuditPage {
        c: visit.chrome(&ctx.app.console, Some(&me.caller), format!("{} {}", case_word(visit), id)),
        id: id.to_string(),
        state: text(&now_view, "state"),
        parties_line: orgs.join(" · "),
        events: event_rows,
        at,
        max,
        prev: (at > 1).then(|| at - 1),
        next: (at < max).then(|| at + 1),
        moment_label,
        seen_by,
        seen_label,
        parties,
        view_note,
        redacted: strings(&now_view, "redacted_categories"),
        marks: true,
        sections,
        checkpoint,
        access,
    };
    visit.html(StatusCode::OK, page.render())
}

fn seen_label_own(w: &super::Words, caller: &Caller) -> String {
    format!("{} ({})", w.as_auditor, caller.org.as_str())
}

fn case_word(visit: &Visit) -> &'static str {
    match visit.lang {
        super::Lang::Da => "Sag",
        super::Lang::En => "Case",
    }
}

async fn work_page(ctx: &Ctx, visit: &Visit, me: &Signed, id: uuid::Uuid) -> Response {
    let w = visit.lang.words();
    let view: Value = match api_get(ctx, &me.token, "case_work", &format!("/v1/cases/{id}")).await {
        Ok(v) => v,
        Err(f) => return failure(ctx, visit, &me.caller, f),
    };
    let mut events = Vec::new();
    let mut after: Option<u64> = None;
    // At most 20 pages of 500: a case's whole timeline, bounded.
    for _ in 0..20 {
        let path = match after {
            Some(a) => format!("/v1/cases/{id}/timeline?limit=500&after={a}"),
            None => format!("/v1/cases/{id}/timeline?limit=500"),
        };
        let page: Value = match api_get(ctx, &me.token, "case_work", &path).await {
            Ok(v) => v,
            Err(f) => return failure(ctx, visit, &me.caller, f),
        };
        events.extend(items(&page, "entries").iter().map(|e| EventRow {
            seq: e.get("sequence").and_then(Value::as_u64).unwrap_or(0) as usize,
            at: short_time(&text(e, "at")),
            event: text(e, "event"),
            actor: text(e, "by"),
            org: text(e, "organisation"),
            role: text(e, "role"),
            checkpoint: String::new(),
            basis: String::new(),
        }));
        match page.get("next_after").and_then(Value::as_u64) {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let parties =
        [text(&view, "municipality"), text(&view, "ngo")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
    let page = WorkPage {
        c: visit.chrome(&ctx.app.console, Some(&me.caller), format!("{} {}", case_word(visit), id)),
        state: text(&view, "state"),
        parties_line: parties.join(" · "),
        redacted: strings(&view, "redacted_categories"),
        marks: false,
        sections: sections_of(w, &view),
        events,
    };
    visit.html(StatusCode::OK, page.render())
}

fn audit_event_row(e: &Value) -> EventRow {
    let payload = e.get("payload").cloned().unwrap_or(Value::Null);
    let checkpoint = payload
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|inner| {
            inner.get("checkpoint").or_else(|| inner.get("disclosure").and_then(|d| d.get("checkpoint"))).cloned()
        })
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let basis = items(e, "bases")
        .iter()
        .map(|b| {
            let basis = b.get("basis").cloned().unwrap_or(Value::Null);
            let kind = text(&basis, "kind");
            let purpose = text(&basis, "purpose");
            let how = if purpose.is_empty() { kind } else { format!("{kind}: {purpose}") };
            format!("{} ({how})", text(b, "category"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    EventRow {
        seq: e.get("sequence").and_then(Value::as_u64).unwrap_or(0) as usize,
        at: short_time(&text(e, "at")),
        event: text(e, "event_type"),
        actor: text(e, "actor"),
        org: text(e, "organisation"),
        role: text(e, "role"),
        checkpoint,
        basis,
    }
}

/// The tables of a case view: items, consents, disclosures, concerns with their deadlines.
fn sections_of(w: &'static super::Words, view: &Value) -> Vec<Section> {
    let row = |key: String, json: &Value, cells: Vec<String>| Row {
        key,
        json: json.clone(),
        mark: "",
        mark_label: "",
        cells,
        status: String::new(),
        status_class: "",
    };
    let items_rows = items(view, "items")
        .iter()
        .map(|i| {
            let content = match i.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(m)) if m.contains_key("$withheld") => format!("({})", w.withheld),
                _ => String::new(),
            };
            row(
                text(i, "id"),
                i,
                vec![
                    text(i, "category"),
                    text(i, "owner"),
                    content,
                    short_time(&text(i, "added_at")),
                    short_time(&text(i, "disclosed_at")),
                ],
            )
        })
        .collect();
    let consent_rows = items(view, "consents")
        .iter()
        .map(|c| {
            let recipients = items(c, "recipients")
                .iter()
                .map(|r| format!("{} ({})", text(r, "org"), text(r, "role")))
                .collect::<Vec<_>>()
                .join(", ");
            let active = if c.get("active").and_then(Value::as_bool).unwrap_or(false) { "✓" } else { "—" };
            row(
                text(c, "id"),
                c,
                vec![
                    strings(c, "categories"),
                    recipients,
                    strings(c, "purposes"),
                    format!("{} – {}", text(c, "valid_from"), text(c, "valid_until")),
                    active.to_owned(),
                ],
            )
        })
        .collect();
    let disclosure_rows = items(view, "disclosures")
        .iter()
        .map(|d| {
            row(
                text(d, "id"),
                d,
                vec![
                    text(d, "checkpoint"),
                    text(d, "from"),
                    text(d, "to"),
                    items(d, "items").len().to_string(),
                    short_time(&text(d, "at")),
                ],
            )
        })
        .collect();
    let concern_rows = items(view, "concerns")
        .iter()
        .map(|c| {
            let acknowledged = text(c, "acknowledged_at");
            let (status, class) =
                match (c.get("on_time").and_then(Value::as_bool), c.get("overdue").and_then(Value::as_bool)) {
                    (Some(true), _) => (w.on_time, "on-time"),
                    (Some(false), _) => (w.late, "late"),
                    (None, Some(true)) => (w.overdue, "overdue"),
                    _ => (w.pending, "pending"),
                };
            let mut r = row(
                text(c, "id"),
                c,
                vec![
                    short_time(&text(c, "reported_at")),
                    short_time(&text(c, "assessment_due")),
                    format!(
                        "{} ({} {})",
                        text(c, "receipt_due"),
                        brobyg_domain::case::RECEIPT_WORKING_DAYS,
                        w.working_days
                    ),
                    if acknowledged.is_empty() { "—".to_owned() } else { short_time(&acknowledged) },
                ],
            );
            r.status = status.to_owned();
            r.status_class = class;
            r
        })
        .collect();
    vec![
        Section {
            title: w.items,
            class: "items",
            head: vec![w.category, w.owner, w.content, w.time, w.disclosed],
            rows: items_rows,
        },
        Section {
            title: w.consents,
            class: "consents",
            head: vec![w.categories, w.recipients, w.purpose, w.time, "✓"],
            rows: consent_rows,
        },
        Section {
            title: w.disclosures,
            class: "disclosures",
            head: vec![w.checkpoint, w.organisation, "→", w.items, w.time],
            rows: disclosure_rows,
        },
        Section {
            title: w.concerns,
            class: "concerns",
            head: vec![w.reported, w.assessment_due, w.receipt_due, w.acknowledged, w.state],
            rows: concern_rows,
        },
    ]
}

/// Marks `now`'s rows against the moment before: new, changed, and the ones no longer visible.
fn mark(w: &'static super::Words, now: &mut Section, then: Section) {
    for r in &mut now.rows {
        match then.rows.iter().find(|t| t.key == r.key) {
            None => (r.mark, r.mark_label) = ("new", w.new),
            Some(t) if t.json != r.json => (r.mark, r.mark_label) = ("changed", w.changed),
            Some(_) => {}
        }
    }
    let gone: Vec<Row> = then.rows.into_iter().filter(|t| !now.rows.iter().any(|r| r.key == t.key)).collect();
    for mut t in gone {
        (t.mark, t.mark_label) = ("gone", w.gone);
        now.rows.push(t);
    }
}

#[derive(Template)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    c: Chrome,
    id: String,
    ok: bool,
    summary: String,
    problems: Vec<String>,
}

async fn verify_page(State(ctx): State<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let visit = Visit::of(&headers, &format!("/console/cases/{id}/verify"));
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error_page(&ctx, &visit, Some(&me.caller), StatusCode::NOT_FOUND, "no such case".into());
    };
    // This case's chain and the checkpoints over it; a case of another organisation is not
    // found, as on the case page.
    let report: Value = match api_get(&ctx, &me.token, "audit", &format!("/v1/audit/verify?case={id}")).await {
        Ok(v) => v,
        Err(f) => return failure(&ctx, &visit, &me.caller, f),
    };
    let ok = report.get("ok").and_then(Value::as_bool).unwrap_or(false);
    let summary = match visit.lang {
        super::Lang::Da => format!(
            "Sagens {} hændelser, dens hash-kæde og {} signerede kontrolpunkter over den er genberegnet.",
            text(&report, "events"),
            text(&report, "checkpoints"),
        ),
        super::Lang::En => format!(
            "The case's {} events, its hash chain and {} signed checkpoints over it recomputed.",
            text(&report, "events"),
            text(&report, "checkpoints"),
        ),
    };
    let case = id.to_string();
    let problems = items(&report, "problems")
        .iter()
        .map(|p| {
            let this = if text(p, "aggregate_id") == case { "★ " } else { "" };
            let at = match (text(p, "aggregate_id"), text(p, "sequence")) {
                (a, s) if !a.is_empty() => format!("{a} #{s}: "),
                _ => String::new(),
            };
            format!("{this}{at}{}", text(p, "problem"))
        })
        .collect();
    let c = visit.chrome(&ctx.app.console, Some(&me.caller), format!("{} · {}", visit.lang.words().verification, case));
    visit.html(StatusCode::OK, VerifyPage { c, id: case, ok, summary, problems }.render())
}

#[derive(Debug, Deserialize)]
struct ProofQuery {
    seq: u64,
    checkpoint: i64,
}

async fn proof(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Response {
    let Some(me) = signed_in(&ctx, &headers).await else { return to_sign_in() };
    let visit = Visit::of(&headers, &format!("/console/cases/{id}"));
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error_page(&ctx, &visit, Some(&me.caller), StatusCode::NOT_FOUND, "no such case".into());
    };
    let query = serde_urlencoded::to_string([
        ("event", format!("case:{id}:{}", q.seq)),
        ("checkpoint", q.checkpoint.to_string()),
    ])
    .unwrap_or_default();
    let proof: Value = match api_get(&ctx, &me.token, "audit", &format!("/v1/audit/proofs/inclusion?{query}")).await {
        Ok(v) => v,
        Err(f) => return failure(&ctx, &visit, &me.caller, f),
    };
    let body = serde_json::to_vec_pretty(&proof).unwrap_or_default();
    let disposition = format!("attachment; filename=\"brobyg-proof-{id}-{}.json\"", q.seq);
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

// ---- reading API answers ----

fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn strings(value: &Value, key: &str) -> String {
    items(value, key)
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-12-04T15:23:23.2337Z` as `2026-12-04 15:23:23 UTC`; other text as it is.
fn short_time(value: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(value) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concern_is_marked_on_time_late_overdue_or_pending() {
        let w = super::super::Lang::En.words();
        let view = json_view(&[
            serde_json::json!({"id": "a", "on_time": true, "overdue": false, "receipt_due": "2026-12-14"}),
            serde_json::json!({"id": "b", "on_time": false, "overdue": false}),
            serde_json::json!({"id": "c", "overdue": true}),
            serde_json::json!({"id": "d", "overdue": false}),
        ]);
        let concerns = sections_of(w, &view).pop().expect("concerns");
        let marks: Vec<(&str, &str)> = concerns.rows.iter().map(|r| (r.status.as_str(), r.status_class)).collect();
        assert_eq!(marks, [("on time", "on-time"), ("late", "late"), ("overdue", "overdue"), ("pending", "pending")]);
        assert!(concerns.rows[0].cells[2].contains("6 working days"));
    }

    #[test]
    fn rows_are_marked_new_changed_and_gone_against_the_moment_before() {
        let w = super::super::Lang::En.words();
        let before = serde_json::json!({"items": [
            {"id": "1", "category": "identity", "content": "A"},
            {"id": "2", "category": "school", "content": "B"},
        ]});
        let now = serde_json::json!({"items": [
            {"id": "1", "category": "identity", "content": "A"},
            {"id": "2", "category": "school", "content": "B, revised"},
            {"id": "3", "category": "wishes", "content": "C"},
        ]});
        let mut sections = sections_of(w, &now);
        mark(w, &mut sections[0], sections_of(w, &before).remove(0));
        let marks: Vec<&str> = sections[0].rows.iter().map(|r| r.mark).collect();
        assert_eq!(marks, ["", "changed", "new"]);
        let gone = serde_json::json!({"items": [{"id": "1", "category": "identity", "content": "A"}]});
        let mut after = sections_of(w, &gone);
        mark(w, &mut after[0], sections_of(w, &now).remove(0));
        let marks: Vec<(&str, &str)> = after[0].rows.iter().map(|r| (r.key.as_str(), r.mark)).collect();
        assert_eq!(
            marks,
            [("1", ""), ("2", "gone"), ("3", "gone")],
            "a revoked consent's items show as no longer visible"
        );
    }

    fn json_view(concerns: &[Value]) -> Value {
        serde_json::json!({"concerns": concerns})
    }
}
