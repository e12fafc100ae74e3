//! Pure business rules: no actix, no Diesel.

pub mod activity;
pub mod agenda;
pub mod call_list;
pub mod client;
pub mod consent;
pub mod contact_points;
pub mod custom_fields;
pub mod deal;
pub mod enums;
pub mod external_ref;
pub mod filter;
pub mod import;
pub mod lifecycle;
pub mod money;
pub mod ownership;
pub mod personal_data;
pub mod pipeline;
pub mod plan;
pub mod report_period;
pub mod role;
pub mod segments;
pub mod text;
pub mod visibility;

enums::text_enum!(
    /// The rule a field broke, as a 422's `errors[].code` names it: a closed set clients can
    /// switch on (docs/api-conventions.md says what each means).
    FieldCode {
        Blank => "blank",
        Currency => "currency",
        Cycle => "cycle",
        Date => "date",
        Datetime => "datetime",
        Decimal => "decimal",
        DefaultRequired => "default_required",
        Duplicate => "duplicate",
        Email => "email",
        Format => "format",
        Immutable => "immutable",
        InFuture => "in_future",
        Invalid => "invalid",
        InvalidValue => "invalid_value",
        ItemsSum => "items_sum",
        Length => "length",
        Mismatch => "mismatch",
        NotAllowed => "not_allowed",
        NotApplicable => "not_applicable",
        NotFound => "not_found",
        NulCharacter => "nul_character",
        OperatorNotAllowed => "operator_not_allowed",
        Option => "option",
        Pattern => "pattern",
        Permutation => "permutation",
        Phone => "phone",
        Range => "range",
        Regex => "regex",
        Region => "region",
        Required => "required",
        SameCurrency => "same_currency",
        Scale => "scale",
        SeveralPrimary => "several_primary",
        StageKinds => "stage_kinds",
        Timezone => "timezone",
        TooDeep => "too_deep",
        TooLarge => "too_large",
        TooMany => "too_many",
        TooManyConditions => "too_many_conditions",
        Type => "type",
        UnknownField => "unknown_field",
        UnknownOperator => "unknown_operator",
        Url => "url",
        WrongClient => "wrong_client",
        WrongPipeline => "wrong_pipeline",
    }
);

/// One broken rule, naming the field at fault (`phones[1].value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub code: FieldCode,
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}
