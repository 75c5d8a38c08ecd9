//! The emulator driven by the real aws-sdk-ssmcontacts client: success, every modeled error,
//! broken answers, cut connections, signatures, quota, activation and regions.
//!
//! Every client gets static credentials, an explicit region and endpoint, and no retries,
//! so no test reads the environment's credentials or touches instance metadata.

use std::time::{Duration, Instant};

use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::config::Credentials;
use aws_sdk_ssmcontacts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssmcontacts::operation::RequestId;
use aws_sdk_ssmcontacts::operation::activate_contact_channel::ActivateContactChannelError;
use aws_sdk_ssmcontacts::operation::get_contact_channel::GetContactChannelError;
use aws_sdk_ssmcontacts::operation::send_activation_code::SendActivationCodeError;
use aws_sdk_ssmcontacts::types::{
    ActivationStatus, ChannelType, ContactChannelAddress, ContactType, Plan,
    ValidationExceptionReason,
};
use ssm_contacts_emulator::admin::{
    ActivationStatus as EmuActivationStatus, AdminError, ChannelType as EmuChannelType, ChaosSpec,
    FaultKind, FaultSpec, JournalFilter, Quota, SeedChannel,
};
use ssm_contacts_emulator::wire::WRONG_ACTIVATION_CODE_MESSAGE;
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig, RunningEmulator,
};

#[path = "common/binary.rs"]
mod binary;
#[path = "common/calls.rs"]
mod calls;
#[path = "common/sdk_config.rs"]
mod sdk_config;

use binary::Binary;
use calls::{last_entry, send};

async fn emulator() -> RunningEmulator {
    RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

/// A client as the operator builds one (aws-config loader), pointed at the emulator.
async fn client_with(
    emulator: &RunningEmulator,
    region: &str,
    access_key_id: &str,
    secret: &str,
) -> Client {
    let credentials = Credentials::new(access_key_id, secret, None, None, "emulator-test");
    // A fault that failed to cut a connection shows up as a timeout, not a hung test.
    let timeout = Some(Duration::from_secs(20));
    let config = sdk_config::loaded(&emulator.endpoint_url(), region, credentials, timeout).await;
    Client::new(&config)
}

async fn client(emulator: &RunningEmulator, region: &str) -> Client {
    client_with(
        emulator,
        region,
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_SECRET_ACCESS_KEY,
    )
    .await
}

async fn seeded(emulator: &RunningEmulator, region: &str) -> String {
    emulator
        .admin()
        .seed_channel(&SeedChannel::in_region(region))
        .await
        .expect("seed")
        .arn
}

/// A successful SendActivationCode answers 200 with a request id, and the journal shows it.
#[tokio::test]
async fn send_activation_code_succeeds_and_is_journaled() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;

    let output = send(&client, &arn).await.expect("sent");
    let request_id = output.request_id().expect("request id").to_string();
    assert_eq!(request_id.len(), 36, "a UUID: {request_id}");

    let admin = emulator.admin();
    let entry = last_entry(&emulator).await;
    assert_eq!(entry.operation, "SendActivationCode");
    assert_eq!(entry.channel_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(entry.region.as_deref(), Some("us-east-1"));
    assert_eq!(entry.access_key_id.as_deref(), Some(DEFAULT_ACCESS_KEY_ID));
    assert_eq!(entry.outcome, "ok");
    assert_eq!(entry.http_status, Some(200));
    assert_eq!(entry.request_id, request_id);
    assert!(!entry.connection_dropped);
    let channel = admin.channel(&arn).await.expect("admin").expect("channel");
    assert_eq!(channel.codes_sent, 1);
    assert_eq!(entry.activation_code, channel.last_code);
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 1);
    emulator.shutdown().await;
}

