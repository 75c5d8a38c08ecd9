//! `--selector`: a label selector in kubectl's syntax, checked at start-up so that a typo
//! stops the operator with a clear message instead of leaving a watch that fails forever.
//! Several operators with complementary selectors split the objects between them (shards).

use kube::core::{Expression, Selector};

/// Longest label value and name part of a key (Kubernetes' limits).
const MAX_NAME: usize = 63;
/// Longest prefix of a key (a DNS subdomain).
const MAX_PREFIX: usize = 253;

/// `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key`,
/// `!key`, comma-separated (all must hold). Empty selects everything. kube's [`Selector`]
/// writes it back in the API server's syntax, and a watch takes it as it is.
pub fn parse(text: &str) -> Result<Selector, String> {
    let mut expressions = Vec::new();
    for part in split_top_level(text)? {
        let part = part.trim();
        if part.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(format!("{text:?} has an empty requirement"));
        }
        expressions.push(requirement(part)?);
    }
    Ok(expressions.into_iter().collect())
}

/// Splits on the commas that are not inside a `( )` value set.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0_u32;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err(format!("{text:?}: nested parentheses")),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(format!("{text:?}: ')' without '('")),
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{text:?}: '(' without ')'"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Expression, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key.trim())?));
    }
    for (operator, build) in [
        (
            "!=",
            Expression::NotEqual as fn(String, String) -> Expression,
        ),
        ("==", Expression::Equal),
        ("=", Expression::Equal),
    ] {
        if let Some((key, value)) = part.split_once(operator) {
            return Ok(build(key_of(key.trim())?, value_of(value.trim())?));
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = key_of(words.next().unwrap_or_default())?;
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Expression::Exists(key));
    };
    let (set, negated) = if let Some(set) = rest.strip_prefix("notin") {
        (set, true)
    } else if let Some(set) = rest.strip_prefix("in") {
        (set, false)
    } else {
        return Err(format!(
            "{part:?}: expected =, ==, !=, in or notin after the key"
        ));
    };
    let values = set
        .trim()
        .strip_prefix('(')
        .and_then(|set| set.strip_suffix(')'))
        .ok_or_else(|| format!("{part:?}: the values of in/notin go in parentheses"))?
        .split(',')
        .map(|value| value_of(value.trim()))
        .collect::<Result<_, _>>()?;
    Ok(if negated {
        Expression::NotIn(key, values)
    } else {
        Expression::In(key, values)
    })
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name.
fn key_of(key: &str) -> Result<String, String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    if !name.is_empty() && prefix_ok && is_name(name) {
        Ok(key.to_owned())
    } else {
        Err(format!(
            "{key:?} is not a label key ([prefix/]name: name up to {MAX_NAME} letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        ))
    }
}

/// A label value: empty, or a name.
fn value_of(value: &str) -> Result<String, String> {
    if value.is_empty() || is_name(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a label value (up to {MAX_NAME} letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        ))
    }
}

fn is_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() <= MAX_NAME
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_string()
    }

    #[test]
    /// Every form kubectl takes is read, and written back in the API server's syntax.
    fn every_form() {
        assert_eq!(round_trip(""), "");
        assert_eq!(round_trip("shard=a"), "shard=a");
        assert_eq!(round_trip("shard == a"), "shard=a");
        assert_eq!(round_trip("shard!=a"), "shard!=a");
        assert_eq!(round_trip("team, !legacy"), "team,!legacy");
        assert_eq!(
            round_trip("shard in (a, b),env notin (dev)"),
            "shard in (a,b),env notin (dev)"
        );
        assert_eq!(round_trip("shard in (b,a,b)"), "shard in (a,b)");
        assert_eq!(
            round_trip("ssmcontacts.oncall.dev/shard=eu-1"),
            "ssmcontacts.oncall.dev/shard=eu-1"
        );
        assert_eq!(round_trip("shard="), "shard=");
        assert!(parse("").unwrap().selects_all());
    }

    #[test]
    /// Malformed selectors are refused, each with what is wrong.
    fn malformed() {
        for bad in [
            "shard=a,",
            ",shard=a",
            "Shard Name=a",
            "shard=a b",
            "shard in a,b",
            "shard in (a",
            "shard in ((a))",
            "shard)",
            "shard ~ a",
            "-shard=a",
            "/shard=a",
            "Example.com/shard=a",
            &format!("shard={}", "x".repeat(64)),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
