//! Life events of the family: a custody holder registered or no longer holding custody, a
//! guardian (værge) where nobody holds custody, a move to another municipality. The consent
//! rule follows them at once.

use brobyg_domain::agreement::Agreement;
use brobyg_domain::case::{CaseAction, CustodyHolder};
use brobyg_domain::{AgreementId, ItemId, Org, PersonId, Personal};

use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_custody_holder))
        .routes(routes!(remove_custody_holder))
        .routes(routes!(move_case))
}

/// A custody holder or guardian to register.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHolder {
    /// Full name.
    pub name: String,
    /// A guardian (værge), for a young person nobody holds custody of.
    #[serde(default)]
    pub guardian: bool,
}

/// The answer to registering a custody holder.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HolderAdded {
    /// Person id, used as grantor id.
    pub id: uuid::Uuid,
    /// Whether a guardian.
    pub guardian: bool,
    /// New case version.
    pub version: usize,
}

/// Register a custody holder, or a guardian where nobody holds custody (the municipality's
/// caseworker). From now on the age rule asks for their grant too.
#[utoipa::path(post, path = "/v1/cases/{id}/custody-holders", tag = "cases", request_body = NewHolder,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = HolderAdded), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn add_custody_holder(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<NewHolder>,
) -> Result<Response, Problem> {
    let holder = CustodyHolder { id: PersonId::new(), name: Personal::new(body.name), guardian: body.guardian };
    let id = holder.id;
    let action = CaseAction::AddCustodyHolder { holder };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let answer = HolderAdded { id: id.0, guardian: body.guardian, version: committed.version };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// The legal change that ends a custody.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    /// The legal ground, e.g. `custody decision of 2027-02-01` (never a person's details).
    pub reason: String,
}

/// A custody holder or guardian no longer holds custody (the municipality's caseworker). Their
/// earlier grants stay on record; new disclosures need the grants the age rule asks for now.
#[utoipa::path(post, path = "/v1/cases/{id}/custody-holders/{pid}/removal", tag = "cases", request_body = Removal,
    params(("id" = String, Path, description = "case id"), ("pid" = String, Path, description = "the person id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn remove_custody_holder(
    State(state): State<AppState>,
    request: CaseRequest,
    Path((_case, pid)): Path<(String, String)>,
    Body(body): Body<Removal>,
) -> Result<Response, Problem> {
    let holder: PersonId = parse_id(&pid, "custody holder")?;
    let action = CaseAction::RemoveCustodyHolder { holder, reason: body.reason };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// A move of the family to another municipality.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Relocation {
    /// The municipality the family moved to.
    #[schema(value_type = String, pattern = "^municipality:[0-9]{4}$", example = "municipality:0101")]
    pub to: Org,
    /// The day the family moved (today or earlier).
    pub on: chrono::NaiveDate,
    /// The caseworker's own items that pass to the new municipality as necessary case material
    /// (may be empty; the young person, the custody holders and every concern always pass).
    pub items: Vec<uuid::Uuid>,
    /// For a course with an NGO: the new municipality's agreement with that NGO for the
    /// programme, under which the course goes on (ask the new municipality for its id).
    #[serde(default)]
    pub agreement: Option<uuid::Uuid>,
}

/// The family moved to another municipality (the municipality's caseworker; the relocation
/// duty, servicelovens § 152 as carried into barnets lov). The new municipality becomes the
/// party and receives the young person, the custody holders, every concern and the items named;
/// this municipality keeps only its own records, read-only (its commands answer 409
/// `case-moved`). A course with an NGO goes on under the new municipality's agreement with it.
#[utoipa::path(post, path = "/v1/cases/{id}/move", tag = "cases", request_body = Relocation,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn move_case(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Relocation>,
) -> Result<Response, Problem> {
    load_case_for(&state, &request.caller, request.id).await?;
    let agreement = match body.agreement {
        None => None,
        Some(id) => {
            // The agreement is the new municipality's: this caller is no party to it, so an
            // unknown id and one that does not cover the case answer alike.
            let loaded = crate::api::load::<Agreement>(&state, &id.to_string()).await?;
            if loaded.version == 0 {
                let refused = brobyg_domain::case::CaseError::AgreementMismatch(AgreementId(id));
                return Err(crate::api::DomainProblem::problem(&refused, &request.caller.org));
            }
            Some(Box::new(loaded.aggregate))
        }
    };
    let action =
        CaseAction::Move { to: body.to, on: body.on, items: body.items.into_iter().map(ItemId).collect(), agreement };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}
