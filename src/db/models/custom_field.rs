//! Custom field definitions, and the counts of records a narrowing change would break.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;

use crate::db::schema::custom_fields;
use crate::domain::custom_fields::{Definition, FieldRules};
use crate::domain::enums::{CustomEntity, CustomFieldType};
use crate::ids::{CustomFieldId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = custom_fields, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(diesel::pg::Pg))]
pub struct CustomField {
    pub workspace_id: WorkspaceId,
    pub id: CustomFieldId,
    pub entity: String,
    pub key: String,
    pub label: String,
    pub field_type: String,
    pub required: bool,
    pub options: Vec<String>,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub max_length: Option<i32>,
    pub pattern: Option<String>,
    pub description: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

/// The table behind an entity, for the queries that look into stored values.
pub fn entity_table(entity: CustomEntity) -> &'static str {
    match entity {
        CustomEntity::Client => "clients",
        CustomEntity::Contact => "contacts",
        CustomEntity::Deal => "deals",
        CustomEntity::Activity => "activities",
    }
}

impl CustomField {
    pub fn field_type(&self) -> CustomFieldType {
        self.field_type.parse().unwrap_or(CustomFieldType::Text)
    }

    /// The definition as its own consistency is checked.
    pub fn definition(&self) -> Definition<'_> {
        Definition {
            key: &self.key,
            label: &self.label,
            description: self.description.as_deref(),
            field_type: self.field_type(),
            options: &self.options,
            min: self.min,
            max: self.max,
            max_length: self.max_length,
            pattern: self.pattern.as_deref(),
        }
    }

    /// The rules the value checks apply. A stored pattern always compiles: it was checked when
    /// written.
    pub fn rules(&self) -> FieldRules {
        FieldRules {
            key: self.key.clone(),
            field_type: self.field_type(),
            required: self.required,
            options: self.options.clone(),
            min: self.min,
            max: self.max,
            max_length: self.max_length,
            pattern: self.pattern.as_deref().and_then(|pattern| regex::Regex::new(pattern).ok()),
        }
    }

    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<CustomField> {
        diesel::insert_into(custom_fields::table)
            .values(self)
            .returning(CustomField::as_returning())
            .get_result(conn)
    }

    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<CustomField> {
        diesel::update(custom_fields::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(CustomField::as_returning())
            .get_result(conn)
    }

    pub fn delete(&self, conn: &mut PgConnection) -> QueryResult<usize> {
        diesel::delete(custom_fields::table.find((self.workspace_id, self.id))).execute(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: CustomFieldId,
    ) -> QueryResult<CustomField> {
        custom_fields::table.find((workspace, id)).select(CustomField::as_select()).for_update().first(conn)
    }

    pub fn find(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: CustomFieldId,
    ) -> QueryResult<CustomField> {
        custom_fields::table.find((workspace, id)).select(CustomField::as_select()).first(conn)
    }

    /// Every definition of the workspace, optionally of one entity, by entity then key.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        entity: Option<CustomEntity>,
    ) -> QueryResult<Vec<CustomField>> {
        let mut query = custom_fields::table.filter(custom_fields::workspace_id.eq(workspace)).into_boxed();
        if let Some(entity) = entity {
            query = query.filter(custom_fields::entity.eq(entity.as_str()));
        }
        query
            .order((custom_fields::entity.asc(), custom_fields::key.asc()))
            .select(CustomField::as_select())
            .load(conn)
    }

    /// The rules for one entity's values: what every write of such a record is checked against.
    pub fn rules_for(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        entity: CustomEntity,
    ) -> QueryResult<Vec<FieldRules>> {
        Ok(Self::list(conn, workspace, Some(entity))?.iter().map(CustomField::rules).collect())
    }

    pub fn key_taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        entity: CustomEntity,
        key: &str,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            custom_fields::table
                .filter(custom_fields::workspace_id.eq(workspace))
                .filter(custom_fields::entity.eq(entity.as_str()))
                .filter(custom_fields::key.eq(key)),
        ))
        .get_result(conn)
    }

    /// The stored values of this field, for checks SQL can't make (a Rust regex pattern).
    pub fn stored_values(
        &self,
        conn: &mut PgConnection,
        entity: CustomEntity,
    ) -> QueryResult<Vec<serde_json::Value>> {
        #[derive(QueryableByName)]
        struct Stored {
            #[diesel(sql_type = diesel::sql_types::Jsonb)]
            value: serde_json::Value,
        }
        let query = format!(
            "SELECT custom -> $2 AS value FROM {} WHERE workspace_id = $1 AND custom ? $2",
            entity_table(entity)
        );
        let rows: Vec<Stored> = diesel::sql_query(query)
            .bind::<SqlUuid, _>(self.workspace_id.0)
            .bind::<Text, _>(&self.key)
            .load(conn)?;
        Ok(rows.into_iter().map(|row| row.value).collect())
    }

    /// How many live records of `entity` have no value for this field.
    pub fn count_missing(&self, conn: &mut PgConnection, entity: CustomEntity) -> QueryResult<i64> {
        count_where(conn, entity, self, "NOT (custom ? $2)")
    }

    /// Removes this field's values from every record (the definition is being deleted).
    pub fn strip_values(&self, conn: &mut PgConnection, entity: CustomEntity) -> QueryResult<usize> {
        let query = format!(
            "UPDATE {} SET custom = custom - $2 WHERE workspace_id = $1 AND custom ? $2",
            entity_table(entity)
        );
        diesel::sql_query(query)
            .bind::<SqlUuid, _>(self.workspace_id.0)
            .bind::<Text, _>(&self.key)
            .execute(conn)
    }
}

/// Counts live records of `entity` matching `condition`, in which `$1` is the workspace and `$2`
/// the field's key. The condition is one of this module's constants, never request text.
fn count_where(
    conn: &mut PgConnection,
    entity: CustomEntity,
    field: &CustomField,
    condition: &str,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let query = format!(
        "SELECT count(*) AS count FROM {} WHERE workspace_id = $1 AND deleted_at IS NULL AND {condition}",
        entity_table(entity)
    );
    let row: Count = diesel::sql_query(query)
        .bind::<SqlUuid, _>(field.workspace_id.0)
        .bind::<Text, _>(&field.key)
        .get_result(conn)?;
    Ok(row.count)
}
