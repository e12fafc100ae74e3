//! The ready-made segments every workspace starts with, written in the filter language.

use serde_json::{Value, json};

/// A built-in segment: its stable key, name, description and filter.
pub struct Builtin {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub filter: Value,
}

/// How many purchases make a frequent buyer.
pub const FREQUENT_PURCHASES: i64 = 5;
/// How many days without a purchase make a buyer dormant.
pub const DORMANT_DAYS: i64 = 90;
/// How many days without a purchase make a buyer lost, unless a clients report says otherwise.
pub const LOST_DAYS: i64 = 365;

pub fn builtins() -> Vec<Builtin> {
    vec![
        Builtin {
            key: "dormant",
            name: "Dormant clients",
            description: "Bought before, but nothing in the last 90 days",
            filter: json!({"all": [
                {"field": "stats.won_count", "op": "gte", "value": 1},
                {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": DORMANT_DAYS}
            ]}),
        },
        Builtin {
            key: "frequent_buyers",
            name: "Frequent buyers",
            description: "Five or more purchases",
            filter: json!({"field": "stats.won_count", "op": "gte", "value": FREQUENT_PURCHASES}),
        },
        Builtin {
            key: "occasional_buyers",
            name: "Occasional buyers",
            description: "One to four purchases",
            filter: json!({"field": "stats.won_count", "op": "between", "value": [1, FREQUENT_PURCHASES - 1]}),
        },
        Builtin {
            key: "never_bought",
            name: "Never bought",
            description: "No won deal yet",
            filter: json!({"field": "stats.won_count", "op": "eq", "value": 0}),
        },
        Builtin {
            key: "new_this_month",
            name: "New this month",
            description: "Clients added in the last 30 days",
            filter: json!({"field": "created_at", "op": "within_days", "value": 30}),
        },
        Builtin {
            key: "rfm_champions",
            name: "RFM: champions",
            description: "Bought recently and often (RFM class champions)",
            filter: json!({"field": "stats.rfm_class", "op": "eq", "value": "champions"}),
        },
        Builtin {
            key: "rfm_at_risk",
            name: "RFM: at risk",
            description: "Bought often, but not for a while (RFM classes at_risk and cant_lose)",
            filter: json!({"field": "stats.rfm_class", "op": "in", "value": ["at_risk", "cant_lose"]}),
        },
    ]
}
