//! SSM Contacts ARNs: the service model's pattern, and the parts the emulator routes on.

/// The partitions the service model's ARN pattern admits.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// An ARN that matches the service model's `SsmContactsArn` pattern,
/// `^arn:(aws|aws-cn|aws-us-gov):ssm-contacts:[-\w+=\/,.@]*:[0-9]+:([\w+=\/,.@:-])*$`.
///
/// Written by hand rather than with a regex: the grammar is four fields, and the
/// parsed parts (region above all) are what the emulator needs anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    /// May be empty: the pattern allows it, and the operator then calls its default region.
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the account, e.g. `contact-channel/alias/uuid`.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `s`, or `None` when it does not match the model's pattern.
    pub fn parse(s: &'a str) -> Option<Self> {
        let rest = s.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        if !PARTITIONS.contains(&partition) {
            return None;
        }
        let rest = rest.strip_prefix("ssm-contacts:")?;
        // The region's character class has no ':', so the first ':' ends it.
        let (region, rest) = rest.split_once(':')?;
        if !region.chars().all(is_region_char) {
            return None;
        }
        let (account, resource) = rest.split_once(':')?;
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !resource.chars().all(|c| is_region_char(c) || c == ':') {
            return None;
        }
        Some(Self {
            partition,
            region,
            account,
            resource,
        })
    }

    /// The contact alias of a `contact/<alias>` or `contact-channel/<alias>/<id>` resource.
    pub fn contact_alias(&self) -> Option<&'a str> {
        let rest = self
            .resource
            .strip_prefix("contact-channel/")
            .or_else(|| self.resource.strip_prefix("contact/"))?;
        rest.split('/').next().filter(|alias| !alias.is_empty())
    }
}

/// `[-\w+=\/,.@]` where `\w` is ASCII, as in the Java regex dialect AWS models use.
fn is_region_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-+=/,.@".contains(c)
}

/// The partition AWS uses for a region name.
pub fn partition_for(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:<partition>:ssm-contacts:<region>:<account>:contact/<alias>`.
pub fn contact_arn(partition: &str, region: &str, account: &str, alias: &str) -> String {
    format!("arn:{partition}:ssm-contacts:{region}:{account}:contact/{alias}")
}

/// `arn:<partition>:ssm-contacts:<region>:<account>:contact-channel/<alias>/<id>`.
pub fn channel_arn(partition: &str, region: &str, account: &str, alias: &str, id: &str) -> String {
    format!("arn:{partition}:ssm-contacts:{region}:{account}:contact-channel/{alias}/{id}")
}

#[cfg(test)]
mod tests {
    use crate::model::arn::*;

    /// The model's pattern accepts real ARNs, an empty region, and every partition.
    #[test]
    fn accepts_what_the_pattern_accepts() {
        let arn =
            Arn::parse("arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/ops/abc-1")
                .expect("valid");
        assert_eq!(arn.region, "us-east-1");
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.contact_alias(), Some("ops"));
        let empty_region =
            Arn::parse("arn:aws:ssm-contacts::123456789012:contact-channel/ops/x").expect("valid");
        assert_eq!(empty_region.region, "");
        assert!(Arn::parse("arn:aws-cn:ssm-contacts:cn-north-1:1:contact/a").is_some());
        assert!(Arn::parse("arn:aws-us-gov:ssm-contacts:us-gov-west-1:1:").is_some());
    }

    /// Anything outside the pattern is refused.
    #[test]
    fn refuses_what_the_pattern_refuses() {
        for bad in [
            "",
            "arn",
            "arn:aws:ssm:us-east-1:123456789012:contact/a",
            "arn:aws-iso:ssm-contacts:us-east-1:123456789012:contact/a",
            "arn:aws:ssm-contacts:us-east-1::contact/a",
            "arn:aws:ssm-contacts:us-east-1:12x:contact/a",
            "arn:aws:ssm-contacts:us east:1:contact/a",
            "arn:aws:ssm-contacts:us-east-1:1:contact/a b",
            "arn:aws:ssm-contacts:us-east-1",
        ] {
            assert!(Arn::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }

    /// Built ARNs parse back to their parts.
    #[test]
    fn built_arns_round_trip() {
        let arn = channel_arn(partition_for("cn-north-1"), "cn-north-1", "1", "ops", "id");
        let parsed = Arn::parse(&arn).expect("valid");
        assert_eq!(parsed.partition, "aws-cn");
        assert_eq!(parsed.contact_alias(), Some("ops"));
        assert_eq!(partition_for("us-gov-west-1"), "aws-us-gov");
    }
}
