//! SigV4 verification: rebuild the canonical request, re-sign it with the configured
//! secret, and compare in constant time, as AWS does before it looks at the body.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp, civil::DateTime, tz::TimeZone};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::protocol::wire::AwsError;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// AWS refuses requests signed more than 15 minutes away from its clock.
pub const MAX_SKEW: SignedDuration = SignedDuration::from_mins(15);
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Who signed an accepted request, and for which region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// The credential scope's region: the region the client called.
    pub region: String,
}

/// A refused request, with whatever identity it claimed (for the journal).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub error: AwsError,
    pub access_key_id: Option<String>,
    pub region: Option<String>,
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authorization {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// What a request is checked against: the service's signing name, the accepted keys, the clock.
pub struct Verifier<'a> {
    pub service: &'a str,
    /// access key id -> secret access key
    pub credentials: &'a [(String, String)],
    pub now: Timestamp,
}

impl Verifier<'_> {
    /// Verifies one request; `body` is the exact payload received.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, Box<Rejected>> {
        let auth = headers
            .get("authorization")
            .ok_or_else(|| incomplete("Request is missing Authentication Token"))
            .and_then(|value| {
                value
                    .to_str()
                    .map_err(|_| incomplete("Authorization header is not ASCII"))
            })
            .and_then(parse_authorization)
            .map_err(|error| {
                Box::new(Rejected {
                    error,
                    access_key_id: None,
                    region: None,
                })
            })?;
        let reject = |error: AwsError| {
            Box::new(Rejected {
                error,
                access_key_id: Some(auth.access_key_id.clone()),
                region: Some(auth.region.clone()),
            })
        };

        let amz_date = headers
            .get("x-amz-date")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                reject(incomplete(
                    "Authorization header requires existence of a 'X-Amz-Date' header.",
                ))
            })?;
        let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
            reject(invalid(format!(
                "X-Amz-Date '{amz_date}' must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'."
            )))
        })?;
        if !amz_date.starts_with(&auth.date) {
            return Err(reject(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                &amz_date[..8.min(amz_date.len())]
            ))));
        }
        if auth.service != self.service {
            return Err(reject(invalid(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            ))));
        }
        if auth.terminator != "aws4_request" {
            return Err(reject(invalid(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                auth.terminator
            ))));
        }
        if !auth.signed_headers.iter().any(|name| name == "host") {
            return Err(reject(invalid(
                "'Host' must be a 'SignedHeader' in the AWS Authorization.",
            )));
        }
        let skew = self.now.duration_since(signed_at);
        if skew.abs() > MAX_SKEW {
            let bound = if skew.is_positive() {
                format!("is now earlier than {}", format_amz(self.now - MAX_SKEW))
            } else {
                format!("is now later than {}", format_amz(self.now + MAX_SKEW))
            };
            return Err(reject(invalid(format!(
                "Signature expired: {amz_date} {bound} ({} - 15 min.)",
                format_amz(self.now)
            ))));
        }

        let secret = self
            .credentials
            .iter()
            .find(|(id, _)| *id == auth.access_key_id)
            .map(|(_, secret)| secret)
            .ok_or_else(|| {
                reject(AwsError::UnrecognizedClient {
                    message: crate::protocol::wire::INVALID_TOKEN_MESSAGE.into(),
                })
            })?;

        let canonical = canonical_request(
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            headers,
            &auth.signed_headers,
            &sha256_hex(body),
        )
        .map_err(reject)?;
        let scope = format!(
            "{}/{}/{}/{}",
            auth.date, auth.region, auth.service, auth.terminator
        );
        let to_sign = string_to_sign(amz_date, &scope, &canonical);
        let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
        let expected = signature(&key, &to_sign);
        // Constant time, so the answer's timing says nothing about how much of a forged
        // signature was right. Lengths are public (always 64 hex digits when well formed).
        let matches: bool = expected.as_bytes().ct_eq(auth.signature.as_bytes()).into();
        if !matches {
            return Err(reject(invalid(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.",
            )));
        }
        Ok(Verified {
            access_key_id: auth.access_key_id,
            region: auth.region,
        })
    }
}

