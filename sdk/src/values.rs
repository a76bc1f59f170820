//! Exact values read from the strings that carry money, decimals, dates and date-times.
//!
//! The schema dialect stores these as strings, so that no float ever touches an amount and a
//! date-time keeps its offset. The types here parse those strings and compare by what they denote:
//! `"10"` is more than `"9.99"`, and `2025-07-14T09:20:00+08:00` equals `2025-07-14T01:20:00Z`.
//!
//! ```
//! use jingxi_sdk::values::{Amount, Date, Instant};
//!
//! assert!(Amount::parse("10") > Amount::parse("9.99"));
//! assert!(Date::parse("2024-12-31") < Date::parse("2025-01-01"));
//! assert_eq!(
//!     Instant::parse("2025-07-14T09:20:00+08:00"),
//!     Instant::parse("2025-07-14T01:20:00Z")
//! );
//! ```

mod calendar;
mod decimal;

pub use calendar::{Date, Instant};
pub use decimal::Amount;
