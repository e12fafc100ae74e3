//! Reading a spreadsheet of clients or products: which column holds which field (by its header,
//! in English or Russian, or as the import maps it), and each row as the body `POST /clients` or
//! `POST /products` takes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::external_ref::ExternalRef;

/// The kind of record a spreadsheet holds, one per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sheet {
    Clients,
    Products,
}

impl Sheet {
    pub fn as_str(self) -> &'static str {
        match self {
            Sheet::Clients => "clients",
            Sheet::Products => "products",
        }
    }

    /// The sheet an import stored as `entity`.
    pub fn of(entity: &str) -> Self {
        if entity == "products" { Sheet::Products } else { Sheet::Clients }
    }

    /// What the sheet's rows are, for messages: "client", "product".
    pub fn noun(self) -> &'static str {
        match self {
            Sheet::Clients => "client",
            Sheet::Products => "product",
        }
    }
}

/// What a column of a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
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

/// The fields of a product a column may be mapped to by name, besides `ref:<system>`.
const PRODUCT_FIELDS: &[&str] = &["sku", "name", "product_group", "unit", "price", "currency", "active"];

/// Headers of a products file recognised without a mapping, lower-cased.
const PRODUCT_SYNONYMS: &[(&str, &str)] = &[
    ("article", "sku"),
    ("артикул", "sku"),
    ("код товара", "sku"),
    ("product", "name"),
    ("product name", "name"),
    ("item", "name"),
    ("название", "name"),
    ("наименование", "name"),
    ("товар", "name"),
    ("group", "product_group"),
    ("product group", "product_group"),
    ("category", "product_group"),
    ("группа", "product_group"),
    ("категория", "product_group"),
    ("единица", "unit"),
    ("ед. изм.", "unit"),
    ("ед.изм.", "unit"),
    ("цена", "price"),
    ("валюта", "currency"),
    ("активен", "active"),
    ("активный", "active"),
];

/// The column a field name (`name`, `email`, `ref:1c`, …) of the sheet's records stands for;
/// `None` for no such field.
pub fn column_for(sheet: Sheet, field: &str) -> Option<Column> {
    let field = field.trim();
    if let Some(system) = field.strip_prefix("ref:") {
        return ExternalRef::parse(system, "x").ok().map(|_| Column::Ref(system.to_string()));
    }
    if sheet == Sheet::Products {
        return PRODUCT_FIELDS.iter().find(|known| **known == field).map(|known| Column::Text(known));
    }
    match field {
        "email" => Some(Column::Email),
        "phone" => Some(Column::Phone),
        "tags" => Some(Column::Tags),
        "full_name" => Some(Column::FullName),
        _ => TEXT_FIELDS.iter().find(|known| **known == field).map(|known| Column::Text(known)),
    }
}

/// The column a header stands for without a mapping: a field's name, or a common header for it.
pub fn column_for_header(sheet: Sheet, header: &str) -> Option<Column> {
    let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    let synonyms = if sheet == Sheet::Products { PRODUCT_SYNONYMS } else { SYNONYMS };
    let field =
        synonyms.iter().find(|(known, _)| *known == header).map_or(header.as_str(), |(_, field)| *field);
    column_for(sheet, field)
}

