//! The rules of a deal's money and state: a draft (what the request asks for, with the products
//! and stage it names already looked up) is resolved into a plan of what to store, or into every
//! rule it breaks.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::FieldCode;
use super::Violation;
use super::enums::StageKind;
use super::money::{self, Line, exact_amount, line_total};
use super::text::trimmed;

/// What a line item takes from its product when the request leaves it out.
#[derive(Debug, Clone, Copy)]
pub struct ProductDefaults<'a> {
    pub name: &'a str,
    pub product_group: Option<&'a str>,
    pub price: Decimal,
    pub currency: &'a str,
}

/// One line item as the request gives it.
#[derive(Debug, Clone)]
pub struct ItemDraft<'a> {
    pub product: Option<ProductDefaults<'a>>,
    pub name: Option<&'a str>,
    pub product_group: Option<&'a str>,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
    pub discount_percent: Option<Decimal>,
    pub tax_percent: Option<Decimal>,
}

/// The money and closing fields of a deal as the request gives them.
#[derive(Debug, Clone)]
pub struct DealDraft<'a> {
    /// An ISO 4217 code, already checked, and its minor units.
    pub currency: &'a str,
    pub places: u32,
    pub amount: Option<Decimal>,
    pub exchange_rate: Option<Decimal>,
    pub items: Vec<ItemDraft<'a>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<&'a str>,
}

/// What the rules read besides the draft.
#[derive(Debug, Clone, Copy)]
pub struct DealContext<'a> {
    pub workspace_currency: &'a str,
    /// The kind of the stage the deal will be in.
    pub status: StageKind,
    /// The status and closing time stored before this write, on an update.
    pub previous: Option<(StageKind, Option<DateTime<Utc>>)>,
    pub now: DateTime<Utc>,
}

/// A line item priced: its name and group filled in from the product, its total computed.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedItem {
    pub name: String,
    pub product_group: Option<String>,
    pub line: Line,
    pub total: Decimal,
}

/// What a deal stores for its money and closing, every rule met.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPlan {
    pub items: Vec<PricedItem>,
    /// The items' sum when there are items, else the amount given (0 when none).
    pub amount: Decimal,
    pub exchange_rate: Option<Decimal>,
    /// The amount in the workspace currency: the amount itself in that currency, converted at the
    /// exchange rate otherwise, unknown without a rate.
    pub amount_base: Option<Decimal>,
    pub lost_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// Resolves a draft into what to store, or every rule it breaks, sorted by field.
pub fn plan(draft: &DealDraft<'_>, context: &DealContext<'_>) -> Result<DealPlan, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut items = Vec::with_capacity(draft.items.len());
    for (index, item) in draft.items.iter().enumerate() {
        match price_item(&format!("items[{index}]"), item, draft) {
            Ok(priced) => items.push(priced),
            Err(found) => violations.extend(found),
        }
    }
    // The amount is only known once every item is.
    let amounts = if violations.is_empty() {
        amount_of(draft, &items)
            .and_then(|amount| amount_base(draft, context, amount).map(|(rate, base)| (amount, rate, base)))
            .map_err(|found| violations.push(found))
            .ok()
    } else {
        None
    };
    let lost_reason = lost_reason(draft, context.status).map_err(|found| violations.push(found));
    let closed_at = closed_at(draft, context).map_err(|found| violations.push(found));
    match (amounts, lost_reason, closed_at) {
        (Some((amount, exchange_rate, amount_base)), Ok(lost_reason), Ok(closed_at))
            if violations.is_empty() =>
        {
            Ok(DealPlan { items, amount, exchange_rate, amount_base, lost_reason, closed_at })
        }
        _ => {
            violations.sort_by(|a, b| a.field.cmp(&b.field));
            Err(violations)
        }
    }
}