/// Each of the seven modeled errors surfaces as its own SendActivationCodeError variant,
/// with message, request id, the model's HTTP status and RetryAfterSeconds where set.
#[tokio::test]
async fn every_modeled_error_surfaces_as_its_variant() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();

    for (kind, code, status) in [
        (FaultKind::ThrottlingException, "ThrottlingException", 429),
        (
            FaultKind::InternalServerException,
            "InternalServerException",
            500,
        ),
        (
            FaultKind::ServiceQuotaExceededException,
            "ServiceQuotaExceededException",
            402,
        ),
        (
            FaultKind::AccessDeniedException,
            "AccessDeniedException",
            403,
        ),
        (
            FaultKind::DataEncryptionException,
            "DataEncryptionException",
            400,
        ),
        (
            FaultKind::ResourceNotFoundException,
            "ResourceNotFoundException",
            400,
        ),
        (FaultKind::ValidationException, "ValidationException", 400),
    ] {
        let message = format!("injected {code}");
        let spec = FaultSpec {
            message: Some(message.clone()),
            ..FaultSpec::error("SendActivationCode", kind)
                .for_channel(&arn)
                .times(1)
                .retry_after(3)
        };
        admin.inject_fault(&spec).await.expect("inject");
        let err = send(&client, &arn).await.expect_err(code);
        assert!(matches!(err, SdkError::ServiceError(_)), "{code}: {err:?}");
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        let request_id = err.request_id().map(str::to_string);
        let error = err.into_service_error();
        assert_eq!(error.code(), Some(code));
        assert_eq!(error.message(), Some(message.as_str()));
        let variant_ok = match &error {
            SendActivationCodeError::ThrottlingException(e) => {
                assert_eq!(e.retry_after_seconds(), 3);
                assert_eq!(e.service_code(), Some("ssm-contacts"));
                assert!(e.quota_code().is_some());
                kind == FaultKind::ThrottlingException
            }
            SendActivationCodeError::InternalServerException(e) => {
                assert_eq!(e.retry_after_seconds(), 3);
                kind == FaultKind::InternalServerException
            }
            SendActivationCodeError::ServiceQuotaExceededException(e) => {
                assert_eq!(e.service_code(), "ssm-contacts");
                kind == FaultKind::ServiceQuotaExceededException
            }
            SendActivationCodeError::AccessDeniedException(_) => {
                kind == FaultKind::AccessDeniedException
            }
            SendActivationCodeError::DataEncryptionException(_) => {
                kind == FaultKind::DataEncryptionException
            }
            SendActivationCodeError::ResourceNotFoundException(e) => {
                assert_eq!(e.resource_id(), arn);
                kind == FaultKind::ResourceNotFoundException
            }
            SendActivationCodeError::ValidationException(e) => {
                assert_eq!(e.reason(), Some(&ValidationExceptionReason::Other));
                kind == FaultKind::ValidationException
            }
            other => panic!("{code}: unhandled {other:?}"),
        };
        assert!(variant_ok, "{code} surfaced as {error:?}");

        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, code);
        assert_eq!(entry.http_status, http_status);
        assert_eq!(Some(entry.http_status.unwrap_or(0)), Some(status), "{code}");
        assert_eq!(Some(entry.request_id), request_id, "{code}: request id");
        assert_eq!(entry.fault.as_deref(), Some(code));
    }
    // Faults answered before the operation: no code was generated.
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 0);
    let channel = admin.channel(&arn).await.expect("admin").expect("channel");
    assert_eq!(channel.codes_sent, 0);
    // times(1) faults are used up.
    assert!(admin.faults().await.expect("faults").is_empty());
    emulator.shutdown().await;
}

/// An HTML 502 from a "proxy" is a ServiceError whose error is unhandled, with no code and
/// no request id: the SDK tries to read the error body as JSON and fails on the HTML.
#[tokio::test]
async fn html_502_is_an_unhandled_service_error() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();
    admin
        .inject_fault(&FaultSpec::error("SendActivationCode", FaultKind::Html502).times(1))
        .await
        .expect("inject");

    let err = send(&client, &arn).await.expect_err("502");
    let SdkError::ServiceError(service) = &err else {
        panic!("expected ServiceError, got {err:?}");
    };
    assert_eq!(service.raw().status().as_u16(), 502);
    assert!(err.request_id().is_none(), "a proxy page has no request id");
    let body = service.raw().body().bytes().map(String::from_utf8_lossy);
    assert!(body.is_some_and(|b| b.contains("502 Bad Gateway")));
    let error = err.into_service_error();
    assert_eq!(error.code(), None);
    assert!(
        !error.is_throttling_exception() && !error.is_internal_server_exception(),
        "{error:?}"
    );

    let entry = last_entry(&emulator).await;
    assert_eq!(entry.outcome, "Html502");
    assert_eq!(entry.http_status, Some(502));
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 0);
    emulator.shutdown().await;
}

/// MalformedJson: SendActivationCode's output has no members, so the SDK never reads a 200
/// body and reports success (the code was generated). With an error status, or on an
/// operation whose output has members, the broken body is an unhandled ServiceError.
#[tokio::test]
async fn malformed_json_depends_on_whether_the_sdk_reads_the_body() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();

    admin
        .inject_fault(&FaultSpec::error("SendActivationCode", FaultKind::MalformedJson).times(1))
        .await
        .expect("inject");
    send(&client, &arn)
        .await
        .expect("a 200 with an unread body is a success to the SDK");
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 1);
    assert_eq!(
        last_entry(&emulator).await.fault.as_deref(),
        Some("MalformedJson")
    );

    let as_500 = FaultSpec {
        http_status: Some(500),
        ..FaultSpec::error("SendActivationCode", FaultKind::MalformedJson).times(1)
    };
    admin.inject_fault(&as_500).await.expect("inject");
    let err = send(&client, &arn).await.expect_err("broken error body");
    let SdkError::ServiceError(service) = &err else {
        panic!("expected ServiceError, got {err:?}");
    };
    assert_eq!(service.raw().status().as_u16(), 500);
    assert!(err.request_id().is_some());
    assert_eq!(err.into_service_error().code(), None);

    admin
        .inject_fault(&FaultSpec::error("GetContactChannel", FaultKind::MalformedJson).times(1))
        .await
        .expect("inject");
    let err = client
        .get_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect_err("broken output body");
    assert!(matches!(err, SdkError::ServiceError(_)), "{err:?}");
    assert_eq!(err.into_service_error().code(), None);
    emulator.shutdown().await;
}

