//! Pure business rules: no actix, no Diesel.

pub mod activity;
pub mod agenda;
pub mod client;
pub mod contact_points;
pub mod custom_fields;
pub mod deal;
pub mod enums;
pub mod filter;
pub mod money;
pub mod ownership;
pub mod pipeline;
pub mod role;
pub mod segments;
pub mod text;

/// One broken rule, naming the field at fault (`phones[1].value`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}
