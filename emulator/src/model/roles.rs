//! IAM roles that STS AssumeRole may assume: their ARN grammar, the ids and ARNs derived
//! from them, and the set the emulator knows (start-up roles plus those added at run time).
//!
//! The emulator has no IAM: a role exists exactly when it is in the set, and any long-term
//! key may assume any known role. That is enough for the operator's cross-account feature:
//! what a test needs to prove is that a call acts in the role's account.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// The partitions a role ARN may name (as the SSM Contacts ARN pattern admits).
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];
/// Characters of an IAM name (role name, path element, session name): `[\w+=,.@-]`.
pub const NAME_PATTERN: &str = r"[\w+=,.@-]*";
/// The form [`RoleArn::parse`] accepts, quoted in messages.
pub const ROLE_ARN_FORM: &str = "arn:(aws|aws-cn|aws-us-gov):iam::<12 digits>:role/<path/name>";
/// Unique ids are a 4-letter prefix and 17 characters of this alphabet.
const ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `[\w+=,.@-]` with `\w` ASCII, as in AWS's Java-dialect patterns.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// A role ARN of the form [`ROLE_ARN_FORM`], e.g.
/// `arn:aws:iam::210987654321:role/ops/ssm-contacts-sender`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub partition: &'a str,
    pub account: &'a str,
    /// The role's path and name, e.g. `ops/ssm-contacts-sender`.
    pub path_and_name: &'a str,
}

/// A string that is not a role ARN of the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role ARN of the form {ROLE_ARN_FORM}")]
pub struct InvalidRoleArn(pub String);

impl<'a> RoleArn<'a> {
    /// Parses `s`; every path element and the name are non-empty `[\w+=,.@-]` runs, the
    /// name at most 64 characters.
    pub fn parse(s: &'a str) -> Result<Self, InvalidRoleArn> {
        let invalid = || InvalidRoleArn(s.to_string());
        let rest = s.strip_prefix("arn:").ok_or_else(invalid)?;
        let (partition, rest) = rest.split_once(':').ok_or_else(invalid)?;
        let rest = rest.strip_prefix("iam::").ok_or_else(invalid)?;
        let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
        let path_and_name = resource.strip_prefix("role/").ok_or_else(invalid)?;
        let arn = Self {
            partition,
            account,
            path_and_name,
        };
        let well_formed = PARTITIONS.contains(&partition)
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && path_and_name
                .split('/')
                .all(|part| !part.is_empty() && part.chars().all(is_name_char))
            && arn.name().chars().count() <= 64;
        if well_formed { Ok(arn) } else { Err(invalid()) }
    }

    /// The role name: the last element of the path.
    pub fn name(&self) -> &'a str {
        self.path_and_name
            .rsplit('/')
            .next()
            .unwrap_or(self.path_and_name)
    }

    /// `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`; the path is not
    /// part of it, as with AWS.
    pub fn assumed_role_arn(&self, session_name: &str) -> String {
        format!(
            "arn:{}:sts::{}:assumed-role/{}/{session_name}",
            self.partition,
            self.account,
            self.name()
        )
    }
}

/// The role's unique id, `AROA` + 17 characters: derived from the ARN, so the same role
/// keeps the same id across calls and restarts.
pub fn role_id(arn: &str) -> String {
    let digest = Sha256::digest(arn.as_bytes());
    let mut id = String::from("AROA");
    for byte in digest.iter().take(17) {
        id.push(char::from(
            ID_ALPHABET[usize::from(*byte) % ID_ALPHABET.len()],
        ));
    }
    id
}

/// The ARN a long-term key of the emulator stands for: its one IAM user.
pub fn user_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:user/emulator")
}

/// The roles AssumeRole accepts: the start-up set plus roles added at run time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Roles {
    startup: BTreeSet<String>,
    current: BTreeSet<String>,
}

