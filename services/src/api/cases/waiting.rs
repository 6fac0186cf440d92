//! The NGO's waiting list: the cases waiting for a volunteer, longest wait first, each with what
//! the young person wishes (as the coordinator may see it) and what blocks a match; and the
//! board of demand against free capacity by area, weekday, language and interest.

use brobyg_domain::Category;
use brobyg_domain::case::Case;
use brobyg_projections::waiting::{Board, Pressure, WaitingRow, board, order, waiting_row};
use chrono::Utc;

use super::matching::active_volunteers;
use super::prelude::*;
use crate::api::case_access::{page_size, wait_for_position};
use crate::api::{Auth, acting_role};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(waiting_list))
}

/// Query of the waiting list.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitingParams {
    /// Only cases of this programme.
    #[param(min_length = 1, max_length = 100)]
    #[serde(default)]
    pub programme: Option<String>,
    /// How many cases, longest wait first, 1–500 (default 100); the board counts every case.
    #[param(minimum = 1, maximum = 500)]
    #[serde(default)]
    pub limit: Option<u32>,
    /// Wait (up to 5 s) until the list reflects this feed position.
    #[param(pattern = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$")]
    #[serde(default)]
    pub min_position: Option<String>,
}

/// One case waiting for a volunteer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WaitingItem {
    /// Case id.
    pub case: String,
    /// The young person's first name, once disclosed to the NGO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Age today, with the first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    /// `accepted` or `awaiting_match`.
    #[schema(value_type = brobyg_domain::CaseState)]
    pub state: brobyg_domain::CaseState,
    /// Days since the NGO accepted the case.
    pub days_waiting: i64,
    /// The young person's interest tags, as the coordinator recorded them.
    pub tags: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Postcode area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Weekdays the young person can meet.
    pub weekdays: Vec<String>,
    /// How many volunteers could be matched today.
    pub eligible_volunteers: usize,
    /// The best suggestion, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_volunteer: Option<String>,
    /// What blocks a good match: what the best suggestion lacks, or what bars every volunteer
    /// (`no_free_place`, `not_vetted_for_age`, `no volunteer registered`).
    pub blockers: Vec<String>,
}

/// Demand against supply for one value.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PressureItem {
    /// The area, weekday, language or tag.
    pub value: String,
    /// Waiting young people whose needs name it.
    pub waiting: u32,
    /// Free places of active volunteers who offer it.
    pub free_places: u32,
}

/// The board of demand against free capacity.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BoardView {
    /// By postcode area.
    pub by_area: Vec<PressureItem>,
    /// By weekday.
    pub by_weekday: Vec<PressureItem>,
    /// By language.
    pub by_language: Vec<PressureItem>,
    /// By interest tag.
    pub by_tag: Vec<PressureItem>,
    /// Waiting young people without recorded needs.
    pub without_needs: u32,
    /// Waiting young people in all.
    pub waiting: usize,
    /// Free places of active volunteers in all.
    pub free_places: u32,
}

/// The waiting list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WaitingList {
    /// Longest wait first, ties by case id.
    pub items: Vec<WaitingItem>,
    /// Demand against free capacity over every waiting case.
    pub board: BoardView,
    /// The feed position the list reflects.
    pub position: String,
}

/// How many waiting cases one request looks at: the board counts them all.
const WAITING_SCAN_MAX: u32 = 2_000;

fn pressure<K: ToString>(map: std::collections::BTreeMap<K, Pressure>) -> Vec<PressureItem> {
    map.into_iter()
        .map(|(k, p)| PressureItem { value: k.to_string(), waiting: p.waiting, free_places: p.free_places })
        .collect()
}

fn item(row: WaitingRow) -> WaitingItem {
    let needs = row.needs.unwrap_or_default();
    let weekdays: std::collections::BTreeSet<_> = needs.availability.iter().map(|s| s.weekday).collect();
    WaitingItem {
        case: row.case.to_string(),
        first_name: row.first_name,
        age: row.age,
        state: row.state,
        days_waiting: row.days_waiting,
        tags: needs.tags.into_iter().collect(),
        languages: needs.languages.into_iter().collect(),
        area: Some(needs.area).filter(|a| !a.is_empty()),
        weekdays: weekdays.into_iter().map(|d| format!("{d:?}").to_lowercase()).collect(),
        eligible_volunteers: row.eligible,
        best_volunteer: row.best.map(|v| v.to_string()),
        blockers: row.blockers,
    }
}

/// The NGO's waiting list (coordinator): the cases accepted or awaiting a match, longest wait
/// first, each with its needs, how many volunteers could be matched and what blocks a match;
/// with the board of demand against free capacity. Showing a name or needs is a read of the
/// case: each such case is in the access log.
#[utoipa::path(get, path = "/v1/waiting-list", tag = "cases", params(WaitingParams),
    responses((status = 200, body = WaitingList), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn waiting_list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    crate::api::Params(params): crate::api::Params<WaitingParams>,
) -> Result<Response, Problem> {
    let role = acting_role(&caller);
    if role != brobyg_domain::Role::Coordinator {
        return Err(Problem::forbidden("the waiting list is for the NGO's coordinators"));
    }
    if params.programme.as_ref().is_some_and(|t| t.is_empty() || t.chars().count() > 100) {
        return Err(Problem::invalid_request("programme: 1 to 100 characters"));
    }
    let limit = page_size(params.limit)? as usize;
    let position = wait_for_position(&state, params.min_position.as_deref()).await?;
    let mut ids = Vec::new();
    for waiting in [brobyg_domain::CaseState::Accepted, brobyg_domain::CaseState::AwaitingMatch] {
        let filter = crate::store::CaseFilter { state: Some(waiting), programme: params.programme.clone() };
        let rows = state.store.case_summaries(&caller.org, &filter, None, WAITING_SCAN_MAX).await?;
        ids.extend(rows.into_iter().map(|r| r.case_id));
    }
    let cases = state.store.load_many::<Case>(&ids).await?;
    let volunteers = active_volunteers(&state, &caller.org).await?;
    let now = Utc::now();
    let reader = crate::api::case_access::reader(&caller);
    let mut rows: Vec<WaitingRow> =
        cases.iter().filter_map(|(_, c)| waiting_row(&c.aggregate, &reader, &volunteers, now)).collect();
    order(&mut rows);
    let Board { by_area, by_weekday, by_language, by_tag, without_needs, free_places } = board(&rows, &volunteers);
    let waiting = rows.len();
    rows.truncate(limit);
    let entries = rows
        .iter()
        .filter(|r| r.first_name.is_some() || r.needs.is_some())
        .map(|r| {
            let mut kinds = Vec::new();
            if r.first_name.is_some() {
                kinds.push(Category::Identity.as_str());
            }
            if r.needs.is_some() {
                kinds.extend([Category::Wishes.as_str(), Category::Practical.as_str()]);
            }
            crate::api::read_entry(
                &caller,
                &r.case.to_string(),
                role.as_str(),
                kinds,
                "matching".into(),
                "waiting-list",
                now,
            )
        })
        .collect();
    state.access_log.record_all(entries).await?;
    let board = BoardView {
        by_area: pressure(by_area),
        by_weekday: pressure(by_weekday.into_iter().map(|(d, p)| (format!("{d:?}").to_lowercase(), p)).collect()),
        by_language: pressure(by_language),
        by_tag: pressure(by_tag),
        without_needs,
        waiting,
        free_places,
    };
    let list = WaitingList { items: rows.into_iter().map(item).collect(), board, position: position.to_string() };
    Ok(json_response(StatusCode::OK, Default::default(), &list))
}
