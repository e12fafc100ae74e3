//! The custom values a record carries, checked against its workspace's definitions on every write
//! of a client, contact, deal or activity. The rules are `domain::custom_fields`; this looks up
//! the definitions (and the phone region when a phone field needs it).

use diesel::PgConnection;

use crate::db::models::Workspace;
use crate::db::models::custom_field::CustomField;
use crate::domain::custom_fields::{CustomValues, FieldRules, merge_and_check};
use crate::domain::enums::{CustomEntity, CustomFieldType};
use crate::error::{ApiError, FieldError};
use crate::ids::WorkspaceId;

/// Checks a record's custom values against the workspace's definitions for `entity`: each broken
/// rule joins `errors` as `custom.<key>`. Returns the normalised values to store.
pub fn check_custom(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: CustomEntity,
    values: CustomValues,
    errors: &mut Vec<FieldError>,
) -> Result<serde_json::Value, ApiError> {
    let rules = CustomField::rules_for(conn, workspace, entity)?;
    let region = if rules.iter().any(|rule| rule.field_type == CustomFieldType::Phone) {
        Workspace::find(conn, workspace)?.default_phone_region
    } else {
        String::new()
    };
    Ok(check_custom_by(&rules, &region, values, errors))
}

/// [`check_custom`] with the definitions' `rules` and the workspace's phone region at hand.
pub fn check_custom_by(
    rules: &[FieldRules],
    phone_region: &str,
    values: CustomValues,
    errors: &mut Vec<FieldError>,
) -> serde_json::Value {
    match merge_and_check(rules, &CustomValues::new(), values, phone_region) {
        Ok(values) => serde_json::Value::Object(values),
        Err(violations) => {
            errors.extend(violations.into_iter().map(FieldError::from));
            serde_json::Value::Object(CustomValues::new())
        }
    }
}
