//! Pure: object names for exported channels, DNS-1123 and unique.

use sha2::{Digest, Sha256};

/// The longest object name the API server takes.
const MAX_NAME: usize = 253;
/// `-` and 8 hex digits.
const SUFFIX_LEN: usize = 9;

/// `<alias>-<channel name>`, lowercased, every run of characters outside `[a-z0-9]` turned
/// into one `-`, trimmed of `-` at both ends, at most 253 characters; `channel` when
/// nothing is left.
pub fn sanitize(alias: &str, channel: &str) -> String {
    let mut name = String::new();
    for c in format!("{alias}-{channel}")
        .chars()
        .flat_map(char::to_lowercase)
    {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = cut(name.trim_matches('-'), MAX_NAME);
    if name.is_empty() {
        "channel".to_owned()
    } else {
        name
    }
}

/// A short, stable suffix for a channel: `-` and the first 8 hex digits of SHA-256 of its ARN.
fn suffix(arn: &str, digits: usize) -> String {
    let hash = hex::encode(Sha256::digest(arn.as_bytes()));
    format!("-{}", &hash[..digits])
}

fn cut(name: &str, max: usize) -> String {
    let cut: String = name.chars().take(max).collect();
    cut.trim_end_matches('-').to_owned()
}

/// Names for `(alias, channel name, channel ARN)` triples, in order. A name that several
/// channels would get is given to none of them as is: each gets its ARN's hash suffix, so
/// that a name does not depend on which channel was listed first.
pub fn unique_names(channels: &[(&str, &str, &str)]) -> Vec<String> {
    let bases: Vec<String> = channels
        .iter()
        .map(|(alias, name, _)| sanitize(alias, name))
        .collect();
    let mut names: Vec<String> = bases
        .iter()
        .zip(channels)
        .map(|(base, (_, _, arn))| {
            if bases.iter().filter(|b| *b == base).count() > 1 {
                with_suffix(base, arn, 8)
            } else {
                base.clone()
            }
        })
        .collect();
    // A suffixed name may still meet another channel's plain name (or the same ARN listed
    // twice): the longer hash of the whole SHA-256 settles any clash left.
    for i in 0..names.len() {
        if names[..i].contains(&names[i]) {
            names[i] = with_suffix(&bases[i], &format!("{}#{i}", channels[i].2), 16);
        }
    }
    names
}

fn with_suffix(base: &str, arn: &str, digits: usize) -> String {
    let room = MAX_NAME - SUFFIX_LEN - (digits - 8);
    format!("{}{}", cut(base, room), suffix(arn, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns1123(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-')
    }

    /// Aliases and channel names become lowercase `[a-z0-9-]`, trimmed, at most 253.
    #[test]
    fn names_are_dns_1123() {
        assert_eq!(
            sanitize("night-shift", "Primary Email"),
            "night-shift-primary-email"
        );
        assert_eq!(sanitize("ops_team", "SMS: +1 (555)"), "ops-team-sms-1-555");
        assert_eq!(sanitize("-x-", "...Ünïcode..."), "x-n-code");
        assert_eq!(sanitize("", "!!!"), "channel");
        let long = sanitize(&"a".repeat(200), &"b".repeat(200));
        assert_eq!(long.len(), 253);
        for name in [long, sanitize("a", &format!("{}-", "b".repeat(251)))] {
            assert!(dns1123(&name), "{name}");
        }
    }

    /// Colliding names all get their ARN's hash; others stay plain; the result is stable.
    #[test]
    fn collisions_get_stable_suffixes() {
        let channels = [
            (
                "team",
                "Mail",
                "arn:aws:ssm-contacts:us-east-1:1:contact-channel/team/a",
            ),
            (
                "team",
                "mail",
                "arn:aws:ssm-contacts:us-east-1:1:contact-channel/team/b",
            ),
            (
                "team",
                "sms",
                "arn:aws:ssm-contacts:us-east-1:1:contact-channel/team/c",
            ),
        ];
        let names = unique_names(&channels);
        assert_eq!(names[2], "team-sms");
        assert!(names[0].starts_with("team-mail-") && names[1].starts_with("team-mail-"));
        assert_ne!(names[0], names[1]);
        assert_eq!(names[0].len(), "team-mail-".len() + 8);
        let reversed = [channels[1], channels[0], channels[2]];
        let again = unique_names(&reversed);
        assert_eq!((&again[0], &again[1]), (&names[1], &names[0]));

        let long = "x".repeat(300);
        let twins = [
            (long.as_str(), "a", "arn:1"),
            (long.as_str(), "a", "arn:2"),
            (long.as_str(), "a", "arn:2"),
        ];
        let names = unique_names(&twins);
        for name in &names {
            assert!(dns1123(name), "{name}");
        }
        assert_ne!(names[1], names[2]);
    }
}
