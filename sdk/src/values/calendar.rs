//! Dates (`YYYY-MM-DD`) and RFC 3339 date-times, parsed so that they compare by the day or the
//! moment they denote: `2025-07-14T09:20:00+08:00` equals `2025-07-14T01:20:00Z`.

/// A valid calendar date, the JSON Schema `date` format; dates compare by day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Parses a full date as RFC 3339 writes it; anything else, or an impossible day, is `None`.
    ///
    /// ```
    /// use jingxi_sdk::values::Date;
    ///
    /// assert!(Date::parse("2025-01-10") < Date::parse("2025-02-01"));
    /// assert!(Date::parse("2024-02-29").is_some());
    /// assert_eq!(Date::parse("2025-02-29"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = digits(&text[0..4])?;
        let month = digits(&text[5..7])?;
        let day = digits(&text[8..10])?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            year: u16::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }

    /// The date `days` days later (earlier when negative), or `None` past the year 9999 or
    /// before the year 0.
    ///
    /// ```
    /// use jingxi_sdk::values::Date;
    ///
    /// let last_of_february = Date::parse("2024-02-29").unwrap();
    /// assert_eq!(last_of_february.add_days(1), Date::parse("2024-03-01"));
    /// assert_eq!(last_of_february.add_days(-59), Date::parse("2024-01-01"));
    /// assert_eq!(Date::parse("9999-12-31").unwrap().add_days(1), None);
    /// ```
    pub fn add_days(self, days: i64) -> Option<Date> {
        let (year, month, day) = civil_from_days(self.days_since_epoch().checked_add(days)?);
        Some(Date {
            year: u16::try_from(year).ok().filter(|year| *year <= 9999)?,
            month,
            day,
        })
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    fn days_since_epoch(self) -> i64 {
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
}

/// Writes the date as RFC 3339 does, `2025-07-14`.
///
/// ```
/// let date = jingxi_sdk::values::Date::parse("2025-07-04").unwrap();
/// assert_eq!(date.to_string(), "2025-07-04");
/// assert_eq!(format!("{date}T00:00:00+08:00"), "2025-07-04T00:00:00+08:00");
/// ```
impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u8;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A moment in time, from an RFC 3339 date-time (the JSON Schema `date-time` format) with its
/// offset applied; instants compare by the moment, whatever the offset they were written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    seconds: i64,
    nanos: u32,
}

impl Instant {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; a time without an offset is `None`.
    /// Digits of the fraction beyond nanoseconds are ignored.
    ///
    /// ```
    /// use jingxi_sdk::values::Instant;
    ///
    /// assert_eq!(
    ///     Instant::parse("2025-07-14T09:20:00+08:00"),
    ///     Instant::parse("2025-07-14T01:20:00Z")
    /// );
    /// assert!(Instant::parse("2025-07-14T00:30:00-05:00") > Instant::parse("2025-07-14T05:00:00Z"));
    /// assert_eq!(Instant::parse("2025-07-14T09:20:00"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Instant> {
        let date = Date::parse(text.get(0..10)?)?;
        let rest = text.get(10..)?;
        let rest = rest.strip_prefix(['T', 't'])?;
        let bytes = rest.as_bytes();
        if bytes.len() < 9 || bytes[2] != b':' || bytes[5] != b':' {
            return None;
        }
        let hour = digits(rest.get(0..2)?)?;
        let minute = digits(rest.get(3..5)?)?;
        let second = digits(rest.get(6..8)?)?;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut rest = rest.get(8..)?;
        let mut nanos = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let n_digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if n_digits == 0 {
                return None;
            }
            for (digit_idx, byte) in fraction.bytes().take(9).take(n_digits).enumerate() {
                nanos += u32::from(byte - b'0') * 10u32.pow(8 - digit_idx as u32);
            }
            rest = &fraction[n_digits..];
        }
        let offset_seconds = match rest {
            "Z" | "z" => 0,
            _ => {
                let bytes = rest.as_bytes();
                if bytes.len() != 6 || bytes[3] != b':' {
                    return None;
                }
                let sign = match bytes[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let offset_hour = digits(&rest[1..3])?;
                let offset_minute = digits(&rest[4..6])?;
                if offset_hour > 23 || offset_minute > 59 {
                    return None;
                }
                sign * i64::from(offset_hour * 3600 + offset_minute * 60)
            }
        };
        let seconds = date.days_since_epoch() * 86_400
            + i64::from(hour * 3600 + minute * 60 + second)
            - offset_seconds;
        Some(Instant { seconds, nanos })
    }

    /// The moment `seconds` later (earlier when negative); `None` on overflow.
    ///
    /// ```
    /// use jingxi_sdk::values::Instant;
    ///
    /// let received = Instant::parse("2025-07-14T09:20:00+08:00").unwrap();
    /// let deadline = received.add_seconds(2 * 3600);
    /// assert_eq!(deadline, Instant::parse("2025-07-14T03:20:00Z"));
    /// assert!(Instant::parse("2025-07-14T03:20:00.001Z") > deadline);
    /// ```
    pub fn add_seconds(self, seconds: i64) -> Option<Instant> {
        Some(Instant {
            seconds: self.seconds.checked_add(seconds)?,
            nanos: self.nanos,
        })
    }
}

