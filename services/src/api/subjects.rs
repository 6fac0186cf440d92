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
/// Every case of a subject that the caller's municipality holds, oldest first: 404 when there
/// is none for the caller's organisation, then 403 unless a caseworker or administrator of it.
async fn subject_cases(
    state: &AppState,
    caller: &Caller,
    subject: &str,
) -> Result<Vec<(CaseId, Case, usize)>, Problem> {
    let _: PersonId = parse_id(subject, "subject")?;
    // The subject index is a view fed from the global order: it is read once it reflects every
    // event committed before this request (a case opened or re-referred just now included).
    let written = state.store.last_committed().await?;
    state.views.wait_for(written, std::time::Duration::from_secs(5)).await;
    let ids = state.store.cases_of_subject(subject).await?;
    let mut cases = Vec::with_capacity(ids.len());
    for id in ids {
        let case_id: CaseId = parse_id(&id, "subject")?;
        let loaded = load::<Case>(state, &id).await?;
        // Whether the subject exists for the caller is answered before what the caller may do.
        if brobyg_domain::Parties::admits(&loaded.aggregate, &caller.org) {
            cases.push((case_id, loaded.aggregate, loaded.version));
        }
    }
    if cases.is_empty() {
        return Err(Problem::not_found("subject"));
    }
    // The municipality's cases, and those that moved away from it (its own records of them).
    let own = cases
        .iter()
        .all(|(_, c, _)| c.municipality.as_ref() == Some(&caller.org) || c.moved_away_at(&caller.org).is_some());
    if !own || !(caller.has(Role::Caseworker) || caller.has(Role::Admin)) {
        return Err(Problem::forbidden("the municipality's caseworkers and administrators handle subject requests"));
    }
    Ok(cases)
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedDisclosure {
    /// When.
    pub at: String,
    /// At which checkpoint, or `relocation` for what passed when the family moved.
    pub checkpoint: String,
    /// From which organisation.
    pub from: String,
    /// To which organisation.
    pub to: String,
    /// The categories disclosed, each with its purpose and legal basis.
    pub items: Vec<ExportedBasis>,
}

/// The basis of one disclosed item.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportedBasis {
    /// Category.
    pub category: String,
    /// `consent` or `reporting_duty`.
    pub basis: String,
    /// The purpose (consent) or the duty (reporting duty).
    pub purpose: String,
}

/// What is held and shared about a subject in one case.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectCaseExport {
    /// The case.
    pub case: String,
    /// Everything held in the case, from every organisation.
    pub held: CaseView,
    /// Every disclosure: to whom, when, purpose, basis.
    pub disclosures: Vec<ExportedDisclosure>,
    /// Every read of the data: when and why, not by whom.
    pub reads: Vec<SubjectAccessEntry>,
}

/// What is held and shared about a subject.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectExport {
    /// The subject (the young person's id).
    pub subject: String,
    /// The newest case.
    pub case: String,
    /// Everything held in the newest case, from every organisation.
    pub held: CaseView,
    /// Every disclosure of the newest case: to whom, when, purpose, basis.
    pub disclosures: Vec<ExportedDisclosure>,
    /// Every read of the newest case's data: when and why, not by whom.
    pub reads: Vec<SubjectAccessEntry>,
    /// Every case of the subject, oldest first (a re-referral is a new case of the same
    /// person), the newest included.
    pub cases: Vec<SubjectCaseExport>,
}

