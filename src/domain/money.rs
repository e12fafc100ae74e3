//! Money: ISO 4217 currencies, amounts rounded half-even to the currency's minor units, and deal
//! line totals. Everything is `Decimal`; no floating point anywhere on the money path.

use rust_decimal::{Decimal, RoundingStrategy};

use super::FieldCode;
use super::Violation;

/// The number of minor units (decimal places) of an ISO 4217 currency; `None` for an unknown code.
pub fn minor_units(code: &str) -> Option<u32> {
    let currency = iso_currency::Currency::from_code(code)?;
    // Funds and metals (XAU, XDR…) have no exponent: treat them as whole units' hundredths.
    Some(currency.exponent().map_or(2, u32::from))
}

/// The decimal places to show amounts of a stored currency in. Stored codes were checked on the way
/// in; should one not be known (a code retired from ISO 4217 since), it gets the common two.
pub fn places(code: &str) -> u32 {
    minor_units(code).unwrap_or(2)
}

/// Checks an ISO 4217 code, upper case.
pub fn check_currency(field: &str, code: &str) -> Result<u32, Violation> {
    minor_units(code).ok_or_else(|| {
        Violation::new(field, FieldCode::Currency, format!("{code:?} is not an ISO 4217 currency code"))
    })
}

/// Rounds half-even (banker's rounding) to `places` and fixes the scale, so `5` becomes `5.00`.
pub fn round(value: Decimal, places: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(places);
    rounded
}

/// Every amount, price and line total is below 10^15: 15 digits before the point. Sums of them
/// stay far inside what `Decimal` and the readers of `numeric` columns represent (about 7.9 × 10^28)
/// over a billion deals, so no stored value can make a board, a card or an export fail to add up.
pub const AMOUNT_DIGITS: u32 = 15;

/// A non-negative decimal as a query writes it: up to 15 digits, a point and up to 6 more, nothing
/// else (no sign, exponent, separator or space). The documented pattern of such parameters.
pub const DECIMAL_TEXT_PATTERN: &str = r"^[0-9]{1,15}(\.[0-9]{1,6})?$";

/// Reads a decimal written as [`DECIMAL_TEXT_PATTERN`] says; `None` for anything else.
pub fn parse_decimal_text(text: &str) -> Option<Decimal> {
    parse_decimal_digits(text, 6)
}

/// Reads a non-negative decimal of up to 15 digits, a point and up to `places` more; `None` for
/// anything else (a sign, an exponent, a separator, a space).
pub fn parse_decimal_digits(text: &str, places: usize) -> Option<Decimal> {
    let whole = text.split_once('.').map_or(text, |(whole, _)| whole);
    if whole.len() > AMOUNT_DIGITS as usize {
        return None;
    }
    parse_plain_decimal(text, places)
}

/// Reads digits, a point and up to `places` more digits, of any size `Decimal` holds: a value of
/// more than 15 digits is then refused by [`check_bounds`] as `too_large`, by name.
pub fn parse_plain_decimal(text: &str, places: usize) -> Option<Decimal> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str, most: usize| {
        (1..=most).contains(&part.len()) && part.bytes().all(|byte| byte.is_ascii_digit())
    };
    if !(digits(whole, usize::MAX) && digits(fraction, places)) {
        return None;
    }
    text.parse().ok()
}

/// A decimal that may be negative, as a custom field's `min` and `max` are written: an optional
/// minus, then as [`DECIMAL_TEXT_PATTERN`].
pub const SIGNED_DECIMAL_TEXT_PATTERN: &str = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$";

/// Reads a decimal written as [`SIGNED_DECIMAL_TEXT_PATTERN`] says; `None` for anything else.
pub fn parse_signed_decimal_text(text: &str) -> Option<Decimal> {
    match text.strip_prefix('-') {
        Some(magnitude) => parse_decimal_text(magnitude).map(|value| -value),
        None => parse_decimal_text(text),
    }
}

