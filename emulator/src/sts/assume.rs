//! The AssumeRole action: validate the parameters as STS does, refuse roles the emulator
//! does not know, issue temporary credentials and answer them in AWS's XML.

use jiff::Timestamp;

use super::error::StsError;
use super::form::Form;
use super::xml::{XMLNS, XmlWriter};
use crate::model::roles::{ROLE_ARN_FORM, RoleArn, is_name_char};
use crate::model::sessions::{MAX_DURATION_SECONDS, MIN_DURATION_SECONDS, Session};
use crate::model::state::State;

/// `RoleArn` length bounds of the STS model.
const ROLE_ARN_LENGTH: (usize, usize) = (20, 2048);
/// `RoleSessionName` length bounds of the STS model.
const SESSION_NAME_LENGTH: (usize, usize) = (2, 64);
/// `Expiration` as STS writes it: whole seconds, UTC.
const EXPIRATION_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// A successful AssumeRole: the answer, and the issued key for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub xml: String,
    pub access_key_id: String,
}

/// The parameters that passed validation.
struct Request<'a> {
    role: RoleArn<'a>,
    role_arn: &'a str,
    session_name: &'a str,
    duration_seconds: Option<u32>,
}

/// Runs AssumeRole for `caller_arn` (who signed the call) at `now`.
pub(crate) fn assume_role(
    state: &mut State,
    caller_arn: &str,
    form: &Form,
    request_id: &str,
    now: Timestamp,
) -> Result<Issued, StsError> {
    let request = validate(form)?;
    // The emulator has no IAM: a role it does not know is one that does not exist or does
    // not trust the caller, which AWS answers alike.
    if !state.roles.contains(request.role_arn) {
        return Err(StsError::access_denied(format!(
            "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {}",
            request.role_arn
        )));
    }
    let lifetime = state.sts.current.lifetime_seconds(request.duration_seconds);
    // Whole seconds, so the expiry the client reads is exactly the one enforced here.
    let issued_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let session = Session::issue(
        &request.role,
        request.role_arn,
        request.session_name,
        issued_at,
        lifetime,
    );
    let xml = answer(&session, request_id);
    let access_key_id = session.access_key_id.clone();
    state.sessions.insert(session);
    Ok(Issued { xml, access_key_id })
}

/// Checks every parameter and reports all violations at once, worded like STS.
fn validate(form: &Form) -> Result<Request<'_>, StsError> {
    let mut violations = Vec::new();
    let mut violation = |value: Option<&str>, member: &str, constraint: String| {
        let value = value.map_or_else(|| "null".to_string(), |v| format!("'{v}'"));
        violations.push(format!(
            "Value {value} at '{member}' failed to satisfy constraint: {constraint}"
        ));
    };
    let length = |value: &str, (min, max): (usize, usize)| {
        let count = value.chars().count();
        if count < min {
            Some(format!(
                "Member must have length greater than or equal to {min}"
            ))
        } else if count > max {
            Some(format!(
                "Member must have length less than or equal to {max}"
            ))
        } else {
            None
        }
    };

    let role_arn = form.get("RoleArn");
    let role = match role_arn {
        None => {
            violation(None, "roleArn", "Member must not be null".into());
            None
        }
        Some(arn) => match (length(arn, ROLE_ARN_LENGTH), RoleArn::parse(arn)) {
            (Some(constraint), _) => {
                violation(Some(arn), "roleArn", constraint);
                None
            }
            (None, Err(_)) => {
                violation(
                    Some(arn),
                    "roleArn",
                    format!("Member must be a role ARN of the form {ROLE_ARN_FORM}"),
                );
                None
            }
            (None, Ok(role)) => Some(role),
        },
    };

    let session_name = form.get("RoleSessionName");
    match session_name {
        None => violation(None, "roleSessionName", "Member must not be null".into()),
        Some(name) => {
            if let Some(constraint) = length(name, SESSION_NAME_LENGTH) {
                violation(Some(name), "roleSessionName", constraint);
            }
            if !name.chars().all(is_name_char) {
                violation(
                    Some(name),
                    "roleSessionName",
                    r"Member must satisfy regular expression pattern: [\w+=,.@-]*".into(),
                );
            }
        }
    }

    let duration_seconds = match form.get("DurationSeconds") {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Err(_) => {
                violation(
                    Some(raw),
                    "durationSeconds",
                    "Member must be an integer".into(),
                );
                None
            }
            Ok(seconds) if seconds < i64::from(MIN_DURATION_SECONDS) => {
                violation(
                    Some(raw),
                    "durationSeconds",
                    format!(
                        "Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
                    ),
                );
                None
            }
            Ok(seconds) if seconds > i64::from(MAX_DURATION_SECONDS) => {
                violation(
                    Some(raw),
                    "durationSeconds",
                    format!("Member must have value less than or equal to {MAX_DURATION_SECONDS}"),
                );
                None
            }
            // In range, so it fits.
            Ok(seconds) => u32::try_from(seconds).ok(),
        },
    };

    match (role, role_arn, session_name) {
        (Some(role), Some(role_arn), Some(session_name)) if violations.is_empty() => Ok(Request {
            role,
            role_arn,
            session_name,
            duration_seconds,
        }),
        _ => {
            let count = violations.len();
            Err(StsError::validation(format!(
                "{count} validation error{} detected: {}",
                if count == 1 { "" } else { "s" },
                violations.join("; ")
            )))
        }
    }
}

