//! What the OpenAPI document says each path answers: its methods (what a 405 names in `Allow`),
//! each operation's id, its query parameters (any other is a 400, `unknown_query_parameter`) and
//! whether it takes an `Idempotency-Key` (`crate::idempotency`).
//! Handlers are registered one per method and read their query into structs that ignore what they
//! don't know, so actix alone can tell neither "wrong method" from "no such path" nor a misspelt
//! parameter from an absent one; the document can. The server's handler of unmatched requests,
//! the path-error handler in `error.rs` and the query check in `middleware.rs` ask it, so it lives
//! apart from all three.

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

use crate::auth::scopes::Needed;
use crate::openapi::API_KEY_SCHEME;

pub struct DocumentedRoutes(Vec<Route>);

struct Route {
    resource: ResourceDef,
    /// `GET, POST`: the `Allow` header of a 405.
    allow: String,
    operations: Vec<DocumentedOperation>,
}

struct DocumentedOperation {
    method: Method,
    id: String,
    /// The query parameters the operation takes.
    query_parameters: Vec<String>,
    takes_idempotency_key: bool,
    /// What an API key needs to call it; `None` where keys aren't taken (logging in, probes).
    key_needs: Option<Needed>,
}

impl DocumentedRoutes {
    pub fn from_document(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let operations: Vec<(Method, &Operation)> = [
                    (Method::GET, &item.get),
                    (Method::POST, &item.post),
                    (Method::PUT, &item.put),
                    (Method::PATCH, &item.patch),
                    (Method::DELETE, &item.delete),
                ]
                .into_iter()
                .filter_map(|(method, operation)| operation.as_ref().map(|operation| (method, operation)))
                .collect();
                let allow =
                    operations.iter().map(|(method, _)| method.as_str()).collect::<Vec<_>>().join(", ");
                let operations = operations
                    .iter()
                    .map(|(method, operation)| DocumentedOperation {
                        method: method.clone(),
                        id: operation.operation_id.clone().unwrap_or_default(),
                        query_parameters: query_parameter_names(item, operation),
                        takes_idempotency_key: takes_idempotency_key(operation),
                        key_needs: key_needs(operation),
                    })
                    .collect();
                Route { resource: ResourceDef::new(path.as_str()), allow, operations }
            })
            .collect();
        Self(routes)
    }

    /// The methods of the resource at `path`, as an `Allow` header lists them.
    pub fn allowed_methods(&self, path: &str) -> Option<&str> {
        self.route(path).map(|route| route.allow.as_str())
    }

    /// The query parameters the operation at `method` and `path` takes; `None` when the document
    /// has no such operation (the request is a 404 or a 405, or not part of the API).
    pub fn query_parameters(&self, method: &Method, path: &str) -> Option<&[String]> {
        self.operation(method, path).map(|operation| operation.query_parameters.as_slice())
    }

    /// The `operationId` of the operation at `method` and `path`.
    pub fn operation_id(&self, method: &Method, path: &str) -> Option<&str> {
        self.operation(method, path).map(|operation| operation.id.as_str())
    }

    /// Whether the operation at `method` and `path` takes an `Idempotency-Key`: not a request that
    /// is a 404 or a 405, nor logging in, whose answers hold tokens.
    pub fn takes_idempotency_key(&self, method: &Method, path: &str) -> bool {
        self.operation(method, path).is_some_and(|operation| operation.takes_idempotency_key)
    }

    /// What an API key needs to call the operation at `method` and `path`, as its `security` says.
    pub fn required_scope(&self, method: &Method, path: &str) -> Option<Needed> {
        self.operation(method, path).and_then(|operation| operation.key_needs)
    }

    fn operation(&self, method: &Method, path: &str) -> Option<&DocumentedOperation> {
        self.route(path)?.operations.iter().find(|operation| operation.method == method)
    }

    /// The route of `path`; a fixed path (`/clients/deleted`) wins over a pattern that also
    /// matches it (`/clients/{id}`).
    fn route(&self, path: &str) -> Option<&Route> {
        let mut matching = self.0.iter().filter(|route| route.resource.is_match(path));
        let first = matching.next()?;
        let fixed = std::iter::once(first)
            .chain(matching)
            .find(|route| !route.resource.pattern().unwrap_or_default().contains('{'));
        Some(fixed.unwrap_or(first))
    }
}

