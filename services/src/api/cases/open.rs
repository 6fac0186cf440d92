//! Open a case, the caseload, the case as the caller may see it, and the volunteer brief.

use brobyg_domain::case::{CaseAction, CustodyHolder, YoungPerson};
use brobyg_domain::{CaseId, Category, PersonId, Personal};
use brobyg_projections::case_view::{BriefView, CaseView, ViewAccess, case_view, visible_categories, volunteer_brief};
use brobyg_projections::policy::{Reader, ReaderRole};
use chrono::{NaiveDate, Utc};

use super::prelude::*;
use crate::api::case_access::{page_size, wait_for_position};
use crate::api::{Auth, Params, Purpose, RequestId, acting_role, load, log_read};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_case, list_cases)).routes(routes!(get_case)).routes(routes!(get_brief))
}

/// The young person of a new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewYoungPerson {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Birth date.
    pub birth_date: NaiveDate,
}

/// A custody holder of a new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustodyHolder {
    /// Full name.
    pub name: String,
    /// A guardian (værge) appointed because nobody holds custody.
    #[serde(default)]
    pub guardian: bool,
}

/// A new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// The young person (required, unless `earlier_case` is given).
    #[serde(default)]
    pub young_person: Option<NewYoungPerson>,
    /// Custody holders (leave out with `earlier_case`).
    #[serde(default)]
    pub custody_holders: Vec<NewCustodyHolder>,
    /// A re-referral: the ended earlier case of the same young person. The new case carries
    /// its young person and custody holders with the same person ids, so that a subject's
    /// export and erasure find every case.
    #[serde(default)]
    pub earlier_case: Option<uuid::Uuid>,
}

/// A person id of a new case.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonRef {
    /// Person id, used as grantor id.
    pub id: uuid::Uuid,
}

/// The answer to opening a case.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseOpened {
    /// Case id.
    pub id: uuid::Uuid,
    /// `opened`.
    pub state: String,
    /// Version.
    pub version: usize,
    /// The young person's id.
    pub young_person: PersonRef,
    /// The custody holders' ids, in the order given.
    pub custody_holders: Vec<PersonRef>,
}

/// Open a case for a young person (caseworker).
#[utoipa::path(post, path = "/v1/cases", tag = "cases", request_body = OpenCase,
    responses((status = 201, body = CaseOpened), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn open_case(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Body(body): Body<OpenCase>,
) -> Result<Response, Problem> {
    let id = CaseId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let (young_person, custody_holders, earlier) = match (body.earlier_case, body.young_person) {
        (None, None) => return Err(invalid_field("young_person: required (or name an earlier_case)")),
        (Some(_), Some(_)) => {
            return Err(invalid_field(
                "young_person: leave it out of a re-referral; it is the earlier case's young person",
            ));
        }
        (Some(_), None) if !body.custody_holders.is_empty() => {
            return Err(invalid_field("custody_holders: leave them out of a re-referral; they are the earlier case's"));
        }
        (Some(earlier), None) => {
            let loaded = load::<brobyg_domain::case::Case>(&state, &earlier.to_string()).await?;
            let found = loaded.aggregate;
            let person = found.young_person.clone().filter(|_| found.municipality.as_ref() == Some(&caller.org));
            let Some(person) = person else {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-case",
                    "Unknown earlier case",
                    "earlier_case: no case of your municipality has that id",
                ));
            };
            let holders = found.custody_holders.clone();
            (person, holders, Some(Box::new(found)))
        }
        (None, Some(p)) => {
            let person = YoungPerson {
                id: PersonId::new(),
                first_name: Personal::new(p.first_name),
                last_name: Personal::new(p.last_name),
                birth_date: Personal::new(p.birth_date),
            };
            let holders = body
                .custody_holders
                .into_iter()
                .map(|h| CustodyHolder { id: PersonId::new(), name: Personal::new(h.name), guardian: h.guardian })
                .collect();
            (person, holders, None)
        }
    };
    let answer = CaseOpened {
        id: id.0,
        state: "opened".into(),
        version: 1,
        young_person: PersonRef { id: young_person.id.0 },
        custody_holders: custody_holders.iter().map(|h| PersonRef { id: h.id.0 }).collect(),
    };
    let action = CaseAction::Open { case: id, young_person, custody_holders, earlier };
    let request = CaseRequest { caller, id, if_match: None, request_id };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let mut headers = version_headers(committed.version, position);
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/v1/cases/{id}")) {
        headers.insert(axum::http::header::LOCATION, v);
    }
    Ok(json_response(StatusCode::CREATED, headers, &answer))
}

/// 422: the request parses, but its fields do not go together.
fn invalid_field(detail: &str) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "Invalid field", detail)
}

