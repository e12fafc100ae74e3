//! The caller's workspace and its settings: name, currency, time zone, phone region, and which
//! clients each role sees.

use actix_web::http::header;
use actix_web::{HttpResponse, get, patch, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::extract::{IfMatch, ValidatedJson, etag, not_null, not_null_object, nullable};
use crate::api::record_change;
use crate::api::security::{SecurityEvent, action};
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Workspace, WorkspaceChanges};
use crate::db::models::{activity_cell, funnel_cell};
use crate::domain::FieldCode;
use crate::domain::consent;
use crate::domain::personal_data::Disclosure;
use crate::domain::text::non_blank;
use crate::domain::visibility::Visibility;
use crate::error::{ApiError, FieldError};
use crate::ids::WorkspaceId;
use crate::state::AppState;

/// The caller's workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceResponse {
    pub id: WorkspaceId,
    pub name: String,
    /// ISO 4217 code reports convert to.
    #[schema(value_type = crate::api::schemas::CurrencyCode)]
    pub default_currency: String,
    /// IANA time zone in which "today" and due dates are reckoned.
    #[schema(value_type = crate::api::schemas::TimeZoneName)]
    pub timezone: String,
    /// ISO 3166 region for phone numbers written without a country code.
    #[schema(value_type = crate::api::schemas::PhoneRegion)]
    pub default_phone_region: String,
    pub visibility: RoleVisibility,
    pub personal_data: RolePersonalData,
    pub limits: WorkspaceLimits,
    /// The consent purposes of the workspace's own, beside the built-in `marketing_email`,
    /// `marketing_sms`, `calls` and `profiling`: what the consent ledger records and filters name
    /// as `consent.<purpose>`.
    #[schema(example = json!(["loyalty_club"]))]
    pub consent_purposes: Vec<String>,
    pub lifecycle: LifecycleSettings,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

/// When a client's lifecycle stage moves by itself (for clients whose stage no user set): `customer`
/// at the first won deal, `loyal` at `loyal_after_purchases` of them, `churned` after
/// `churned_after_days` without one.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifecycleSettings {
    #[schema(minimum = 2, maximum = 1000, example = 3)]
    pub loyal_after_purchases: i32,
    #[schema(minimum = 30, maximum = 3650, example = 365)]
    pub churned_after_days: i32,
}

/// A change to the lifecycle thresholds; one left out stays. Clients move by the new ones at their
/// next purchase, and churn by them within the hour.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleChange {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 2, maximum = 1000)]
    pub loyal_after_purchases: Option<i32>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 30, maximum = 3650)]
    pub churned_after_days: Option<i32>,
}

/// Which clients a user of each role sees, unless the user has a setting of their own. The owner
/// always sees every client.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleVisibility {
    pub admin: Visibility,
    pub manager: Visibility,
    pub sales: Visibility,
    pub viewer: Visibility,
}

/// Whether users of each role see personal data (persons' names, emails, phones, messenger handles,
/// street addresses, birth dates, persons' tax ids, notes, calls' ends and bodies) in full or
/// masked (`i***@example.com`, `+7912*****89`), in every response and export. The owner always
/// sees it in full. Lookups by email or phone still find clients for a masked role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolePersonalData {
    pub admin: Disclosure,
    pub manager: Disclosure,
    pub sales: Disclosure,
    pub viewer: Disclosure,
}

/// A change to some roles' view of personal data; a role left out keeps its own.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalDataChange {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub admin: Option<Disclosure>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub manager: Option<Disclosure>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub sales: Option<Disclosure>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub viewer: Option<Disclosure>,
}

/// Limits on taking the client base out, which apply to everyone but the owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceLimits {
    /// How many clients a user may delete within an hour; the next deletion is a 429
    /// `too_many_deletions` and an alert.
    #[schema(minimum = 1, maximum = 1000000, example = 50)]
    pub max_deletions_per_hour: i32,
    pub read_budget: RoleReadBudget,
}

