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
        let pairs = body
            .split(|byte| *byte == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (decode(&pair[..at]), decode(&pair[at + 1..])),
                None => (decode(pair), String::new()),
            })
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

fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (raw[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