/// One row of a caseload, as the caller may see the case.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseListItem {
    /// Case id.
    pub id: String,
    /// State.
    pub state: String,
    /// Version.
    pub version: i64,
    /// Municipality.
    pub municipality: String,
    /// NGO, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ngo: Option<String>,
    /// Programme, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    /// Opened at.
    pub opened_at: String,
    /// Last change.
    pub updated_at: String,
    /// Who the case is about: the municipality sees the young person's name, the NGO the first
    /// name once an identity item reached it under a basis that holds (`[erased]` once erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The young person's age today, beside the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    /// The next deadline: a concern's receipt, a planned meeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_deadline: Option<brobyg_projections::caseload::Deadline>,
    /// What the case waits for next: `referral`, `ngo_decision`, `pre_meeting`, `match`,
    /// `closing_meeting` or `concern_receipt`; absent once it has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_for: Option<String>,
}

/// A page of a caseload.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// Cases, in the order asked for (oldest first by default).
    pub items: Vec<CaseListItem>,
    /// The cursor of the next page, if there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The feed position the list reflects.
    pub position: String,
}

/// The order of a caseload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseSort {
    /// Oldest first (the default; pages with a keyset cursor).
    #[default]
    OpenedAt,
    /// By the name the caller sees, A to Z; cases without one last.
    Name,
    /// By the next deadline, soonest first; cases without one last.
    Deadline,
}

/// Caseload parameters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    /// Wait (up to 5 s) until the list reflects this feed position (from `X-Brobyg-Position`).
    #[param(pattern = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$")]
    #[serde(default)]
    pub min_position: Option<String>,
    /// The page cursor from `next_cursor`: `<opened_at>|<case id>` in the default order, a
    /// row offset when sorted by name or deadline or filtered by name.
    #[param(
        pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]{1,5})$"
    )]
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default)]
    pub limit: Option<u32>,
    /// `true`: only cases with a consent that needs renewal because the young person turned 15
    /// or 18 (a page may hold fewer than `limit` cases; follow `next_cursor`).
    #[serde(default)]
    pub consent_renewal_due: Option<bool>,
    /// Only cases in this state.
    #[param(value_type = Option<brobyg_domain::CaseState>)]
    #[serde(default)]
    pub state: Option<brobyg_domain::CaseState>,
    /// Only cases of this programme.
    #[param(min_length = 1, max_length = 100)]
    #[serde(default)]
    pub programme: Option<String>,
    /// Only cases whose name (as the caller sees it) contains this text, ignoring case.
    #[param(min_length = 1, max_length = 100)]
    #[serde(default)]
    pub name: Option<String>,
    /// `opened_at` (default), `name` or `deadline`.
    #[param(inline)]
    #[serde(default)]
    pub sort: Option<CaseSort>,
}

/// How many list rows one filtered caseload request examines at most before it answers with
/// what it found and a cursor to go on from.
const RENEWAL_SCAN_MAX: usize = 2_000;

/// How many cases a caseload sorted or filtered by name or deadline reads at most: the names and
/// deadlines live in the sealed cases, not in the list view.
const SORT_SCAN_MAX: usize = 2_000;