/// How many distinct clients a user of each role may read a day (in the workspace's time zone)
/// through client lists, searches, lookups, segment members, contact lists and exports; null for
/// no limit. Past it: a 429 `read_budget_exceeded` until the next day, and an alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleReadBudget {
    #[schema(minimum = 1, maximum = 100000000)]
    pub admin: Option<i32>,
    #[schema(minimum = 1, maximum = 100000000, example = 20000)]
    pub manager: Option<i32>,
    #[schema(minimum = 1, maximum = 100000000, example = 2000)]
    pub sales: Option<i32>,
    #[schema(minimum = 1, maximum = 100000000, example = 2000)]
    pub viewer: Option<i32>,
}

/// A change to the limits; a limit left out stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsChange {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 1, maximum = 1000000)]
    pub max_deletions_per_hour: Option<i32>,
    #[serde(default, deserialize_with = "not_null_object")]
    #[schema(nullable = false)]
    pub read_budget: Option<ReadBudgetChange>,
}

/// A change to some roles' read budgets: a number, or null for no limit; a role left out keeps its
/// own.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBudgetChange {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000000)]
    pub admin: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000000)]
    pub manager: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000000)]
    pub sales: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000000)]
    pub viewer: Option<Option<i32>>,
}

/// A change to some roles' visibility; a role left out keeps its own.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleVisibilityChange {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub admin: Option<Visibility>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub manager: Option<Visibility>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub sales: Option<Visibility>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub viewer: Option<Visibility>,
}

impl From<Workspace> for WorkspaceResponse {
    fn from(workspace: Workspace) -> Self {
        // The columns' CHECK allows only the three scopes.
        let scope = |text: &str| text.parse().unwrap_or(Visibility::Own);
        let disclosure = |text: &str| text.parse().unwrap_or(Disclosure::Masked);
        Self {
            id: workspace.id,
            name: workspace.name,
            default_currency: workspace.default_currency,
            timezone: workspace.timezone,
            default_phone_region: workspace.default_phone_region,
            visibility: RoleVisibility {
                admin: scope(&workspace.admin_visibility),
                manager: scope(&workspace.manager_visibility),
                sales: scope(&workspace.sales_visibility),
                viewer: scope(&workspace.viewer_visibility),
            },
            personal_data: RolePersonalData {
                admin: disclosure(&workspace.admin_personal_data),
                manager: disclosure(&workspace.manager_personal_data),
                sales: disclosure(&workspace.sales_personal_data),
                viewer: disclosure(&workspace.viewer_personal_data),
            },
            limits: WorkspaceLimits {
                max_deletions_per_hour: workspace.max_deletions_per_hour,
                read_budget: RoleReadBudget {
                    admin: workspace.admin_read_budget,
                    manager: workspace.manager_read_budget,
                    sales: workspace.sales_read_budget,
                    viewer: workspace.viewer_read_budget,
                },
            },
            consent_purposes: workspace.consent_purposes,
            lifecycle: LifecycleSettings {
                loyal_after_purchases: workspace.loyal_after_purchases,
                churned_after_days: workspace.churned_after_days,
            },
            version: workspace.version,
            updated_at: workspace.updated_at,
        }
    }
}

/// A partial update of the workspace's settings (owners and admins).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"timezone": "Europe/Moscow", "default_phone_region": "RU", "visibility": {"manager": "all"}}))]
pub struct UpdateWorkspace {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 200))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// ISO 4217 code, upper case.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CurrencyCode>)]
    pub default_currency: Option<String>,
    /// An IANA time zone name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::TimeZoneName>)]
    pub timezone: Option<String>,
    /// ISO 3166-1 alpha-2 region whose numbering plan reads phones written without `+`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::PhoneRegion>)]
    pub default_phone_region: Option<String>,
    /// Which clients users of each role see.
    #[serde(default, deserialize_with = "not_null_object")]
    #[schema(nullable = false)]
    pub visibility: Option<RoleVisibilityChange>,
    /// Which roles see personal data in full.
    #[serde(default, deserialize_with = "not_null_object")]
    #[schema(nullable = false)]
    pub personal_data: Option<PersonalDataChange>,
    /// Limits on deleting and reading clients in bulk.
    #[serde(default, deserialize_with = "not_null_object")]
    #[schema(nullable = false)]
    pub limits: Option<LimitsChange>,
    /// The workspace's own consent purposes, replacing the list: snake_case keys, none of them a
    /// built-in one, at most 50. Records of a purpose taken off the list stay in the ledger.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_items = 50, value_type = Option<Vec<crate::api::schemas::PurposeKey>>, example = json!(["loyalty_club"]))]
    pub consent_purposes: Option<Vec<String>>,
    /// When clients' lifecycle stages move by themselves.
    #[serde(default, deserialize_with = "not_null_object")]
    #[schema(nullable = false)]
    pub lifecycle: Option<LifecycleChange>,
}