/// One item's price (given, else the product's in the deal's currency), name, group and total.
fn price_item(
    field: &str,
    item: &ItemDraft<'_>,
    draft: &DealDraft<'_>,
) -> Result<PricedItem, Vec<Violation>> {
    let mut violations = Vec::new();
    let unit_price = match (item.unit_price, item.product) {
        (Some(price), _) => Some(price),
        (None, Some(product)) if product.currency == draft.currency => Some(product.price),
        (None, Some(product)) => {
            violations.push(Violation::new(
                format!("{field}.unit_price"),
                FieldCode::Required,
                format!(
                    "the product is priced in {}: give the unit price in {}",
                    product.currency, draft.currency
                ),
            ));
            None
        }
        (None, None) => {
            violations.push(Violation::new(
                format!("{field}.unit_price"),
                FieldCode::Required,
                "is required without a product",
            ));
            None
        }
    };
    let name = match item.name.or(item.product.map(|product| product.name)) {
        None => {
            violations.push(Violation::new(
                format!("{field}.name"),
                FieldCode::Required,
                "is required without a product",
            ));
            None
        }
        Some(name) => super::text::non_blank(&format!("{field}.name"), name)
            .map_err(|found| violations.push(found))
            .ok(),
    };
    let (Some(unit_price), Some(name)) = (unit_price, name) else { return Err(violations) };
    let line = Line {
        quantity: item.quantity,
        unit_price,
        discount_percent: item.discount_percent.unwrap_or(Decimal::ZERO),
        tax_percent: item.tax_percent,
    };
    let total = line_total(field, line, draft.places).map_err(|found| vec![found])?;
    let product_group =
        item.product_group.or(item.product.and_then(|product| product.product_group)).map(str::to_string);
    Ok(PricedItem { name, product_group, line, total })
}

/// The deal's amount: the items' sum (which a given amount must equal), or the amount given.
fn amount_of(draft: &DealDraft<'_>, items: &[PricedItem]) -> Result<Decimal, Violation> {
    if items.is_empty() {
        return exact_amount("amount", draft.amount.unwrap_or(Decimal::ZERO), draft.places);
    }
    let too_large = || Violation::new("items", FieldCode::TooLarge, "the items' total is too large");
    let sum = items
        .iter()
        .try_fold(Decimal::ZERO, |sum, item| sum.checked_add(item.total))
        .ok_or_else(too_large)?;
    if !money::within_bounds(sum) {
        return Err(too_large());
    }
    if draft.amount.is_some_and(|amount| amount != sum) {
        return Err(Violation::new(
            "amount",
            FieldCode::ItemsSum,
            "is the sum of the items when a deal has items: omit it",
        ));
    }
    Ok(money::round(sum, draft.places))
}

/// The exchange rate to keep and the amount in the workspace currency.
fn amount_base(
    draft: &DealDraft<'_>,
    context: &DealContext<'_>,
    amount: Decimal,
) -> Result<(Option<Decimal>, Option<Decimal>), Violation> {
    if draft.currency == context.workspace_currency {
        if draft.exchange_rate.is_some_and(|rate| rate != Decimal::ONE) {
            return Err(Violation::new(
                "exchange_rate",
                FieldCode::SameCurrency,
                "applies only to a deal in a foreign currency",
            ));
        }
        return Ok((None, Some(amount)));
    }
    match draft.exchange_rate {
        Some(rate) if rate <= Decimal::ZERO => {
            Err(Violation::new("exchange_rate", FieldCode::Range, "must be greater than 0"))
        }
        Some(rate) => {
            let base = money::convert(amount, rate, money::places(context.workspace_currency));
            if base.is_none_or(|base| !money::within_bounds(base)) {
                return Err(Violation::new(
                    "exchange_rate",
                    FieldCode::TooLarge,
                    "makes the amount in the workspace currency too large",
                ));
            }
            Ok((Some(rate), base))
        }
        None => Ok((None, None)),
    }
}

