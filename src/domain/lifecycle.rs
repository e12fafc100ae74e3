//! Where a client is in their life with us, as their purchases say: the stage a client whose stage
//! no user set moves to (`lifecycle_stage`, unless `lifecycle_set_by_hand`).

use chrono::{DateTime, TimeDelta, Utc};

use super::enums::LifecycleStage;

/// A workspace's thresholds: how many won deals make a customer loyal, and how long without one
/// makes them churned.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleRules {
    pub loyal_after_purchases: i32,
    pub churned_after: TimeDelta,
}

/// The stage purchases give a client now at `current`: churned when the last purchase is older than
/// the rules allow, loyal from the repeat count, customer from the first won deal. A client who
/// never bought keeps a stage before buying (lead, prospect); one whose won deals are all gone
/// (deleted, reopened) is a lead again.
pub fn derived(
    current: LifecycleStage,
    won_count: i32,
    last_purchase_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    rules: LifecycleRules,
) -> LifecycleStage {
    use LifecycleStage::*;
    if won_count <= 0 {
        return match current {
            Customer | Loyal | Churned => Lead,
            before_buying => before_buying,
        };
    }
    if last_purchase_at.is_some_and(|at| at < now - rules.churned_after) {
        Churned
    } else if won_count >= rules.loyal_after_purchases {
        Loyal
    } else {
        Customer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleStage::*;

    #[test]
    fn purchases_move_a_client_along_and_time_without_them_churns_them() {
        let now = Utc::now();
        let rules = LifecycleRules { loyal_after_purchases: 3, churned_after: TimeDelta::days(365) };
        let stage = |current, won, days_ago: Option<i64>| {
            derived(current, won, days_ago.map(|days| now - TimeDelta::days(days)), now, rules)
        };
        assert_eq!(stage(Lead, 0, None), Lead);
        assert_eq!(stage(Prospect, 0, None), Prospect);
        assert_eq!(stage(Lead, 1, Some(10)), Customer);
        assert_eq!(stage(Customer, 2, Some(10)), Customer);
        assert_eq!(stage(Customer, 3, Some(10)), Loyal);
        assert_eq!(stage(Loyal, 5, Some(366)), Churned);
        assert_eq!(stage(Churned, 6, Some(1)), Loyal, "a purchase brings a churned client back");
        assert_eq!(stage(Customer, 0, None), Lead, "won deals gone: no customer");
        assert_eq!(stage(Customer, 1, Some(365)), Customer, "churned only past the time");
    }
}