/// A connection cut before or after processing is a DispatchFailure (no HTTP answer at
/// all); only the journal tells the two apart.
#[tokio::test]
async fn dropped_connections_are_dispatch_failures() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();

    for (kind, sent, outcome) in [
        (FaultKind::DropBeforeProcessing, 0, "dropped"),
        (FaultKind::DropAfterProcessing, 1, "ok"),
    ] {
        admin
            .inject_fault(FaultSpec::error("SendActivationCode", kind).times(1))
            .await
            .expect("inject");
        let err = send(&client, &arn).await.expect_err("no answer");
        let SdkError::DispatchFailure(failure) = &err else {
            panic!("{kind:?}: expected DispatchFailure, got {err:?}");
        };
        // hyper's IncompleteMessage ("connection closed before message completed"), which
        // the SDK classifies as a transient error: with SDK retries on, it would resend.
        assert!(failure.is_other(), "{kind:?}: {failure:?}");
        assert_eq!(format!("{:?}", failure.as_other()), "Some(TransientError)");
        assert!(
            format!("{failure:?}").contains("IncompleteMessage"),
            "{failure:?}"
        );
        assert!(err.raw_response().is_none());

        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, outcome, "{kind:?}");
        assert_eq!(entry.http_status, None);
        assert_eq!(
            entry.connection_dropped,
            kind == FaultKind::DropAfterProcessing
        );
        assert_eq!(
            admin.sends_for(&arn).await.expect("count"),
            sent,
            "{kind:?}"
        );
    }
    // The code of the cut call exists: the person got it though the caller never knew.
    let channel = admin.channel(&arn).await.expect("admin").expect("channel");
    assert_eq!(channel.codes_sent, 1);
    assert!(channel.last_code.is_some());

    // The next call opens a fresh connection and succeeds.
    send(&client, &arn).await.expect("sent after the cut");
    emulator.shutdown().await;
}

/// A wrong secret is InvalidSignatureException, an unknown key UnrecognizedClientException,
/// both 403 and journaled, and nothing is sent.
#[tokio::test]
async fn bad_credentials_are_rejected() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let admin = emulator.admin();

    for (key, secret, code) in [
        (
            DEFAULT_ACCESS_KEY_ID,
            "not-the-secret",
            "InvalidSignatureException",
        ),
        (
            "AKIDUNKNOWN",
            DEFAULT_SECRET_ACCESS_KEY,
            "UnrecognizedClientException",
        ),
    ] {
        let client = client_with(&emulator, "us-east-1", key, secret).await;
        let err = send(&client, &arn).await.expect_err(code);
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
        let error = err.into_service_error();
        assert_eq!(error.code(), Some(code));
        assert!(error.message().is_some_and(|m| !m.is_empty()));
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, code);
        assert_eq!(entry.access_key_id.as_deref(), Some(key));
    }
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 0);

    // Several keys may be configured; each signs for itself.
    let config = EmulatorConfig {
        credentials: vec![
            ("AKIDFIRST".into(), "first-secret".into()),
            ("AKIDSECOND".into(), "second-secret".into()),
        ],
        ..EmulatorConfig::default()
    };
    let multi = RunningEmulator::start(config).await.expect("start");
    let arn = seeded(&multi, "us-east-1").await;
    let second = client_with(&multi, "us-east-1", "AKIDSECOND", "second-secret").await;
    send(&second, &arn).await.expect("second key accepted");
    assert_eq!(
        last_entry(&multi).await.access_key_id.as_deref(),
        Some("AKIDSECOND")
    );
    emulator.shutdown().await;
    multi.shutdown().await;
}

/// Over the rate quota, SendActivationCode is throttled with RetryAfterSeconds and quota
/// codes; other operations are not counted; clearing the quota lifts it.
#[tokio::test]
async fn quota_throttles_with_retry_after() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();
    let quota = Quota {
        rate_per_second: 0.001,
        burst: 2,
        retry_after_seconds: Some(4),
        region: None,
    };
    admin.set_quota(&quota).await.expect("quota");
    assert_eq!(admin.quota().await.expect("quota"), Some(quota));

    for _ in 0..2 {
        send(&client, &arn).await.expect("within burst");
    }
    client
        .get_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect("not counted");
    let err = send(&client, &arn).await.expect_err("over quota");
    match err.into_service_error() {
        SendActivationCodeError::ThrottlingException(e) => {
            assert_eq!(e.retry_after_seconds(), 4);
            assert_eq!(e.service_code(), Some("ssm-contacts"));
            assert!(e.quota_code().is_some_and(|c| c.starts_with("L-")));
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 2);

    admin.clear_quota().await.expect("clear");
    send(&client, &arn).await.expect("quota lifted");
    emulator.shutdown().await;
}

