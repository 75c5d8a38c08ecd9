//! `ChannelArn`: a parsed SSM Contacts contact-channel ARN, and the region to call for it.

use std::fmt;

/// A contact-channel ARN that matches the pattern SSM Contacts enforces
/// ([`crate::api::resource::CHANNEL_ARN_PATTERN`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelArn {
    raw: String,
    partition: String,
    region: String,
    account: String,
    resource: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("contactChannelId is empty")]
    Empty,
    #[error("contactChannelId is longer than 2048 characters")]
    TooLong,
    #[error(
        "contactChannelId {0:?} is not an ARN of the form arn:PARTITION:ssm-contacts:REGION:ACCOUNT:RESOURCE"
    )]
    Shape(String),
    #[error("contactChannelId {0:?} names partition {1:?}; expected aws, aws-cn or aws-us-gov")]
    Partition(String, String),
    #[error("contactChannelId {0:?} names service {1:?}; expected ssm-contacts")]
    Service(String, String),
    #[error(
        "contactChannelId {0:?} names region {1:?}, which does not look like a region (such as us-east-1)"
    )]
    Region(String, String),
    #[error("contactChannelId {0:?} has an invalid {1}")]
    Characters(String, &'static str),
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn region_char(c: char) -> bool {
    is_word(c) || "-+=/,.@".contains(c)
}

/// `^[a-z]{2}(-[a-z]+)+-[0-9]+$`, the shape of every AWS region name.
pub fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((digits, words)) = parts.split_last() else {
        return false;
    };
    let Some((country, names)) = words.split_first() else {
        return false;
    };
    let letters = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    country.len() == 2
        && letters(country)
        && !names.is_empty()
        && names.iter().all(|name| letters(name))
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn resource_char(c: char) -> bool {
    is_word(c) || "+=/,.@:-".contains(c)
}

impl ChannelArn {
    pub fn parse(raw: &str) -> Result<Self, ArnError> {
        if raw.is_empty() {
            return Err(ArnError::Empty);
        }
        if raw.len() > 2048 {
            return Err(ArnError::TooLong);
        }
        let shape = || ArnError::Shape(raw.to_owned());
        let mut parts = raw.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(shape());
        };
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(ArnError::Partition(raw.to_owned(), partition.to_owned()));
        }
        if service != "ssm-contacts" {
            return Err(ArnError::Service(raw.to_owned(), service.to_owned()));
        }
        if !region.chars().all(region_char) {
            return Err(ArnError::Characters(raw.to_owned(), "region"));
        }
        // Anything else fails in endpoint resolution, after the decision to send: it must be
        // refused here, as nothing that was never sent may count as a send.
        if !region.is_empty() && !looks_like_region(region) {
            return Err(ArnError::Region(raw.to_owned(), region.to_owned()));
        }
        if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(ArnError::Characters(raw.to_owned(), "account id"));
        }
        if !resource.chars().all(resource_char) {
            return Err(ArnError::Characters(raw.to_owned(), "resource"));
        }
        Ok(Self {
            raw: raw.to_owned(),
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The channel's id: the last part of the resource path.
    pub fn id(&self) -> &str {
        self.raw.rsplit(['/', ':']).next().unwrap_or(&self.raw)
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// What identifies the channel whatever region part the ARN spells out: the per-channel
    /// limits count sends under this key, so an ARN with and one without its region name
    /// the same channel.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.partition, self.account, self.resource)
    }

    /// The region part, or `None` where the ARN leaves it empty.
    pub fn region(&self) -> Option<&str> {
        Some(self.region.as_str()).filter(|r| !r.is_empty())
    }
}

impl fmt::Display for ChannelArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Whether `region` belongs to `partition` (cn-* to aws-cn, us-gov-* to aws-us-gov, the rest
/// to aws): a call across partitions can only fail, and the CRD cannot see the operator's
/// default region.
pub fn region_in_partition(partition: &str, region: &str) -> bool {
    let expected = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    partition == expected
}

/// The region to call: the spec's override, else the ARN's region, else the operator default.
pub fn resolve_region(
    spec_region: Option<&str>,
    arn: &ChannelArn,
    operator_default: Option<&str>,
) -> Option<String> {
    spec_region
        .filter(|r| !r.is_empty())
        .or(arn.region())
        .or(operator_default.filter(|r| !r.is_empty()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ssm-contacts:eu-west-1:111122223333:contact-channel/oncall/abc";

    #[test]
    /// Regions belong to exactly one partition.
    fn partitions_and_regions() {
        assert!(region_in_partition("aws", "us-east-1"));
        assert!(region_in_partition("aws-cn", "cn-north-1"));
        assert!(region_in_partition("aws-us-gov", "us-gov-west-1"));
        assert!(!region_in_partition("aws", "cn-north-1"));
        assert!(!region_in_partition("aws-cn", "us-east-1"));
        assert!(!region_in_partition("aws-us-gov", "us-east-1"));
        let arn = ChannelArn::parse(
            "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a",
        )
        .unwrap();
        assert_eq!(arn.id(), "0c4e1a");
    }

    #[test]
    /// A well-formed ARN yields its partition, account and region.
    fn parses_parts() {
        let arn = ChannelArn::parse(ARN).unwrap();
        assert_eq!(arn.partition(), "aws");
        assert_eq!(arn.account(), "111122223333");
        assert_eq!(arn.region(), Some("eu-west-1"));
        assert_eq!(arn.to_string(), ARN);
    }

    #[test]
    /// An empty region part is allowed by the pattern and means "no region in the ARN".
    fn empty_region_is_none() {
        let arn =
            ChannelArn::parse("arn:aws:ssm-contacts::111122223333:contact-channel/a/b").unwrap();
        assert_eq!(arn.region(), None);
    }

    #[test]
    /// The channel key leaves the region part out, and keeps partition, account and id.
    fn key_ignores_the_region_part() {
        let with = ChannelArn::parse(ARN).unwrap();
        let without =
            ChannelArn::parse("arn:aws:ssm-contacts::111122223333:contact-channel/oncall/abc")
                .unwrap();
        assert_eq!(with.key(), without.key());
        let other_account =
            ChannelArn::parse("arn:aws:ssm-contacts::111122224444:contact-channel/oncall/abc")
                .unwrap();
        assert_ne!(with.key(), other_account.key());
    }

    #[test]
    /// Everything the CRD pattern refuses is refused here too, with the reason named.
    fn refuses_what_the_pattern_refuses() {
        assert_eq!(ChannelArn::parse(""), Err(ArnError::Empty));
        assert!(matches!(
            ChannelArn::parse("not-an-arn"),
            Err(ArnError::Shape(_))
        ));
        assert!(matches!(
            ChannelArn::parse("arn:aws-xx:ssm-contacts:us-east-1:1:x"),
            Err(ArnError::Partition(..))
        ));
        assert!(matches!(
            ChannelArn::parse("arn:aws:ssm:us-east-1:1:x"),
            Err(ArnError::Service(..))
        ));
        assert!(matches!(
            ChannelArn::parse("arn:aws:ssm-contacts:us-east-1:12a:x"),
            Err(ArnError::Characters(_, "account id"))
        ));
        assert!(matches!(
            ChannelArn::parse("arn:aws:ssm-contacts:us-east-1:1:x y"),
            Err(ArnError::Characters(_, "resource"))
        ));
        assert_eq!(ChannelArn::parse(&"a".repeat(2049)), Err(ArnError::TooLong));
        assert!(matches!(
            ChannelArn::parse("arn:aws:ssm-contacts:us_east_1:1:x"),
            Err(ArnError::Region(..))
        ));
    }

    #[test]
    /// Region names: two letters, one or more words, a number, joined by dashes.
    fn region_shapes() {
        for good in [
            "us-east-1",
            "cn-north-1",
            "us-gov-west-1",
            "ap-southeast-10",
        ] {
            assert!(looks_like_region(good), "{good}");
        }
        for bad in [
            "",
            "us_east_1",
            "us-east",
            "useast-1",
            "us-east-1a",
            "US-east-1",
            "u-east-1",
            "us--1",
            "us-1",
            "-us-east-1",
            "us-east-1-",
        ] {
            assert!(!looks_like_region(bad), "{bad}");
        }
    }

    #[test]
    /// Region precedence: spec override, then the ARN, then the operator default.
    fn region_precedence() {
        let with_region = ChannelArn::parse(ARN).unwrap();
        let without = ChannelArn::parse("arn:aws:ssm-contacts::1:contact-channel/a").unwrap();
        assert_eq!(
            resolve_region(Some("us-west-2"), &with_region, Some("ap-south-1")).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            resolve_region(None, &with_region, Some("ap-south-1")).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            resolve_region(None, &without, Some("ap-south-1")).as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(resolve_region(None, &without, None), None);
        assert_eq!(resolve_region(Some(""), &without, None), None);
    }
}
