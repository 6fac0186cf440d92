//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The document's frame; paths come from the routers.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "brobyg",
        description = "Case journeys between municipalities and NGOs. Errors are application/problem+json; \
                       writes accept Idempotency-Key; case responses carry an ETag and writes accept If-Match; \
                       writes answer with X-Brobyg-Position, which lists accept as min_position.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&Security),
    components(schemas(super::problem::ProblemBody, super::extract::ReadPurpose)),
    tags(
        (name = "agreements", description = "Partnership agreements"),
        (name = "volunteers", description = "NGO volunteers"),
        (name = "cases", description = "The case journey"),
        (name = "concerns", description = "Concern reports (underretninger)"),
        (name = "statistics", description = "Group-level figures with small-cell suppression"),
        (name = "audit", description = "Auditors: access log"),
        (name = "feed", description = "Integrators: the organisation's redacted events as CloudEvents"),
        (name = "subjects", description = "Data subjects: export (GDPR art. 15) and erasure (art. 17)"),
        (name = "operations", description = "Health and readiness")
    )
)]
pub struct ApiDoc;

/// Completes the generated document with what every handler can answer besides its own
/// responses, so that it is the contract the service keeps (checked by schemathesis in CI):
///
/// - every problem is `application/problem+json` (utoipa writes `application/json`);
/// - every `/v1` operation: 401 (no or a bad token), 403 (a role that may not), 429 (too many
///   open streams, or limits), 503 (a dependency does not answer, or the request took too long),
///   each with `Retry-After` where it applies;
/// - with parameters (path, query or header): 400; with a path id: 404;
/// - with a body: 400 (malformed), 413 (too large), 415 (not JSON), 422 (a field breaks a rule);
/// - `POST` (idempotent with `Idempotency-Key`): 409 (the same key still in progress, or a
///   conflicting change) and 422 (the key reused for another request); a case command: 412
///   (`If-Match` does not match).
pub fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    closed_request_schemas(openapi);
    for (path, item) in &mut openapi.paths.paths {
        let v1 = path.starts_with("/v1/");
        let with_id = path.contains('{');
        let case_command = path.starts_with("/v1/cases/{id}/");
        let operations: [(bool, Option<&mut Operation>); 3] =
            [(false, item.get.as_mut()), (true, item.post.as_mut()), (false, item.delete.as_mut())];
        for (post, operation) in operations {
            let Some(operation) = operation else { continue };
            problem_content_type(operation);
            headers_not_null(operation);
            if !v1 {
                continue;
            }
            let has_params = with_id || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_body = operation.request_body.is_some();
            add(operation, "401", "No bearer token, or one that does not verify (WWW-Authenticate: Bearer).");
            add(operation, "403", "The token's role may not do this, or knows no role.");
            add(operation, "429", "Too many open long polls and streams, or another limit; see Retry-After.");
            add(operation, "503", "A dependency does not answer, or the request took too long; see Retry-After.");
            if has_params || has_body || post {
                add(operation, "400", "A malformed parameter, header or body; the detail names it.");
            }
            if with_id {
                add(operation, "404", "No such record, or one the caller may not know of.");
            }
            let in_query = |p: &utoipa::openapi::RefOr<utoipa::openapi::path::Parameter>| matches!(p, utoipa::openapi::RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Query);
            if operation.parameters.as_ref().is_some_and(|ps| ps.iter().any(in_query)) {
                add(
                    operation,
                    "422",
                    "A query parameter breaks a rule (a NUL character, a value out of range); the detail names it.",
                );
            }
            if has_body {
                add(operation, "413", "The body is larger than the service accepts.");
                add(operation, "415", "The body is not application/json.");
                add(operation, "422", "A field breaks a rule; the detail names it.");
            }
            if post {
                add(
                    operation,
                    "409",
                    "Another change won, the state does not allow it, or the same Idempotency-Key is still being processed.",
                );
                add(operation, "422", "The Idempotency-Key was used for another request, or a field breaks a rule.");
            }
            if post && case_command {
                add(operation, "412", "If-Match does not name the case's current version.");
                header(
                    operation,
                    "If-Match",
                    "The case's ETag as last read (`\"3\"`): the command applies only to that version.",
                    ObjectBuilder::new().schema_type(Type::String).pattern(Some(r#"^(W/)?"?[0-9]{1,9}"?$"#)),
                );
            }
            if post {
                header(
                    operation,
                    "Idempotency-Key",
                    "Any 1 to 255 characters: a retry with the same key and body gets the first answer again.",
                    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)),
                );
            }
        }
    }
}

