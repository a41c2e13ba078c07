//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), in UTC.
//!
//! A small parser of our own instead of a crate: the schedules need only "the first
//! matching minute strictly after a time", the state machine must compute it
//! deterministically from epoch milliseconds (no time-zone database, no clock), and
//! the two well-kept crates (`cron`, `croner`) both pull in `chrono` plus a parser
//! stack for features we do not offer (seconds, years, time zones, `L`/`W`/`#`).
//!
//! Syntax per field: `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`
//! (from `a` to the field's end), and comma-separated lists of those. Months and week
//! days also take English three-letter names (`jan`, `mon`); day-of-week 0 and 7 are
//! both Sunday. As in Vixie cron, when both day-of-month and day-of-week are
//! restricted (neither is `*`), a day matches if either matches. The macros `@yearly`
//! (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` are
//! accepted.

use crate::model::Millis;
use std::fmt;
use std::str::FromStr;

const MINUTE_MS: u64 = 60_000;
const DAY_MINUTES: u64 = 24 * 60;
/// Far enough to meet every satisfiable expression: February 29 recurs within 8 years.
const SEARCH_DAYS: u64 = 366 * 8 + 1;

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron expression {expr:?}: {reason}")]
pub struct CronError {
    pub expr: String,
    pub reason: String,
}

/// A parsed expression: one bit set per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Both day fields restricted: a day matches if either does.
    day_either: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    /// The set of values `text` names, as bits (bit `v` for value `v`).
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s
                        .parse()
                        .map_err(|_| format!("{}: step {s:?} is not a number", self.name))?;
                    if step == 0 {
                        return Err(format!("{}: step must be at least 1", self.name));
                    }
                    (r, step)
                }
                None => (part, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?)
            } else {
                let v = self.value(range)?;
                // `a/n` runs from `a` to the end of the field, as in Vixie cron.
                (v, if part.contains('/') { self.max } else { v })
            };
            if lo > hi {
                return Err(format!("{}: range {range:?} runs backwards", self.name));
            }
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok(bits)
    }

    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        let v = match self.names.iter().position(|n| *n == lower) {
            // Month names start at 1, day names at 0 (Sunday).
            Some(i) => i as u32 + self.min,
            None => text.parse().map_err(|_| {
                format!(
                    "{}: {text:?} is not a number{}",
                    self.name,
                    if self.names.is_empty() {
                        ""
                    } else {
                        " or a name"
                    }
                )
            })?,
        };
        if v < self.min || v > self.max {
            return Err(format!(
                "{}: {v} is outside {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }
}

impl Cron {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let err = |reason: String| CronError {
            expr: text.to_string(),
            reason,
        };
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "needs 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let mut dow = DAY_OF_WEEK.parse(fields[4]).map_err(err)?;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & 0x7f; // 7 is Sunday too
        }
        let cron = Cron {
            text: text.trim().to_string(),
            minutes: MINUTE.parse(fields[0]).map_err(err)?,
            hours: HOUR.parse(fields[1]).map_err(err)? as u32,
            days_of_month: DAY_OF_MONTH.parse(fields[2]).map_err(err)? as u32,
            months: MONTH.parse(fields[3]).map_err(err)? as u16,
            days_of_week: dow as u8,
            day_either: fields[2] != "*" && fields[4] != "*",
        };
        if cron.next_after(Millis(0)).is_none() {
            return Err(err("no date ever matches".into()));
        }
        Ok(cron)
    }

    /// The first matching minute strictly after `t` (`None`: none within 8 years, which
    /// means never).
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        let first = t.0 / MINUTE_MS + 1;
        let first_day = first / DAY_MINUTES;
        for day in first_day..first_day + SEARCH_DAYS {
            if !self.day_matches(day) {
                continue;
            }
            let from = if day == first_day {
                first % DAY_MINUTES
            } else {
                0
            };
            if let Some(m) = (from..DAY_MINUTES).find(|m| self.minute_of_day_matches(*m)) {
                return Some(Millis((day * DAY_MINUTES + m) * MINUTE_MS));
            }
        }
        None
    }

    fn minute_of_day_matches(&self, m: u64) -> bool {
        self.hours & (1 << (m / 60)) != 0 && self.minutes & (1 << (m % 60)) != 0
    }

    fn day_matches(&self, day: u64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        if self.months & (1 << month) == 0 {
            return false;
        }
        // 1970-01-01 was a Thursday (4).
        let dow = ((day + 4) % 7) as u32;
        let by_dom = self.days_of_month & (1 << dom) != 0;
        let by_dow = self.days_of_week & (1 << dow) != 0;
        if self.day_either {
            by_dom || by_dow
        } else {
            by_dom && by_dow
        }
    }
}

