//! What an API key may call. A key carries scopes: reading or writing one kind of record
//! (`clients:read`, `deals:write`), `export` for taking client data out in bulk, `reports` for the
//! sums of reports, and `admin` for the workspace's settings, people, audit trail and keys. Every
//! operation of the API needs one scope (or none, such as `GET /me`), derived here from its path
//! and method; the OpenAPI document lists it in the operation's `security`, and the server checks a
//! key's request against what the document says (`DocumentedRoutes::required_scope`). People are
//! not limited by scopes: their role decides.

use std::fmt;
use std::str::FromStr;

/// The kinds of record a scope reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Clients,
    Contacts,
    Deals,
    Products,
    Activities,
    Pipelines,
    Segments,
    CustomFields,
    /// People and teams.
    Users,
}

impl Resource {
    pub const ALL: [Resource; 9] = [
        Resource::Clients,
        Resource::Contacts,
        Resource::Deals,
        Resource::Products,
        Resource::Activities,
        Resource::Pipelines,
        Resource::Segments,
        Resource::CustomFields,
        Resource::Users,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Resource::Clients => "clients",
            Resource::Contacts => "contacts",
            Resource::Deals => "deals",
            Resource::Products => "products",
            Resource::Activities => "activities",
            Resource::Pipelines => "pipelines",
            Resource::Segments => "segments",
            Resource::CustomFields => "custom_fields",
            Resource::Users => "users",
        }
    }
}

/// One thing a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read(Resource),
    /// Creating, changing and deleting; implies reading the same records.
    Write(Resource),
    /// Segment exports.
    Export,
    /// Reports: sums over the deals and activities the key's user sees, never the records.
    Reports,
    /// Workspace settings, people and teams, the audit trail, security alerts and API keys.
    Admin,
}

impl Scope {
    /// Every scope there is, as a key may be given them.
    pub fn all() -> Vec<Scope> {
        Resource::ALL
            .into_iter()
            .flat_map(|resource| [Scope::Read(resource), Scope::Write(resource)])
            .chain([Scope::Export, Scope::Reports, Scope::Admin])
            .collect()
    }

    /// Whether a key holding `self` may do what `needed` names.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed
            || matches!((self, needed), (Scope::Write(held), Scope::Read(wanted)) if held == wanted)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Read(resource) => write!(f, "{}:read", resource.as_str()),
            Scope::Write(resource) => write!(f, "{}:write", resource.as_str()),
            Scope::Export => f.write_str("export"),
            Scope::Reports => f.write_str("reports"),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

impl FromStr for Scope {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        Scope::all().into_iter().find(|scope| scope.to_string() == text).ok_or(())
    }
}

/// Sent and read as its name, `clients:read`.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(|()| {
            let known: Vec<String> = Scope::all().iter().map(Scope::to_string).collect();
            serde::de::Error::custom(format!("must be one of {}", known.join(", ")))
        })
    }
}

impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(Scope::all().iter().map(Scope::to_string)))
            .description(Some(
                "Reading or writing one kind of record (writing implies reading it), `export` for \
                 segment exports, `reports` for reports, `admin` for settings, people, teams, the audit trail and API keys",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Scope {}

/// What an operation asks of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// Any key may call it: who the key is (`/me`), the workspace's settings (`GET /workspace`).
    AnyKey,
    Scope(Scope),
}

/// The scope an operation needs, from its path in the document (`/api/v1/clients/{id}/deals`),
/// whether it changes anything, and its id; `None` when the path names nothing this knows, which
/// the document's builder refuses, so that no new operation is open to every key by omission.
///
/// The records an operation acts on are named by the last path segment that names a kind of
/// record: `/clients/{id}/deals` lists deals, `/clients/{id}/history` reads a client.
pub fn required(path: &str, writes: bool, operation_id: &str) -> Option<Needed> {
    // Searches and previews are POSTs that only read.
    let writes = writes && !operation_id.starts_with("search_") && operation_id != "preview_segment";
    let access =
        |resource| Needed::Scope(if writes { Scope::Write(resource) } else { Scope::Read(resource) });
    let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    segments.iter().rev().find_map(|segment| match *segment {
        "clients" | "imports" => Some(access(Resource::Clients)),
        "contacts" => Some(access(Resource::Contacts)),
        "deals" | "board" => Some(access(Resource::Deals)),
        "products" => Some(access(Resource::Products)),
        // A call list writes activities (for a segment's members).
        "activities" | "agenda" | "reminders" | "call-list" => Some(access(Resource::Activities)),
        "pipelines" | "stages" => Some(access(Resource::Pipelines)),
        "segments" | "members" | "count" | "rfm" => Some(access(Resource::Segments)),
        "custom-fields" => Some(access(Resource::CustomFields)),
        "users" | "teams" if !writes => Some(access(Resource::Users)),
        "users" | "teams" | "audit" | "security" | "api-keys" | "webhooks" => {
            Some(Needed::Scope(Scope::Admin))
        }
        "workspace" if writes => Some(Needed::Scope(Scope::Admin)),
        "export" | "exports" | "changes" => Some(Needed::Scope(Scope::Export)),
        // Plans are read beside the reports, and set by managers: writing them is managing people.
        "reports" | "targets" if !writes => Some(Needed::Scope(Scope::Reports)),
        "reports" | "targets" => Some(Needed::Scope(Scope::Admin)),
        "workspace" | "me" => Some(Needed::AnyKey),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_reads_back_from_its_name() {
        for scope in Scope::all() {
            assert_eq!(scope.to_string().parse(), Ok(scope));
        }
        assert_eq!("clients:delete".parse::<Scope>(), Err(()));
    }

    #[test]
    fn writing_grants_reading_the_same_records_only() {
        let write_deals = Scope::Write(Resource::Deals);
        assert!(write_deals.grants(Scope::Read(Resource::Deals)));
        assert!(!write_deals.grants(Scope::Read(Resource::Clients)));
        assert!(!Scope::Read(Resource::Deals).grants(write_deals));
        assert!(!Scope::Admin.grants(Scope::Export));
    }

    #[test]
    fn an_operation_needs_the_scope_of_the_records_its_path_ends_in() {
        let read = |resource| Some(Needed::Scope(Scope::Read(resource)));
        let write = |resource| Some(Needed::Scope(Scope::Write(resource)));
        let admin = Some(Needed::Scope(Scope::Admin));
        assert_eq!(required("/api/v1/clients", false, "list_clients"), read(Resource::Clients));
        assert_eq!(required("/api/v1/clients/search", true, "search_clients"), read(Resource::Clients));
        assert_eq!(required("/api/v1/clients/{id}/deals", false, "list_client_deals"), read(Resource::Deals));
        assert_eq!(required("/api/v1/clients/{id}/history", false, "x"), read(Resource::Clients));
        assert_eq!(required("/api/v1/clients/{id}/shares", true, "share_client"), write(Resource::Clients));
        let call_list = required("/api/v1/segments/{id}/call-list", true, "create_call_list");
        assert_eq!(call_list, write(Resource::Activities), "a call list writes activities");
        assert_eq!(
            required("/api/v1/deals/by-ref/{system}/{id}", true, "upsert_deal_by_ref"),
            write(Resource::Deals)
        );
        assert_eq!(required("/api/v1/pipelines/{id}/board", false, "x"), read(Resource::Deals));
        assert_eq!(required("/api/v1/me/reminders/{id}/ack", true, "x"), write(Resource::Activities));
        assert_eq!(required("/api/v1/segments/{id}/export", false, "x"), Some(Needed::Scope(Scope::Export)));
        assert_eq!(required("/api/v1/users", false, "list_users"), read(Resource::Users));
        assert_eq!(required("/api/v1/users/{id}", true, "update_user"), admin);
        assert_eq!(required("/api/v1/workspace", true, "update_workspace"), admin);
        assert_eq!(required("/api/v1/workspace", false, "get_workspace"), Some(Needed::AnyKey));
        assert_eq!(required("/api/v1/me", false, "get_me"), Some(Needed::AnyKey));
        assert_eq!(required("/api/v1/reports/sales", false, "x"), Some(Needed::Scope(Scope::Reports)));
        assert_eq!(
            required("/api/v1/targets/{id}", false, "get_target"),
            Some(Needed::Scope(Scope::Reports))
        );
        assert_eq!(required("/api/v1/targets", true, "create_target"), admin);
        assert_eq!(required("/api/v1/forecasts", false, "x"), None);
        assert_eq!(required("/api/v1/api-keys/{id}/rotate", true, "x"), admin);
    }
}
