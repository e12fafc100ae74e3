//! Every `code` a problem document can carry: a closed set clients can switch on, and that the
//! OpenAPI document lists as an enum. The status each answers with is set where it is raised
//! (`ApiError`); the table in docs/api-conventions.md says when each happens.

crate::domain::enums::text_enum!(
    /// The stable, machine-readable kind of a problem: switch on it, not on `detail`.
    ProblemCode {
        // 400: the request can't be read.
        MalformedJson => "malformed_json",
        MalformedBody => "malformed_body",
        DuplicateKey => "duplicate_key",
        InvalidQuery => "invalid_query",
        UnknownQueryParameter => "unknown_query_parameter",
        InvalidPath => "invalid_path",
        InvalidCursor => "invalid_cursor",
        InvalidText => "invalid_text",
        InvalidReference => "invalid_reference",
        InvalidConfiguration => "invalid_configuration",
        InvalidIdempotencyKey => "invalid_idempotency_key",
        BadRequest => "bad_request",
        // 401, 403, 404, 405
        Unauthorized => "unauthorized",
        Forbidden => "forbidden",
        InsufficientScope => "insufficient_scope",
        NotFound => "not_found",
        MethodNotAllowed => "method_not_allowed",
        // 409: the request conflicts with what is stored.
        Duplicate => "duplicate",
        DuplicateElsewhere => "duplicate_elsewhere",
        AlreadyExists => "already_exists",
        EmailTaken => "email_taken",
        SkuTaken => "sku_taken",
        KeyTaken => "key_taken",
        TeamNameTaken => "team_name_taken",
        TargetTaken => "target_taken",
        PipelineNameTaken => "pipeline_name_taken",
        SegmentNameTaken => "segment_name_taken",
        ExternalRefTaken => "external_ref_taken",
        LastOwner => "last_owner",
        CannotDeactivateSelf => "cannot_deactivate_self",
        WorkspaceRequired => "workspace_required",
        DefaultPipeline => "default_pipeline",
        PipelineInUse => "pipeline_in_use",
        StageInUse => "stage_in_use",
        RecordsInTheWay => "records_in_the_way",
        ClientDeleted => "client_deleted",
        ClientMerged => "client_merged",
        ContactMerged => "contact_merged",
        RecordDeleted => "record_deleted",
        DynamicSegment => "dynamic_segment",
        NotPlanned => "not_planned",
        TooManyFields => "too_many_fields",
        TooManyStages => "too_many_stages",
        IdempotencyInProgress => "idempotency_in_progress",
        // 412, 413, 415, 422, 424, 429
        VersionMismatch => "version_mismatch",
        PayloadTooLarge => "payload_too_large",
        UnsupportedMediaType => "unsupported_media_type",
        ValidationFailed => "validation_failed",
        NotApplied => "not_applied",
        IdempotencyKeyReused => "idempotency_key_reused",
        TooManyAttempts => "too_many_attempts",
        TooManyDeletions => "too_many_deletions",
        ReadBudgetExceeded => "read_budget_exceeded",
        RateLimited => "rate_limited",
        // 5xx
        InternalError => "internal_error",
        DatabaseUnavailable => "database_unavailable",
        ServiceUnavailable => "service_unavailable",
    }
);