impl FromStr for Cron {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `(year, month 1-12, day 1-31)` of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of a UTC date and time (test helper, inverse of civil_from_days).
    fn at(y: u64, mo: u64, d: u64, h: u64, mi: u64) -> Millis {
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y / 400;
        let yoe = y - era * 400;
        let mp = if mo > 2 { mo - 3 } else { mo + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Millis(((days * 24 + h) * 60 + mi) * MINUTE_MS)
    }

    fn next(expr: &str, t: Millis) -> Millis {
        Cron::parse(expr).unwrap().next_after(t).unwrap()
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(at(1970, 1, 1, 0, 0), Millis(0));
        let leap = at(2024, 2, 29, 0, 0).0 / MINUTE_MS / DAY_MINUTES;
        assert_eq!(civil_from_days(leap), (2024, 2, 29));
        assert_eq!(civil_from_days(leap + 1), (2024, 3, 1));
    }

    #[test]
    fn every_minute_fires_strictly_after() {
        let t = at(2026, 11, 25, 14, 57);
        assert_eq!(next("* * * * *", t), at(2026, 11, 25, 14, 58));
        assert_eq!(
            next("* * * * *", Millis(t.0 + 59_999)),
            at(2026, 11, 25, 14, 58)
        );
    }

    #[test]
    fn steps_ranges_and_lists() {
        let t = at(2026, 11, 25, 14, 57);
        assert_eq!(next("*/15 * * * *", t), at(2026, 11, 25, 15, 0));
        assert_eq!(next("5-10/5 * * * *", t), at(2026, 11, 25, 15, 5));
        assert_eq!(next("0 9,17 * * *", t), at(2026, 11, 25, 17, 0));
        assert_eq!(next("30 2 * * *", t), at(2026, 11, 26, 2, 30));
        assert_eq!(next("10/20 * * * *", t), at(2026, 11, 25, 15, 10));
    }

    #[test]
    fn days_months_and_names() {
        // 2026-11-25 is a Wednesday.
        let t = at(2026, 11, 25, 14, 57);
        assert_eq!(next("0 0 * * mon", t), at(2026, 11, 30, 0, 0));
        assert_eq!(next("0 0 * * 0", t), at(2026, 11, 29, 0, 0));
        assert_eq!(next("0 0 * * 7", t), at(2026, 11, 29, 0, 0));
        assert_eq!(next("0 0 1 jan *", t), at(2027, 1, 1, 0, 0));
        assert_eq!(next("@monthly", t), at(2026, 12, 1, 0, 0));
        assert_eq!(next("0 12 29 2 *", t), at(2028, 2, 29, 12, 0));
        // Both day fields restricted: either matches (the 1st, or a Friday).
        assert_eq!(next("0 0 1 * fri", t), at(2026, 11, 27, 0, 0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expr, needle) in [
            ("* * * *", "5 fields"),
            ("60 * * * *", "outside 0-59"),
            ("* 24 * * *", "hour"),
            ("*/0 * * * *", "step"),
            ("10-5 * * * *", "backwards"),
            ("* * * foo *", "not a number or a name"),
            ("0 0 30 2 *", "no date ever"),
            ("x * * * *", "minute"),
        ] {
            let e = Cron::parse(expr).unwrap_err();
            assert!(e.to_string().contains(needle), "{expr}: {e}");
        }
    }
}