impl Roles {
    /// The start-up set; each ARN must parse.
    pub fn new<I, S>(arns: I) -> Result<Self, InvalidRoleArn>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut startup = BTreeSet::new();
        for arn in arns {
            let arn = arn.into();
            RoleArn::parse(&arn)?;
            startup.insert(arn);
        }
        Ok(Self {
            current: startup.clone(),
            startup,
        })
    }

    /// Adds a role; `Ok(false)` when it was already known.
    pub fn add(&mut self, arn: &str) -> Result<bool, InvalidRoleArn> {
        RoleArn::parse(arn)?;
        Ok(self.current.insert(arn.to_string()))
    }

    /// Removes a role (a start-up role too, until the next reset); `false` if unknown.
    pub fn remove(&mut self, arn: &str) -> bool {
        self.current.remove(arn)
    }

    pub fn contains(&self, arn: &str) -> bool {
        self.current.contains(arn)
    }

    /// Every known role, sorted.
    pub fn list(&self) -> Vec<String> {
        self.current.iter().cloned().collect()
    }

    /// Back to the start-up set.
    pub fn reset(&mut self) {
        self.current = self.startup.clone();
    }
}

#[cfg(test)]
mod tests {
    use crate::model::roles::*;

    /// Role ARNs of every partition, with and without a path, parse; anything else fails.
    #[test]
    fn role_arns_parse_strictly() {
        let plain = RoleArn::parse("arn:aws:iam::210987654321:role/sender").expect("plain");
        assert_eq!(
            (plain.partition, plain.account, plain.name()),
            ("aws", "210987654321", "sender")
        );
        let pathed = RoleArn::parse("arn:aws-us-gov:iam::210987654321:role/ops/team/sender+x@y")
            .expect("path");
        assert_eq!(pathed.name(), "sender+x@y");
        assert_eq!(
            pathed.assumed_role_arn("s1"),
            "arn:aws-us-gov:sts::210987654321:assumed-role/sender+x@y/s1"
        );
        assert!(RoleArn::parse("arn:aws-cn:iam::210987654321:role/r").is_ok());
        let name_64 = format!("arn:aws:iam::210987654321:role/{}", "n".repeat(64));
        assert!(RoleArn::parse(&name_64).is_ok());
        for bad in [
            "",
            "arn:aws:iam::210987654321:user/sender",
            "arn:aws:iam::21098765432:role/sender",
            "arn:aws:iam::2109876543210:role/sender",
            "arn:aws:iam::21098765432x:role/sender",
            "arn:aws:iam:us-east-1:210987654321:role/sender",
            "arn:aws:sts::210987654321:role/sender",
            "arn:other:iam::210987654321:role/sender",
            "arn:aws:iam::210987654321:role/",
            "arn:aws:iam::210987654321:role/ops//sender",
            "arn:aws:iam::210987654321:role/ops/",
            "arn:aws:iam::210987654321:role/with space",
            "arn:aws:iam::210987654321:role/<x>",
            &format!("arn:aws:iam::210987654321:role/{}", "n".repeat(65)),
        ] {
            assert_eq!(
                RoleArn::parse(bad),
                Err(InvalidRoleArn(bad.to_string())),
                "{bad}"
            );
        }
    }

    /// Role ids are stable per ARN and have the AWS shape.
    #[test]
    fn role_ids_are_stable() {
        let id = role_id("arn:aws:iam::210987654321:role/sender");
        assert_eq!(id, role_id("arn:aws:iam::210987654321:role/sender"));
        assert_ne!(id, role_id("arn:aws:iam::210987654321:role/other"));
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
    }

    /// Roles added at run time go away on reset; removed start-up roles come back.
    #[test]
    fn reset_restores_the_startup_set() {
        let startup = "arn:aws:iam::210987654321:role/a";
        let added = "arn:aws:iam::210987654321:role/b";
        let mut roles = Roles::new([startup]).expect("valid");
        assert!(Roles::new(["nope"]).is_err());
        assert_eq!(roles.add(added), Ok(true));
        assert_eq!(roles.add(added), Ok(false));
        assert!(roles.add("arn:aws:iam::1:role/b").is_err());
        assert_eq!(roles.list(), [startup, added]);
        assert!(roles.remove(startup));
        assert!(!roles.remove(startup));
        assert!(!roles.contains(startup));
        roles.reset();
        assert_eq!(roles.list(), [startup]);
    }
}
