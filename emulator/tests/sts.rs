//! STS AssumeRole driven by the real aws-sdk-sts client, and SSM Contacts calls signed with
//! the temporary credentials it returns (real aws-sdk-ssmcontacts): who signed each call is
//! in the journal, an assumed role acts only in its account, and the credentials stop
//! working without their token or once expired.
//!
//! Every client gets static credentials, an explicit region and endpoint, and no retries,
//! so no test reads the environment's credentials or touches instance metadata.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_ssmcontacts::error::ProvideErrorMetadata;
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use ssm_contacts_emulator::admin::{
    FaultKind, FaultSpec, JournalFilter, SeedChannel, StsSettingsUpdate,
};
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCOUNT_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig,
    RunningEmulator,
};

#[path = "common/binary.rs"]
mod binary;
#[path = "common/calls.rs"]
mod calls;
#[path = "common/sdk_config.rs"]
mod sdk_config;

use binary::Binary;
use calls::{last_entry, send};

/// A role in another account than the emulator's own (the operator's).
const ROLE: &str = "arn:aws:iam::210987654321:role/ops/ssm-contacts-sender";
const ROLE_ACCOUNT: &str = "210987654321";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/emulator";

async fn emulator() -> RunningEmulator {
    RunningEmulator::start(EmulatorConfig::default().with_role(ROLE))
        .await
        .expect("emulator starts")
}

/// An SDK config as the operator loads one, pointed at the emulator.
async fn config_for(emulator: &RunningEmulator, credentials: Credentials) -> SdkConfig {
    sdk_config::loaded(&emulator.endpoint_url(), "us-east-1", credentials, None).await
}

/// An STS client signing with the emulator's long-term key.
async fn sts(emulator: &RunningEmulator) -> aws_sdk_sts::Client {
    let credentials = sdk_config::own_key("emulator-test");
    aws_sdk_sts::Client::new(&config_for(emulator, credentials).await)
}

/// A client of either service signing with what AssumeRole returned; `token: false`
/// leaves the session token out. No expiry is given to the SDK, so that it signs even
/// credentials it would otherwise consider expired: the emulator is what must refuse them.
fn temporary(output: &AssumeRoleOutput, token: bool) -> Credentials {
    let issued = output.credentials().expect("credentials");
    Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        token.then(|| issued.session_token().to_string()),
        None,
        "assumed-role",
    )
}

async fn contacts_with(
    emulator: &RunningEmulator,
    credentials: Credentials,
) -> aws_sdk_ssmcontacts::Client {
    aws_sdk_ssmcontacts::Client::new(&config_for(emulator, credentials).await)
}

async fn assume(
    client: &aws_sdk_sts::Client,
    role: &str,
    session: &str,
) -> Result<AssumeRoleOutput, SdkError<AssumeRoleError>> {
    client
        .assume_role()
        .role_arn(role)
        .role_session_name(session)
        .send()
        .await
}

/// ROLE assumed with the emulator's long-term key, under `session`.
async fn assumed(emulator: &RunningEmulator, session: &str) -> AssumeRoleOutput {
    assume(&sts(emulator).await, ROLE, session)
        .await
        .expect("assumed")
}

/// A channel of `account` in us-east-1.
async fn channel_of(emulator: &RunningEmulator, account: &str) -> String {
    let seed = SeedChannel {
        account_id: Some(account.to_string()),
        ..SeedChannel::in_region("us-east-1")
    };
    emulator
        .admin()
        .seed_channel(&seed)
        .await
        .expect("seed")
        .arn
}

