//! Reading a spreadsheet of clients, contacts, deals or products: which column holds which field
//! (by its header, in English or Russian, or as the import maps it), and each row as the body
//! `POST /clients`, `/contacts`, `/deals` or `/products` takes. A contact's or deal's client may be
//! named by fields no endpoint takes (its tax id or its name): the import worker finds the client
//! and puts its id in their place.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::external_ref::ExternalRef;

/// The kind of record a spreadsheet holds, one per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sheet {
    Clients,
    Contacts,
    Deals,
    Products,
}

impl Sheet {
    pub fn as_str(self) -> &'static str {
        match self {
            Sheet::Clients => "clients",
            Sheet::Contacts => "contacts",
            Sheet::Deals => "deals",
            Sheet::Products => "products",
        }
    }

    /// The sheet an import stored as `entity`.
    pub fn of(entity: &str) -> Self {
        match entity {
            "contacts" => Sheet::Contacts,
            "deals" => Sheet::Deals,
            "products" => Sheet::Products,
            _ => Sheet::Clients,
        }
    }

    /// What the sheet's rows are, for messages: "client", "product".
    pub fn noun(self) -> &'static str {
        match self {
            Sheet::Clients => "client",
            Sheet::Contacts => "contact",
            Sheet::Deals => "deal",
            Sheet::Products => "product",
        }
    }

    /// The fields a column may be mapped to by name, besides the lists and refs.
    fn text_fields(self) -> &'static [&'static str] {
        match self {
            Sheet::Clients => TEXT_FIELDS,
            Sheet::Contacts => CONTACT_FIELDS,
            Sheet::Deals => DEAL_FIELDS,
            Sheet::Products => PRODUCT_FIELDS,
        }
    }

    /// Headers recognised without a mapping, lower-cased, besides the field names themselves.
    fn synonyms(self) -> &'static [&'static [(&'static str, &'static str)]] {
        match self {
            Sheet::Clients => &[PERSON_SYNONYMS, SYNONYMS],
            Sheet::Contacts => &[PERSON_SYNONYMS, CONTACT_SYNONYMS, CLIENT_LINK_SYNONYMS],
            Sheet::Deals => &[DEAL_SYNONYMS, CLIENT_LINK_SYNONYMS],
            Sheet::Products => &[PRODUCT_SYNONYMS],
        }
    }
}

/// Fields of a contact's or deal's row that name its client other than by id or ref, which the
/// import worker resolves: the client's tax id, or its name (unique among the clients one sees).
pub const CLIENT_TAX_ID: &str = "client_tax_id";
pub const CLIENT_NAME: &str = "client_name";

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
    /// The record's id in another system: the import upserts by it.
    Ref(String),
    /// A contact's or deal's client, by its id in another system (`client_ref`).
    ClientRef(String),
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

/// Headers of a person's fields recognised without a mapping in clients and contacts files,
/// lower-cased.
const PERSON_SYNONYMS: &[(&str, &str)] = &[
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
    ("note", "notes"),
    ("comment", "notes"),
    ("комментарий", "notes"),
    ("примечание", "notes"),
];

/// Headers of a clients file recognised without a mapping, lower-cased, besides a person's.
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
    ("birthday", "birth_date"),
    ("birth date", "birth_date"),
    ("дата рождения", "birth_date"),
    ("источник", "source"),
];

/// The fields of a contact a column may be mapped to by name, besides `email`, `phone`,
/// `full_name`, `ref:<system>` and `client_ref:<system>`.
const CONTACT_FIELDS: &[&str] = &[
    "client_id",
    CLIENT_TAX_ID,
    CLIENT_NAME,
    "last_name",
    "first_name",
    "middle_name",
    "position",
    "is_primary",
    "notes",
];

/// Headers of a contacts file recognised without a mapping, lower-cased, besides a person's and
/// the client's.
const CONTACT_SYNONYMS: &[(&str, &str)] = &[
    ("name", "full_name"),
    ("title", "position"),
    ("job title", "position"),
    ("role", "position"),
    ("должность", "position"),
    ("primary", "is_primary"),
    ("основной", "is_primary"),
];