/// The access key id and region a request claims in its `Authorization` header, read
/// before verification (to find which secret and session to verify it against); `None`
/// when the header is missing or malformed, which [`Verifier::verify`] then reports.
pub fn claimed_credential(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let auth = parse_authorization(value).ok()?;
    Some((auth.access_key_id, auth.region))
}

fn incomplete(message: impl Into<String>) -> AwsError {
    AwsError::IncompleteSignature {
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::InvalidSignature {
        message: message.into(),
    }
}

fn parse_authorization(value: &str) -> Result<Authorization, AwsError> {
    let (algorithm, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'; only {ALGORITHM} is accepted."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
        ("Signature", signature.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(format!(
            "Authorization header requires {} parameter(s). Authorization={value}",
            missing.join(", ")
        )));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(format!(
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request, got '{credential}'."
        )));
    };
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed_headers.split(';').map(str::to_string).collect(),
        signature: signature.to_string(),
    })
}

fn parse_amz_date(value: &str) -> Option<Timestamp> {
    let civil = DateTime::strptime(AMZ_DATE_FORMAT, value).ok()?;
    Some(civil.to_zoned(TimeZone::UTC).ok()?.timestamp())
}

fn format_amz(at: Timestamp) -> String {
    at.strftime(AMZ_DATE_FORMAT).to_string()
}

/// The canonical request of the SigV4 specification.
///
/// `path` and `query` are taken as they came over the wire (already percent-encoded once);
/// encoding the path again is what every SDK does for services other than S3.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, AwsError> {
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        uri_encode(path, false)
    };
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|value| collapse_spaces(&String::from_utf8_lossy(value.as_bytes())))
            .collect();
        if values.is_empty() {
            return Err(invalid(format!(
                "The header '{name}' is listed in SignedHeaders but absent from the request."
            )));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_query(query),
        signed_headers.join(";")
    ))
}

