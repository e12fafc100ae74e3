//! The OpenAPI document: info, tags, the bearer security scheme, shared schemas, and the error
//! responses every operation can give. Paths come from the handlers themselves (see routes.rs);
//! `shapes.rs` corrects what utoipa can't be told per type.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};

use crate::auth::scopes::{self, Needed};
use utoipa::openapi::{Content, OpenApi as OpenApiDocument, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem, WorkspaceChoice};

mod examples;
mod filters;
mod shapes;
mod webhooks;

/// Text PostgreSQL can't store: a NUL character anywhere is a 422 `nul_character` (a 400 in the URL).
/// The pattern of every free-text string a request sends.
pub(crate) const NO_NUL: &str = "^[^\\u0000]*$";

/// Text with something besides white space in it, and no NUL: a name, a title, a tag. The server
/// trims Unicode white space, which takes in U+0085 (NEL) where JavaScript's `\s` doesn't.
pub(crate) const NON_BLANK: &str = "^[^\\u0000]*[^\\s\\u0000\\u0085][^\\u0000]*$";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM API",
        description = "Clients, contacts, deals, activities and segments. JSON in snake_case; times are RFC 3339 \
                       in UTC; ids are UUIDv7; money is a decimal string. Errors are RFC 9457 problem documents \
                       with a stable `code`.",
        license(name = "MIT", url = "https://opensource.org/licenses/MIT")
    ),
    servers((url = "/", description = "The server that serves this document")),
    tags(
        (name = "auth", description = "Log in, refresh and log out"),
        (name = "workspace", description = "The caller's workspace and its settings"),
        (name = "users", description = "The caller and the workspace's users"),
        (name = "teams", description = "Branches and departments, optionally nested"),
        (name = "clients", description = "Individuals and companies, with lookups, fuzzy search and soft delete"),
        (name = "contacts", description = "The people acting for a client"),
        (name = "consent", description = "Withdrawing consent through the signed link a mailing carries, without logging in; the ledger itself is under each client and contact"),
        (name = "pipelines", description = "Sales processes and their ordered stages"),
        (name = "products", description = "The catalogue deals' line items refer to"),
        (name = "activities", description = "Calls, meetings, emails, messages, tasks, notes and visits; the agenda"),
        (name = "deals", description = "Sales opportunities with exact money, line items, stage history and a board"),
        (name = "custom-fields", description = "The workspace's own fields on clients, contacts, deals and activities"),
        (name = "segments", description = "Named groups of clients: dynamic (a filter) or static (a list); RFM; export"),
        (name = "api-keys", description = "Credentials for integrations: scopes, team, networks, rate limit, expiry, rotation"),
        (name = "changes", description = "Every change to the workspace's records, in commit order, once: the feed integrations sync from"),
        (name = "webhooks", description = "Changes pushed to your endpoints as they happen, signed (Standard Webhooks), retried, logged"),
        (name = "reports", description = "Sales by period, group and comparison range, in exact money and the workspace's days"),
        (name = "targets", description = "Sales plans: revenue and won deals to reach per month or quarter, for the workspace, a team or a user"),
        (name = "audit", description = "Every change made through the API: who, when, through which request, what"),
        (name = "health", description = "Probes for load balancers"),
    ),
    components(schemas(Problem, FieldError, WorkspaceChoice))
)]
pub struct ApiDoc;

/// Declares the bearer scheme and adds the error responses that follow from an operation's
/// shape, so no handler has to repeat them: 400 everywhere (a query parameter the operation
/// doesn't take), 401 where a token is needed, 403 where a write may be refused, 409 where
/// `error::conflicts` lists codes for the operation, 413/415/422 where a body is read, 404 where a
/// path names a record, 412 where `If-Match` is read, 503 where the database is needed.
struct SecurityAndErrors;

impl Modify for SecurityAndErrors {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A person's access token, from `POST /auth/login`; their role decides what it may do",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("crm_live_…")
                    .description(Some(
                        "An API key from `POST /api-keys`, sent as `Authorization: Bearer crm_live_…`. Each \
                         operation lists the scope a key needs for it; an empty list means any key may call it.",
                    ))
                    .build(),
            ),
        );
        components.parameters.insert(IDEMPOTENCY_KEY.to_string(), RefOr::T(idempotency_key()));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let is_api = path.starts_with("/api/");
            let names_record = path.contains('{');
            // Whether the method writes, and whether it takes an Idempotency-Key: a PUT (an upsert by
            // ref) is idempotent as it stands, and `crate::idempotency` keys the others only.
            let operations = [
                (&mut item.get, false, false),
                (&mut item.post, true, true),
                (&mut item.put, true, false),
                (&mut item.patch, true, true),
                (&mut item.delete, true, true),
            ];
            for (operation, writes, keyed) in operations {
                if let Some(operation) = operation.as_mut() {
                    add_key_scope(operation, path, writes);
                    add_error_responses(operation, is_api, names_record, keyed);
                }
            }
        }
    }
}

/// The security scheme of API keys: a caller's operations name the scope a key needs.
pub(crate) const API_KEY_SCHEME: &str = "apiKey";