/// GetContactChannel after a seed shows the type, address and activation status the
/// test chose (SMS, VOICE, EMAIL; a channel seeded ACTIVATED).
#[tokio::test]
async fn get_contact_channel_after_seed() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let client = client(&emulator, "us-east-1").await;
    let seeds = [
        (
            SeedChannel {
                name: "pager".into(),
                ..SeedChannel::in_region("us-east-1").of_type(EmuChannelType::Sms, "+15555550100")
            },
            ChannelType::Sms,
            ActivationStatus::NotActivated,
        ),
        (
            SeedChannel::in_region("us-east-1")
                .of_type(EmuChannelType::Voice, "+15555550101")
                .activated(),
            ChannelType::Voice,
            ActivationStatus::Activated,
        ),
        (
            SeedChannel::in_region("us-east-1"),
            ChannelType::Email,
            ActivationStatus::NotActivated,
        ),
    ];
    for (seed, kind, status) in seeds {
        let channel = admin.seed_channel(&seed).await.expect("seed");
        let got = client
            .get_contact_channel()
            .contact_channel_id(&channel.arn)
            .send()
            .await
            .expect("get");
        assert_eq!(got.contact_channel_arn(), channel.arn);
        assert_eq!(got.contact_arn(), channel.contact_arn);
        assert_eq!(got.name(), seed.name);
        assert_eq!(got.r#type(), &kind);
        assert_eq!(
            got.delivery_address().and_then(|a| a.simple_address()),
            Some(seed.delivery_address.as_str())
        );
        assert_eq!(got.activation_status(), Some(&status));
    }
    let unknown = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/none";
    let err = client
        .get_contact_channel()
        .contact_channel_id(unknown)
        .send()
        .await
        .expect_err("unknown");
    match err.into_service_error() {
        GetContactChannelError::ResourceNotFoundException(e) => {
            assert_eq!(e.resource_id(), unknown);
            assert_eq!(e.resource_type(), "CONTACT_CHANNEL");
        }
        other => panic!("expected ResourceNotFound, got {other:?}"),
    }
    emulator.shutdown().await;
}

async fn activate(
    client: &Client,
    channel: &str,
    code: &str,
) -> Result<(), SdkError<ActivateContactChannelError>> {
    client
        .activate_contact_channel()
        .contact_channel_id(channel)
        .activation_code(code)
        .send()
        .await
        .map(drop)
}

async fn status_of(client: &Client, channel: &str) -> Option<ActivationStatus> {
    client
        .get_contact_channel()
        .contact_channel_id(channel)
        .send()
        .await
        .expect("get")
        .activation_status()
        .cloned()
}

/// Each successful send draws a fresh code, shown in the journal as on the phone; only
/// the latest one activates. An earlier or made-up code is a ValidationException (reason
/// OTHER, the documented message, no code in it); activating again answers success.
#[tokio::test]
async fn send_then_activate_with_the_journals_code() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;

    let mut codes = Vec::new();
    for _ in 0..3 {
        send(&client, &arn).await.expect("sent");
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.operation, "SendActivationCode");
        let code = entry
            .activation_code
            .expect("the code, as the phone shows it");
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        codes.push(code);
    }
    let latest = codes.last().expect("three codes").clone();
    assert_eq!(
        admin.last_code(&arn).await.expect("admin"),
        Some(latest.clone())
    );
    let shown = admin.channel_code(&arn).await.expect("code route");
    assert_eq!(
        (
            shown.code.as_deref(),
            shown.codes_sent,
            shown.activation_status
        ),
        (Some(latest.as_str()), 3, EmuActivationStatus::NotActivated)
    );
    assert_eq!(emulator.last_code(&arn), Some(latest.clone()));

    let mut rejected: Vec<String> = codes[..2]
        .iter()
        .filter(|code| **code != latest)
        .cloned()
        .collect();
    rejected.push(
        if latest == "999999" {
            "999998"
        } else {
            "999999"
        }
        .to_string(),
    );
    for wrong in &rejected {
        let err = activate(&client, &arn, wrong)
            .await
            .expect_err("not the latest");
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
        match err.into_service_error() {
            ActivateContactChannelError::ValidationException(e) => {
                assert_eq!(e.message(), WRONG_ACTIVATION_CODE_MESSAGE);
                assert_eq!(e.reason(), Some(&ValidationExceptionReason::Other));
                assert!(e.fields().is_empty());
            }
            other => panic!("expected ValidationException, got {other:?}"),
        }
        assert_eq!(
            status_of(&client, &arn).await,
            Some(ActivationStatus::NotActivated)
        );
    }

    activate(&client, &arn, &latest).await.expect("latest code");
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::Activated)
    );
    let journaled = last_entry(&emulator).await;
    assert_eq!(journaled.operation, "GetContactChannel");
    let activation = admin
        .journal_filtered(&JournalFilter {
            operation: Some("ActivateContactChannel".into()),
            ..JournalFilter::default()
        })
        .await
        .expect("journal");
    let outcomes: Vec<&str> = activation.iter().map(|e| e.outcome.as_str()).collect();
    let mut expected = vec!["ValidationException"; rejected.len()];
    expected.push("ok");
    assert_eq!(outcomes, expected);
    assert!(
        activation.iter().all(|e| e.activation_code.is_none()),
        "an activation sends no code"
    );

    // Already ACTIVATED: success, with the same code or any well-formed one.
    activate(&client, &arn, &latest).await.expect("again");
    activate(&client, &arn, "0123456789")
        .await
        .expect("already activated");
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 3);
    emulator.shutdown().await;
}