/// Whether `value` is below 10^15 in size.
pub fn within_bounds(value: Decimal) -> bool {
    value.abs() < Decimal::from(10_i64.pow(AMOUNT_DIGITS))
}

/// Refuses an amount of 10^15 or more as `too_large`, naming `field`.
pub fn check_bounds(field: &str, value: Decimal, what: &str) -> Result<Decimal, Violation> {
    if within_bounds(value) {
        Ok(value)
    } else {
        Err(Violation::new(
            field,
            FieldCode::TooLarge,
            format!("{what}: at most {AMOUNT_DIGITS} digits before the point"),
        ))
    }
}

/// An amount as stored for `places` minor units: refused (not rounded) when it has more decimals,
/// so nothing a client sent is silently changed.
pub fn exact_amount(field: &str, value: Decimal, places: u32) -> Result<Decimal, Violation> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(Violation::new(field, FieldCode::Range, "must not be negative"));
    }
    check_bounds(field, value, "is too large")?;
    if value.normalize().scale() > places {
        return Err(Violation::new(
            field,
            FieldCode::Scale,
            format!("has more than {places} decimal places"),
        ));
    }
    let mut amount = value;
    amount.rescale(places);
    Ok(amount)
}

/// One line of a deal, as the totals are computed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// 0 to 100.
    pub discount_percent: Decimal,
    /// 0 to 100, added on top of the discounted price.
    pub tax_percent: Option<Decimal>,
}

/// quantity × unit price, less the discount, plus the tax, rounded half-even to `places`.
pub fn line_total(field: &str, line: Line, places: u32) -> Result<Decimal, Violation> {
    let hundred = Decimal::ONE_HUNDRED;
    let too_large = || Violation::new(field, FieldCode::TooLarge, "the line total is too large");
    let mut violations = Vec::new();
    if line.quantity <= Decimal::ZERO {
        violations.push(Violation::new(
            format!("{field}.quantity"),
            FieldCode::Range,
            "must be greater than 0",
        ));
    }
    if line.unit_price < Decimal::ZERO {
        violations.push(Violation::new(
            format!("{field}.unit_price"),
            FieldCode::Range,
            "must not be negative",
        ));
    }
    if let Err(too_large) = check_bounds(&format!("{field}.unit_price"), line.unit_price, "is too large") {
        violations.push(too_large);
    }
    if line.discount_percent < Decimal::ZERO || line.discount_percent > hundred {
        violations.push(Violation::new(
            format!("{field}.discount_percent"),
            FieldCode::Range,
            "must be between 0 and 100",
        ));
    }
    if line.tax_percent.is_some_and(|tax| tax < Decimal::ZERO || tax > hundred) {
        violations.push(Violation::new(
            format!("{field}.tax_percent"),
            FieldCode::Range,
            "must be between 0 and 100",
        ));
    }
    if let Some(first) = violations.into_iter().next() {
        return Err(first);
    }
    let gross = line.quantity.checked_mul(line.unit_price).ok_or_else(too_large)?;
    let net = gross.checked_mul(hundred - line.discount_percent).ok_or_else(too_large)? / hundred;
    let taxed = match line.tax_percent {
        Some(tax) => net.checked_mul(hundred + tax).ok_or_else(too_large)? / hundred,
        None => net,
    };
    check_bounds(field, round(taxed, places), "the line total is too large")
}

