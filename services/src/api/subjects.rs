//! The data subject's rights: access (GDPR art. 15) and erasure by crypto-shredding (art. 17).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::case::{Basis, Case, CaseAction, CaseCommand};
use brobyg_domain::{CaseId, PersonId, Role};
use brobyg_projections::case_view::{CaseView, case_view};
use brobyg_projections::policy::Reader;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{SubjectAccessEntry, subject_form};
use super::{Auth, Body, RequestId, actor, execute, json_response, load, log_read, parse_id};
use crate::AppState;
use crate::api::Problem;
use crate::auth::Caller;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_subject)).routes(routes!(erase_subject))
}

/// Finds the case of a subject (the young person's id) that the caller's municipality holds.
async fn subject_case(state: &AppState, caller: &Caller, subject: &str) -> Result<(CaseId, Case, usize), Problem> {
    let _: PersonId = parse_id(subject, "subject")?;
    // The subject index is a view fed from the global order: give it a moment to catch up with
    // a case opened just now before saying no.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let case_id = loop {
        let found = state.store.case_of_subject(subject).await?;
        if found.is_some() || std::time::Instant::now() > deadline {
            break found;
        }
        state
            .views
            .wait_for(crate::store::Cursor { tx: u64::MAX, position: i64::MAX }, std::time::Duration::from_millis(100))
            .await;
    };
    let case_id: CaseId = parse_id(&case_id.ok_or_else(|| Problem::not_found("subject"))?, "subject")?;
    let loaded = load::<Case>(state, &case_id.to_string()).await?;
    // Whether the subject exists for the caller is answered before what the caller may do.
    if !brobyg_domain::Parties::admits(&loaded.aggregate, &caller.org) {
        return Err(Problem::not_found("subject"));
    }
    if loaded.aggregate.municipality.as_ref() != Some(&caller.org)
        || !(caller.has(Role::Caseworker) || caller.has(Role::Admin))
    {
        return Err(Problem::forbidden("the municipality's caseworkers and administrators handle subject requests"));
    }
    Ok((case_id, loaded.aggregate, loaded.version))
}

/// One disclosure of the subject's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedDisclosure {
    /// When.
    pub at: String,
    /// At which checkpoint.
    pub checkpoint: String,
    /// From which organisation.
    pub from: String,
    /// To which organisation.
    pub to: String,
    /// The categories disclosed, each with its purpose and legal basis.
    pub items: Vec<ExportedBasis>,
}

/// The basis of one disclosed item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedBasis {
    /// Category.
    pub category: String,
    /// `consent` or `reporting_duty`.
    pub basis: String,
    /// The purpose (consent) or the duty (reporting duty).
    pub purpose: String,
}

/// What is held and shared about a subject.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectExport {
    /// The subject (the young person's id).
    pub subject: String,
    /// The case.
    pub case: String,
    /// Everything held in the case, from every organisation.
    pub held: CaseView,
    /// Every disclosure: to whom, when, purpose, basis.
    pub disclosures: Vec<ExportedDisclosure>,
    /// Every read of the data: when and why, not by whom.
    pub reads: Vec<SubjectAccessEntry>,
}

/// What is held about a subject, every disclosure and every read (GDPR art. 15).
#[utoipa::path(get, path = "/v1/subjects/{id}/export", tag = "subjects",
    params(("id" = String, Path, description = "the young person's id")),
    responses((status = 200, body = SubjectExport), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn export_subject(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(subject): Path<String>,
) -> Result<Response, Problem> {
    let (case_id, case, version) = subject_case(&state, &caller, &subject).await?;
    let now = Utc::now();
    // Everything the caller's organisation holds about the subject, and what was disclosed to
    // it: each organisation answers as the controller of its own records (DESIGN §4).
    let full = Reader::staff(caller.org.clone(), Role::Auditor);
    let held = case_view(&case, version, &full, now).ok_or_else(|| Problem::not_found("subject"))?;
    let categories = held.items.iter().map(|i| i.category).collect::<std::collections::BTreeSet<_>>();
    log_read(
        &state,
        &caller,
        &case_id.to_string(),
        "subject_export",
        categories,
        "subject_access".into(),
        "subjects/export",
    )
    .await?;
    let disclosures = case
        .disclosures
        .iter()
        .map(|d| ExportedDisclosure {
            at: d.at.to_rfc3339(),
            checkpoint: d.checkpoint.to_string(),
            from: d.from.to_string(),
            to: d.to.to_string(),
            items: d
                .items
                .iter()
                .map(|i| match &i.basis {
                    Basis::Consent { purpose, .. } => ExportedBasis {
                        category: i.category.to_string(),
                        basis: "consent".into(),
                        purpose: purpose.to_string(),
                    },
                    Basis::ReportingDuty { duty } => ExportedBasis {
                        category: i.category.to_string(),
                        basis: "reporting_duty".into(),
                        purpose: duty.to_string(),
                    },
                })
                .collect(),
        })
        .collect();
    let log = state.store.access_log(&case_id.to_string()).await?;
    let body = SubjectExport { subject, case: case_id.to_string(), held, disclosures, reads: subject_form(&log) };
    Ok(json_response(StatusCode::OK, Default::default(), &body))
}

/// An erasure request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    /// The legal ground, e.g. `GDPR art. 17 request of 2027-06-01` (never a person's details).
    pub reason: String,
}

/// The answer to an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    /// The subject.
    pub subject: String,
    /// The case.
    pub case: String,
    /// Data keys destroyed.
    pub keys_destroyed: u64,
}

/// Erase a subject's personal data by destroying its keys: the history stays and still
/// verifies, every personal value reads as erased. Refused (409) while a concern is open or
/// while the municipality must keep the record.
#[utoipa::path(post, path = "/v1/subjects/{id}/erasure", tag = "subjects", request_body = Erasure,
    params(("id" = String, Path, description = "the young person's id")),
    responses((status = 200, body = Erased), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn erase_subject(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(subject): Path<String>,
    Body(body): Body<Erasure>,
) -> Result<Response, Problem> {
    let (case_id, case, _) = subject_case(&state, &caller, &subject).await?;
    if case.erased_at.is_none() {
        let action = CaseAction::EraseSubject { reason: body.reason, retention_days: state.municipal_retention_days };
        let command = || CaseCommand { actor: actor(&caller), action: action.clone() };
        execute::<Case>(&state, &caller, &case_id.to_string(), command, None, &request_id).await?;
    }
    // Recorded first, then shredded: a retry after a failure here finishes the job.
    let destroyed = state
        .store
        .destroy_keys(
            &crate::store::data_key_prefix(<Case as cqrs_es::Aggregate>::TYPE, &case_id.to_string()),
            "erasure of the subject (GDPR art. 17)",
        )
        .await?;
    tracing::info!(case.id = %case_id, keys = destroyed, "erased the subject's personal data");
    Ok(json_response(
        StatusCode::OK,
        Default::default(),
        &Erased { subject, case: case_id.to_string(), keys_destroyed: destroyed },
    ))
}