/// A problem response with `description`.
fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ProblemBody"))).build(),
        )
        .build()
        .into()
}

fn add(operation: &mut utoipa::openapi::path::Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(description));
}

/// Moves every `ProblemBody` response from `application/json` to `application/problem+json`.
fn problem_content_type(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        let is_problem = response.content.get("application/json").is_some_and(|c| {
            serde_json::to_string(c).is_ok_and(|text| text.contains("#/components/schemas/ProblemBody"))
        });
        if is_problem && let Some(content) = response.content.shift_remove("application/json") {
            response.content.insert("application/problem+json".to_owned(), content);
        }
    }
}

/// The names of the component schemas `value` refers to.
fn refs_in(value: &impl serde::Serialize) -> Vec<String> {
    let text = serde_json::to_string(value).unwrap_or_default();
    text.split("#/components/schemas/").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

/// Every request body's schema, and every schema those refer to, refuses unknown fields (the
/// handlers' bodies `deny_unknown_fields`): `additionalProperties: false`.
fn closed_request_schemas(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let mut pending: Vec<String> = Vec::new();
    for item in openapi.paths.paths.values() {
        for operation in [&item.get, &item.post, &item.delete].into_iter().flatten() {
            if let Some(body) = &operation.request_body {
                pending.extend(refs_in(body));
            }
        }
    }
    let Some(components) = openapi.components.as_mut() else { return };
    let mut done = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        if let Some(RefOr::T(schema)) = components.schemas.get_mut(&name) {
            pending.extend(refs_in(schema));
            match schema {
                Schema::Object(object) => {
                    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
                // A tagged enum (`{"decision": "decline", "reason": …}`): each variant is closed.
                Schema::OneOf(one_of) => {
                    for item in &mut one_of.items {
                        if let RefOr::T(Schema::Object(object)) = item {
                            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Documents an optional request header, unless the operation names it already.
fn header(
    operation: &mut utoipa::openapi::path::Operation,
    name: &str,
    description: &str,
    schema: utoipa::openapi::schema::ObjectBuilder,
) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let named = parameters.iter().any(|p| serde_json::to_value(p).is_ok_and(|v| v["name"] == name));
    if !named {
        parameters.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
                .into(),
        );
    }
}

/// A header is text or absent, never null: an optional header documented from an `Option<T>` is
/// `T`. `If-Match` is the case's ETag.
fn headers_not_null(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    let Some(parameters) = operation.parameters.as_mut() else { return };
    for parameter in parameters.iter_mut() {
        let RefOr::T(parameter) = parameter else { continue };
        if !matches!(parameter.parameter_in, ParameterIn::Header) {
            continue;
        }
        let Some(schema) = parameter.schema.as_ref() else { continue };
        let mut value = serde_json::to_value(schema).unwrap_or_default();
        if parameter.name == "If-Match" {
            value = serde_json::json!({ "type": "string", "pattern": r#"^(W/)?"?[0-9]{1,9}"?$"# });
        } else if let Some(items) = value.get("oneOf").and_then(|v| v.as_array()).cloned() {
            let non_null: Vec<serde_json::Value> = items.into_iter().filter(|i| i["type"] != "null").collect();
            if non_null.len() == 1 {
                value = non_null.into_iter().next().unwrap_or_default();
            }
        } else if let Some(types) = value.get("type").and_then(|v| v.as_array()).cloned() {
            let non_null: Vec<serde_json::Value> = types.into_iter().filter(|t| t != "null").collect();
            if let [only] = non_null.as_slice() {
                value["type"] = only.clone();
            }
        }
        if let Ok(schema) = serde_json::from_value(value) {
            parameter.schema = Some(schema);
        }
    }
}
