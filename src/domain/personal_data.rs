//! Personal data and its masking. Each role but the owner's sees personal data in full or masked,
//! as the workspace's settings say. Masking is applied to whole responses (`middleware`), so that
//! every path that returns a client or a contact person, today's and tomorrow's, masks the same
//! fields the same way: persons' names, emails, phones, messenger handles, street addresses, birth
//! dates, persons' tax ids, notes, and what a call or message carried (its body, its `from` and
//! `to`, its recording).

use serde_json::Value;

use crate::domain::enums::text_enum;
use crate::domain::role::Role;

text_enum!(
    /// How a role sees personal data.
    Disclosure {
        /// As stored.
        Full => "full",
        /// Masked: enough to recognise (`i***@example.com`, `+7912*****89`), not to use.
        Masked => "masked",
    }
);

/// How a user of `role` sees personal data: the owner in full, anyone else as their role's setting
/// says.
pub fn effective(role: Role, role_setting: Disclosure) -> Disclosure {
    match role {
        Role::Owner => Disclosure::Full,
        _ => role_setting,
    }
}

/// Fields whose every value is personal data, wherever they appear: in a record, in an audit
/// event's `changes`, in a timeline item.
const PERSONAL: &[&str] = &[
    "first_name",
    "last_name",
    "middle_name",
    "emails",
    "phones",
    "messengers",
    "address",
    "birth_date",
    "notes",
    "body",
    "recording_url",
    "client_name",
    "client_phone",
];

/// Fields that name a record: personal data unless the record is a company.
const NAMES: &[&str] = &["display_name", "tax_id"];

/// Fields within personal data that identify no one and stay as they are: an entry's kind and label,
/// whether it is the primary one, and an address's city, region and country.
const KEPT_WITHIN: &[&str] = &["kind", "label", "primary", "city", "region", "country"];

/// Masks the personal data in a response body, in place.
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let company = fields.get("kind").and_then(Value::as_str) == Some("company");
            // A call's or a message's ends: an activity is the object with a `direction`.
            let activity = fields.contains_key("direction");
            for (key, field) in fields.iter_mut() {
                let key = key.as_str();
                if key == "birth_date" && field.is_string() {
                    // A masked date is no date: the field is nullable, and null says "not shown".
                    *field = Value::Null;
                } else if PERSONAL.contains(&key)
                    || (NAMES.contains(&key) && !company)
                    || (activity && (key == "from" || key == "to"))
                {
                    mask_all(field);
                } else {
                    mask(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// Masks every string in `value` but those under a field of [`KEPT_WITHIN`].
fn mask_all(value: &mut Value) {
    match value {
        Value::String(text) => *text = masked(text),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if !KEPT_WITHIN.contains(&key.as_str()) {
                    mask_all(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        _ => {}
    }
}

/// A value masked by its shape: an email keeps its first letter and its domain, a phone its
/// country and area code and its last two digits, anything else its first letter.
pub fn masked(text: &str) -> String {
    if let Some((local, domain)) = text.split_once('@') {
        return format!("{}***@{domain}", first(local));
    }
    let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
    if text.starts_with('+') && digits.len() >= 7 {
        let (head, tail) = (&digits[..4], &digits[digits.len() - 2..]);
        let hidden = "*".repeat(digits.len() - 6);
        return format!("+{}{hidden}{}", head.iter().collect::<String>(), tail.iter().collect::<String>());
    }
    match text.chars().count() {
        0 => String::new(),
        1 => "*".to_string(),
        _ => format!("{}***", first(text)),
    }
}

fn first(text: &str) -> String {
    text.chars().next().map(String::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_of_value_keeps_only_what_recognises_it() {
        assert_eq!(masked("ivan.petrov@example.com"), "i***@example.com");
        assert_eq!(masked("+79123456789"), "+7912*****89");
        assert_eq!(masked("Иван"), "И***");
        assert_eq!(masked("7"), "*");
    }

    #[test]
    fn a_persons_data_is_masked_and_a_companys_name_is_not() {
        let mut person = json!({
            "kind": "person", "display_name": "Petrov Ivan", "first_name": "Ivan", "tax_id": "770123456789",
            "emails": [{"value": "ivan@example.com", "label": "work", "primary": true}],
            "address": {"street": "Tverskaya 1", "city": "Moscow", "country": "RU"},
            "birth_date": "1985-04-12", "owner_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "tags": ["vip"]
        });
        mask(&mut person);
        assert_eq!(person["display_name"], "P***");
        assert_eq!(person["first_name"], "I***");
        assert_eq!(person["tax_id"], "7***");
        assert_eq!(
            person["emails"][0],
            json!({"value": "i***@example.com", "label": "work", "primary": true})
        );
        assert_eq!(person["address"], json!({"street": "T***", "city": "Moscow", "country": "RU"}));
        assert_eq!(person["birth_date"], Value::Null);
        assert_eq!(person["owner_id"], "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01");
        assert_eq!(person["tags"], json!(["vip"]));
        let mut company = json!({"kind": "company", "display_name": "Romashka LLC", "tax_id": "7701234567"});
        mask(&mut company);
        assert_eq!(
            company,
            json!({"kind": "company", "display_name": "Romashka LLC", "tax_id": "7701234567"})
        );
    }

    #[test]
    fn changes_and_a_calls_ends_are_masked_but_other_changes_are_not() {
        let mut event = json!({"changes": {
            "phones": {"from": [{"value": "+79123456789"}], "to": []},
            "stage_id": {"from": "a", "to": "b"}
        }});
        mask(&mut event);
        assert_eq!(event["changes"]["phones"]["from"][0]["value"], "+7912*****89");
        assert_eq!(event["changes"]["stage_id"], json!({"from": "a", "to": "b"}));
        let mut call =
            json!({"kind": "call", "direction": "inbound", "from": "+79123456789", "subject": "Order"});
        mask(&mut call);
        assert_eq!(
            call,
            json!({"kind": "call", "direction": "inbound", "from": "+7912*****89", "subject": "Order"})
        );
    }
}