/// The SDK's view of a refused call: (HTTP status, error code, message).
fn refusal<E: ProvideErrorMetadata>(error: SdkError<E>) -> (Option<u16>, Option<String>, String) {
    // SdkError forwards the service error's code and message (and has none otherwise).
    (
        error.raw_response().map(|r| r.status().as_u16()),
        error.code().map(String::from),
        error.message().unwrap_or_default().to_string(),
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// AssumeRole through the SDK answers credentials of AWS's shapes for the role; a
/// SendActivationCode signed with them is accepted on the role account's channel, and the
/// journal tells it apart from a call with the operator's own key.
#[tokio::test]
async fn assumed_role_credentials_sign_ssm_contacts_calls() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let sts = sts(&emulator).await;
    let output = sts
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("default.welcome")
        .duration_seconds(900)
        .send()
        .await
        .expect("assumed");

    let issued = output.credentials().expect("credentials");
    let key = issued.access_key_id().to_string();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(issued.secret_access_key().len(), 40);
    assert!(!issued.session_token().is_empty());
    let lifetime = issued.expiration().secs() - now_secs();
    assert!((898..=900).contains(&lifetime), "expires in {lifetime}s");
    let user = output.assumed_role_user().expect("assumed role user");
    assert_eq!(
        user.arn(),
        "arn:aws:sts::210987654321:assumed-role/ssm-contacts-sender/default.welcome"
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(user.assumed_role_id().ends_with(":default.welcome"));
    let request_id = output.request_id().expect("request id").to_string();

    let entry = last_entry(&emulator).await;
    assert_eq!(entry.operation, "AssumeRole");
    assert_eq!(entry.outcome, "ok");
    assert_eq!(entry.http_status, Some(200));
    assert_eq!(entry.request_id, request_id);
    assert_eq!(entry.access_key_id.as_deref(), Some(DEFAULT_ACCESS_KEY_ID));
    assert_eq!(entry.caller_arn.as_deref(), Some(USER_ARN));
    assert_eq!(entry.role_arn.as_deref(), Some(ROLE));
    assert_eq!(entry.role_session_name.as_deref(), Some("default.welcome"));
    assert_eq!(entry.issued_access_key_id.as_deref(), Some(key.as_str()));
    // The journal, as the admin API serves it, never carries the secret or the token.
    let raw = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http")
        .get(format!("{}/_emulator/journal", emulator.endpoint_url()))
        .send()
        .await
        .expect("journal")
        .text()
        .await
        .expect("body");
    assert!(raw.contains(&key), "{raw}");
    assert!(!raw.contains(issued.secret_access_key()));
    assert!(!raw.contains(issued.session_token()));

    let arn = channel_of(&emulator, ROLE_ACCOUNT).await;
    let as_role = contacts_with(&emulator, temporary(&output, true)).await;
    send(&as_role, &arn)
        .await
        .expect("sent with the role's credentials");
    let sent = last_entry(&emulator).await;
    assert_eq!(sent.operation, "SendActivationCode");
    assert_eq!(sent.outcome, "ok");
    assert!(sent.activation_code.is_some());
    assert_eq!(sent.access_key_id.as_deref(), Some(key.as_str()));
    assert_eq!(
        sent.caller_arn.as_deref(),
        Some("arn:aws:sts::210987654321:assumed-role/ssm-contacts-sender/default.welcome")
    );
    assert_eq!(sent.issued_access_key_id, None);

    // The same call with the operator's own key (allowed: strictAccounts is off) is told
    // apart by both fields.
    let own = sdk_config::own_key("own");
    send(&contacts_with(&emulator, own).await, &arn)
        .await
        .expect("sent with the own key");
    let filter = JournalFilter {
        operation: Some("SendActivationCode".into()),
        ..JournalFilter::default()
    };
    let sends = admin.journal_filtered(&filter).await.expect("journal");
    let signers: Vec<(Option<&str>, Option<&str>)> = sends
        .iter()
        .map(|e| (e.access_key_id.as_deref(), e.caller_arn.as_deref()))
        .collect();
    assert_eq!(
        signers,
        [
            (
                Some(key.as_str()),
                Some("arn:aws:sts::210987654321:assumed-role/ssm-contacts-sender/default.welcome")
            ),
            (Some(DEFAULT_ACCESS_KEY_ID), Some(USER_ARN)),
        ]
    );
    let assumed = JournalFilter {
        operation: Some("AssumeRole".into()),
        ..JournalFilter::default()
    };
    assert_eq!(
        admin
            .journal_filtered(&assumed)
            .await
            .expect("journal")
            .len(),
        1
    );
    emulator.shutdown().await;
}

/// Temporary credentials without their session token, or with another one, are an
/// unknown client: UnrecognizedClientException, as at AWS.
#[tokio::test]
async fn temporary_credentials_need_their_session_token() {
    let emulator = emulator().await;
    let output = assumed(&emulator, "no-token").await;
    let arn = channel_of(&emulator, ROLE_ACCOUNT).await;
    let issued = output.credentials().expect("credentials");
    let other_token = Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some("EMULATOR/not-the-token".into()),
        None,
        "wrong-token",
    );
    for credentials in [temporary(&output, false), other_token] {
        let error = send(&contacts_with(&emulator, credentials).await, &arn)
            .await
            .expect_err("refused");
        let (status, code, message) = refusal(error);
        assert_eq!(status, Some(403));
        assert_eq!(code.as_deref(), Some("UnrecognizedClientException"));
        assert_eq!(
            message,
            "The security token included in the request is invalid."
        );
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, "UnrecognizedClientException");
        assert_eq!(entry.access_key_id.as_deref(), Some(issued.access_key_id()));
        assert_eq!(entry.caller_arn, None);
    }
    assert_eq!(emulator.admin().sends_for(&arn).await.expect("count"), 0);
    emulator.shutdown().await;
}

