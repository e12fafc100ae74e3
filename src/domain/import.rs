//! Reading a spreadsheet of clients: which column holds which field (by its header, in English or
//! Russian, or as the import maps it), and each row as the body `POST /clients` takes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::external_ref::ExternalRef;

/// What a column of a clients file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientColumn {
    /// A client field taking the cell as it is (`name`, `tax_id`, `notes`, …).
    Text(&'static str),
    /// An email; several columns, or several in a cell (`,` or `;` between), make a list.
    Email,
    Phone,
    /// Tags, `,` or `;` between.
    Tags,
    /// A person's whole name, surname first (`ФИО`): last, first and middle name.
    FullName,
    /// The client's id in another system: the import upserts by it.
    Ref(String),
}

/// The fields a column may be mapped to by name, besides `email`, `phone`, `tags`, `full_name` and
/// `ref:<system>`.
const TEXT_FIELDS: &[&str] = &[
    "kind",
    "display_name",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "gender",
    "name",
    "legal_name",
    "registration_number",
    "industry",
    "tax_id",
    "website",
    "relationship",
    "lifecycle_stage",
    "source",
    "notes",
];

/// Headers recognised without a mapping, lower-cased, besides the field names themselves.
const SYNONYMS: &[(&str, &str)] = &[
    ("type", "kind"),
    ("тип", "kind"),
    ("company", "name"),
    ("company name", "name"),
    ("organization", "name"),
    ("organisation", "name"),
    ("название", "name"),
    ("наименование", "name"),
    ("компания", "name"),
    ("организация", "name"),
    ("полное наименование", "legal_name"),
    ("legal name", "legal_name"),
    ("first name", "first_name"),
    ("firstname", "first_name"),
    ("имя", "first_name"),
    ("last name", "last_name"),
    ("lastname", "last_name"),
    ("surname", "last_name"),
    ("фамилия", "last_name"),
    ("middle name", "middle_name"),
    ("patronymic", "middle_name"),
    ("отчество", "middle_name"),
    ("фио", "full_name"),
    ("full name", "full_name"),
    ("e-mail", "email"),
    ("email address", "email"),
    ("почта", "email"),
    ("электронная почта", "email"),
    ("telephone", "phone"),
    ("mobile", "phone"),
    ("phone number", "phone"),
    ("телефон", "phone"),
    ("мобильный", "phone"),
    ("tax id", "tax_id"),
    ("inn", "tax_id"),
    ("vat", "tax_id"),
    ("инн", "tax_id"),
    ("ogrn", "registration_number"),
    ("огрн", "registration_number"),
    ("registration number", "registration_number"),
    ("site", "website"),
    ("web", "website"),
    ("сайт", "website"),
    ("отрасль", "industry"),
    ("теги", "tags"),
    ("метки", "tags"),
    ("note", "notes"),
    ("comment", "notes"),
    ("комментарий", "notes"),
    ("примечание", "notes"),
    ("birthday", "birth_date"),
    ("birth date", "birth_date"),
    ("дата рождения", "birth_date"),
    ("источник", "source"),
];

/// The column a field name (`name`, `email`, `ref:1c`, …) stands for; `None` for no such field.
pub fn column_for(field: &str) -> Option<ClientColumn> {
    let field = field.trim();
    if let Some(system) = field.strip_prefix("ref:") {
        return ExternalRef::parse(system, "x").ok().map(|_| ClientColumn::Ref(system.to_string()));
    }
    match field {
        "email" => Some(ClientColumn::Email),
        "phone" => Some(ClientColumn::Phone),
        "tags" => Some(ClientColumn::Tags),
        "full_name" => Some(ClientColumn::FullName),
        _ => TEXT_FIELDS.iter().find(|known| **known == field).map(|known| ClientColumn::Text(known)),
    }
}

/// The column a header stands for without a mapping: a field's name, or a common header for it.
pub fn column_for_header(header: &str) -> Option<ClientColumn> {
    let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    let field =
        SYNONYMS.iter().find(|(known, _)| *known == header).map_or(header.as_str(), |(_, field)| *field);
    column_for(field)
}

