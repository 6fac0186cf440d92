//! Life events of the family: a custody holder registered or no longer holding custody, a
//! guardian (værge) where nobody holds custody. The consent rule follows them at once.

use brobyg_domain::case::{CaseAction, CustodyHolder};
use brobyg_domain::{PersonId, Personal};

use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_custody_holder)).routes(routes!(remove_custody_holder))
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