/// What is held about a subject, every disclosure and every read (GDPR art. 15), over every
/// case of the subject.
#[utoipa::path(get, path = "/v1/subjects/{id}/export", tag = "subjects",
    params(("id" = String, Path, description = "the young person's id")),
    responses((status = 200, body = SubjectExport), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn export_subject(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(subject): Path<String>,
) -> Result<Response, Problem> {
    let now = Utc::now();
    let mut cases = Vec::new();
    for (case_id, case, version) in subject_cases(&state, &caller, &subject).await? {
        cases.push(export_case(&state, &caller, case_id, &case, version, now).await?);
    }
    let newest = cases.last().ok_or_else(|| Problem::not_found("subject"))?;
    let body = SubjectExport {
        subject,
        case: newest.case.clone(),
        held: newest.held.clone(),
        disclosures: newest.disclosures.clone(),
        reads: newest.reads.clone(),
        cases,
    };
    Ok(json_response(StatusCode::OK, Default::default(), &body))
}

async fn export_case(
    state: &AppState,
    caller: &Caller,
    case_id: CaseId,
    case: &Case,
    version: usize,
    now: chrono::DateTime<Utc>,
) -> Result<SubjectCaseExport, Problem> {
    // Everything the caller's organisation holds about the subject, and what was disclosed to
    // it: each organisation answers as the controller of its own records (DESIGN §4).
    let full = Reader::staff(caller.org.clone(), Role::Auditor);
    let held = case_view(case, version, &full, now).ok_or_else(|| Problem::not_found("subject"))?;
    let categories = held.items.iter().map(|i| i.category).collect::<std::collections::BTreeSet<_>>();
    log_read(
        state,
        caller,
        &case_id.to_string(),
        "subject_export",
        categories,
        "subject_access".into(),
        "subjects/export",
    )
    .await?;
    let basis = |i: &brobyg_domain::case::DisclosedItem| match &i.basis {
        Basis::Consent { purpose, .. } => {
            ExportedBasis { category: i.category.to_string(), basis: "consent".into(), purpose: purpose.to_string() }
        }
        Basis::ReportingDuty { duty } => ExportedBasis {
            category: i.category.to_string(),
            basis: "reporting_duty".into(),
            purpose: duty.to_string(),
        },
        Basis::Relocation => {
            ExportedBasis { category: i.category.to_string(), basis: "relocation".into(), purpose: "relocation".into() }
        }
    };
    let org = &caller.org;
    // The disclosures the caller's organisation made or received, and the moves it took part in.
    let mut disclosures: Vec<ExportedDisclosure> = case
        .disclosures
        .iter()
        .filter(|d| &d.from == org || &d.to == org)
        .map(|d| ExportedDisclosure {
            at: d.at.to_rfc3339(),
            checkpoint: d.checkpoint.to_string(),
            from: d.from.to_string(),
            to: d.to.to_string(),
            items: d.items.iter().map(basis).collect(),
        })
        .collect();
    disclosures.extend(case.moves.iter().filter(|m| &m.from == org || &m.to == org).map(|m| ExportedDisclosure {
        at: m.at.to_rfc3339(),
        checkpoint: "relocation".into(),
        from: m.from.to_string(),
        to: m.to.to_string(),
        items: m.items.iter().map(basis).collect(),
    }));
    disclosures.sort_by(|a, b| a.at.cmp(&b.at));
    let log = state.store.access_log(&case_id.to_string()).await?;
    Ok(SubjectCaseExport { case: case_id.to_string(), held, disclosures, reads: subject_form(&log) })
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
    /// The newest case.
    pub case: String,
    /// Every case erased, oldest first.
    pub cases: Vec<String>,
    /// Data keys destroyed.
    pub keys_destroyed: u64,
}

/// Erase a subject's personal data in every case of the subject by destroying its keys: the
/// history stays and still verifies, every personal value reads as erased. All or nothing:
/// refused (409, naming the case) while a concern of any case is open or while the municipality
/// must keep any case's record.
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
    let cases = subject_cases(&state, &caller, &subject).await?;
    let action = CaseAction::EraseSubject { reason: body.reason, retention_days: state.municipal_retention_days };
    let command = || CaseCommand { actor: actor(&caller), action: action.clone() };
    // Every case may be erased, or none is: asked of each before anything is written.
    for (case_id, case, _) in cases.iter().filter(|(_, c, _)| c.erased_at.is_none()) {
        if let Err(refused) = case.decide(command()) {
            let problem = super::DomainProblem::problem(&refused, &caller.org);
            return Err(problem.prefixed(&format!("case {case_id}")));
        }
    }
    let mut destroyed = 0;
    for (case_id, case, _) in &cases {
        if case.erased_at.is_none() {
            execute::<Case>(&state, &caller, &case_id.to_string(), command, None, &request_id).await?;
        }
        // Recorded first, then shredded: a retry after a failure here finishes the job.
        destroyed += state
            .store
            .destroy_keys(
                &crate::store::data_key_prefix(<Case as cqrs_es::Aggregate>::TYPE, &case_id.to_string()),
                "erasure of the subject (GDPR art. 17)",
            )
            .await?;
        tracing::info!(case.id = %case_id, "erased the subject's personal data");
    }
    tracing::info!(cases = cases.len(), keys = destroyed, "erased a subject");
    let ids: Vec<String> = cases.iter().map(|(id, _, _)| id.to_string()).collect();
    let newest = ids.last().cloned().unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        Default::default(),
        &Erased { subject, case: newest, cases: ids, keys_destroyed: destroyed },
    ))
}
