//! The conflicts (409) each operation can answer with, and the conflict each unique key of the
//! schema stands for.
//!
//! A client switches on a 409's `code`: the document lists, per operation, the codes it can get
//! (`openapi::add_error_responses`), and in debug builds — the tests and the fuzzer's server — a
//! 409 with a code its operation doesn't list is turned into a 500
//! (`middleware::check_conflict_codes`), so this table can't fall behind the handlers unnoticed.

use super::{ApiError, ProblemCode};

use ProblemCode::*;

/// Each operation that can answer 409, with the codes it may carry. An operation not listed never
/// answers 409.
const CONFLICTS_BY_OPERATION: &[(&str, &[ProblemCode])] = &[
    ("login", &[WorkspaceRequired]),
    ("create_user", &[EmailTaken]),
    ("update_user", &[EmailTaken, LastOwner, CannotDeactivateSelf]),
    ("create_team", &[TeamNameTaken]),
    ("update_team", &[TeamNameTaken]),
    ("create_target", &[TargetTaken]),
    ("create_client", &[Duplicate, DuplicateElsewhere, ExternalRefTaken]),
    ("update_client", &[ExternalRefTaken]),
    ("upsert_client_by_ref", &[Duplicate, DuplicateElsewhere, ExternalRefTaken, ClientDeleted]),
    ("restore_client", &[ClientMerged]),
    ("create_contact", &[Duplicate, DuplicateElsewhere, ExternalRefTaken]),
    ("update_contact", &[ExternalRefTaken]),
    ("upsert_contact_by_ref", &[Duplicate, DuplicateElsewhere, ExternalRefTaken, RecordDeleted]),
    ("restore_contact", &[ClientDeleted, ContactMerged]),
    ("create_pipeline", &[PipelineNameTaken]),
    ("update_pipeline", &[PipelineNameTaken]),
    ("delete_pipeline", &[DefaultPipeline, PipelineInUse]),
    ("create_stage", &[TooManyStages]),
    ("update_stage", &[StageInUse]),
    ("delete_stage", &[StageInUse]),
    ("create_product", &[SkuTaken, ExternalRefTaken]),
    ("update_product", &[SkuTaken, ExternalRefTaken]),
    ("upsert_product_by_ref", &[SkuTaken, ExternalRefTaken]),
    ("create_deal", &[ExternalRefTaken]),
    ("update_deal", &[ExternalRefTaken]),
    ("upsert_deal_by_ref", &[ExternalRefTaken, RecordDeleted]),
    ("restore_deal", &[ClientDeleted]),
    ("create_activity", &[ExternalRefTaken]),
    ("update_activity", &[ExternalRefTaken]),
    ("upsert_activity_by_ref", &[ExternalRefTaken, RecordDeleted]),
    ("complete_activity", &[NotPlanned]),
    ("create_custom_field", &[KeyTaken, TooManyFields, RecordsInTheWay]),
    ("update_custom_field", &[RecordsInTheWay]),
    ("create_segment", &[SegmentNameTaken]),
    ("update_segment", &[SegmentNameTaken]),
    ("add_segment_members", &[DynamicSegment]),
    ("remove_segment_members", &[DynamicSegment]),
    ("add_segment_members_from_filter", &[DynamicSegment]),
];

/// The codes a 409 of `operation_id` can carry; empty when it never answers 409.
pub fn conflicts_of(operation_id: &str) -> &'static [ProblemCode] {
    CONFLICTS_BY_OPERATION
        .iter()
        .find(|(operation, _)| *operation == operation_id)
        .map_or(&[], |(_, codes)| codes)
}

/// A value that must be unique in the workspace and is taken: the answer of the handlers' checks
/// before they write, and of the database's key when a concurrent request took it in between.
pub fn taken(code: ProblemCode) -> ApiError {
    let detail = match code {
        EmailTaken => "a user with this email already exists in this workspace",
        TeamNameTaken => "another team in this workspace has this name",
        TargetTaken => "this user, team or workspace already has a target for this period: change that one",
        PipelineNameTaken => "another pipeline in this workspace has this name",
        SkuTaken => "another product in this workspace has this SKU",
        SegmentNameTaken => "another segment in this workspace has this name",
        KeyTaken => "this entity already has a custom field with this key",
        ExternalRefTaken => "another record of this kind has this external ref",
        _ => "a record with these values already exists",
    };
    ApiError::conflict(code, detail)
}

/// What breaking the unique key `constraint` means.
pub fn unique_key_broken(constraint: Option<&str>) -> ApiError {
    let code = match constraint {
        Some("users_email_key") => EmailTaken,
        Some("teams_name_key") => TeamNameTaken,
        Some("targets_subject_period_key") => TargetTaken,
        Some("pipelines_name_key") => PipelineNameTaken,
        Some("products_sku_key") => SkuTaken,
        Some("segments_name_key") => SegmentNameTaken,
        Some("custom_fields_workspace_id_entity_key_key") => KeyTaken,
        Some("activities_external_ref_key" | "external_refs_pkey") => ExternalRefTaken,
        // Two requests each made a different contact the client's primary one, or a different
        // pipeline the default, at once: the later one can simply be repeated.
        // Two requests shared the same client with the same user or team at once: the repeat
        // finds the share the other one made.
        Some(
            "contacts_one_primary_key"
            | "pipelines_one_default_key"
            | "client_shares_user_key"
            | "client_shares_team_key",
        ) => {
            return ApiError::Unavailable(
                "another request changed the same records at the same moment; retry".to_string(),
            );
        }
        // A key without a code of its own: a bug to report, still answered as a conflict.
        _ => AlreadyExists,
    };
    taken(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table names operations the document has, and each conflict code but the catch-all
    /// `already_exists` belongs to one of them.
    #[test]
    fn the_table_names_real_operations_and_every_conflict_code() {
        let document = crate::openapi::document();
        let operations: Vec<&str> = document["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .flat_map(|item| item.as_object().into_iter().flat_map(|item| item.values()))
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        for (operation, _) in CONFLICTS_BY_OPERATION {
            assert!(operations.contains(operation), "{operation} is not an operation of the document");
        }
        let unlisted: Vec<ProblemCode> = ProblemCode::of_status(409)
            .into_iter()
            // The catch-all, and the retry of a keyed write still running, which every write of a
            // caller's can answer (`crate::idempotency`).
            .filter(|code| *code != AlreadyExists && *code != IdempotencyInProgress)
            .filter(|code| !CONFLICTS_BY_OPERATION.iter().any(|(_, codes)| codes.contains(code)))
            .collect();
        assert!(unlisted.is_empty(), "conflict codes no operation answers with: {unlisted:?}");
    }
}