impl UpdateWorkspace {
    fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if let Some(currency) = &self.default_currency
            && crate::domain::money::check_currency("default_currency", currency).is_err()
        {
            errors.push(FieldError::new(
                "default_currency",
                FieldCode::Currency,
                "must be an ISO 4217 code such as EUR",
            ));
        }
        if let Some(timezone) = &self.timezone
            && timezone.parse::<chrono_tz::Tz>().is_err()
        {
            errors.push(FieldError::new(
                "timezone",
                FieldCode::Timezone,
                "must be an IANA time zone such as Europe/Moscow",
            ));
        }
        if let Some(region) = &self.default_phone_region
            && !crate::domain::contact_points::is_phone_region(region)
        {
            errors.push(FieldError::new(
                "default_phone_region",
                FieldCode::Region,
                "must be an ISO 3166 region code such as RU",
            ));
        }
        if let Some(limits) = &self.limits {
            if limits.max_deletions_per_hour.is_some_and(|limit| !(1..=1_000_000).contains(&limit)) {
                errors.push(FieldError::new(
                    "limits.max_deletions_per_hour",
                    FieldCode::Range,
                    "must be between 1 and 1000000",
                ));
            }
            let budgets = limits.read_budget.as_ref();
            for (role, budget) in budgets.into_iter().flat_map(|budget| {
                [
                    ("admin", budget.admin),
                    ("manager", budget.manager),
                    ("sales", budget.sales),
                    ("viewer", budget.viewer),
                ]
            }) {
                if let Some(Some(budget)) = budget
                    && !(1..=100_000_000).contains(&budget)
                {
                    errors.push(FieldError::new(
                        format!("limits.read_budget.{role}"),
                        FieldCode::Range,
                        "must be between 1 and 100000000, or null for no limit",
                    ));
                }
            }
        }
        let lifecycle = self.lifecycle.as_ref();
        if lifecycle
            .and_then(|change| change.loyal_after_purchases)
            .is_some_and(|count| !(2..=1000).contains(&count))
        {
            errors.push(FieldError::new(
                "lifecycle.loyal_after_purchases",
                FieldCode::Range,
                "must be between 2 and 1000",
            ));
        }
        if lifecycle
            .and_then(|change| change.churned_after_days)
            .is_some_and(|days| !(30..=3650).contains(&days))
        {
            errors.push(FieldError::new(
                "lifecycle.churned_after_days",
                FieldCode::Range,
                "must be between 30 and 3650",
            ));
        }
        if let Some(purposes) = &self.consent_purposes
            && let Err(violation) = consent::check_own_purposes("consent_purposes", purposes)
        {
            errors.push(violation.into());
        }
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The caller's workspace.
///
/// The workspace's name and settings: the currency reports convert to, the time zone "today" is reckoned in,
/// and the region phones without a country code are read in.
#[utoipa::path(
    tag = "workspace",
    operation_id = "get_workspace",
    security(("bearer" = [])),
    responses((status = 200, description = "The workspace", body = WorkspaceResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/workspace")]
pub async fn get_workspace(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let workspace = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Workspace::find(conn, principal.workspace_id)?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(workspace.version)))
        .json(WorkspaceResponse::from(workspace)))
}