/// `amount` in the workspace currency at `rate`, rounded to that currency's minor units.
pub fn convert(amount: Decimal, rate: Decimal, places: u32) -> Option<Decimal> {
    amount.checked_mul(rate).map(|converted| round(converted, places))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap_or_default()
    }

    #[test]
    fn decimal_text_is_digits_and_a_point_only() {
        assert_eq!(parse_decimal_text("100000"), Some(d("100000")));
        assert_eq!(parse_decimal_text("0.5"), Some(d("0.5")));
        let refused =
            ["", " 1", "1 ", "+1", "-1", "1e3", "1_000", "1.", ".5", "1.1234567", "1234567890123456"];
        for text in refused {
            assert_eq!(parse_decimal_text(text), None, "{text:?}");
        }
        assert_eq!(parse_signed_decimal_text("-0.5"), Some(-d("0.5")));
        assert_eq!(parse_signed_decimal_text("12"), Some(d("12")));
        for text in ["--1", "+1", "- 1", "-", "-1e3"] {
            assert_eq!(parse_signed_decimal_text(text), None, "{text:?}");
        }
    }

    fn line(quantity: &str, price: &str) -> Line {
        Line {
            quantity: d(quantity),
            unit_price: d(price),
            discount_percent: Decimal::ZERO,
            tax_percent: None,
        }
    }

    #[test]
    fn currencies_know_their_minor_units() {
        assert_eq!(minor_units("EUR"), Some(2));
        assert_eq!(minor_units("JPY"), Some(0));
        assert_eq!(minor_units("BHD"), Some(3));
        assert_eq!(minor_units("ABC"), None);
        assert!(check_currency("currency", "usd").is_err());
    }

    #[test]
    fn rounding_is_half_even_at_the_line() {
        assert_eq!(round(d("0.125"), 2).to_string(), "0.12");
        assert_eq!(round(d("0.135"), 2).to_string(), "0.14");
        assert_eq!(round(d("5"), 2).to_string(), "5.00");
        // 3 × 0.335 = 1.005 → 1.00 (half-even), where half-up would give 1.01.
        assert_eq!(
            line_total("items[0]", line("3", "0.335"), 2).map(|t| t.to_string()),
            Ok("1.00".to_string())
        );
    }

    #[test]
    fn small_amounts_add_up_exactly() {
        let total = line_total("a", line("1", "0.10"), 2).unwrap_or_default()
            + line_total("b", line("1", "0.20"), 2).unwrap_or_default();
        assert_eq!(total.to_string(), "0.30");
    }

    #[test]
    fn discount_and_tax_apply_in_order() {
        let taxed = Line { discount_percent: d("10"), tax_percent: Some(d("20")), ..line("2", "50") };
        // 100 − 10 % = 90, + 20 % = 108.
        assert_eq!(line_total("items[0]", taxed, 2).map(|t| t.to_string()), Ok("108.00".to_string()));
        let too_much = Line { discount_percent: d("120"), ..line("1", "1") };
        assert_eq!(
            line_total("items[0]", too_much, 2).err().map(|v| v.field),
            Some("items[0].discount_percent".to_string())
        );
    }

    #[test]
    fn amounts_with_too_many_decimals_are_refused_not_rounded() {
        assert_eq!(exact_amount("amount", d("12.5"), 2).map(|a| a.to_string()), Ok("12.50".to_string()));
        assert!(exact_amount("amount", d("12.345"), 2).is_err());
        assert!(exact_amount("amount", d("-1"), 2).is_err());
    }

    #[test]
    fn amounts_have_at_most_fifteen_digits_before_the_point() {
        assert_eq!(
            exact_amount("amount", d("999999999999999.99"), 2).map(|a| a.to_string()),
            Ok("999999999999999.99".to_string())
        );
        for too_large in ["1000000000000000", "12345678901234567890", "79228162514264337593543950335"] {
            assert_eq!(
                exact_amount("amount", d(too_large), 2).map_err(|v| v.code.as_str()),
                Err("too_large"),
                "{too_large}"
            );
        }
        let priced_too_high = line("1", "1000000000000000");
        assert_eq!(
            line_total("items[0]", priced_too_high, 2).map_err(|v| (v.field, v.code.as_str())),
            Err(("items[0].unit_price".to_string(), "too_large"))
        );
        let adding_up_too_high = line("1000000000", "1000000");
        assert_eq!(
            line_total("items[0]", adding_up_too_high, 2).map_err(|v| (v.field, v.code.as_str())),
            Err(("items[0]".to_string(), "too_large"))
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let huge = line("79228162514264337593543950335", "10");
        assert_eq!(line_total("items[0]", huge, 2).err().map(|v| v.code.as_str()), Some("too_large"));
    }
}
