//! Which methods each documented path answers, known from the OpenAPI document: what a 405
//! names in `Allow`. Both the server's handler of unmatched requests and the path-error handler in
//! `error.rs` ask it, so it lives apart from both (it used to sit in `routes.rs`, which made
//! `error.rs` depend on the whole API).

use actix_web::dev::ResourceDef;

/// The methods each documented path answers. Handlers are registered one per method, so actix
/// alone can't tell "wrong method" from "no such path"; the OpenAPI document can.
pub struct AllowedMethods(Vec<(ResourceDef, String)>);

impl AllowedMethods {
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allowed: Vec<&str> =
                    methods.iter().filter(|(_, present)| *present).map(|(name, _)| *name).collect();
                (ResourceDef::new(path.as_str()), allowed.join(", "))
            })
            .collect();
        Self(routes)
    }

    /// The methods of the resource at `path`; a fixed path (`/clients/deleted`) wins over a
    /// pattern that also matches it (`/clients/{id}`).
    pub fn for_path(&self, path: &str) -> Option<&str> {
        let mut matching = self.0.iter().filter(|(resource, _)| resource.is_match(path));
        let first = matching.next()?;
        let fixed = std::iter::once(first)
            .chain(matching)
            .find(|(resource, _)| !resource.pattern().unwrap_or_default().contains('{'));
        Some(fixed.unwrap_or(first).1.as_str())
    }
}