/// Lets an API key call a person's operation, with the scope `auth::scopes` says it needs.
fn add_key_scope(operation: &mut Operation, path: &str, writes: bool) {
    let Some(requirements) = operation.security.as_mut().filter(|requirements| !requirements.is_empty())
    else {
        return;
    };
    let operation_id = operation.operation_id.as_deref().unwrap_or_default();
    let needed = scopes::required(path, writes, operation_id)
        .unwrap_or_else(|| panic!("auth::scopes::required knows no scope for {operation_id} ({path})"));
    let scopes = match needed {
        Needed::AnyKey => Vec::new(),
        Needed::Scope(scope) => vec![scope.to_string()],
    };
    requirements.push(SecurityRequirement::new(API_KEY_SCHEME, scopes));
}

/// The name of the `Idempotency-Key` header parameter among the components: every write of a
/// caller's refers to it.
pub(crate) const IDEMPOTENCY_KEY: &str = "IdempotencyKey";

/// What a write refers to for its `Idempotency-Key` parameter.
pub(crate) fn idempotency_key_ref() -> Ref {
    Ref::new(format!("#/components/parameters/{IDEMPOTENCY_KEY}"))
}

fn idempotency_key() -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "Makes a retry safe: the first answer to this key is stored for 24 hours and given again, with \
             `Idempotent-Replayed: true`, to a retry of the same request. 1 to 255 visible ASCII characters, \
             such as a UUID.",
        ))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

fn add_error_responses(operation: &mut Operation, is_api: bool, names_record: bool, keyed: bool) {
    let secured = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
    if !secured {
        // Said outright (`security: []`), so that a reader or a linter need not guess.
        operation.security = Some(Vec::new());
    }
    let has_body = operation.request_body.is_some();
    let takes_if_match = operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter) if parameter.name.eq_ignore_ascii_case("If-Match"))
    });
    let operation_id = operation.operation_id.clone().unwrap_or_default();
    let listed_conflicts = !crate::error::conflicts_of(&operation_id).is_empty();
    assert!(
        listed_conflicts || !operation.responses.responses.contains_key("409"),
        "{operation_id} documents a 409, but error::conflicts lists no code for it"
    );
    // A caller's writes take an Idempotency-Key (`crate::idempotency`): a retry of one still
    // running is a 409, the key on another request a 422.
    let keyed = secured && keyed && is_api;
    if keyed {
        operation.parameters.get_or_insert_with(Vec::new).push(RefOr::Ref(idempotency_key_ref()));
    }
    let answers_conflicts = listed_conflicts || keyed;
    let mut add = |status: &str, description: &str| {
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
            .build();
        operation.responses.responses.entry(status.to_string()).or_insert(RefOr::T(response));
    };
    // Every documented operation refuses a query parameter it doesn't take.
    add("400", "Malformed JSON, query string or path, or a query parameter the operation doesn't take");
    if secured {
        add("401", "Missing, invalid or expired access token or API key, or a deactivated user");
        add(
            "403",
            "The caller's role may not do this, or the API key lacks the operation's scope \
             (`insufficient_scope`) or may not be used from the caller's address",
        );
    }
    if answers_conflicts {
        add("409", "Conflicts with the stored state");
    }
    if names_record {
        add("404", "No such record in the caller's workspace");
    }
    if takes_if_match {
        add(
            "412",
            "The record changed since the ETag sent in If-Match; `current_version` says its version now",
        );
    }
    if has_body {
        add("413", "The body is larger than the configured limit");
        add("415", "The body is not application/json");
        add("422", "A field is missing, unknown, of the wrong type or breaks a rule; `errors` lists each");
    }
    if keyed {
        add("422", "The Idempotency-Key was used for a different request (`idempotency_key_reused`)");
    }
    if is_api {
        add("503", "The database is unavailable; retry later");
    }
    if secured && is_api {
        let integer_header = |description: &str| {
            utoipa::openapi::HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer),
                ))
                .description(Some(description))
                .build()
        };
        let charges_reads = crate::api::security::READS_CHARGED.contains(&operation_id.as_str());
        let description = if charges_reads {
            "The caller made as many requests this minute as their rate limit allows (`rate_limited`), or \
             read as many distinct clients today as their role's read budget allows (`read_budget_exceeded`); \
             `Retry-After` says when to try again"
        } else {
            "The caller made as many requests this minute as their rate limit allows (`rate_limited`); \
             `Retry-After` says when to try again"
        };
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
            .header("Retry-After", integer_header("Seconds to wait before trying again"))
            .header("RateLimit-Limit", integer_header("Requests a minute the caller may make"))
            .header("RateLimit-Remaining", integer_header("Requests left in the current minute"))
            .header("RateLimit-Reset", integer_header("Seconds until the current minute is over"))
            .build();
        operation.responses.responses.entry("429".to_string()).or_insert(RefOr::T(response));
    }
}

/// The whole document: the paths the routes register, with the shared parts above and the
/// corrections of `shapes`. `crm openapi`, `/api/v1/openapi.json` and the committed
/// `openapi/openapi.json` are all this.
pub fn document() -> serde_json::Value {
    refined(derived_document())
}

/// `derived` with the corrections of `shapes`: [`document`] from a derived document already made.
pub fn refined(derived: OpenApiDocument) -> serde_json::Value {
    shapes::refine_by_direction(derived)
}

/// The document as utoipa derives it, before the corrections to its schemas: what the server reads
/// its routes, methods and query parameters from (the corrections don't touch those).
pub fn derived_document() -> OpenApiDocument {
    use utoipa_actix_web::AppExt;
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    SecurityAndErrors.modify(&mut document);
    shapes::reference_page_items(&mut document);
    document.webhooks = Some(webhooks::section());
    document
}
