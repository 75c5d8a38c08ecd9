//! Wire details no SDK lets a test provoke: unsigned and stale requests, unknown targets,
//! unparseable bodies, the headers of every answer, and STS's XML documents, checked with a
//! plain HTTP client.

use jiff::{SignedDuration, Timestamp};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use ssm_contacts_emulator::admin::SeedChannel;
use ssm_contacts_emulator::sigv4::{
    canonical_request, sha256_hex, signature, signing_key, string_to_sign,
};
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig, RunningEmulator,
};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Signs like an SDK would (the emulator's own SigV4 pieces; the SDK and CLI tests check
/// them against foreign signers): an awsJson call to SSM Contacts with `target`.
fn signed_headers(
    emulator: &RunningEmulator,
    target: &str,
    body: &str,
    at: Timestamp,
) -> HeaderMap {
    sign(
        emulator,
        "ssm-contacts",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ],
        body,
        at,
    )
}

/// Signs a request for `service` with the default key: `extra` headers, plus `host` and
/// `x-amz-date`, all of them signed.
fn sign(
    emulator: &RunningEmulator,
    service: &str,
    extra: &[(&'static str, &str)],
    body: &str,
    at: Timestamp,
) -> HeaderMap {
    let amz_date = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut headers = HeaderMap::new();
    let host = emulator.addr().to_string();
    let all = extra
        .iter()
        .copied()
        .chain([("host", host.as_str()), ("x-amz-date", amz_date.as_str())]);
    for (name, value) in all {
        headers.insert(name, HeaderValue::from_str(value).expect("header"));
    }
    let mut signed: Vec<String> = headers.keys().map(ToString::to_string).collect();
    signed.sort();
    let canonical = canonical_request(
        "POST",
        "/",
        "",
        &headers,
        &signed,
        &sha256_hex(body.as_bytes()),
    )
    .expect("canonical");
    let scope = format!("{date}/us-east-1/{service}/aws4_request");
    let key = signing_key(DEFAULT_SECRET_ACCESS_KEY, date, "us-east-1", service);
    let signature = signature(&key, &string_to_sign(&amz_date, &scope, &canonical));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={DEFAULT_ACCESS_KEY_ID}/{scope}, SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).expect("header"),
    );
    headers
}

async fn post(
    emulator: &RunningEmulator,
    headers: HeaderMap,
    body: &str,
) -> (u16, HeaderMap, Value) {
    let response = http()
        .post(format!("{}/", emulator.endpoint_url()))
        .headers(headers)
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Every answer, success or error, has a fresh request id; errors add x-amzn-ErrorType.
#[tokio::test]
async fn answers_carry_request_ids_and_error_types() {
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let arn = emulator
        .seed_channel(SeedChannel::in_region("us-east-1"))
        .expect("seed")
        .arn;
    let body = json!({ "ContactChannelId": arn }).to_string();
    let target = "SSMContacts.SendActivationCode";

    let (status, headers, answer) = post(
        &emulator,
        signed_headers(&emulator, target, &body, Timestamp::now()),
        &body,
    )
    .await;
    assert_eq!((status, answer), (200, json!({})));
    assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
    let first_id = headers["x-amzn-requestid"]
        .to_str()
        .expect("id")
        .to_string();
    assert!(!headers.contains_key("x-amzn-errortype"));

    let (_, headers, _) = post(
        &emulator,
        signed_headers(&emulator, target, &body, Timestamp::now()),
        &body,
    )
    .await;
    assert_ne!(headers["x-amzn-requestid"].to_str().expect("id"), first_id);

    let unknown = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/none";
    let missing = json!({ "ContactChannelId": unknown }).to_string();
    let (status, headers, answer) = post(
        &emulator,
        signed_headers(&emulator, target, &missing, Timestamp::now()),
        &missing,
    )
    .await;
    assert_eq!(status, 400);
    assert!(headers.contains_key("x-amzn-requestid"));
    let error_type = headers["x-amzn-errortype"].to_str().expect("type");
    assert!(
        error_type.starts_with("ResourceNotFoundException:"),
        "{error_type}"
    );
    assert_eq!(
        answer,
        json!({"__type": "ResourceNotFoundException",
               "Message": format!("Contact channel {unknown} not found in us-east-1."),
               "ResourceId": unknown, "ResourceType": "CONTACT_CHANNEL"})
    );
    emulator.shutdown().await;
}

/// Unsigned, stale, unknown-operation and unparseable requests get the service's errors.
#[tokio::test]
async fn protocol_errors() {
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let body = "{}";

    let mut unsigned = HeaderMap::new();
    unsigned.insert(
        "x-amz-target",
        HeaderValue::from_static("SSMContacts.SendActivationCode"),
    );
    let (status, _, answer) = post(&emulator, unsigned, body).await;
    assert_eq!(
        (status, &answer["__type"]),
        (403, &json!("IncompleteSignatureException"))
    );

    let stale = Timestamp::now() - SignedDuration::from_mins(20);
    let headers = signed_headers(&emulator, "SSMContacts.SendActivationCode", body, stale);
    let (status, _, answer) = post(&emulator, headers, body).await;
    assert_eq!(
        (status, &answer["__type"]),
        (403, &json!("InvalidSignatureException"))
    );
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("Signature expired"))
    );

    // An unknown operation, a body cut short and a member of the wrong type.
    for (target, body, expected) in [
        ("SSMContacts.GetContact", body, "UnknownOperationException"),
        (
            "SSMContacts.SendActivationCode",
            "{\"ContactChannelId\": ",
            "SerializationException",
        ),
        (
            "SSMContacts.SendActivationCode",
            "{\"ContactChannelId\": 42}",
            "SerializationException",
        ),
    ] {
        let headers = signed_headers(&emulator, target, body, Timestamp::now());
        let (status, _, answer) = post(&emulator, headers, body).await;
        assert_eq!(
            (status, &answer["__type"]),
            (400, &json!(expected)),
            "{target} {body}"
        );
    }

    let journal = emulator.admin().journal().await.expect("journal");
    let outcomes: Vec<&str> = journal.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "IncompleteSignatureException",
            "InvalidSignatureException",
            "UnknownOperationException",
            "SerializationException",
            "SerializationException"
        ]
    );
    assert_eq!(journal[0].access_key_id, None);
    assert_eq!(
        journal[1].access_key_id.as_deref(),
        Some(DEFAULT_ACCESS_KEY_ID)
    );
    assert_eq!(journal[2].operation, "GetContact");
    emulator.shutdown().await;
}

