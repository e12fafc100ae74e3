//! Event types: what a change is called on the wire (`client.created`, `deal.won`), and which
//! subscriptions want it.

use crate::api::changes::FEED_ENTITIES;

fn is_entity(name: &str) -> bool {
    FEED_ENTITIES.iter().any(|(_, entity)| *entity == name)
}

/// The type of the ping `POST /webhooks/{id}/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

/// The most common types, for the documentation; any `<entity>.<action>` the change log records
/// is sent (`segment.members_added`, `pipeline.stages_reordered`, …).
pub const DOCUMENTED_TYPES: &[&str] = &[
    "client.created",
    "client.updated",
    "client.deleted",
    "client.restored",
    "client.merged",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "deal.created",
    "deal.updated",
    "deal.won",
    "deal.lost",
    "deal.deleted",
    "activity.created",
    "activity.updated",
    "activity.completed",
    "activity.deleted",
    "activity.reminder_due",
    "product.created",
    "product.updated",
    "target.created",
    "target.updated",
    "target.deleted",
];

/// The type of a change: `<entity>.<action>`, except that a deal update that closed the deal is
/// `deal.won` or `deal.lost`.
pub fn event_type(entity: &str, action: &str, changes: &serde_json::Value) -> String {
    if entity == "deal" && action == "updated" {
        match changes["status"]["to"].as_str() {
            Some("won") => return "deal.won".to_string(),
            Some("lost") => return "deal.lost".to_string(),
            _ => {}
        }
    }
    format!("{entity}.{action}")
}

/// Whether a webhook subscribed to `subscriptions` is sent a change of `event_type`. `*` takes
/// every type, `deal.*` every deal's; `deal.won` and `deal.lost` are updates too, so `deal.updated`
/// takes them (under their own type).
pub fn wanted(subscriptions: &[String], event_type: &str) -> bool {
    let entity = event_type.split('.').next().unwrap_or_default();
    let closed_deal = matches!(event_type, "deal.won" | "deal.lost");
    subscriptions.iter().any(|subscription| {
        subscription == "*"
            || subscription == event_type
            || subscription.strip_suffix(".*") == Some(entity)
            || (closed_deal && subscription == "deal.updated")
    })
}

/// Checks one entry of a webhook's `event_types`: `*`, `<entity>.*` or `<entity>.<action>`, with
/// an entity the change log knows and an action of lowercase letters and underscores.
pub fn check_subscription(subscription: &str) -> Result<(), String> {
    if subscription == "*" {
        return Ok(());
    }
    let Some((entity, action)) = subscription.split_once('.') else {
        return Err(format!("`{subscription}` is not `*`, `<entity>.*` or `<entity>.<action>`"));
    };
    if !is_entity(entity) {
        let known: Vec<&str> = FEED_ENTITIES.iter().map(|(_, entity)| *entity).collect();
        return Err(format!("`{entity}` is not one of {}", known.join(", ")));
    }
    let valid_action = action == "*"
        || (!action.is_empty()
            && action.len() <= 40
            && action.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    if valid_action { Ok(()) } else { Err(format!("`{action}` is not an action such as `created` or `*`")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subscribed(types: &[&str]) -> Vec<String> {
        types.iter().map(|kind| kind.to_string()).collect()
    }

    #[test]
    fn a_deal_closed_by_an_update_is_won_or_lost() {
        assert_eq!(
            event_type("deal", "updated", &json!({"status": {"from": "open", "to": "won"}})),
            "deal.won"
        );
        assert_eq!(
            event_type("deal", "updated", &json!({"status": {"from": "open", "to": "lost"}})),
            "deal.lost"
        );
        assert_eq!(
            event_type("deal", "updated", &json!({"amount": {"from": "1", "to": "2"}})),
            "deal.updated"
        );
        assert_eq!(event_type("client", "updated", &json!({"status": {"to": "won"}})), "client.updated");
    }

    #[test]
    fn subscriptions_take_exact_types_wildcards_and_closed_deals_as_updates() {
        assert!(wanted(&subscribed(&["*"]), "activity.reminder_due"));
        assert!(wanted(&subscribed(&["client.*"]), "client.merged"));
        assert!(!wanted(&subscribed(&["client.*"]), "contact.created"));
        assert!(wanted(&subscribed(&["deal.updated"]), "deal.won"));
        assert!(!wanted(&subscribed(&["deal.won"]), "deal.updated"));
        assert!(!wanted(&subscribed(&["deal.won"]), "deal.lost"));
        assert!(!wanted(&subscribed(&["client.created"]), "client.updated"));
    }

    #[test]
    fn checks_subscriptions() {
        for valid in ["*", "client.*", "deal.won", "activity.reminder_due"] {
            assert_eq!(check_subscription(valid), Ok(()), "{valid}");
        }
        for invalid in
            ["", "client", "clients.created", "client.", "client.Created", "api_key.created", "*.*"]
        {
            assert!(check_subscription(invalid).is_err(), "{invalid}");
        }
    }
}