/// ActivationCode outside 6 to 10 digits is ValidationException FIELD_VALIDATION_FAILED
/// naming ActivationCode, whether or not a code was sent; the channel stays NOT_ACTIVATED.
#[tokio::test]
async fn malformed_activation_codes_are_field_validation_errors() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    send(&client, &arn).await.expect("sent");
    for bad in ["", "12345", "12345678901", "12a456", "123 456", "-123456"] {
        let err = activate(&client, &arn, bad).await.expect_err(bad);
        match err.into_service_error() {
            ActivateContactChannelError::ValidationException(e) => {
                assert_eq!(
                    e.reason(),
                    Some(&ValidationExceptionReason::FieldValidationFailed),
                    "{bad:?}"
                );
                let fields: Vec<&str> = e.fields().iter().map(|f| f.name()).collect();
                assert_eq!(fields, ["ActivationCode"], "{bad:?}");
            }
            other => panic!("{bad:?}: expected ValidationException, got {other:?}"),
        }
    }
    let unknown = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/none";
    let err = activate(&client, unknown, "123456")
        .await
        .expect_err("unknown");
    assert!(err.into_service_error().is_resource_not_found_exception());
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::NotActivated)
    );
    emulator.shutdown().await;
}

/// The admin API activates and deactivates a channel "from the console" with no code
/// (the ARN raw or percent-encoded in the path), in-process too; GetContactChannel
/// follows; the latest code still activates after a deactivation; unknown ARNs are 404.
#[tokio::test]
async fn console_activation_through_the_admin_api() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;

    let channel = admin.activate_channel(&arn).await.expect("activate");
    assert_eq!(channel.activation_status, EmuActivationStatus::Activated);
    assert_eq!(channel.codes_sent, 0, "no code needed");
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::Activated)
    );
    activate(&client, &arn, "123456")
        .await
        .expect("already ACTIVATED");

    let channel = admin.deactivate_channel(&arn).await.expect("deactivate");
    assert_eq!(channel.activation_status, EmuActivationStatus::NotActivated);
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::NotActivated)
    );
    send(&client, &arn).await.expect("sent");
    let code = admin.last_code(&arn).await.expect("admin").expect("code");
    emulator
        .activate_channel(&arn)
        .expect("in-process activate");
    emulator
        .deactivate_channel(&arn)
        .expect("in-process deactivate");
    activate(&client, &arn, &code)
        .await
        .expect("the latest code survives the console");
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::Activated)
    );
    assert_eq!(
        emulator.channel_code(&arn).map(|c| c.activation_status),
        Ok(EmuActivationStatus::Activated)
    );

    // The ARN as it is in the path (its slashes unencoded) works the same.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let base = format!("{}/_emulator/channels", emulator.endpoint_url());
    let raw = http
        .post(format!("{base}/{arn}/deactivate"))
        .send()
        .await
        .expect("raw");
    assert_eq!(raw.status().as_u16(), 200);
    let shown: serde_json::Value = http
        .get(format!("{base}/{arn}/code"))
        .send()
        .await
        .expect("raw")
        .json()
        .await
        .expect("json");
    assert_eq!(shown["code"], code.as_str());
    assert_eq!(shown["activationStatus"], "NOT_ACTIVATED");
    for (method, path) in [
        (reqwest::Method::GET, format!("{base}/{arn}/activate")),
        (reqwest::Method::POST, format!("{base}/{arn}/code")),
        (reqwest::Method::POST, format!("{base}/activate")),
    ] {
        let answer = http
            .request(method.clone(), &path)
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status().as_u16(), 404, "{method} {path}");
    }

    let unknown = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/none";
    for result in [
        admin.activate_channel(unknown).await.map(drop),
        admin.deactivate_channel(unknown).await.map(drop),
        admin.channel_code(unknown).await.map(drop),
    ] {
        assert!(
            matches!(&result, Err(AdminError::Status { status, .. }) if status.as_u16() == 404),
            "{result:?}"
        );
    }
    assert_eq!(admin.last_code(unknown).await.expect("no error"), None);
    assert!(emulator.activate_channel(unknown).is_err());
    assert_eq!(emulator.last_code(unknown), None);
    emulator.shutdown().await;
}