/// Headers naming a contact's or deal's client, lower-cased.
const CLIENT_LINK_SYNONYMS: &[(&str, &str)] = &[
    ("client", CLIENT_NAME),
    ("company", CLIENT_NAME),
    ("клиент", CLIENT_NAME),
    ("компания", CLIENT_NAME),
    ("контрагент", CLIENT_NAME),
    ("организация", CLIENT_NAME),
    ("покупатель", CLIENT_NAME),
    ("inn", CLIENT_TAX_ID),
    ("tax id", CLIENT_TAX_ID),
    ("client tax id", CLIENT_TAX_ID),
    ("инн", CLIENT_TAX_ID),
    ("инн клиента", CLIENT_TAX_ID),
    ("инн контрагента", CLIENT_TAX_ID),
];

/// The fields of a deal a column may be mapped to by name, besides `tags`, `ref:<system>` and
/// `client_ref:<system>`. `pipeline` and `stage` are names, which the import worker resolves.
const DEAL_FIELDS: &[&str] = &[
    "title",
    "client_id",
    CLIENT_TAX_ID,
    CLIENT_NAME,
    "pipeline",
    "stage",
    "amount",
    "currency",
    "probability",
    "expected_close_date",
    "lost_reason",
    "next_step",
    "agreement",
    "source",
];

/// Headers of a deals file recognised without a mapping, lower-cased, besides the client's.
const DEAL_SYNONYMS: &[(&str, &str)] = &[
    ("deal", "title"),
    ("name", "title"),
    ("сделка", "title"),
    ("название", "title"),
    ("наименование", "title"),
    ("sum", "amount"),
    ("total", "amount"),
    ("сумма", "amount"),
    ("валюта", "currency"),
    ("воронка", "pipeline"),
    ("этап", "stage"),
    ("стадия", "stage"),
    ("status", "stage"),
    ("статус", "stage"),
    ("вероятность", "probability"),
    ("close date", "expected_close_date"),
    ("expected close date", "expected_close_date"),
    ("дата закрытия", "expected_close_date"),
    ("lost reason", "lost_reason"),
    ("причина отказа", "lost_reason"),
    ("next step", "next_step"),
    ("следующий шаг", "next_step"),
    ("договор", "agreement"),
    ("источник", "source"),
    ("теги", "tags"),
    ("метки", "tags"),
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
    let system = |system: &str| ExternalRef::parse(system, "x").ok().map(|_| system.to_string());
    if let Some(client_system) = field.strip_prefix("client_ref:") {
        return match sheet {
            Sheet::Contacts | Sheet::Deals => system(client_system).map(Column::ClientRef),
            Sheet::Clients | Sheet::Products => None,
        };
    }
    if let Some(own_system) = field.strip_prefix("ref:") {
        return system(own_system).map(Column::Ref);
    }
    let list = match (sheet, field) {
        (Sheet::Clients | Sheet::Contacts, "email") => Some(Column::Email),
        (Sheet::Clients | Sheet::Contacts, "phone") => Some(Column::Phone),
        (Sheet::Clients | Sheet::Contacts, "full_name") => Some(Column::FullName),
        (Sheet::Clients | Sheet::Deals, "tags") => Some(Column::Tags),
        _ => None,
    };
    list.or_else(|| {
        sheet.text_fields().iter().find(|known| **known == field).map(|known| Column::Text(known))
    })
}

/// The column a header stands for without a mapping: a field's name, or a common header for it.
pub fn column_for_header(sheet: Sheet, header: &str) -> Option<Column> {
    let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    let field = sheet
        .synonyms()
        .iter()
        .flat_map(|synonyms| synonyms.iter())
        .find(|(known, _)| *known == header)
        .map_or(header.as_str(), |(_, field)| *field);
    column_for(sheet, field)
}

/// The field name a column is recorded under (`email`, `ref:1c`, `client_ref:1c`, …).
pub fn field_name(column: &Column) -> String {
    match column {
        Column::Text(field) => field.to_string(),
        Column::Email => "email".to_string(),
        Column::Phone => "phone".to_string(),
        Column::Tags => "tags".to_string(),
        Column::FullName => "full_name".to_string(),
        Column::Ref(system) => format!("ref:{system}"),
        Column::ClientRef(system) => format!("client_ref:{system}"),
    }
}