fn digits(text: &str) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::{Date, Instant};

    fn instant(text: &str) -> Instant {
        Instant::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn parses_valid_dates_only() {
        assert!(Date::parse("2024-02-29").is_some());
        for text in [
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-1-01",
            "2025/01/01",
            "2025-01-01T00:00:00Z",
            "",
        ] {
            assert_eq!(Date::parse(text), None, "{text}");
        }
    }

    #[test]
    fn orders_by_day() {
        assert!(Date::parse("2025-01-10").unwrap() < Date::parse("2025-02-01").unwrap());
        assert!(Date::parse("2024-12-31").unwrap() < Date::parse("2025-01-01").unwrap());
    }

    #[test]
    fn adds_days_across_months_years_and_leap_days() {
        let date = |text| Date::parse(text).unwrap_or_else(|| panic!("{text} should parse"));
        for (from, days, to) in [
            ("2025-01-31", 1, "2025-02-01"),
            ("2024-12-31", 1, "2025-01-01"),
            ("2024-02-28", 1, "2024-02-29"),
            ("2023-02-28", 1, "2023-03-01"),
            ("2000-02-28", 1, "2000-02-29"),
            ("1900-02-28", 1, "1900-03-01"),
            ("2025-03-01", -1, "2025-02-28"),
            ("1970-01-01", -1, "1969-12-31"),
            ("2025-07-14", 0, "2025-07-14"),
            ("2024-01-01", 365, "2024-12-31"),
        ] {
            assert_eq!(date(from).add_days(days), Some(date(to)), "{from} + {days}");
            assert_eq!(date(to).to_string(), to);
        }
        assert_eq!(date("0000-01-01").add_days(-1), None);
        assert_eq!(date("9999-12-31").add_days(1), None);
    }

    #[test]
    fn counts_days_from_the_unix_epoch() {
        let days = |text| Date::parse(text).map(Date::days_since_epoch);
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2000-03-01"), Some(11_017));
        assert_eq!(days("1969-12-31"), Some(-1));
    }

    #[test]
    fn compares_date_times_across_offsets() {
        assert_eq!(
            instant("2025-07-14T09:20:00+08:00"),
            instant("2025-07-14T01:20:00Z")
        );
        assert!(instant("2025-07-14T09:20:00+08:00") < instant("2025-07-14T02:00:00z"));
        assert!(instant("2025-07-14T00:30:00-05:00") > instant("2025-07-14T05:00:00Z"));
        assert!(instant("2025-07-14T01:20:00.5Z") > instant("2025-07-14T01:20:00.49999Z"));
        assert_eq!(
            instant("2025-07-14T01:20:00.1234567891Z"),
            instant("2025-07-14T01:20:00.123456789Z")
        );
    }

    #[test]
    fn rejects_date_times_without_an_offset() {
        for text in [
            "2025-07-14T09:20:00",
            "2025-07-14 09:20:00+08:00",
            "2025-07-14T09:20+08:00",
            "2025-07-14T24:00:00Z",
            "2025-07-14T09:20:00.Z",
            "2025-07-14T09:20:00+0800",
            "2025-07-14",
            "2025-07-14T０9:20:00Z",
            "2025-07-14T09:20:0０Z",
        ] {
            assert_eq!(Instant::parse(text), None, "{text}");
        }
    }
}