/// Faults and chaos apply to GetContactChannel and ActivateContactChannel as to
/// SendActivationCode: an AccessDeniedException (403) on GetContactChannel leaves the
/// other operations alone; an injected error on activation activates nothing.
#[tokio::test]
async fn faults_and_chaos_on_get_and_activate() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let arn = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let denied = FaultSpec {
        message: Some("User: arn:aws:iam::123456789012:role/op is not authorized".into()),
        ..FaultSpec::error("GetContactChannel", FaultKind::AccessDeniedException)
    };
    admin.inject_fault(&denied).await.expect("inject");

    let err = client
        .get_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    match err.into_service_error() {
        GetContactChannelError::AccessDeniedException(e) => {
            assert_eq!(Some(e.message()), denied.message.as_deref());
        }
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    let entry = last_entry(&emulator).await;
    assert_eq!(
        (entry.operation.as_str(), entry.outcome.as_str()),
        ("GetContactChannel", "AccessDeniedException")
    );
    assert_eq!(entry.fault.as_deref(), Some("AccessDeniedException"));
    send(&client, &arn).await.expect("send unaffected");
    admin.clear_faults().await.expect("clear");

    let code = admin.last_code(&arn).await.expect("admin").expect("code");
    admin
        .inject_fault(
            &FaultSpec::error("ActivateContactChannel", FaultKind::InternalServerException)
                .times(1),
        )
        .await
        .expect("inject");
    let err = activate(&client, &arn, &code).await.expect_err("500");
    assert!(err.into_service_error().is_internal_server_exception());
    assert_eq!(
        status_of(&client, &arn).await,
        Some(ActivationStatus::NotActivated),
        "the faulted call did not run"
    );

    // Chaos scoped to GetContactChannel: every read fails, sends pass and use no draw.
    emulator
        .start_chaos(
            ChaosSpec::new(7)
                .internal_error(1.0)
                .operations(["GetContactChannel"]),
        )
        .expect("chaos");
    let err = client
        .get_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect_err("chaos");
    assert!(err.into_service_error().is_internal_server_exception());
    send(&client, &arn)
        .await
        .expect("not in chaos's operations");
    assert_eq!(emulator.chaos().map(|c| c.draws), Some(1));
    emulator.stop_chaos();

    // A misspelt operation would never apply: refused.
    let typo = admin
        .inject_fault(&FaultSpec::error(
            "GetContactChanel",
            FaultKind::AccessDeniedException,
        ))
        .await;
    assert!(
        matches!(&typo, Err(AdminError::Status { status, .. }) if status.as_u16() == 400),
        "{typo:?}"
    );
    assert!(
        admin
            .start_chaos(&ChaosSpec::new(1).operations(["GetContactChanel"]))
            .await
            .is_err()
    );
    emulator.shutdown().await;
}

/// The emulator binary, logging at trace level, never writes an activation code to its
/// stdout or stderr: codes appear only in the admin API (journal, code route).
#[tokio::test]
async fn codes_stay_out_of_the_emulators_logs() {
    let binary = Binary::start(&[]).await;
    let admin = ssm_contacts_emulator::admin::AdminClient::new(binary.endpoint.clone());
    let arn = admin
        .seed_channel(
            &SeedChannel::in_region("us-east-1").of_type(EmuChannelType::Sms, "+15555550100"),
        )
        .await
        .expect("seed")
        .arn;
    let client = Client::new(&sdk_config::own_key_in_east(&binary.endpoint, None));
    let mut codes = Vec::new();
    for _ in 0..2 {
        send(&client, &arn).await.expect("sent");
        codes.push(admin.last_code(&arn).await.expect("admin").expect("code"));
    }
    let latest = codes[1].clone();
    if codes[0] != latest {
        activate(&client, &arn, &codes[0])
            .await
            .expect_err("earlier code");
    }
    activate(&client, &arn, &latest).await.expect("activated");
    admin.channel_code(&arn).await.expect("code route");
    admin.channels().await.expect("channels");
    admin.journal().await.expect("journal");
    admin.deactivate_channel(&arn).await.expect("console");
    admin.activate_channel(&arn).await.expect("console");

    let logs = binary.stop().await;
    assert!(
        logs.contains("ActivateContactChannel"),
        "the activation was logged: {logs}"
    );
    for line in logs.lines() {
        // The leading timestamp's fractional seconds are digits too: skip that token.
        let body = line.split_once(' ').map_or(line, |(_, rest)| rest);
        for code in &codes {
            assert!(
                !body.contains(code.as_str()),
                "code {code} in a log line: {line}"
            );
        }
    }
}

