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
    components(schemas(super::problem::ProblemBody)),
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