/// With `credentialLifetimeSeconds` 1, the credentials expire a second after issue: SSM
/// Contacts answers ExpiredTokenException and STS (chaining from them) ExpiredToken.
#[tokio::test]
async fn expired_credentials_are_refused() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let settings = admin
        .set_sts_settings(StsSettingsUpdate {
            credential_lifetime_seconds: Some(1),
            ..StsSettingsUpdate::default()
        })
        .await
        .expect("settings");
    assert_eq!(settings.credential_lifetime_seconds, 1);
    let output = assumed(&emulator, "short").await;
    let expiration = output
        .credentials()
        .expect("credentials")
        .expiration()
        .secs();
    assert!(expiration - now_secs() <= 1, "capped at one second");
    let arn = channel_of(&emulator, ROLE_ACCOUNT).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let error = send(
        &contacts_with(&emulator, temporary(&output, true)).await,
        &arn,
    )
    .await
    .expect_err("expired");
    let (status, code, message) = refusal(error);
    assert_eq!(status, Some(403));
    assert_eq!(code.as_deref(), Some("ExpiredTokenException"));
    assert_eq!(
        message,
        "The security token included in the request is expired"
    );
    assert_eq!(last_entry(&emulator).await.outcome, "ExpiredTokenException");

    let chained = aws_sdk_sts::Client::new(&config_for(&emulator, temporary(&output, true)).await);
    let (status, code, _) = refusal(
        assume(&chained, ROLE, "chained")
            .await
            .expect_err("expired"),
    );
    assert_eq!((status, code.as_deref()), (Some(403), Some("ExpiredToken")));
    assert_eq!(last_entry(&emulator).await.outcome, "ExpiredToken");

    // A reset restores the start-up lifetime.
    admin.reset().await.expect("reset");
    assert_eq!(
        admin
            .sts_settings()
            .await
            .expect("settings")
            .credential_lifetime_seconds,
        43_200
    );
    emulator.shutdown().await;
}

/// A role the emulator does not know is AccessDenied, worded as AWS does; roles added and
/// removed at run time take effect at once, and a reset restores the start-up set.
#[tokio::test]
async fn unknown_roles_are_access_denied() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let sts = sts(&emulator).await;
    let other = "arn:aws:iam::210987654321:role/other";
    let (status, code, message) = refusal(assume(&sts, other, "s1").await.expect_err("unknown"));
    assert_eq!(status, Some(403));
    assert_eq!(code.as_deref(), Some("AccessDenied"));
    assert_eq!(
        message,
        format!(
            "User: {USER_ARN} is not authorized to perform: sts:AssumeRole on resource: {other}"
        )
    );
    let entry = last_entry(&emulator).await;
    assert_eq!(entry.outcome, "AccessDenied");
    assert_eq!(entry.http_status, Some(403));
    assert_eq!(entry.role_arn.as_deref(), Some(other));
    assert_eq!(entry.issued_access_key_id, None);

    assert!(admin.add_role(other).await.expect("add"));
    assert!(!admin.add_role(other).await.expect("add again"));
    assert_eq!(admin.roles().await.expect("roles"), [ROLE, other]);
    assume(&sts, other, "s1").await.expect("added role");
    assert!(admin.remove_role(ROLE).await.expect("remove"));
    assert!(!admin.remove_role(ROLE).await.expect("remove again"));
    let (_, code, _) = refusal(assume(&sts, ROLE, "s1").await.expect_err("removed"));
    assert_eq!(code.as_deref(), Some("AccessDenied"));
    assert!(admin.add_role("arn:aws:iam::1:role/x").await.is_err());

    admin.reset().await.expect("reset");
    assert_eq!(admin.roles().await.expect("roles"), [ROLE]);
    assume(&sts, ROLE, "s1").await.expect("start-up role back");
    emulator.shutdown().await;
}