/// A channel answers only in its ARN's region; an empty region part answers everywhere.
#[tokio::test]
async fn channels_live_in_their_region() {
    let emulator = emulator().await;
    let arn = seeded(&emulator, "us-west-2").await;
    let east = client(&emulator, "us-east-1").await;
    let west = client(&emulator, "us-west-2").await;

    let err = send(&east, &arn).await.expect_err("other region");
    match err.into_service_error() {
        SendActivationCodeError::ResourceNotFoundException(e) => {
            assert_eq!(e.resource_id(), arn);
            assert_eq!(e.resource_type(), "CONTACT_CHANNEL");
        }
        other => panic!("expected ResourceNotFound, got {other:?}"),
    }
    assert_eq!(
        last_entry(&emulator).await.region.as_deref(),
        Some("us-east-1")
    );
    send(&west, &arn).await.expect("home region");
    assert_eq!(
        last_entry(&emulator).await.region.as_deref(),
        Some("us-west-2")
    );

    let regionless = "arn:aws:ssm-contacts::123456789012:contact-channel/ops/any";
    emulator
        .admin()
        .seed_channel(&SeedChannel::with_arn(regionless))
        .await
        .expect("seed");
    for client in [&east, &west] {
        send(client, regionless)
            .await
            .expect("regionless ARN answers in any region");
    }
    assert_eq!(
        emulator.admin().sends_for(regionless).await.expect("count"),
        2
    );
    emulator.shutdown().await;
}

/// Inputs outside the model's constraints are ValidationException FIELD_VALIDATION_FAILED
/// naming the field; an unknown, well-formed ARN is ResourceNotFoundException.
#[tokio::test]
async fn invalid_input_is_a_field_validation_error() {
    let emulator = emulator().await;
    let client = client(&emulator, "us-east-1").await;
    let err = send(&client, "arn:aws:sns:us-east-1:123456789012:not-contacts")
        .await
        .expect_err("bad arn");
    match err.into_service_error() {
        SendActivationCodeError::ValidationException(e) => {
            assert_eq!(
                e.reason(),
                Some(&ValidationExceptionReason::FieldValidationFailed)
            );
            assert_eq!(
                e.fields().first().map(|f| f.name()),
                Some("ContactChannelId")
            );
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let unknown = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/none";
    let err = send(&client, unknown).await.expect_err("unknown");
    assert!(err.into_service_error().is_resource_not_found_exception());
    emulator.shutdown().await;
}

/// Contacts and channels created through the SDK can be listed, used and deleted.
#[tokio::test]
async fn create_list_and_delete_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator, "eu-west-1").await;
    let contact = client
        .create_contact()
        .alias("night-shift")
        .display_name("Night shift")
        .r#type(ContactType::Personal)
        .plan(Plan::builder().set_stages(Some(Vec::new())).build())
        .send()
        .await
        .expect("contact");
    assert_eq!(
        contact.contact_arn(),
        "arn:aws:ssm-contacts:eu-west-1:123456789012:contact/night-shift"
    );
    let created = client
        .create_contact_channel()
        .contact_id(contact.contact_arn())
        .name("mail")
        .r#type(ChannelType::Email)
        .delivery_address(
            ContactChannelAddress::builder()
                .simple_address("night@example.com")
                .build(),
        )
        .defer_activation(true)
        .send()
        .await
        .expect("channel");
    let arn = created.contact_channel_arn().to_string();
    assert!(
        arn.starts_with("arn:aws:ssm-contacts:eu-west-1:123456789012:contact-channel/night-shift/")
    );

    let listed = client
        .list_contact_channels()
        .contact_id(contact.contact_arn())
        .send()
        .await
        .expect("list");
    let arns: Vec<&str> = listed
        .contact_channels()
        .iter()
        .map(|c| c.contact_channel_arn())
        .collect();
    assert_eq!(arns, [arn.as_str()]);

    send(&client, &arn).await.expect("sent");
    client
        .delete_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect("deleted");
    let err = client
        .get_contact_channel()
        .contact_channel_id(&arn)
        .send()
        .await
        .expect_err("gone");
    assert!(err.into_service_error().is_resource_not_found_exception());
    emulator.shutdown().await;
}