fn takes_idempotency_key(operation: &Operation) -> bool {
    let key = crate::openapi::idempotency_key_ref();
    operation.parameters.iter().flatten().any(
        |parameter| matches!(parameter, RefOr::Ref(reference) if reference.ref_location == key.ref_location),
    )
}

/// The scope the operation's API-key requirement lists (none: any key), read back from the document.
fn key_needs(operation: &Operation) -> Option<Needed> {
    let requirements = serde_json::to_value(operation.security.as_ref()?).ok()?;
    let scopes = requirements.as_array()?.iter().find_map(|requirement| requirement.get(API_KEY_SCHEME))?;
    match scopes.as_array()?.first() {
        None => Some(Needed::AnyKey),
        Some(scope) => scope.as_str()?.parse().ok().map(Needed::Scope),
    }
}

fn query_parameter_names(item: &PathItem, operation: &Operation) -> Vec<String> {
    let inline = |parameters: &Option<Vec<RefOr<Parameter>>>| -> Vec<String> {
        parameters
            .iter()
            .flatten()
            .filter_map(|parameter| match parameter {
                RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query => {
                    Some(parameter.name.clone())
                }
                _ => None,
            })
            .collect()
    };
    let mut names = inline(&item.parameters);
    names.extend(inline(&operation.parameters));
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes::{Resource, Scope};

    fn routes() -> DocumentedRoutes {
        DocumentedRoutes::from_document(&crate::openapi::derived_document())
    }

    #[test]
    fn a_fixed_path_wins_over_a_pattern() {
        let routes = routes();
        assert_eq!(routes.allowed_methods("/api/v1/clients/deleted"), Some("GET"));
        assert_eq!(routes.allowed_methods("/api/v1/no-such-thing"), None);
    }

    #[test]
    fn each_operation_knows_its_own_query_parameters() {
        let routes = routes();
        let list = routes.query_parameters(&Method::GET, "/api/v1/clients").unwrap_or_default();
        for name in ["limit", "cursor", "updated_since", "email", "tag"] {
            assert!(list.contains(&name.to_string()), "{name} missing from {list:?}");
        }
        assert_eq!(
            routes.query_parameters(&Method::POST, "/api/v1/clients"),
            Some(&["allow_duplicate".to_string()][..])
        );
        assert_eq!(routes.query_parameters(&Method::GET, "/api/v1/me"), Some(&[][..]));
        assert_eq!(routes.query_parameters(&Method::PUT, "/api/v1/clients"), None);
    }

    #[test]
    fn each_operation_is_known_by_its_id() {
        let routes = routes();
        assert_eq!(routes.operation_id(&Method::POST, "/api/v1/clients"), Some("create_client"));
        assert_eq!(
            routes.operation_id(&Method::GET, "/api/v1/clients/deleted"),
            Some("list_deleted_clients")
        );
        assert_eq!(routes.operation_id(&Method::PUT, "/api/v1/clients"), None);
    }

    #[test]
    fn a_callers_writes_take_an_idempotency_key() {
        let routes = routes();
        assert!(routes.takes_idempotency_key(&Method::POST, "/api/v1/clients"));
        assert!(
            routes.takes_idempotency_key(
                &Method::DELETE,
                "/api/v1/clients/0193a5a0-7c1e-7b4a-9f3e-2d6c8b1a4e50"
            )
        );
        // Reads, undeclared methods and logging in don't.
        assert!(!routes.takes_idempotency_key(&Method::GET, "/api/v1/clients"));
        assert!(!routes.takes_idempotency_key(&Method::PATCH, "/api/v1/clients"));
        assert!(!routes.takes_idempotency_key(&Method::POST, "/api/v1/auth/login"));
    }

    #[test]
    fn an_api_key_needs_the_scope_the_document_lists() {
        let routes = routes();
        let client = "/api/v1/clients/0193a5a0-7c1e-7b4a-9f3e-2d6c8b1a4e50";
        let needs = |method, path| routes.required_scope(&method, path);
        assert_eq!(needs(Method::GET, client), Some(Needed::Scope(Scope::Read(Resource::Clients))));
        assert_eq!(needs(Method::PATCH, client), Some(Needed::Scope(Scope::Write(Resource::Clients))));
        assert_eq!(needs(Method::GET, "/api/v1/me"), Some(Needed::AnyKey));
        assert_eq!(needs(Method::POST, "/api/v1/auth/login"), None);
    }
}