/// Bad parameters are ValidationError (400), reaching the SDK as such.
#[tokio::test]
async fn invalid_parameters_are_validation_errors() {
    let emulator = emulator().await;
    let sts = sts(&emulator).await;
    let (status, code, message) = refusal(
        assume(&sts, ROLE, "bad name!")
            .await
            .expect_err("invalid name"),
    );
    assert_eq!(
        (status, code.as_deref()),
        (Some(400), Some("ValidationError"))
    );
    assert!(
        message.contains("Value 'bad name!' at 'roleSessionName' failed to satisfy constraint"),
        "{message}"
    );
    let short = sts
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("s1")
        .duration_seconds(899)
        .send()
        .await
        .expect_err("too short");
    let (_, code, message) = refusal(short);
    assert_eq!(code.as_deref(), Some("ValidationError"));
    assert!(
        message.contains("greater than or equal to 900"),
        "{message}"
    );
    let (_, code, _) = refusal(
        assume(&sts, "arn:aws:iam::210987654321:user/x", "s1")
            .await
            .expect_err("not a role"),
    );
    assert_eq!(code.as_deref(), Some("ValidationError"));
    assert_eq!(last_entry(&emulator).await.outcome, "ValidationError");
    emulator.shutdown().await;
}

/// An assumed role acts in its own account only: another account's channel is
/// AccessDeniedException naming the assumed role. The long-term key may touch any account
/// unless `strictAccounts` is on.
#[tokio::test]
async fn assumed_roles_are_held_to_their_account() {
    let emulator = emulator().await;
    let output = assumed(&emulator, "cross").await;
    let foreign = channel_of(&emulator, DEFAULT_ACCOUNT_ID).await;
    let as_role = contacts_with(&emulator, temporary(&output, true)).await;
    let error = send(&as_role, &foreign).await.expect_err("other account");
    let (status, code, message) = refusal(error);
    assert_eq!(status, Some(403));
    assert_eq!(code.as_deref(), Some("AccessDeniedException"));
    assert!(
        message.starts_with(
            "User: arn:aws:sts::210987654321:assumed-role/ssm-contacts-sender/cross is not \
             authorized to perform: ssm-contacts:SendActivationCode on resource: "
        ),
        "{message}"
    );
    let entry = last_entry(&emulator).await;
    assert_eq!(entry.outcome, "AccessDeniedException");
    assert_eq!(entry.channel_arn.as_deref(), Some(foreign.as_str()));
    assert!(
        entry
            .caller_arn
            .is_some_and(|arn| arn.contains("assumed-role"))
    );
    assert_eq!(
        emulator.admin().sends_for(&foreign).await.expect("count"),
        0
    );

    // GetContactChannel too: every operation naming a channel is checked.
    let got = as_role
        .get_contact_channel()
        .contact_channel_id(&foreign)
        .send()
        .await
        .expect_err("other account");
    assert_eq!(refusal(got).1.as_deref(), Some("AccessDeniedException"));

    let own_key = sdk_config::own_key("own");
    let as_user = contacts_with(&emulator, own_key).await;
    let roles_channel = channel_of(&emulator, ROLE_ACCOUNT).await;
    send(&as_user, &roles_channel)
        .await
        .expect("lenient by default");
    emulator
        .set_sts_settings(StsSettingsUpdate {
            strict_accounts: Some(true),
            ..StsSettingsUpdate::default()
        })
        .expect("settings");
    let (_, code, message) = refusal(send(&as_user, &roles_channel).await.expect_err("strict"));
    assert_eq!(code.as_deref(), Some("AccessDeniedException"));
    assert!(message.starts_with(&format!("User: {USER_ARN} is not authorized")));
    send(&as_user, &foreign)
        .await
        .expect("own account under strict");
    emulator.shutdown().await;
}