/// ListContacts and ListContactChannels page through the SDK's paginators: every contact
/// and channel once, in a stable order, whatever the page size; filters and bad sizes.
#[tokio::test]
async fn lists_page_through_the_sdk_paginators() {
    let emulator = emulator().await;
    let client = client(&emulator, "us-east-1").await;
    let aliases = ["pager-e", "pager-a", "pager-d", "pager-b", "pager-c"];
    for alias in aliases {
        client
            .create_contact()
            .alias(alias)
            .r#type(ContactType::Personal)
            .plan(Plan::builder().set_stages(Some(Vec::new())).build())
            .send()
            .await
            .expect("contact");
    }
    let contact = "arn:aws:ssm-contacts:us-east-1:123456789012:contact/pager-a";
    for name in ["one", "two", "three"] {
        client
            .create_contact_channel()
            .contact_id(contact)
            .name(name)
            .r#type(ChannelType::Sms)
            .delivery_address(
                ContactChannelAddress::builder()
                    .simple_address("+15555550100")
                    .build(),
            )
            .defer_activation(true)
            .send()
            .await
            .expect("channel");
    }

    let pages: Vec<_> = client
        .list_contacts()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let listed: Vec<String> = pages
        .into_iter()
        .flat_map(|page| page.expect("page").contacts.unwrap_or_default())
        .map(|c| c.alias().to_string())
        .collect();
    let mut sorted = aliases.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(listed, sorted);

    let names: Vec<String> = client
        .list_contact_channels()
        .contact_id(contact)
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|c| c.expect("item").name().to_string())
        .collect();
    assert_eq!(names, ["one", "two", "three"]);

    let filtered = client
        .list_contacts()
        .alias_prefix("pager-d")
        .r#type(ContactType::Personal)
        .send()
        .await
        .expect("filtered");
    assert_eq!(filtered.contacts().len(), 1);
    assert!(filtered.next_token().is_none());
    assert_eq!(filtered.contacts()[0].r#type(), &ContactType::Personal);
    assert_eq!(filtered.contacts()[0].display_name(), None);

    let err = client
        .list_contacts()
        .max_results(1025)
        .send()
        .await
        .expect_err("too large");
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
    emulator.shutdown().await;
}

/// Latency alone delays a successful answer; a channel-scoped fault spares other channels.
#[tokio::test]
async fn latency_and_fault_scoping() {
    let emulator = emulator().await;
    let slow = seeded(&emulator, "us-east-1").await;
    let other = seeded(&emulator, "us-east-1").await;
    let client = client(&emulator, "us-east-1").await;
    let admin = emulator.admin();
    let spec = FaultSpec {
        channel_arn: Some(slow.clone()),
        latency_ms: Some(300),
        ..FaultSpec::default()
    };
    let id = admin.inject_fault(&spec).await.expect("inject");

    let started = Instant::now();
    send(&client, &slow).await.expect("slow but fine");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        last_entry(&emulator).await.fault.as_deref(),
        Some("latency")
    );

    let started = Instant::now();
    send(&client, &other).await.expect("fast");
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(last_entry(&emulator).await.fault, None);

    let listed = admin.faults().await.expect("faults");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].hits), (id, 1));
    admin.remove_fault(id).await.expect("remove");
    assert!(admin.faults().await.expect("faults").is_empty());
    emulator.shutdown().await;
}

/// The admin API refuses duplicates and nonsense, and reset forgets everything.
#[tokio::test]
async fn admin_api_refusals_and_reset() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    admin.healthz().await.expect("healthy");
    let arn = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/a/b";
    admin
        .seed_channel(&SeedChannel::with_arn(arn))
        .await
        .expect("seed");
    let duplicate = admin.seed_channel(&SeedChannel::with_arn(arn)).await;
    assert!(
        matches!(duplicate, Err(AdminError::Status { status, .. }) if status.as_u16() == 409),
        "{duplicate:?}"
    );
    let useless = admin.inject_fault(&FaultSpec::default()).await;
    assert!(
        matches!(useless, Err(AdminError::Status { status, .. }) if status.as_u16() == 400),
        "{useless:?}"
    );
    let bad_quota = Quota {
        rate_per_second: 1.0,
        burst: 0,
        retry_after_seconds: None,
        region: None,
    };
    assert!(admin.set_quota(&bad_quota).await.is_err());
    assert!(admin.remove_fault(999).await.is_err());

    admin
        .inject_fault(&FaultSpec::error("SendActivationCode", FaultKind::Html502))
        .await
        .expect("inject");
    client(&emulator, "us-east-1")
        .await
        .get_contact_channel()
        .contact_channel_id(arn)
        .send()
        .await
        .expect("get");
    admin.reset().await.expect("reset");
    assert!(admin.channels().await.expect("channels").is_empty());
    assert!(admin.journal().await.expect("journal").is_empty());
    assert!(admin.faults().await.expect("faults").is_empty());
    assert_eq!(admin.quota().await.expect("quota"), None);
    emulator.shutdown().await;
}

/// After shutdown the port no longer answers.
#[tokio::test]
async fn shutdown_stops_serving() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    admin.healthz().await.expect("healthy");
    emulator.shutdown().await;
    assert!(matches!(
        admin.healthz().await,
        Err(AdminError::Transport { .. })
    ));
}
