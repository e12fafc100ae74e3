//! Examples of responses that are made of other responses: a page of clients, the agenda, the
//! board. Each is built from its parts' examples (written beside their types), so that the
//! client in a page is the client of `GET /clients/{id}` and no example is written twice.

use serde_json::{Value, json};

/// The `next_cursor` of the examples: what `Page::from_rows` makes of the last item's sort key
/// (URL-safe base64 of `["2026-11-20T15:41:37.654321Z", "01938f4e-…"]`).
const NEXT_CURSOR: &str =
    "WyIyMDI2LTExLTIwVDE1OjQxOjM3LjY1NDMyMVoiLCIwMTkzOGY0ZS01YjJhLTdjM2QtOWUxZi0yYTNiNGM1ZDZlMTEiXQ";

pub(super) fn compose_examples(schemas: &mut Value) {
    page_examples(schemas);
    if let Some(activity) = schemas["ActivityResponse"].get("example").cloned() {
        schemas["Agenda"]["example"] = agenda(activity);
    }
    if let Some(deal) = schemas["DealResponse"].get("example").cloned() {
        schemas["Board"]["example"] = board(deal);
    }
}

/// An example for each page of items that have one: the item, and the cursor of the next page.
fn page_examples(schemas: &mut Value) {
    let Some(names) = schemas.as_object().map(|schemas| schemas.keys().cloned().collect::<Vec<_>>()) else {
        return;
    };
    for page in names {
        let Some(item) = page.strip_prefix("Page_") else { continue };
        let Some(example) = schemas[item].get("example").cloned() else { continue };
        schemas[&page]["example"] = json!({"data": [example], "next_cursor": NEXT_CURSOR});
    }
}

/// A Monday's agenda with the call of the activity example on it.
fn agenda(mut call: Value) -> Value {
    call["client_name"] = json!("Acme Trading");
    call["client_phone"] = json!("+79123456789");
    json!({
        "user_id": call["assignee_id"], "timezone": "Europe/Moscow", "date": "2027-03-01", "days": 1,
        "from": "2027-02-28T21:00:00Z", "to": "2027-03-01T21:00:00Z", "overdue_count": 0, "truncated": false,
        "items": [call]
    })
}

/// A board whose first stage holds the deal of the deal example; the other stages are empty.
fn board(mut deal: Value) -> Value {
    if let Some(deal) = deal.as_object_mut() {
        // A board's card leaves the line items and the other systems' ids out.
        deal.remove("items");
        deal.remove("external_refs");
    }
    let pipeline_id = deal["pipeline_id"].clone();
    let stage = |id: &Value, name: &str, position: u32, probability: u32| {
        json!({"id": id, "pipeline_id": pipeline_id, "name": name, "kind": "open", "position": position,
               "probability": probability, "version": 1})
    };
    let in_currency = |amount: &Value| json!([{"currency": deal["currency"], "amount": amount}]);
    json!({
        "pipeline_id": pipeline_id,
        "columns": [
            {"stage": stage(&deal["stage_id"], "New", 1, 10), "deal_count": 1,
             "amounts": in_currency(&deal["amount"]), "weighted_amounts": in_currency(&json!("14.00")),
             "deals": [deal], "next_cursor": null},
            {"stage": stage(&json!("01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e33"), "Qualified", 2, 25), "deal_count": 0,
             "amounts": [], "weighted_amounts": [], "deals": [], "next_cursor": null}
        ]
    })
}