/// The body of `POST /clients` (or of an upsert) that a row gives, and the ref to upsert by if a
/// column holds one. Empty cells are left out; without a `kind` column, a row with a `name` is a
/// company and any other a person.
pub fn client_body(columns: &[Option<Column>], row: &[&str]) -> (Value, Option<ExternalRef>) {
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
            Column::Text(field) => {
                body.insert((*field).to_string(), json!(cell));
            }
            Column::Email => lists.entry("emails").or_default().extend(split().map(|v| json!({"value": v}))),
            Column::Phone => lists.entry("phones").or_default().extend(split().map(|v| json!({"value": v}))),
            Column::Tags => lists.entry("tags").or_default().extend(split().map(|tag| json!(tag))),
            Column::FullName => {
                let mut words = cell.split_whitespace();
                for field in ["last_name", "first_name", "middle_name"] {
                    if let Some(word) = words.next() {
                        body.insert(field.to_string(), json!(word));
                    }
                }
            }
            Column::Ref(system) => {
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

/// The body of `POST /products` (or of an upsert) that a row gives, and the ref to upsert by if a
/// column holds one. Empty cells are left out; a price may be written as a spreadsheet in Russian
/// shows it (`1 490,00`), a currency in lower case, `active` as yes or no in English or Russian.
pub fn product_body(columns: &[Option<Column>], row: &[&str]) -> (Value, Option<ExternalRef>) {
    let mut body = Map::new();
    let mut refs = Vec::new();
    for (column, cell) in columns.iter().zip(row) {
        let cell = cell.trim();
        match column {
            _ if cell.is_empty() => {}
            Some(Column::Text("price")) => {
                let digits: String = cell
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .map(|c| if c == ',' { '.' } else { c })
                    .collect();
                body.insert("price".to_string(), json!(digits));
            }
            Some(Column::Text("currency")) => {
                body.insert("currency".to_string(), json!(cell.to_uppercase()));
            }
            Some(Column::Text("active")) => {
                // A word the import doesn't know stays as written, for the product's checks to name.
                let active = match cell.to_lowercase().as_str() {
                    "yes" | "true" | "1" | "да" | "y" | "д" => json!(true),
                    "no" | "false" | "0" | "нет" | "n" | "н" => json!(false),
                    _ => json!(cell),
                };
                body.insert("active".to_string(), active);
            }
            Some(Column::Text(field)) => {
                body.insert((*field).to_string(), json!(cell));
            }
            Some(Column::Ref(system)) => {
                refs.push(ExternalRef { system: system.clone(), id: cell.to_string() })
            }
            Some(_) | None => {}
        }
    }
    let reference = refs.first().cloned();
    if !refs.is_empty() {
        body.insert("external_refs".to_string(), json!(refs));
    }
    (Value::Object(body), reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_and_english_headers_map_to_fields() {
        let headers = ["Наименование", "ИНН", "E-mail", "Телефон", "Unknown", "ref:1c", "ФИО"];
        let columns: Vec<Option<Column>> =
            headers.iter().map(|header| column_for_header(Sheet::Clients, header)).collect();
        assert_eq!(
            columns,
            [
                Some(Column::Text("name")),
                Some(Column::Text("tax_id")),
                Some(Column::Email),
                Some(Column::Phone),
                None,
                Some(Column::Ref("1c".to_string())),
                Some(Column::FullName),
            ]
        );
    }

    #[test]
    fn a_row_becomes_a_client_body() {
        let columns = [
            column_for(Sheet::Clients, "name"),
            column_for(Sheet::Clients, "email"),
            column_for(Sheet::Clients, "tags"),
            column_for(Sheet::Clients, "ref:shop"),
            column_for(Sheet::Clients, "notes"),
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
            &[column_for(Sheet::Clients, "full_name"), column_for(Sheet::Clients, "kind")],
            &["Иванова Анна Сергеевна", "физлицо"],
        );
        assert_eq!(
            person,
            json!({"kind": "person", "last_name": "Иванова", "first_name": "Анна", "middle_name": "Сергеевна"})
        );
    }

    #[test]
    fn a_row_becomes_a_product_body() {
        let headers = ["Артикул", "Наименование", "Цена", "Валюта", "Активен", "ref:shop", "Email"];
        let columns: Vec<Option<Column>> =
            headers.iter().map(|header| column_for_header(Sheet::Products, header)).collect();
        assert_eq!(columns[6], None);
        let (body, reference) =
            product_body(&columns, &["TEA-1", "Green tea", "1 490,50", "rub", "да", "SKU-1", "x"]);
        assert_eq!(
            body,
            json!({"sku": "TEA-1", "name": "Green tea", "price": "1490.50", "currency": "RUB", "active": true,
                   "external_refs": [{"system": "shop", "id": "SKU-1"}]})
        );
        assert_eq!(reference, Some(ExternalRef { system: "shop".into(), id: "SKU-1".into() }));
    }
}