/// The caller's caseload: a caseworker's municipality's cases, a coordinator's referred cases,
/// each with the name the caller may see, the next deadline and what the case waits for.
/// Showing names is a read of identity data: each case shown is in the access log.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(CaseListParams),
    responses((status = 200, body = CaseList), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn list_cases(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<CaseListParams>,
) -> Result<Response, Problem> {
    let role = acting_role(&caller);
    if !matches!(role, brobyg_domain::Role::Caseworker | brobyg_domain::Role::Coordinator) {
        return Err(Problem::forbidden("caseloads are for caseworkers and coordinators"));
    }
    for (what, text) in [("name", &params.name), ("programme", &params.programme)] {
        if text.as_ref().is_some_and(|t| t.is_empty() || t.chars().count() > 100) {
            return Err(Problem::invalid_request(format!("{what}: 1 to 100 characters")));
        }
    }
    let position = wait_for_position(&state, params.min_position.as_deref()).await?;
    let limit = page_size(params.limit)?;
    let filter = crate::store::CaseFilter { state: params.state, programme: params.programme.clone() };
    let sort = params.sort.unwrap_or_default();
    let scan = sort != CaseSort::OpenedAt || params.name.is_some();
    let (rows, next_cursor) = if scan {
        sorted_rows(&state, &caller, &params, &filter, sort, limit).await?
    } else {
        keyset_rows(&state, &caller, &params, &filter, limit).await?
    };
    let now = Utc::now();
    let entries: Vec<crate::store::AccessEntry> = rows
        .iter()
        .filter(|(_, row)| row.name.is_some())
        .map(|(summary, _)| {
            let identity = [Category::Identity.as_str()];
            crate::api::read_entry(
                &caller,
                &summary.case_id,
                role.as_str(),
                identity,
                "case_work".into(),
                "caseload",
                now,
            )
        })
        .collect();
    state.access_log.record_all(entries).await?;
    let items = rows
        .into_iter()
        .map(|(r, row)| CaseListItem {
            id: r.case_id,
            state: r.state,
            version: r.version,
            municipality: r.municipality,
            ngo: r.ngo,
            programme: r.programme,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
            name: row.name,
            age: row.age,
            next_deadline: row.deadline,
            waits_for: row.waits_for.map(str::to_owned),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        Default::default(),
        &CaseList { items, next_cursor, position: position.to_string() },
    ))
}

type Row = (crate::store::CaseSummary, brobyg_projections::caseload::CaseloadRow);

/// The rows of `summaries` as the caller may see them, reading each case through the policy.
async fn with_cases(
    state: &AppState,
    caller: &crate::auth::Caller,
    summaries: Vec<crate::store::CaseSummary>,
    renewal_only: bool,
) -> Result<Vec<Row>, Problem> {
    let ids: Vec<String> = summaries.iter().map(|r| r.case_id.clone()).collect();
    let mut loaded: std::collections::HashMap<String, brobyg_domain::case::Case> = state
        .store
        .load_many::<brobyg_domain::case::Case>(&ids)
        .await?
        .into_iter()
        .map(|(id, l)| (id, l.aggregate))
        .collect();
    let now = Utc::now();
    let reader = reader(caller);
    Ok(summaries
        .into_iter()
        .filter_map(|summary| {
            let case = loaded.remove(&summary.case_id)?;
            // The age is personal data, not in the list view: the case is read and the
            // policy's own rule decides, never a derived birthday stored in the clear.
            if renewal_only && !case.consent_renewal_due(now) {
                return None;
            }
            let row = brobyg_projections::caseload::caseload_row(&case, &reader, now)?;
            Some((summary, row))
        })
        .collect())
}

/// The default order: oldest first, a keyset cursor.
async fn keyset_rows(
    state: &AppState,
    caller: &crate::auth::Caller,
    params: &CaseListParams,
    filter: &crate::store::CaseFilter,
    limit: u32,
) -> Result<(Vec<Row>, Option<String>), Problem> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad = || Problem::invalid_request("cursor is not one this service gave");
    let mut after = match params.cursor.as_deref() {
        None => None,
        Some(raw) if raw.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(invalid_field("cursor: this order goes on from the <opened_at>|<case id> it gave"));
        }
        Some(raw) => {
            // `<opened_at>|<case id>`; earlier versions gave it base64url-encoded.
            let text = if raw.contains('|') {
                raw.to_owned()
            } else {
                URL_SAFE_NO_PAD.decode(raw).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?
            };
            let (at, id) = text.split_once('|').ok_or_else(bad)?;
            Some((at.to_owned(), id.to_owned()))
        }
    };
    let renewal_only = params.consent_renewal_due == Some(true);
    let mut rows = Vec::new();
    let mut more;
    let mut examined = 0;
    loop {
        let page = state.store.case_summaries(&caller.org, filter, after.clone(), limit).await?;
        let full = page.len() == limit as usize;
        examined += page.len();
        if let Some(last) = page.last() {
            after = Some((last.opened_at.clone(), last.case_id.clone()));
        }
        rows.extend(with_cases(state, caller, page, renewal_only).await?);
        more = full;
        if !renewal_only || !full || rows.len() >= limit as usize || examined >= RENEWAL_SCAN_MAX {
            break;
        }
    }
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        after = rows.last().map(|(r, _)| (r.opened_at.clone(), r.case_id.clone()));
        more = true;
    }
    let next_cursor = more.then(|| after.map(|(at, id)| format!("{at}|{id}"))).flatten();
    Ok((rows, next_cursor))
}