/// The string to sign for a request signed at `amz_date` within `scope`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The key derived from the secret for one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The hex signature of a string to sign.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(key, string_to_sign.as_bytes()))
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(key), true),
                uri_encode(&percent_decode(value), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What SigV4 leaves unencoded in a query: the unreserved set `A-Za-z0-9-_.~`.
const QUERY_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// What SigV4 leaves unencoded in a path: the unreserved set and `/`.
const PATH_ENCODED: &AsciiSet = &QUERY_ENCODED.remove(b'/');

/// SigV4's URI encoding: every byte but the unreserved set (and `/` unless
/// `encode_slash`), upper-case hex.
fn uri_encode(input: &str, encode_slash: bool) -> String {
    let set = if encode_slash {
        QUERY_ENCODED
    } else {
        PATH_ENCODED
    };
    utf8_percent_encode(input, set).to_string()
}

/// Decodes `%XX` escapes (a `%` without two hex digits stays as it is; `+` is not a
/// space in a query); bytes that are not UTF-8 become U+FFFD.
fn percent_decode(input: &str) -> String {
    percent_decode_str(input).decode_utf8_lossy().into_owned()
}

/// Header values are trimmed and inner runs of spaces collapse to one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data).as_slice())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // HMAC accepts keys of any length, so this cannot fail; were it to, the all-zero
    // result would make verification fail closed.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        mac.update(data);
        out.copy_from_slice(mac.finalize().into_bytes().as_slice());
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::protocol::sigv4::*;
    use axum::http::HeaderValue;

    const KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_DATE: &str = "20150830T123600Z";

    fn creds() -> Vec<(String, String)> {
        vec![(KEY_ID.to_string(), SECRET.to_string())]
    }

    fn at(amz: &str) -> Timestamp {
        parse_amz_date(amz).expect("valid date")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn suite_request(
        method: &str,
        uri: &str,
        service: &str,
        extra: &[(&str, &str)],
        signed: &str,
        signature: &str,
    ) -> (Method, Uri, HeaderMap, String) {
        let auth = format!(
            "{ALGORITHM} Credential={KEY_ID}/20150830/us-east-1/{service}/aws4_request, \
             SignedHeaders={signed}, Signature={signature}"
        );
        let mut pairs = vec![("x-amz-date", SUITE_DATE), ("authorization", auth.as_str())];
        pairs.extend_from_slice(extra);
        (
            method.parse().expect("method"),
            uri.parse().expect("uri"),
            headers(&pairs),
            service.to_string(),
        )
    }

    fn verify_at(
        now: Timestamp,
        (method, uri, headers, service): &(Method, Uri, HeaderMap, String),
        body: &[u8],
    ) -> Result<Verified, Box<Rejected>> {
        let credentials = creds();
        Verifier {
            service,
            credentials: &credentials,
            now,
        }
        .verify(method, uri, headers, body)
    }

    /// The published AWS SigV4 test-suite vectors verify end to end.
    #[test]
    fn published_test_suite_vectors_verify() {
        let host = [("host", "example.amazonaws.com")];
        for (name, method, uri, signature) in [
            (
                "get-vanilla",
                "GET",
                "/",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                "/",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ] {
            let request =
                suite_request(method, uri, "service", &host, "host;x-amz-date", signature);
            let verified = verify_at(at(SUITE_DATE), &request, b"")
                .unwrap_or_else(|r| panic!("{name}: {:?}", r.error));
            assert_eq!(verified.access_key_id, KEY_ID);
            assert_eq!(verified.region, "us-east-1");
        }
    }

    /// The IAM ListUsers example of the SigV4 documentation, checked step by step.
    #[test]
    fn documented_iam_example_matches_at_every_step() {
        let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
            .map(String::from)
            .to_vec();
        let map = headers(&[
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", SUITE_DATE),
        ]);
        let canonical = canonical_request(
            "GET",
            "/",
            "Version=2010-05-08&Action=ListUsers",
            &map,
            &signed,
            &sha256_hex(b""),
        )
        .expect("canonical");
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let to_sign = string_to_sign(
            SUITE_DATE,
            "20150830/us-east-1/iam/aws4_request",
            &canonical,
        );
        assert_eq!(
            hex::encode(hmac_sha256(&key, to_sign.as_bytes())),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// A changed signature, secret, body or signed header is refused as InvalidSignature.
    #[test]
    fn tampering_is_refused() {
        let host = [("host", "example.amazonaws.com")];
        let good = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
        let request = suite_request("POST", "/", "service", &host, "host;x-amz-date", good);
        let refused = verify_at(at(SUITE_DATE), &request, b"{}").expect_err("body changed");
        assert_eq!(refused.error.type_name(), "InvalidSignatureException");
        assert_eq!(refused.access_key_id.as_deref(), Some(KEY_ID));

        let bad = good.replace('5', "6");
        let request = suite_request("POST", "/", "service", &host, "host;x-amz-date", &bad);
        let refused = verify_at(at(SUITE_DATE), &request, b"").expect_err("signature changed");
        assert_eq!(refused.error.type_name(), "InvalidSignatureException");

        let other_host = [("host", "evil.example.com")];
        let request = suite_request("POST", "/", "service", &other_host, "host;x-amz-date", good);
        assert!(verify_at(at(SUITE_DATE), &request, b"").is_err());
    }

    /// Unknown keys, missing headers, wrong scopes and stale dates each get their own error.
    #[test]
    fn each_refusal_names_its_cause() {
        let host = [("host", "example.amazonaws.com")];
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let request = suite_request("GET", "/", "service", &host, "host;x-amz-date", sig);

        let credentials = vec![("AKIDOTHER".to_string(), SECRET.to_string())];
        let unknown = Verifier {
            service: "service",
            credentials: &credentials,
            now: at(SUITE_DATE),
        }
        .verify(&request.0, &request.1, &request.2, b"")
        .expect_err("unknown key");
        assert_eq!(unknown.error.type_name(), "UnrecognizedClientException");

        let late = at(SUITE_DATE) + SignedDuration::from_mins(16);
        let expired = verify_at(late, &request, b"").expect_err("expired");
        assert_eq!(expired.error.type_name(), "InvalidSignatureException");
        assert!(expired.error.to_string().contains("Signature expired"));
        let early = at(SUITE_DATE) - SignedDuration::from_mins(16);
        assert!(verify_at(early, &request, b"").is_err());
        let within = at(SUITE_DATE) + SignedDuration::from_mins(14);
        assert!(verify_at(within, &request, b"").is_ok());

        // Signed for "ssm", checked by a verifier of "service".
        let (method, uri, map, _) = suite_request("GET", "/", "ssm", &host, "host;x-amz-date", sig);
        let wrong_service = (method, uri, map, "service".to_string());
        let scoped = verify_at(at(SUITE_DATE), &wrong_service, b"").expect_err("scope");
        assert!(scoped.error.to_string().contains("correct service"));

        let (method, uri, mut map, service) = request.clone();
        map.remove("authorization");
        let missing =
            verify_at(at(SUITE_DATE), &(method, uri, map, service), b"").expect_err("no header");
        assert_eq!(missing.error.type_name(), "IncompleteSignatureException");

        let (method, uri, mut map, service) = request;
        map.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
            ),
        );
        let partial = verify_at(at(SUITE_DATE), &(method, uri, map, service), b"")
            .expect_err("partial header");
        assert_eq!(partial.error.type_name(), "IncompleteSignatureException");
        assert!(
            partial
                .error
                .to_string()
                .contains("SignedHeaders, Signature")
        );
    }

    /// Header values are trimmed, spaces collapse, repeated headers join with commas,
    /// and query parameters are decoded, re-encoded and sorted.
    #[test]
    fn canonical_form_normalises_headers_and_query() {
        let map = headers(&[
            ("host", "h"),
            ("my-header", "  a   b  "),
            ("my-header", "c"),
        ]);
        let signed = vec!["host".to_string(), "my-header".to_string()];
        let canonical = canonical_request("GET", "", "b=%7e&a=x y&a=1", &map, &signed, "HASH")
            .expect("canonical");
        assert_eq!(
            canonical,
            "GET\n/\na=1&a=x%20y&b=~\nhost:h\nmy-header:a b,c\n\nhost;my-header\nHASH"
        );
        let missing = canonical_request("GET", "/", "", &map, &["x-absent".into()], "HASH");
        assert!(missing.is_err());
    }

    /// Encoding keeps exactly `A-Za-z0-9-_.~` (and `/` in paths), with upper-case hex for
    /// everything else, UTF-8 included; decoding leaves `+` and broken escapes alone.
    #[test]
    fn uri_encoding_edge_cases() {
        assert_eq!(uri_encode("aZ09-_.~", true), "aZ09-_.~");
        assert_eq!(uri_encode("a/b c+d*e%", true), "a%2Fb%20c%2Bd%2Ae%25");
        assert_eq!(uri_encode("/a b/é", false), "/a%20b/%C3%A9");
        assert_eq!(uri_encode("!'()", false), "%21%27%28%29");
        assert_eq!(percent_decode("a+b%2Fc%2f%zz%4"), "a+b/c/%zz%4");
        assert_eq!(percent_decode("%C3%A9%FF"), "\u{e9}\u{fffd}");
        // A query value with an encoded slash and a plus signs as AWS expects.
        assert_eq!(canonical_query("k=a%2Fb+c&j"), "j=&k=a%2Fb%2Bc");
    }
}
