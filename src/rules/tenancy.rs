//! Who may page whom: the operator's account and role allowlists, narrowed per namespace by
//! an annotation that cluster admins own. Pure: the controller hands in the Namespace's
//! annotation as its watch last saw it.

use std::collections::BTreeSet;

use crate::api::arn::ChannelArn;

/// The Namespace annotation that narrows `--allowed-accounts` for the objects in it.
pub const ALLOWED_ACCOUNTS_ANNOTATION: &str = "ssmcontacts.oncall.dev/allowed-accounts";

/// A set of AWS account ids; `None` admits every account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts(Option<BTreeSet<String>>);

impl Accounts {
    /// Comma-separated 12-digit ids; blanks around them are ignored. An empty list admits
    /// every account (the contract's "empty = any").
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ids = BTreeSet::new();
        for id in text.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{id:?} is not a 12-digit AWS account id"));
            }
            ids.insert(id.to_owned());
        }
        Ok(Self((!ids.is_empty()).then_some(ids)))
    }

    pub fn any() -> Self {
        Self(None)
    }

    pub fn admits(&self, account: &str) -> bool {
        self.0.as_ref().is_none_or(|ids| ids.contains(account))
    }

    fn describe(&self) -> String {
        match &self.0 {
            None => "any account".to_owned(),
            Some(ids) => ids.iter().cloned().collect::<Vec<_>>().join(", "),
        }
    }
}

/// Role ARN patterns; `*` stands for any run of characters. Empty admits no role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePatterns(Vec<String>);