impl ProblemCode {
    /// The HTTP status a problem with this code answers with: the document's error responses each
    /// list the codes of their status, and `Problem::new` checks (in debug builds) that no code is
    /// sent under another.
    pub fn status(self) -> u16 {
        use ProblemCode::*;
        match self {
            MalformedJson
            | MalformedBody
            | DuplicateKey
            | InvalidQuery
            | UnknownQueryParameter
            | InvalidPath
            | InvalidCursor
            | InvalidText
            | InvalidReference
            | InvalidConfiguration
            | InvalidIdempotencyKey
            | BadRequest => 400,
            Unauthorized => 401,
            Forbidden | InsufficientScope => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            Duplicate
            | DuplicateElsewhere
            | AlreadyExists
            | EmailTaken
            | SkuTaken
            | KeyTaken
            | TeamNameTaken
            | TargetTaken
            | PipelineNameTaken
            | SegmentNameTaken
            | ExternalRefTaken
            | LastOwner
            | CannotDeactivateSelf
            | WorkspaceRequired
            | DefaultPipeline
            | PipelineInUse
            | StageInUse
            | RecordsInTheWay
            | ClientDeleted
            | ClientMerged
            | ContactMerged
            | RecordDeleted
            | DynamicSegment
            | NotPlanned
            | TooManyFields
            | TooManyStages
            | IdempotencyInProgress => 409,
            VersionMismatch => 412,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            ValidationFailed | IdempotencyKeyReused => 422,
            NotApplied => 424,
            TooManyAttempts | TooManyDeletions | ReadBudgetExceeded | RateLimited => 429,
            InternalError => 500,
            DatabaseUnavailable | ServiceUnavailable => 503,
        }
    }

    /// The codes a problem of `status` can carry.
    pub fn of_status(status: u16) -> Vec<ProblemCode> {
        Self::ALL.iter().copied().filter(|code| code.status() == status).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::ProblemCode;
    use crate::domain::FieldCode;

    /// The codes of `codes` that docs/api-conventions.md doesn't mention.
    fn unexplained(codes: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api-conventions.md");
        let conventions = std::fs::read_to_string(path).unwrap_or_default();
        codes.filter(|code| !conventions.contains(&format!("`{code}`"))).collect()
    }

    /// Clients read what a code means in the conventions: each must be there.
    #[test]
    fn every_code_is_explained_in_the_api_conventions() {
        let missing = unexplained(ProblemCode::ALL.iter().map(|code| code.as_str()));
        assert!(missing.is_empty(), "not in docs/api-conventions.md: {missing:?}");
    }

    /// The codes `.ci/schemathesis_hooks.py` forgives as refusals that depend on stored state: each
    /// must be a code the server sends, or a rename would silently stop forgiving it.
    #[test]
    fn the_fuzzers_stored_state_codes_exist() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/schemathesis_hooks.py");
        let hooks = std::fs::read_to_string(path).unwrap_or_default();
        let named = |set: &str| -> Vec<String> {
            let start = hooks.find(&format!("{set} = {{")).unwrap_or_else(|| panic!("no {set} in the hooks"));
            let body = &hooks[start..start + hooks[start..].find("\n}").unwrap_or(0)];
            body.lines()
                .map(str::trim)
                .filter(|line| line.starts_with('"'))
                .filter_map(|line| line.split('"').nth(1).map(str::to_string))
                .collect()
        };
        let problems = named("STORED_STATE_PROBLEMS");
        let sets = [
            "STORED_STATE_FIELDS",
            "STORED_STATE_FIELDS_BY_OPERATION",
            "BEYOND_A_SCHEMA",
            "BEYOND_A_SCHEMA_BY_OPERATION",
        ];
        let fields: Vec<String> = sets.into_iter().flat_map(named).collect();
        assert!(problems.len() > 10 && fields.len() > 5, "{problems:?} {fields:?}");
        let unknown_problems: Vec<&String> = problems
            .iter()
            .filter(|code| !ProblemCode::ALL.iter().any(|known| known.as_str() == *code))
            .collect();
        let unknown_fields: Vec<&String> = fields
            .iter()
            .filter(|code| !FieldCode::ALL.iter().any(|known| known.as_str() == *code))
            .collect();
        assert!(unknown_problems.is_empty(), "not problem codes: {unknown_problems:?}");
        assert!(unknown_fields.is_empty(), "not field codes: {unknown_fields:?}");
    }

    #[test]
    fn every_field_code_is_explained_in_the_api_conventions() {
        let missing = unexplained(FieldCode::ALL.iter().map(|code| code.as_str()));
        assert!(missing.is_empty(), "not in docs/api-conventions.md: {missing:?}");
    }
}