/// The body of `POST /clients` (or of an upsert) that a row gives, and the ref to upsert by if a
/// column holds one. Empty cells are left out; without a `kind` column, a row with a `name` is a
/// company and any other a person.
pub fn client_body(columns: &[Option<ClientColumn>], row: &[&str]) -> (Value, Option<ExternalRef>) {
    let mut body = Map::new();
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut reference = None;
    for (column, cell) in columns.iter().zip(row) {
        let cell = cell.trim();
        let Some(column) = column else { continue };
        if cell.is_empty() {
            continue;
        }
        let split = || cell.split([',', ';']).map(str::trim).filter(|part| !part.is_empty());
        match column {
            ClientColumn::Text(field) => {
                body.insert((*field).to_string(), json!(cell));
            }
            ClientColumn::Email => {
                lists.entry("emails").or_default().extend(split().map(|v| json!({"value": v})))
            }
            ClientColumn::Phone => {
                lists.entry("phones").or_default().extend(split().map(|v| json!({"value": v})))
            }
            ClientColumn::Tags => lists.entry("tags").or_default().extend(split().map(|tag| json!(tag))),
            ClientColumn::FullName => {
                let mut words = cell.split_whitespace();
                for field in ["last_name", "first_name", "middle_name"] {
                    if let Some(word) = words.next() {
                        body.insert(field.to_string(), json!(word));
                    }
                }
            }
            ClientColumn::Ref(system) => {
                let parsed = ExternalRef { system: system.clone(), id: cell.to_string() };
                lists.entry("external_refs").or_default().push(json!(parsed));
                reference.get_or_insert(parsed);
            }
        }
    }
    for (field, values) in lists {
        body.insert(field.to_string(), Value::Array(values));
    }
    if !body.contains_key("kind") {
        let kind = if body.contains_key("name") { "company" } else { "person" };
        body.insert("kind".to_string(), json!(kind));
    }
    // A kind the import doesn't know stays as written, for the client's checks to name.
    let kind = body.get("kind").and_then(Value::as_str).map(str::to_lowercase).unwrap_or_default();
    let known = match kind.as_str() {
        "компания" | "юрлицо" | "юр. лицо" | "организация" | "organization" | "company" => {
            Some("company")
        }
        "физлицо" | "физ. лицо" | "person" | "individual" => Some("person"),
        _ => None,
    };
    if let Some(known) = known {
        body.insert("kind".to_string(), json!(known));
    }
    (Value::Object(body), reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_and_english_headers_map_to_fields() {
        let headers = ["Наименование", "ИНН", "E-mail", "Телефон", "Unknown", "ref:1c", "ФИО"];
        let columns: Vec<Option<ClientColumn>> =
            headers.iter().map(|header| column_for_header(header)).collect();
        assert_eq!(
            columns,
            [
                Some(ClientColumn::Text("name")),
                Some(ClientColumn::Text("tax_id")),
                Some(ClientColumn::Email),
                Some(ClientColumn::Phone),
                None,
                Some(ClientColumn::Ref("1c".to_string())),
                Some(ClientColumn::FullName),
            ]
        );
    }

    #[test]
    fn a_row_becomes_a_client_body() {
        let columns = [
            column_for("name"),
            column_for("email"),
            column_for("tags"),
            column_for("ref:shop"),
            column_for("notes"),
        ];
        let (body, reference) =
            client_body(&columns, &["Acme", "a@acme.example; b@acme.example", "vip, opt", "42", " "]);
        assert_eq!(
            body,
            json!({"kind": "company", "name": "Acme", "emails": [{"value": "a@acme.example"}, {"value": "b@acme.example"}],
                   "tags": ["vip", "opt"], "external_refs": [{"system": "shop", "id": "42"}]})
        );
        assert_eq!(reference, Some(ExternalRef { system: "shop".into(), id: "42".into() }));
        let (person, _) = client_body(
            &[column_for("full_name"), column_for("kind")],
            &["Иванова Анна Сергеевна", "физлицо"],
        );
        assert_eq!(
            person,
            json!({"kind": "person", "last_name": "Иванова", "first_name": "Анна", "middle_name": "Сергеевна"})
        );
    }
}