impl RolePatterns {
    pub fn parse(patterns: &[String]) -> Result<Self, String> {
        let mut kept = Vec::new();
        for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if !pattern.starts_with("arn:") || pattern.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{pattern:?} is not a role ARN pattern (arn:PARTITION:iam::ACCOUNT:role/NAME, where * matches anything)"
                ));
            }
            kept.push(pattern.to_owned());
        }
        Ok(Self(kept))
    }

    pub fn admits(&self, role: &str) -> bool {
        self.0.iter().any(|pattern| glob_matches(pattern, role))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the operator admits, from its flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tenancy {
    pub accounts: Accounts,
    pub roles: RolePatterns,
}

/// Whether an object naming `channel` (and `role`, if any) in a namespace annotated
/// `annotation` may reach AWS; the refusal explains itself to the object's owner.
pub fn admit(
    tenancy: &Tenancy,
    annotation: Option<&str>,
    channel: &ChannelArn,
    role: Option<&str>,
) -> Result<(), String> {
    let account = channel.account();
    if !tenancy.accounts.admits(account) {
        return Err(format!(
            "account {account} of {channel} is not in the operator's --allowed-accounts ({})",
            tenancy.accounts.describe()
        ));
    }
    if let Some(annotation) = annotation {
        let narrowed = narrowing(annotation).map_err(|problem| {
            format!(
                "the namespace annotation {ALLOWED_ACCOUNTS_ANNOTATION} cannot be read ({problem}), so no account is allowed here; ask a cluster admin to fix it"
            )
        })?;
        if !narrowed.admits(account) {
            return Err(format!(
                "account {account} of {channel} is not allowed in this namespace (annotation {ALLOWED_ACCOUNTS_ANNOTATION}: {})",
                narrowed.describe()
            ));
        }
    }
    if let Some(role) = role
        && !tenancy.roles.admits(role)
    {
        let allowed = if tenancy.roles.is_empty() {
            "the operator allows no role (--allowed-role-arns is empty)".to_owned()
        } else {
            "it matches none of the operator's --allowed-role-arns".to_owned()
        };
        return Err(format!("spec.roleArn {role} may not be assumed: {allowed}"));
    }
    Ok(())
}

/// The accounts a Namespace annotation allows. Unlike the operator's own list, an empty
/// annotation is no list at all: an admin who blanks it locks the namespace, so it allows no
/// account rather than every one.
fn narrowing(annotation: &str) -> Result<Accounts, String> {
    let accounts = Accounts::parse(annotation)?;
    if accounts == Accounts::any() {
        return Err("it is present but names no account".to_owned());
    }
    Ok(accounts)
}

/// `*` matches any run of characters (none included); everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, between)) = middle.split_last() else {
        // No `*` at all: the whole text must have been the prefix.
        return rest.is_empty();
    };
    for part in between {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNEL: &str = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/b";
    const ROLE: &str = "arn:aws:iam::111122223333:role/ssm-contacts";

    fn channel() -> ChannelArn {
        ChannelArn::parse(CHANNEL).unwrap()
    }

    fn tenancy(accounts: &str, roles: &[&str]) -> Tenancy {
        Tenancy {
            accounts: Accounts::parse(accounts).unwrap(),
            roles: RolePatterns::parse(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>())
                .unwrap(),
        }
    }

    #[test]
    /// Account lists: 12 digits each, blanks ignored, empty admits all.
    fn account_lists() {
        assert_eq!(Accounts::parse(""), Ok(Accounts::any()));
        assert_eq!(Accounts::parse(" , "), Ok(Accounts::any()));
        let two = Accounts::parse("111122223333, 444455556666").unwrap();
        assert!(two.admits("111122223333") && two.admits("444455556666"));
        assert!(!two.admits("999999999999"));
        for bad in [
            "12345",
            "1111222233334",
            "11112222333a",
            "111122223333;444455556666",
        ] {
            assert!(Accounts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    /// The operator's list and the namespace's annotation both have to admit the account.
    fn namespace_narrows_the_operator() {
        let open = tenancy("", &[]);
        assert_eq!(admit(&open, None, &channel(), None), Ok(()));
        assert_eq!(admit(&open, Some("111122223333"), &channel(), None), Ok(()));
        let error = admit(&open, Some("444455556666"), &channel(), None).unwrap_err();
        assert!(error.contains("not allowed in this namespace"), "{error}");

        let closed = tenancy("444455556666", &[]);
        let error = admit(&closed, None, &channel(), None).unwrap_err();
        assert!(
            error.contains("--allowed-accounts (444455556666)"),
            "{error}"
        );
        // An annotation cannot widen what the operator allows.
        assert!(admit(&closed, Some("111122223333"), &channel(), None).is_err());
    }

    #[test]
    /// A malformed annotation closes the namespace instead of opening it.
    fn malformed_annotation_allows_nothing() {
        let error = admit(&tenancy("", &[]), Some("all"), &channel(), None).unwrap_err();
        assert!(error.contains("cannot be read"), "{error}");
    }

    #[test]
    /// A blank annotation locks the namespace: no account, not every account.
    fn empty_annotation_allows_nothing() {
        for blank in ["", " ", " , ,"] {
            let error = admit(&tenancy("", &[]), Some(blank), &channel(), None).unwrap_err();
            assert!(
                error.contains(ALLOWED_ACCOUNTS_ANNOTATION) && error.contains("names no account"),
                "{error}"
            );
        }
    }

    #[test]
    /// Roles are refused unless a pattern admits them; no pattern means no role at all.
    fn roles_need_a_matching_pattern() {
        let error = admit(&tenancy("", &[]), None, &channel(), Some(ROLE)).unwrap_err();
        assert!(error.contains("allows no role"), "{error}");
        assert_eq!(
            admit(&tenancy("", &[ROLE]), None, &channel(), Some(ROLE)),
            Ok(())
        );
        let wildcard = tenancy("", &["arn:aws:iam::*:role/ssm-contacts"]);
        assert_eq!(admit(&wildcard, None, &channel(), Some(ROLE)), Ok(()));
        let error = admit(
            &wildcard,
            None,
            &channel(),
            Some("arn:aws:iam::111122223333:role/admin"),
        )
        .unwrap_err();
        assert!(error.contains("matches none"), "{error}");
    }

    #[test]
    /// Globs: `*` spans any run, and the rest must match exactly, ends included.
    fn globs() {
        assert!(glob_matches("abc", "abc"));
        assert!(!glob_matches("abc", "abcd"));
        assert!(glob_matches("a*", "a"));
        assert!(glob_matches("a*c", "abbbc"));
        assert!(!glob_matches("a*c", "abbbd"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "axbyc"));
        assert!(!glob_matches("a*b*c", "axcyb"));
        assert!(!glob_matches("ab*ba", "aba"));
    }

    #[test]
    /// Patterns must look like ARNs, so a typo cannot admit everything.
    fn role_patterns_are_checked() {
        assert!(RolePatterns::parse(&["*".to_owned()]).is_err());
        assert!(RolePatterns::parse(&["arn:aws:iam::1:role/ x".to_owned()]).is_err());
        assert!(RolePatterns::parse(&[String::new()]).unwrap().is_empty());
    }
}