/// Change the workspace's settings (owners and admins).
///
/// The phone region applies to phones written from now on; stored numbers are already E.164.
#[utoipa::path(
    tag = "workspace",
    operation_id = "update_workspace",
    security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412")),
    request_body = UpdateWorkspace,
    responses(
        (status = 200, description = "Updated", body = WorkspaceResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/workspace")]
pub async fn update_workspace(
    state: web::Data<AppState>,
    principal: Principal,
    if_match: IfMatch,
    body: ValidatedJson<UpdateWorkspace>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("change the workspace")?;
    let body = body.0;
    body.check()?;
    let workspace = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = Workspace::find_for_update(conn, principal.workspace_id)?;
            if_match.check(current.version)?;
            let before = serde_json::to_value(WorkspaceResponse::from(current.clone())).unwrap_or_default();
            let visibility = body.visibility.unwrap_or_default();
            let limits = body.limits.unwrap_or_default();
            let personal_data = body.personal_data.unwrap_or_default();
            let budget = limits.read_budget.unwrap_or_default();
            let lifecycle = body.lifecycle.unwrap_or_default();
            let changes = WorkspaceChanges {
                name: body.name.map(|name| non_blank("name", &name)).transpose()?,
                default_currency: body.default_currency,
                timezone: body.timezone,
                default_phone_region: body.default_phone_region,
                admin_visibility: visibility.admin.map(Visibility::as_str),
                manager_visibility: visibility.manager.map(Visibility::as_str),
                sales_visibility: visibility.sales.map(Visibility::as_str),
                viewer_visibility: visibility.viewer.map(Visibility::as_str),
                max_deletions_per_hour: limits.max_deletions_per_hour,
                admin_read_budget: budget.admin,
                manager_read_budget: budget.manager,
                sales_read_budget: budget.sales,
                viewer_read_budget: budget.viewer,
                admin_personal_data: personal_data.admin.map(Disclosure::as_str),
                manager_personal_data: personal_data.manager.map(Disclosure::as_str),
                sales_personal_data: personal_data.sales.map(Disclosure::as_str),
                viewer_personal_data: personal_data.viewer.map(Disclosure::as_str),
                consent_purposes: body.consent_purposes,
                loyal_after_purchases: lifecycle.loyal_after_purchases,
                churned_after_days: lifecycle.churned_after_days,
            };
            if changes == WorkspaceChanges::default() {
                return Ok(current);
            }
            let moves_days = changes.timezone.as_ref().is_some_and(|timezone| *timezone != current.timezone);
            if moves_days {
                // Activities and new deals count on their days where the workspace is: those of
                // the old time zone and of the new one are stale.
                activity_cell::mark_all_stale(conn, current.id)?;
                funnel_cell::mark_all_stale(conn, current.id)?;
            }
            let updated = Workspace::update(conn, principal.workspace_id, &changes)?;
            if moves_days {
                // Sales count on the day they were won where the workspace is.
                crate::db::models::sales_line::redate(conn, updated.id)?;
                activity_cell::mark_all_stale(conn, updated.id)?;
                funnel_cell::mark_all_stale(conn, updated.id)?;
            }
            let after = serde_json::to_value(WorkspaceResponse::from(updated.clone())).unwrap_or_default();
            // Who sees and may read how much is a security matter: it is also a security event.
            let access = ["visibility", "personal_data", "limits"];
            if access.iter().any(|field| before[field] != after[field]) {
                let details = access.iter().fold(ChangeSet::default(), |details, field| {
                    details.field(field, Some(&before[field]), &after[field])
                });
                SecurityEvent::by(&principal, action::ACCESS_SETTINGS_CHANGED, details).record(conn)?;
            }
            let changes = ChangeSet::default().diff(Some(&before), &after, &["id", "version", "updated_at"]);
            record_change(conn, &principal, "workspace", updated.id.0, "updated", updated.version, changes)?;
            Ok(updated)
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(workspace.version)))
        .json(WorkspaceResponse::from(workspace)))
}