/// The `AssumeRoleResponse` document, elements in the order of AWS's own answers.
fn answer(session: &Session, request_id: &str) -> String {
    XmlWriter::document("AssumeRoleResponse", XMLNS, |w| {
        w.element("AssumeRoleResult", |w| {
            w.element("AssumedRoleUser", |w| {
                w.text("AssumedRoleId", &session.assumed_role_id)
                    .text("Arn", &session.assumed_role_arn);
            })
            .element("Credentials", |w| {
                w.text("AccessKeyId", &session.access_key_id)
                    .text("SecretAccessKey", &session.secret_access_key)
                    .text("SessionToken", &session.session_token)
                    .text(
                        "Expiration",
                        &session.expiration.strftime(EXPIRATION_FORMAT).to_string(),
                    );
            });
        })
        .element("ResponseMetadata", |w| {
            w.text("RequestId", request_id);
        });
    })
}

#[cfg(test)]
mod tests {
    use crate::model::roles::{Roles, role_id};
    use crate::model::sessions::{Settings, StsSettings};
    use crate::sts::assume::*;
    use jiff::SignedDuration;

    const ROLE: &str = "arn:aws:iam::210987654321:role/ops/sender";
    const CALLER: &str = "arn:aws:iam::123456789012:user/emulator";

    fn state(lifetime: u32) -> State {
        let settings = StsSettings {
            credential_lifetime_seconds: lifetime,
            strict_accounts: false,
        };
        State::default().with_sts(Roles::new([ROLE]).expect("valid"), Settings::new(settings))
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B");
                format!("{k}={v}")
            })
            .collect();
        Form::parse(body.join("&").as_bytes())
    }

    fn at() -> Timestamp {
        "2026-12-05T11:00:00.750Z".parse().expect("time")
    }

    /// The answer is AWS's document, the credentials are stored, and the expiry is the
    /// requested duration from the whole second of the call.
    #[test]
    fn assume_role_answers_like_aws() {
        let mut state = state(43_200);
        let issued = assume_role(
            &mut state,
            CALLER,
            &form(&[("RoleArn", ROLE), ("RoleSessionName", "s-1")]),
            "req-1",
            at(),
        )
        .expect("issued");
        let session = state
            .sessions
            .get(&issued.access_key_id)
            .expect("stored")
            .clone();
        assert_eq!(
            issued.xml,
            format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <AssumeRoleResult><AssumedRoleUser><AssumedRoleId>{}:s-1</AssumedRoleId>\
                 <Arn>arn:aws:sts::210987654321:assumed-role/sender/s-1</Arn></AssumedRoleUser>\
                 <Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
                 <SessionToken>{}</SessionToken><Expiration>2026-12-05T12:00:00Z</Expiration>\
                 </Credentials></AssumeRoleResult><ResponseMetadata><RequestId>req-1</RequestId>\
                 </ResponseMetadata></AssumeRoleResponse>",
                role_id(ROLE),
                session.access_key_id,
                session.secret_access_key,
                session.session_token
            )
        );
        assert_eq!(session.account, "210987654321");
        assert_eq!(session.role_arn, ROLE);
        assert_eq!(session.session_name, "s-1");
    }

    /// DurationSeconds is capped by the credential lifetime setting.
    #[test]
    fn lifetime_is_capped_by_the_setting() {
        let request = form(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "s-1"),
            ("DurationSeconds", "7200"),
        ]);
        for (cap, lifetime) in [(43_200, 7_200), (1, 1)] {
            let mut state = state(cap);
            let issued = assume_role(&mut state, CALLER, &request, "r", at()).expect("issued");
            let session = state.sessions.get(&issued.access_key_id).expect("stored");
            let start: Timestamp = "2026-12-05T11:00:00Z".parse().expect("time");
            assert_eq!(
                session.expiration,
                start + SignedDuration::from_secs(lifetime)
            );
        }
    }

    /// An unknown role is AccessDenied naming the caller and the role; nothing is issued.
    #[test]
    fn unknown_roles_are_denied() {
        let mut state = state(43_200);
        let other = "arn:aws:iam::210987654321:role/other";
        let denied = assume_role(
            &mut state,
            CALLER,
            &form(&[("RoleArn", other), ("RoleSessionName", "s-1")]),
            "r",
            at(),
        )
        .expect_err("unknown");
        assert_eq!(denied.code, "AccessDenied");
        assert_eq!(
            denied.message,
            format!(
                "User: {CALLER} is not authorized to perform: sts:AssumeRole on resource: {other}"
            )
        );
        assert!(state.sessions.is_empty());
    }

    /// Every bad parameter is a ValidationError, all of them reported together.
    #[test]
    fn parameters_are_validated_like_sts() {
        let mut state = state(43_200);
        let mut refuse = |pairs: &[(&str, &str)]| {
            let error =
                assume_role(&mut state, CALLER, &form(pairs), "r", at()).expect_err("invalid");
            assert_eq!(error.code, "ValidationError", "{pairs:?}");
            assert_eq!(error.status.as_u16(), 400);
            error.message
        };
        assert_eq!(
            refuse(&[]),
            "2 validation errors detected: Value null at 'roleArn' failed to satisfy \
             constraint: Member must not be null; Value null at 'roleSessionName' failed to \
             satisfy constraint: Member must not be null"
        );
        assert!(
            refuse(&[("RoleArn", ROLE), ("RoleSessionName", "a b")])
                .contains(r"Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*")
        );
        assert!(
            refuse(&[("RoleArn", ROLE), ("RoleSessionName", "a")])
                .contains("Member must have length greater than or equal to 2")
        );
        let long = "n".repeat(65);
        assert!(
            refuse(&[("RoleArn", ROLE), ("RoleSessionName", &long)])
                .contains("Member must have length less than or equal to 64")
        );
        assert!(
            refuse(&[("RoleArn", "arn:aws:iam::1:r/x"), ("RoleSessionName", "ok")])
                .contains("at 'roleArn' failed to satisfy constraint: Member must have length")
        );
        assert!(
            refuse(&[
                ("RoleArn", "arn:aws:iam::210987654321:user/sender"),
                ("RoleSessionName", "ok")
            ])
            .contains("Member must be a role ARN")
        );
        for (duration, constraint) in [
            ("899", "greater than or equal to 900"),
            ("43201", "less than or equal to 43200"),
            ("-1", "greater than or equal to 900"),
            ("99999999999999999999", "must be an integer"),
            ("1h", "must be an integer"),
        ] {
            let message = refuse(&[
                ("RoleArn", ROLE),
                ("RoleSessionName", "ok"),
                ("DurationSeconds", duration),
            ]);
            assert!(message.contains(constraint), "{duration}: {message}");
        }
        // Markup in an echoed value reaches the XML escaped, not raw.
        let message = refuse(&[("RoleArn", ROLE), ("RoleSessionName", "<x>")]);
        let xml = StsError::validation(message).to_xml("r");
        assert!(xml.contains("Value '&lt;x&gt;'"), "{xml}");
        for duration in ["900", "43200"] {
            assume_role(
                &mut state,
                CALLER,
                &form(&[
                    ("RoleArn", ROLE),
                    ("RoleSessionName", "=,.@-_+9"),
                    ("DurationSeconds", duration),
                ]),
                "r",
                at(),
            )
            .expect("bounds are valid");
        }
    }
}
