//! Information items and consent.

use std::collections::BTreeSet;

use brobyg_domain::case::{CaseAction, Recipient};
use brobyg_domain::{Category, ConsentId, ItemId, Org, PersonId, Personal, Purpose, RecipientRole};
use chrono::NaiveDate;

use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_item)).routes(routes!(give_consent)).routes(routes!(revoke_consent))
}

/// A new information item, owned by the caller's organisation.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Category.
    #[schema(value_type = brobyg_domain::Category, example = "school")]
    pub category: Category,
    /// Content.
    pub content: String,
}

/// The answer to adding an item.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ItemAdded {
    /// Item id.
    pub id: uuid::Uuid,
    /// Category.
    #[schema(value_type = brobyg_domain::Category)]
    pub category: Category,
    /// Owner.
    pub owner: String,
    /// New case version.
    pub version: usize,
}

/// Add an information item (the caller's organisation owns it).
#[utoipa::path(post, path = "/v1/cases/{id}/items", tag = "cases", request_body = AddItem,
    params(("id" = String, Path, description = "case id"), ("If-Match" = Option<String>, Header, description = "expected case version")),
    responses((status = 201, body = ItemAdded), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 412, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn add_item(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<AddItem>,
) -> Result<Response, Problem> {
    let caller = &request.caller;
    let item = ItemId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::AddItem { item, category: body.category, content: Personal::new(body.content) };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let answer =
        ItemAdded { id: item.0, category: body.category, owner: caller.org.to_string(), version: committed.version };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// A recipient of a consent.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    /// Organisation.
    #[schema(value_type = String, pattern = "^(municipality:[0-9]{4}|ngo:[a-z0-9][a-z0-9-]{0,63})$", example = "ngo:kfum-sa")]
    pub org: Org,
    /// `coordinator`, `volunteer` or `caseworker`.
    #[schema(value_type = brobyg_domain::RecipientRole, example = "coordinator")]
    pub role: RecipientRole,
}

/// A consent, as the grantors gave it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveConsent {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Person ids of the grantors.
    pub grantors: Vec<uuid::Uuid>,
    /// Recipients.
    pub recipients: Vec<RecipientBody>,
    /// Categories.
    #[schema(value_type = Vec<brobyg_domain::Category>)]
    pub categories: BTreeSet<Category>,
    /// Purposes.
    #[schema(value_type = Vec<brobyg_domain::Purpose>)]
    pub purposes: BTreeSet<Purpose>,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day.
    pub valid_until: NaiveDate,
    /// Where the signed consent is kept.
    pub evidence: String,
}

/// The id of something created.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Created {
    /// Id.
    pub id: uuid::Uuid,
    /// New case version.
    pub version: usize,
}

/// Record consent given by the grantors.
#[utoipa::path(post, path = "/v1/cases/{id}/consents", tag = "cases", request_body = GiveConsent,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Created), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn give_consent(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<GiveConsent>,
) -> Result<Response, Problem> {
    let consent = ConsentId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::GiveConsent {
        consent,
        grantors: body.grantors.into_iter().map(PersonId).collect(),
        recipients: body.recipients.into_iter().map(|r| Recipient { org: r.org, role: r.role }).collect(),
        categories: body.categories,
        purposes: body.purposes,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        evidence: Personal::new(body.evidence),
    };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    Ok(json_response(
        StatusCode::CREATED,
        version_headers(committed.version, position),
        &Created { id: consent.0, version: committed.version },
    ))
}

/// Revoke a consent, effective now.
#[utoipa::path(post, path = "/v1/cases/{id}/consents/{cid}/revocation", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id"), ("cid" = String, Path, description = "consent id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    request: CaseRequest,
    Path((_case, cid)): Path<(String, String)>,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let consent: ConsentId = parse_id(&cid, "consent")?;
    let action = CaseAction::RevokeConsent { consent, reason: Personal::new(body.reason) };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}