/// Faults naming AssumeRole answer STS's codes: Throttling (400), InternalFailure (500),
/// AccessDenied; a latency fault holds the call; the signature is checked first, with
/// STS's codes.
#[tokio::test]
async fn faults_and_signatures_on_assume_role() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let sts = sts(&emulator).await;
    for (kind, status, code) in [
        (FaultKind::ThrottlingException, 400, "Throttling"),
        (FaultKind::InternalServerException, 500, "InternalFailure"),
        (FaultKind::AccessDeniedException, 403, "AccessDenied"),
    ] {
        admin
            .inject_fault(FaultSpec::error("AssumeRole", kind).times(1))
            .await
            .expect("inject");
        let (got_status, got_code, _) = refusal(assume(&sts, ROLE, "f").await.expect_err(code));
        assert_eq!(
            (got_status, got_code.as_deref()),
            (Some(status), Some(code))
        );
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, code);
        assert_eq!(entry.fault, Some(format!("{kind:?}")));
        assert_eq!(entry.issued_access_key_id, None);
    }
    admin
        .inject_fault(FaultSpec {
            operation: Some("AssumeRole".into()),
            ..FaultSpec::default().latency(300).times(1)
        })
        .await
        .expect("inject");
    let started = Instant::now();
    assume(&sts, ROLE, "slow").await.expect("slow but fine");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        last_entry(&emulator).await.fault.as_deref(),
        Some("latency")
    );
    // A fault for SSM Contacts leaves STS alone.
    admin
        .inject_fault(FaultSpec::error(
            "SendActivationCode",
            FaultKind::InternalServerException,
        ))
        .await
        .expect("inject");
    assume(&sts, ROLE, "unaffected").await.expect("no fault");

    for (key, secret, code) in [
        (
            DEFAULT_ACCESS_KEY_ID,
            "wrong-secret",
            "SignatureDoesNotMatch",
        ),
        (
            "AKIDUNKNOWN",
            DEFAULT_SECRET_ACCESS_KEY,
            "InvalidClientTokenId",
        ),
    ] {
        let credentials = Credentials::new(key, secret, None, None, "bad");
        let client = aws_sdk_sts::Client::new(&config_for(&emulator, credentials).await);
        let (status, got, _) = refusal(assume(&client, ROLE, "s1").await.expect_err(code));
        assert_eq!((status, got.as_deref()), (Some(403), Some(code)));
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.outcome, code);
        assert_eq!(entry.access_key_id.as_deref(), Some(key));
        assert_eq!(entry.caller_arn, None);
    }
    emulator.shutdown().await;
}

/// Faults that break the answer act on AssumeRole as on SSM Contacts: a proxy's 502 page,
/// the answer cut in half or the connection cut after the role is assumed (credentials
/// issued all the same), the connection cut before it (nothing issued); the journal says
/// which.
#[tokio::test]
async fn broken_answers_on_assume_role() {
    let emulator = emulator().await;
    let admin = emulator.admin();
    let sts = sts(&emulator).await;
    for (kind, outcome, status, issued) in [
        (FaultKind::Html502, "Html502", Some(502), false),
        (FaultKind::MalformedJson, "ok", Some(200), true),
        (FaultKind::DropBeforeProcessing, "dropped", None, false),
        (FaultKind::DropAfterProcessing, "ok", None, true),
    ] {
        admin
            .inject_fault(FaultSpec::error("AssumeRole", kind).times(1))
            .await
            .expect("inject");
        let result = assume(&sts, ROLE, "broken").await;
        // aws-sdk-sts reads an XML answer cut in half without complaint (a truncated
        // token, no expiry), so only the journal is checked for MalformedJson.
        if kind != FaultKind::MalformedJson {
            result.expect_err(outcome);
        }
        let entry = last_entry(&emulator).await;
        assert_eq!(entry.fault, Some(format!("{kind:?}")));
        assert_eq!(
            (entry.outcome.as_str(), entry.http_status),
            (outcome, status)
        );
        assert_eq!(
            entry.connection_dropped,
            kind == FaultKind::DropAfterProcessing
        );
        assert_eq!(entry.issued_access_key_id.is_some(), issued, "{kind:?}");
    }
    emulator.shutdown().await;
}

/// The binary takes roles and STS settings from its flags, and never writes issued
/// secrets or session tokens to its output, even logging at trace level.
#[tokio::test]
async fn binary_takes_roles_and_keeps_secrets_out_of_its_logs() {
    let binary = Binary::start(&[
        "--role",
        ROLE,
        "--credential-lifetime-seconds",
        "1200",
        "--strict-accounts",
    ])
    .await;
    let admin = ssm_contacts_emulator::admin::AdminClient::new(binary.endpoint.clone());
    assert_eq!(admin.roles().await.expect("roles"), [ROLE]);
    let settings = admin.sts_settings().await.expect("settings");
    assert_eq!(
        (
            settings.credential_lifetime_seconds,
            settings.strict_accounts
        ),
        (1200, true)
    );

    let config = sdk_config::own_key_in_east(&binary.endpoint, None);
    let output = assume(&aws_sdk_sts::Client::new(&config), ROLE, "logged")
        .await
        .expect("assumed");
    let issued = output.credentials().expect("credentials");
    let lifetime = issued.expiration().secs() - now_secs();
    assert!(
        (1198..=1200).contains(&lifetime),
        "capped at 1200: {lifetime}"
    );

    let logs = binary.stop().await;
    assert!(
        logs.contains(issued.access_key_id()),
        "the issued key is logged"
    );
    assert!(!logs.contains(issued.secret_access_key()), "secret in logs");
    assert!(!logs.contains(issued.session_token()), "token in logs");
}
