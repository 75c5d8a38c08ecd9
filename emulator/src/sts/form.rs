//! `application/x-www-form-urlencoded` request bodies, as awsQuery clients send them
//! (`Action=AssumeRole&Version=2011-06-15&RoleArn=...`).
//!
//! Decoding is lenient, as AWS's is: `+` is a space, a `%` not followed by two hex digits is
//! kept as it is, and bytes that are not UTF-8 become U+FFFD. Validation of the values is
//! the action's business.

/// The decoded name-value pairs of a form, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        // `form_urlencoded` decodes exactly as described above: pairs split on `&` (empty
        // ones skipped) and on their first `=`, `+` as a space, broken escapes kept.
        let pairs = form_urlencoded::parse(body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Self { pairs }
    }

    /// The first value of `name` (a repeated parameter keeps its first value).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use crate::sts::form::*;

    /// Pairs decode `+` and percent escapes; the first of repeated names wins.
    #[test]
    fn forms_decode_like_awsquery_clients_encode() {
        let form = Form::parse(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2Fops%2Fsender\
              &RoleSessionName=a+b%2Bc&&flag&Action=Other&Empty=",
        );
        assert_eq!(form.get("Action"), Some("AssumeRole"));
        assert_eq!(form.get("Version"), Some("2011-06-15"));
        assert_eq!(
            form.get("RoleArn"),
            Some("arn:aws:iam::210987654321:role/ops/sender")
        );
        assert_eq!(form.get("RoleSessionName"), Some("a b+c"));
        assert_eq!(form.get("flag"), Some(""));
        assert_eq!(form.get("Empty"), Some(""));
        assert_eq!(form.get("Missing"), None);
    }

    /// Broken escapes stay literal, non-UTF-8 bytes become U+FFFD, nothing panics.
    #[test]
    fn malformed_input_is_decoded_leniently() {
        let form = Form::parse(b"A=%zz%4&B=%C3%A9%FF&%=%");
        assert_eq!(form.get("A"), Some("%zz%4"));
        assert_eq!(form.get("B"), Some("\u{e9}\u{fffd}"));
        assert_eq!(form.get("%"), Some("%"));
        assert_eq!(Form::parse(b""), Form::default());
    }

    /// `%2B` is a literal plus and `+` a space; `%2F` and `%3D` decode inside a value, and
    /// only the first `=` of a pair splits it.
    #[test]
    fn plus_and_escaped_separators() {
        let form = Form::parse(b"A=1%2B1+%3D+2&B=a%2Fb=c&C%26D=%26");
        assert_eq!(form.get("A"), Some("1+1 = 2"));
        assert_eq!(form.get("B"), Some("a/b=c"));
        assert_eq!(form.get("C&D"), Some("&"));
        assert_eq!(form.get("C"), None);
    }
}