/// Sorted by name or deadline, or filtered by name: every matching case is read (at most
/// [`SORT_SCAN_MAX`]), then ordered; the cursor is the offset of the next row.
async fn sorted_rows(
    state: &AppState,
    caller: &crate::auth::Caller,
    params: &CaseListParams,
    filter: &crate::store::CaseFilter,
    sort: CaseSort,
    limit: u32,
) -> Result<(Vec<Row>, Option<String>), Problem> {
    let offset: usize = match params.cursor.as_deref() {
        None => 0,
        Some(raw) if raw.len() > 5 && raw.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Problem::invalid_request("cursor: at most 5 digits"));
        }
        Some(raw) => raw
            .parse()
            .map_err(|_| invalid_field("cursor: a sorted or name-filtered caseload goes on from the number it gave"))?,
    };
    let cap = u32::try_from(SORT_SCAN_MAX + 1).unwrap_or(u32::MAX);
    let summaries = state.store.case_summaries(&caller.org, filter, None, cap).await?;
    if summaries.len() > SORT_SCAN_MAX {
        return Err(invalid_field(&format!(
            "more than {SORT_SCAN_MAX} cases to sort or search by name: narrow the list with state or programme"
        )));
    }
    let mut rows = with_cases(state, caller, summaries, params.consent_renewal_due == Some(true)).await?;
    if let Some(wanted) = params.name.as_deref().map(str::to_lowercase) {
        rows.retain(|(_, row)| row.name.as_ref().is_some_and(|n| n.to_lowercase().contains(&wanted)));
    }
    match sort {
        CaseSort::OpenedAt => {}
        CaseSort::Name => rows.sort_by_cached_key(|(r, row)| {
            (row.name.is_none(), row.name.as_ref().map(|n| n.to_lowercase()), r.opened_at.clone(), r.case_id.clone())
        }),
        CaseSort::Deadline => rows.sort_by_cached_key(|(r, row)| {
            (row.deadline.is_none(), row.deadline.as_ref().map(|d| d.on), r.opened_at.clone(), r.case_id.clone())
        }),
    }
    let total = rows.len();
    let page: Vec<Row> = rows.into_iter().skip(offset).take(limit as usize).collect();
    let next = offset + page.len();
    Ok((page, (next < total).then(|| next.to_string())))
}

/// The case as the caller may see it.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "case id"),
           ("X-Purpose" = Option<crate::api::extract::ReadPurpose>, Header, description = "why the case is read (default case_work; audit for auditors)")),
    responses((status = 200, body = CaseView, headers(("ETag" = String, description = "the case version"))),
              (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
) -> Result<Response, Problem> {
    let (case, version) = load_case_for(&state, &caller, id).await?;
    let now = Utc::now();
    let reader = reader(&caller);
    let mut view = case_view(&case, version, &reader, now).ok_or_else(|| Problem::not_found("case"))?;
    // The municipality follows a running course between checkpoints where the agreement in
    // force lets it (no content; the terms decide, the policy's function shapes it).
    if case.municipality.as_ref() == Some(&caller.org) && case.first_matched_on.is_some() {
        let agreement = load_agreement_of(&state, &case).await?;
        if let Some((_, terms)) = agreement.in_force.as_ref() {
            view.interim = brobyg_projections::case_view::interim_status(&case, terms, &reader, now);
        }
    }
    // Who the matched volunteer is, where the volunteer agreed that the municipality may know.
    if case.municipality.as_ref() == Some(&caller.org)
        && let Some(matched) = &case.current_match
    {
        let (volunteer, _) =
            fold::<brobyg_domain::volunteer::Volunteer>(&state, &matched.volunteer.to_string()).await?;
        view.volunteer = brobyg_projections::case_view::volunteer_for_municipality(&case, &volunteer, &reader, now);
    }
    let default = if view.access == ViewAccess::Audit { "audit" } else { "case_work" };
    let role = acting_role(&caller).as_str();
    let categories = visible_categories(&case, &reader, now);
    log_read(&state, &caller, &id.to_string(), role, categories, purpose.or(default), "case").await?;
    Ok(json_response(StatusCode::OK, version_headers(version, None), &view))
}

/// The volunteer brief: first name, age, wishes and practicalities, as far as consent names the
/// NGO's volunteers (coordinator or integrator of the case's NGO).
#[utoipa::path(get, path = "/v1/cases/{id}/brief", tag = "cases",
    params(("id" = String, Path, description = "case id"), ("X-Purpose" = Option<crate::api::extract::ReadPurpose>, Header, description = "why (default matching)")),
    responses((status = 200, body = BriefView), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_brief(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
) -> Result<Response, Problem> {
    // Whether the case exists for the caller is answered before what the caller may do with it.
    let (case, version) = load_case_for(&state, &caller, id).await?;
    let role = acting_role(&caller);
    if !matches!(role, brobyg_domain::Role::Coordinator | brobyg_domain::Role::Integrator)
        || case.ngo() != Some(&caller.org)
    {
        return Err(Problem::forbidden("the brief is for the NGO's coordinator or volunteer app"));
    }
    let brief_reader = Reader { org: caller.org.clone(), role: ReaderRole::VolunteerBrief };
    let now = Utc::now();
    if case.current_match.is_none() {
        return Err(Problem::wrong_state("the brief is for the matched volunteer, and no volunteer is matched"));
    }
    let brief = volunteer_brief(&case, &brief_reader, now).ok_or_else(|| Problem::not_found("case"))?;
    let categories: Vec<Category> = brief.items.iter().map(|i| i.category).collect();
    log_read(&state, &caller, &id.to_string(), "volunteer_brief", categories, purpose.or("matching"), "brief").await?;
    Ok(json_response(StatusCode::OK, version_headers(version, None), &brief))
}
