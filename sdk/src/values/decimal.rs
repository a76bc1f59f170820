//! Exact decimal amounts, read from money and decimal fields without floats.

/// A decimal amount scaled by 10^4, which holds every money (2 places) and decimal (4 places) value.
///
/// Amounts compare by value, whatever their text: `41` equals `41.0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i128);

const SCALE_DIGITS: usize = 4;
const MAX_INTEGER_DIGITS: usize = 30;

impl Amount {
    /// Parses `-?digits(.digits)?` with at most four decimal places; anything else is `None`.
    ///
    /// ```
    /// use jingxi_sdk::values::Amount;
    ///
    /// assert_eq!(Amount::parse("41"), Amount::parse("41.0000"));
    /// assert!(Amount::parse("3999.01") > Amount::parse("3999"));
    /// assert_eq!(Amount::parse("1e3"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Amount> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = match unsigned.split_once('.') {
            Some((integer, fraction)) if !fraction.is_empty() => (integer, fraction),
            Some(_) => return None,
            None => (unsigned, ""),
        };
        let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if integer.is_empty()
            || integer.len() > MAX_INTEGER_DIGITS
            || fraction.len() > SCALE_DIGITS
            || !all_digits(integer)
            || !all_digits(fraction)
        {
            return None;
        }
        let mut value: i128 = 0;
        for byte in integer.bytes().chain(fraction.bytes()) {
            value = value * 10 + i128::from(byte - b'0');
        }
        for _ in fraction.len()..SCALE_DIGITS {
            value *= 10;
        }
        Some(Amount(if negative { -value } else { value }))
    }

    /// Whether the amount is below zero.
    ///
    /// ```
    /// use jingxi_sdk::values::Amount;
    ///
    /// assert!(Amount::parse("-0.01").is_some_and(Amount::is_negative));
    /// assert!(!Amount::parse("-0").is_some_and(Amount::is_negative));
    /// ```
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whether the amount is above zero.
    ///
    /// ```
    /// use jingxi_sdk::values::Amount;
    ///
    /// assert!(Amount::parse("6800.00").is_some_and(Amount::is_positive));
    /// assert!(!Amount::parse("0.00").is_some_and(Amount::is_positive));
    /// ```
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

#[cfg(test)]
mod tests {
    use super::Amount;

    #[track_caller]
    fn check(text: &str, expect: Option<i128>) {
        assert_eq!(Amount::parse(text), expect.map(Amount));
    }

    #[test]
    fn parses_money_and_decimals_exactly() {
        check("0", Some(0));
        check("3999.00", Some(39_990_000));
        check("3999.5", Some(39_995_000));
        check("-12.3456", Some(-123_456));
        check("9999999999999999.99", Some(99_999_999_999_999_999_900));
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for text in [
            "", "-", "1.", ".5", "1.23456", "1e3", "+1", "1,000", " 1", "１",
        ] {
            check(text, None);
        }
    }

    #[test]
    fn orders_by_value_not_by_text() {
        assert!(Amount::parse("10").unwrap() > Amount::parse("9.99").unwrap());
        assert!(Amount::parse("-1").unwrap() < Amount::parse("0.01").unwrap());
        assert_eq!(
            Amount::parse("41").unwrap(),
            Amount::parse("41.0000").unwrap()
        );
    }

    #[test]
    fn tells_the_sign() {
        let sign =
            |text| Amount::parse(text).map(|amount| (amount.is_negative(), amount.is_positive()));
        assert_eq!(sign("-0.0001"), Some((true, false)));
        assert_eq!(sign("-0"), Some((false, false)));
        assert_eq!(sign("0.0001"), Some((false, true)));
    }
}