/// A mistyped admin path is a 404 from the admin API, not a wire call.
#[tokio::test]
async fn unknown_admin_paths_are_not_wire_calls() {
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let response = http()
        .get(format!("{}/_emulator/jornal", emulator.endpoint_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 404);
    assert!(
        emulator
            .admin()
            .journal()
            .await
            .expect("journal")
            .is_empty()
    );
    emulator.shutdown().await;
}

/// Signs a form-encoded STS call as an awsQuery client would, with the default key.
fn signed_form_headers(emulator: &RunningEmulator, body: &str, at: Timestamp) -> HeaderMap {
    sign(
        emulator,
        "sts",
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
        at,
    )
}

/// A raw awsQuery call: (status, content type, request id header, body).
async fn post_form(
    emulator: &RunningEmulator,
    headers: HeaderMap,
    body: &str,
) -> (u16, String, String, String) {
    let response = http()
        .post(format!("{}/", emulator.endpoint_url()))
        .headers(headers)
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, request_id) = (header("content-type"), header("x-amzn-requestid"));
    let status = response.status().as_u16();
    (
        status,
        content_type,
        request_id,
        response.text().await.expect("body"),
    )
}

/// STS answers as AWS does, byte for byte where the document is fixed: the AssumeRole
/// document, and `ErrorResponse` for an unknown action and an unsigned call, each with
/// the request id in the body and the `x-amzn-RequestId` header.
#[tokio::test]
async fn sts_answers_are_awsquery_xml() {
    let role = "arn:aws:iam::210987654321:role/sender";
    let emulator = RunningEmulator::start(EmulatorConfig::default().with_role(role))
        .await
        .expect("start");
    let body = "Action=AssumeRole&Version=2011-06-15\
                &RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2Fsender\
                &RoleSessionName=raw&DurationSeconds=900";
    let headers = signed_form_headers(&emulator, body, Timestamp::now());
    let (status, content_type, request_id, xml) = post_form(&emulator, headers, body).await;
    assert_eq!((status, content_type.as_str()), (200, "text/xml"));
    let key = emulator
        .admin()
        .journal()
        .await
        .expect("journal")
        .pop()
        .and_then(|entry| entry.issued_access_key_id)
        .expect("issued key");
    let prefix = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                  <AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROA";
    assert!(xml.starts_with(prefix), "{xml}");
    for part in [
        ":raw</AssumedRoleId><Arn>arn:aws:sts::210987654321:assumed-role/sender/raw</Arn>\
         </AssumedRoleUser><Credentials>"
            .to_string(),
        format!("<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>"),
        format!(
            "</Expiration></Credentials></AssumeRoleResult><ResponseMetadata>\
             <RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ),
    ] {
        assert!(xml.contains(&part), "{part} not in {xml}");
    }

    let other = "Action=GetCallerIdentity&Version=2011-06-15";
    let headers = signed_form_headers(&emulator, other, Timestamp::now());
    let (status, content_type, request_id, xml) = post_form(&emulator, headers, other).await;
    assert_eq!((status, content_type.as_str()), (400, "text/xml"));
    assert_eq!(
        xml,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation \
             GetCallerIdentity for version 2011-06-15: the emulator serves STS AssumeRole as \
             POST / (got POST /).</Message></Error><RequestId>{request_id}</RequestId>\
             </ErrorResponse>"
        )
    );

    // No content type at all: the `Action` in the body still makes it an STS call.
    let (status, content_type, _, xml) = post_form(&emulator, HeaderMap::new(), body).await;
    assert_eq!((status, content_type.as_str()), (403, "text/xml"));
    assert!(
        xml.contains(
            "<Code>MissingAuthenticationToken</Code>\
             <Message>Request is missing Authentication Token</Message>"
        ),
        "{xml}"
    );

    let journal = emulator.admin().journal().await.expect("journal");
    let seen: Vec<(&str, &str)> = journal
        .iter()
        .map(|e| (e.operation.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("AssumeRole", "ok"),
            ("GetCallerIdentity", "InvalidAction"),
            ("AssumeRole", "MissingAuthenticationToken"),
        ]
    );
    emulator.shutdown().await;
}