/// A lost deal says why; an open or won one keeps no reason.
fn lost_reason(draft: &DealDraft<'_>, status: StageKind) -> Result<Option<String>, Violation> {
    match status {
        StageKind::Lost => trimmed(draft.lost_reason).map(Some).ok_or_else(|| {
            Violation::new("lost_reason", FieldCode::Required, "is required when a deal is lost")
        }),
        StageKind::Won | StageKind::Open => Ok(None),
    }
}

/// When a won or lost deal closed: as given (not in the future), kept while the status stays, now
/// when it first closes; an open deal has none.
fn closed_at(draft: &DealDraft<'_>, context: &DealContext<'_>) -> Result<Option<DateTime<Utc>>, Violation> {
    match (context.status, draft.closed_at, context.previous) {
        (StageKind::Open, Some(_), _) => Err(Violation::new(
            "closed_at",
            FieldCode::NotAllowed,
            "only a won or lost deal has a closing time",
        )),
        (StageKind::Open, None, _) => Ok(None),
        (_, Some(closed_at), _) if closed_at > context.now => {
            Err(Violation::new("closed_at", FieldCode::InFuture, "must not be in the future"))
        }
        (_, Some(closed_at), _) => Ok(Some(closed_at)),
        (status, None, Some((previous, closed_at))) if previous == status => Ok(closed_at),
        (_, None, _) => Ok(Some(context.now)),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap_or_default()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).single().unwrap_or_default()
    }

    fn draft() -> DealDraft<'static> {
        DealDraft {
            currency: "EUR",
            places: 2,
            amount: None,
            exchange_rate: None,
            items: Vec::new(),
            closed_at: None,
            lost_reason: None,
        }
    }

    fn context(status: StageKind) -> DealContext<'static> {
        DealContext { workspace_currency: "EUR", status, previous: None, now: now() }
    }

    fn item(quantity: &str, unit_price: Option<&str>) -> ItemDraft<'static> {
        ItemDraft {
            product: None,
            name: Some("Tea"),
            product_group: None,
            quantity: d(quantity),
            unit_price: unit_price.map(d),
            discount_percent: None,
            tax_percent: None,
        }
    }

    const GREEN_TEA: ProductDefaults<'static> = ProductDefaults {
        name: "Green tea",
        product_group: Some("tea"),
        price: Decimal::TEN,
        currency: "EUR",
    };

    fn codes(result: Result<DealPlan, Vec<Violation>>) -> Vec<(String, &'static str)> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|violation| (violation.field, violation.code.as_str()))
            .collect()
    }

    #[test]
    fn the_amount_of_a_deal_with_items_is_their_sum() {
        let with_items = DealDraft { items: vec![item("3", Some("0.335")), item("1", Some("2"))], ..draft() };
        let plan = plan(&with_items, &context(StageKind::Open));
        assert_eq!(
            plan.map(|plan| (plan.amount.to_string(), plan.amount_base)),
            Ok(("3.00".into(), Some(d("3.00"))))
        );
        let disagreeing = DealDraft { amount: Some(d("5")), ..with_items };
        assert_eq!(
            codes(super::plan(&disagreeing, &context(StageKind::Open))),
            [("amount".into(), "items_sum")]
        );
    }

    #[test]
    fn items_take_what_they_leave_out_from_their_product() {
        let from_product = ItemDraft { product: Some(GREEN_TEA), name: None, ..item("2", None) };
        let plan =
            plan(&DealDraft { items: vec![from_product.clone()], ..draft() }, &context(StageKind::Open));
        let priced = plan.map(|plan| plan.items[0].clone());
        assert_eq!(priced.as_ref().map(|item| item.name.as_str()), Ok("Green tea"));
        assert_eq!(priced.as_ref().map(|item| item.product_group.as_deref()), Ok(Some("tea")));
        assert_eq!(priced.map(|item| item.total), Ok(d("20.00")));

        let in_dollars = DealDraft { currency: "USD", items: vec![from_product], ..draft() };
        let usd_context = DealContext { workspace_currency: "USD", ..context(StageKind::Open) };
        assert_eq!(
            codes(super::plan(&in_dollars, &usd_context)),
            [("items[0].unit_price".into(), "required")]
        );
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let broken = DealDraft {
            items: vec![
                ItemDraft { name: None, ..item("1", None) },
                ItemDraft { name: Some(" \u{a0} "), ..item("0", Some("1")) },
                item("1", Some("1")),
            ],
            closed_at: Some(now()),
            ..draft()
        };
        assert_eq!(
            codes(plan(&broken, &context(StageKind::Lost))),
            [
                ("items[0].name".into(), "required"),
                ("items[0].unit_price".into(), "required"),
                ("items[1].name".into(), "blank"),
                ("lost_reason".into(), "required"),
            ]
        );
    }

    #[test]
    fn a_foreign_currency_deal_is_converted_at_its_rate() {
        let in_dollars =
            DealDraft { currency: "USD", amount: Some(d("10")), exchange_rate: Some(d("0.915")), ..draft() };
        let plan = plan(&in_dollars, &context(StageKind::Open));
        assert_eq!(
            plan.map(|plan| (plan.exchange_rate, plan.amount_base)),
            Ok((Some(d("0.915")), Some(d("9.15"))))
        );
        let without_rate = DealDraft { exchange_rate: None, ..in_dollars.clone() };
        assert_eq!(
            super::plan(&without_rate, &context(StageKind::Open)).map(|plan| plan.amount_base),
            Ok(None)
        );
        let zero_rate = DealDraft { exchange_rate: Some(Decimal::ZERO), ..in_dollars };
        assert_eq!(
            codes(super::plan(&zero_rate, &context(StageKind::Open))),
            [("exchange_rate".into(), "range")]
        );
        let rate_at_home = DealDraft { amount: Some(d("10")), exchange_rate: Some(d("2")), ..draft() };
        assert_eq!(
            codes(super::plan(&rate_at_home, &context(StageKind::Open))),
            [("exchange_rate".into(), "same_currency")]
        );
    }

    #[test]
    fn a_deal_closes_when_it_first_reaches_won_or_lost_and_keeps_that_time() {
        let won = context(StageKind::Won);
        assert_eq!(plan(&draft(), &won).map(|plan| plan.closed_at), Ok(Some(now())));
        let yesterday = now() - chrono::Duration::days(1);
        let still_won = DealContext { previous: Some((StageKind::Won, Some(yesterday))), ..won };
        assert_eq!(plan(&draft(), &still_won).map(|plan| plan.closed_at), Ok(Some(yesterday)));
        let reopened =
            DealContext { previous: Some((StageKind::Won, Some(yesterday))), ..context(StageKind::Open) };
        assert_eq!(plan(&draft(), &reopened).map(|plan| plan.closed_at), Ok(None));

        let tomorrow = DealDraft { closed_at: Some(now() + chrono::Duration::days(1)), ..draft() };
        assert_eq!(codes(plan(&tomorrow, &won)), [("closed_at".into(), "in_future")]);
        let open_with_time = DealDraft { closed_at: Some(yesterday), ..draft() };
        assert_eq!(
            codes(plan(&open_with_time, &context(StageKind::Open))),
            [("closed_at".into(), "not_allowed")]
        );
    }

    #[test]
    fn only_a_lost_deal_keeps_a_reason() {
        let with_reason = DealDraft { lost_reason: Some("  too expensive "), ..draft() };
        assert_eq!(
            plan(&with_reason, &context(StageKind::Lost)).map(|plan| plan.lost_reason),
            Ok(Some("too expensive".to_string()))
        );
        assert_eq!(plan(&with_reason, &context(StageKind::Won)).map(|plan| plan.lost_reason), Ok(None));
    }
}
