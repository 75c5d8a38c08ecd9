//! Reading status times leniently. The API server accepts date-times the operator's time type
//! cannot hold (a year-9999 date past its last instant, more than nine fraction digits); read
//! strictly, one such value would make the whole object unreadable and stuck. Here such a
//! value is clamped instead, so the decision sees it and deals with it like any other.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::{Deserialize, Deserializer};

/// A date-time as well as it can be read: exact when possible, at most nine fraction digits
/// kept, and anything else (past the representable range) the last representable instant.
pub fn parse(text: &str) -> Timestamp {
    if let Ok(at) = text.parse::<Timestamp>() {
        return at;
    }
    if let Some(dot) = text.find('.') {
        let digits = text[dot + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits > 9 {
            let trimmed = format!("{}{}", &text[..dot + 10], &text[dot + 1 + digits..]);
            if let Ok(at) = trimmed.parse::<Timestamp>() {
                return at;
            }
        }
    }
    Timestamp::MAX
}

pub fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(Time(parse(&text)))
}

pub fn option_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Time>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.map(|t| Time(parse(&t))))
}

/// Conditions with a lastTransitionTime read leniently; an entry that is not a condition at
/// all is dropped (the next write rebuilds the list).
pub fn conditions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Condition>, D::Error> {
    let raw = Option::<Vec<serde_json::Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(raw
        .into_iter()
        .filter_map(|mut value| {
            if let Some(at) = value.get("lastTransitionTime").and_then(|t| t.as_str()) {
                let fixed = serde_json::to_value(Time(parse(at))).ok()?;
                value["lastTransitionTime"] = fixed;
            }
            serde_json::from_value(value).ok()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Values the API server takes and the time type does not are clamped, not refused.
    fn out_of_range_dates_are_clamped() {
        assert_eq!(parse("2026-01-02T03:04:05Z").as_second(), 1_767_323_045);
        assert_eq!(parse("9999-12-31T00:00:00Z"), Timestamp::MAX);
        let long_fraction = parse("2026-01-02T03:04:05.1234567891Z");
        assert_eq!(long_fraction.subsec_nanosecond(), 123_456_789);
    }
}