/// The body of the sheet's `POST` (or of an upsert) that a row gives, and the ref to upsert by if
/// a column holds one. Empty cells are left out. Cells are taken as a spreadsheet in Russian or
/// English writes them: an amount or price as `1 490,00`, a currency in lower case, a yes-or-no
/// field as yes, no, да or нет, a probability with its `%`; a value the import doesn't read stays
/// as written, for the record's checks to name. Without a `kind` column, a client row with a
/// `name` is a company and any other a person.
pub fn row_body(sheet: Sheet, columns: &[Option<Column>], row: &[&str]) -> (Value, Option<ExternalRef>) {
    let mut body = Map::new();
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (column, cell) in columns.iter().zip(row) {
        let cell = cell.trim();
        let Some(column) = column else { continue };
        if cell.is_empty() {
            continue;
        }
        let split = || cell.split([',', ';']).map(str::trim).filter(|part| !part.is_empty());
        match column {
            Column::Text(field) => {
                body.insert((*field).to_string(), cell_value(field, cell));
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
            Column::Ref(system) => lists
                .entry("external_refs")
                .or_default()
                .push(json!(ExternalRef { system: system.clone(), id: cell.to_string() })),
            Column::ClientRef(system) => {
                body.insert("client_ref".to_string(), json!({"system": system, "id": cell}));
            }
        }
    }
    let reference = lists
        .get("external_refs")
        .and_then(|refs| refs.first())
        .and_then(|first| serde_json::from_value(first.clone()).ok());
    for (field, values) in lists {
        body.insert(field.to_string(), Value::Array(values));
    }
    if sheet == Sheet::Clients {
        settle_kind(&mut body);
    }
    (Value::Object(body), reference)
}

/// A cell's value for `field`, read as a spreadsheet writes it.
fn cell_value(field: &str, cell: &str) -> Value {
    match field {
        "price" | "amount" => {
            let digits: String =
                cell.chars().filter(|c| !c.is_whitespace()).map(|c| if c == ',' { '.' } else { c }).collect();
            json!(digits)
        }
        "currency" => json!(cell.to_uppercase()),
        "active" | "is_primary" => match cell.to_lowercase().as_str() {
            "yes" | "true" | "1" | "да" | "y" | "д" => json!(true),
            "no" | "false" | "0" | "нет" | "n" | "н" => json!(false),
            _ => json!(cell),
        },
        "probability" => {
            cell.trim_end_matches('%').trim().parse::<u64>().map_or_else(|_| json!(cell), |n| json!(n))
        }
        _ => json!(cell),
    }
}

/// A client row's kind: as written when the import knows the word (in English or Russian), else
/// a company for a row with a `name` and a person for any other.
fn settle_kind(body: &mut Map<String, Value>) {
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
}

/// The first sheet of a workbook (XLSX, XLS or ODS) as CSV text, the form an import keeps its file
/// in: text as written, numbers without a needless `.0` (a tax id or an order number stays whole),
/// dates as `YYYY-MM-DD` (with the time when there is one), yes and no as `true` and `false`, and
/// a cell showing an error as empty. Why a file can't be read, otherwise.
pub fn workbook_as_csv(bytes: &[u8]) -> Result<String, String> {
    use calamine::{Data, Reader};
    let mut workbook = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|error| format!("not a workbook this server reads (XLSX, XLS or ODS): {error}"))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or("the workbook has no sheet")?
        .map_err(|error| format!("the first sheet can't be read: {error}"))?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in sheet.rows() {
        let cells = row.iter().map(|cell| match cell {
            Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
            Data::Int(number) => number.to_string(),
            Data::Float(number) if number.fract() == 0.0 && number.abs() < 1e15 => format!("{number:.0}"),
            Data::Float(number) => number.to_string(),
            Data::Bool(yes) => yes.to_string(),
            Data::DateTime(moment) => {
                let (year, month, day, hour, minute, second, _) = moment.to_ymd_hms_milli();
                match (hour, minute, second) {
                    (0, 0, 0) => format!("{year:04}-{month:02}-{day:02}"),
                    _ => format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
                }
            }
            Data::Error(_) | Data::Empty => String::new(),
        });
        writer.write_record(cells).map_err(|error| error.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|error| error.to_string())?;
    String::from_utf8(bytes).map_err(|error| error.to_string())
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
        let (body, reference) = row_body(
            Sheet::Clients,
            &columns,
            &["Acme", "a@acme.example; b@acme.example", "vip, opt", "42", " "],
        );
        assert_eq!(
            body,
            json!({"kind": "company", "name": "Acme", "emails": [{"value": "a@acme.example"}, {"value": "b@acme.example"}],
                   "tags": ["vip", "opt"], "external_refs": [{"system": "shop", "id": "42"}]})
        );
        assert_eq!(reference, Some(ExternalRef { system: "shop".into(), id: "42".into() }));
        let (person, _) = row_body(
            Sheet::Clients,
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
        let (body, reference) = row_body(
            Sheet::Products,
            &columns,
            &["TEA-1", "Green tea", "1 490,50", "rub", "да", "SKU-1", "x"],
        );
        assert_eq!(
            body,
            json!({"sku": "TEA-1", "name": "Green tea", "price": "1490.50", "currency": "RUB", "active": true,
                   "external_refs": [{"system": "shop", "id": "SKU-1"}]})
        );
        assert_eq!(reference, Some(ExternalRef { system: "shop".into(), id: "SKU-1".into() }));
    }

    #[test]
    fn a_row_becomes_a_contact_body() {
        let headers =
            ["ФИО", "Должность", "Телефон", "Контрагент", "ИНН", "client_ref:1c", "Основной", "Цена"];
        let columns: Vec<Option<Column>> =
            headers.iter().map(|header| column_for_header(Sheet::Contacts, header)).collect();
        assert_eq!(columns[3], Some(Column::Text(CLIENT_NAME)));
        assert_eq!(columns[4], Some(Column::Text(CLIENT_TAX_ID)));
        assert_eq!(columns[7], None);
        let row = [
            "Смирнова Анна",
            "Бухгалтер",
            "+7 495 123-45-67",
            "ООО Ромашка",
            "7707083893",
            "000123",
            "да",
            "1",
        ];
        let (body, reference) = row_body(Sheet::Contacts, &columns, &row);
        assert_eq!(
            body,
            json!({"last_name": "Смирнова", "first_name": "Анна", "position": "Бухгалтер",
                   "phones": [{"value": "+7 495 123-45-67"}], "client_name": "ООО Ромашка", "client_tax_id": "7707083893",
                   "client_ref": {"system": "1c", "id": "000123"}, "is_primary": true})
        );
        assert_eq!(reference, None);
        // A client's ref means nothing in a clients file, nor an email in a deals file.
        assert_eq!(column_for(Sheet::Clients, "client_ref:1c"), None);
        assert_eq!(column_for(Sheet::Deals, "email"), None);
    }

    #[test]
    fn a_row_becomes_a_deal_body() {
        let headers =
            ["Сделка", "Сумма", "Валюта", "Этап", "Вероятность", "Дата закрытия", "ref:shop", "Покупатель"];
        let columns: Vec<Option<Column>> =
            headers.iter().map(|header| column_for_header(Sheet::Deals, header)).collect();
        let row = ["Order 42", "12 990,50", "rub", "Переговоры", "40%", "2026-12-31", "42", "ООО Ромашка"];
        let (body, reference) = row_body(Sheet::Deals, &columns, &row);
        assert_eq!(
            body,
            json!({"title": "Order 42", "amount": "12990.50", "currency": "RUB", "stage": "Переговоры", "probability": 40,
                   "expected_close_date": "2026-12-31", "external_refs": [{"system": "shop", "id": "42"}],
                   "client_name": "ООО Ромашка"})
        );
        assert_eq!(reference, Some(ExternalRef { system: "shop".into(), id: "42".into() }));
    }

    #[test]
    fn a_workbooks_first_sheet_reads_as_csv() {
        let workbook = include_bytes!("../../tests/fixtures/clients.xlsx");
        let csv = workbook_as_csv(workbook).expect("the workbook reads");
        assert_eq!(
            csv,
            "Наименование,ИНН,Телефон,Дата рождения,ФИО,Код 1С,Оборот\n\
             ООО Ромашка,7707083893,+7 495 123-45-67,,,123,1490.5\n\
             ,,+7 912 345-67-89,1990-02-28,Иванова Анна Сергеевна,124,0\n"
        );
        let refused = workbook_as_csv(b"Name,Email\nAcme,a@acme.example\n").expect_err("CSV is no workbook");
        assert!(refused.starts_with("not a workbook"), "{refused}");
    }
}
