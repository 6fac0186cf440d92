//! Group-level statistics per programme, with small-cell suppression.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::case::Case;
use brobyg_projections::statistics::{Statistics, compute};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, fold, json_response};
use crate::AppState;
use crate::api::Problem;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(programme_statistics))
}

/// Statistics with the position of the views they were computed from.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsResponse {
    /// The organisation whose cases are counted.
    pub organisation: String,
    /// The figures.
    #[serde(flatten)]
    pub figures: Statistics,
    /// The feed position of the case list used.
    pub position: String,
}

/// Figures for a programme over the cases the caller's organisation is party to: cases per
/// state, median waiting times, completion and withdrawal rates, outcome change; counting only
/// cases whose consent covers statistics, every cell under 5 suppressed (`{"suppressed": true}`)
/// with complementary suppression.
#[utoipa::path(get, path = "/v1/programmes/{programme}/statistics", tag = "statistics",
    params(("programme" = String, Path, description = "programme slug, e.g. klub-move")),
    responses((status = 200, body = StatisticsResponse), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn programme_statistics(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(programme): Path<String>,
) -> Result<Response, Problem> {
    if caller.has(brobyg_domain::Role::Integrator) && caller.roles().len() == 1 {
        return Err(Problem::forbidden("statistics are for the partners' staff"));
    }
    let position = state.views.position();
    let ids = state.store.cases_in_programme(&caller.org, &programme).await?;
    let mut cases = Vec::with_capacity(ids.len());
    for id in ids {
        cases.push(fold::<Case>(&state, &id).await?.0);
    }
    let figures = compute(&programme, &cases, Utc::now());
    Ok(json_response(
        StatusCode::OK,
        Default::default(),
        &StatisticsResponse { organisation: caller.org.to_string(), figures, position: position.to_string() },
    ))
}
