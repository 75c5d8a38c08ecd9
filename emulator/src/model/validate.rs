//! Input validation against the service model's constraints, collecting every bad field
//! into one ValidationException as the service does.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::arn::Arn;
use crate::protocol::wire::{AwsError, ValidationField};

/// The `SsmContactsArn` pattern, quoted in messages.
pub const ARN_PATTERN: &str =
    r"^arn:(aws|aws-cn|aws-us-gov):ssm-contacts:[-\w+=\/,.@]*:[0-9]+:([\w+=\/,.@:-])*$";

/// Parses a JSON body into an operation's input; an empty body counts as `{}`.
///
/// Syntax errors and members of the wrong JSON type are SerializationException, as for
/// the real service; constraint violations are left to [`Check`].
pub fn parse_input<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| AwsError::Serialization {
            message: format!("Unable to parse the request body as JSON: {e}"),
        })?
    };
    if !value.is_object() {
        return Err(AwsError::Serialization {
            message: "The request body must be a JSON object.".into(),
        });
    }
    serde_json::from_value(value).map_err(|e| AwsError::Serialization {
        message: format!(
            "Unable to read the request: {}",
            without_values(&e.to_string())
        ),
    })
}

/// A type error without the value serde quotes in backticks (``invalid type: integer
/// `123456`, expected a string``): a member sent as a number may be an activation code,
/// which no answer repeats.
fn without_values(message: &str) -> String {
    message
        .split('`')
        .step_by(2)
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("")
}

/// Accumulates field violations.
#[derive(Debug, Default)]
pub struct Check {
    fields: Vec<ValidationField>,
}

impl Check {
    pub fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.fields.push(ValidationField {
            name: name.to_string(),
            message: message.into(),
        });
    }

    /// The member, or a "must not be null" violation.
    pub fn required<'a, T>(&mut self, name: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.fail(name, "Member must not be null");
        }
        value.as_ref()
    }

    /// Length in characters within `min..=max`.
    pub fn length(&mut self, name: &str, value: &str, min: usize, max: usize) -> bool {
        let len = value.chars().count();
        if len < min {
            self.fail(
                name,
                format!("Member must have length greater than or equal to {min}"),
            );
            false
        } else if len > max {
            self.fail(
                name,
                format!("Member must have length less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    /// Every character admitted by `allowed`, else a pattern violation quoting `pattern`.
    pub fn chars(&mut self, name: &str, value: &str, pattern: &str, allowed: fn(char) -> bool) {
        if !value.chars().all(allowed) {
            self.fail(
                name,
                format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// An `SsmContactsArn`: length 1..2048 and the model's pattern.
    pub fn arn(&mut self, name: &str, value: &str) {
        if self.length(name, value, 1, 2048) && Arn::parse(value).is_none() {
            self.fail(
                name,
                format!("Member must satisfy regular expression pattern: {ARN_PATTERN}"),
            );
        }
    }

    /// An optional token (IdempotencyToken, NextToken): at most 2048 characters of the
    /// model's token alphabet.
    pub fn token(&mut self, name: &str, token: Option<&String>) {
        if let Some(token) = token
            && self.length(name, token, 0, 2048)
        {
            self.chars(name, token, r"^[\\\/a-zA-Z0-9_+=\-]*$", is_token_char);
        }
    }

    /// One of the enum's values.
    pub fn one_of(&mut self, name: &str, value: &str, allowed: &[&str]) -> bool {
        let ok = allowed.contains(&value);
        if !ok {
            self.fail(
                name,
                format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
        ok
    }

    /// `Err` with every violation found, if any.
    pub fn finish(self) -> Result<(), AwsError> {
        if self.fields.is_empty() {
            Ok(())
        } else {
            Err(AwsError::fields(self.fields))
        }
    }
}

/// `[\p{L}\p{Z}\p{N}_.\-]`: letters, separators, numbers and `_.-` (ChannelName, ContactName).
pub fn is_name_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | '-')
}

/// `[a-z0-9_\-]` (ContactAlias).
pub fn is_alias_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
}

/// `[\\\/a-zA-Z0-9_+=\-]` (IdempotencyToken, PaginationToken, TagKey).
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '\\' | '/' | '_' | '+' | '=' | '-')
}

#[cfg(test)]
mod tests {
    use crate::model::validate::*;
    use crate::protocol::wire::ValidationReason;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Input {
        contact_channel_id: Option<String>,
    }

    /// Bad JSON and wrong member types are SerializationException; an empty body is `{}`.
    #[test]
    fn parse_errors_are_serialization_exceptions() {
        for body in [&b"{"[..], b"[]", b"{\"ContactChannelId\": 5}"] {
            let err = parse_input::<Input>(body).err().expect("refused");
            assert_eq!(err.type_name(), "SerializationException", "{body:?}");
        }
        let number = parse_input::<Input>(b"{\"ContactChannelId\": 123456}")
            .err()
            .expect("refused");
        let message = number.to_string();
        assert!(!message.contains("123456"), "{message}");
        assert!(
            message.contains("invalid type: integer, expected a string"),
            "{message}"
        );
        let empty: Input = parse_input(b"").expect("empty is {}");
        assert!(empty.contact_channel_id.is_none());
    }

    /// All violations are reported together, each with its field name.
    #[test]
    fn violations_are_collected() {
        let mut check = Check::default();
        check.required::<String>("ContactChannelId", &None);
        check.arn("ContactId", "arn:aws:ssm:us-east-1:1:contact/x");
        check.arn("Other", "");
        check.one_of("Type", "FAX", &["SMS", "VOICE", "EMAIL"]);
        check.chars("Name", "bad/name", "^[\\p{L}]*$", is_name_char);
        match check.finish() {
            Err(AwsError::Validation {
                message,
                reason,
                fields,
            }) => {
                assert_eq!(reason, ValidationReason::FieldValidationFailed);
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                assert_eq!(
                    names,
                    ["ContactChannelId", "ContactId", "Other", "Type", "Name"]
                );
                assert!(message.starts_with("5 validation errors detected"));
                assert!(fields[1].message.contains("regular expression"));
                assert!(fields[2].message.contains("greater than or equal to 1"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Check::default().finish().is_ok());
    }

    /// The character classes follow the model's patterns.
    #[test]
    fn character_classes() {
        assert!("Ünïcode name_1.-".chars().all(is_name_char));
        assert!(!"tab\there".chars().all(is_name_char));
        assert!("on-call_2".chars().all(is_alias_char));
        assert!(!"OnCall".chars().all(is_alias_char));
        assert!("a1b2-c3/=+\\_".chars().all(is_token_char));
        assert!(!"a b".chars().all(is_token_char));
    }
}
