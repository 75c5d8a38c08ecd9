//! The wire format checked with a client nobody here wrote: the AWS CLI (botocore):
//! send-activation-code, get-contact-channel, activate-contact-channel, create-contact,
//! create-contact-channel, list-contacts and list-contact-channels (the CLI following
//! NextToken itself), and how errors reach its stderr; `sts assume-role`, and a call
//! signed with the credentials it returned.
//!
//! The CLI is found through `AWS_CLI` or `PATH` (CI installs it with `pip install awscli`).
//! Without it these tests fail, unless `SSMC_SKIP_AWS_CLI=1` says to skip them.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
#[allow(dead_code, reason = "`send` serves the SDK test crates")]
#[path = "common/calls.rs"]
mod calls;

use ssm_contacts_emulator::admin::{ChannelType, FaultKind, FaultSpec, SeedChannel};
use ssm_contacts_emulator::wire::WRONG_ACTIVATION_CODE_MESSAGE;
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig, RunningEmulator,
};

/// The `aws` executable, or `None` when the tests may be skipped.
fn aws_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_CLI").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("aws"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_some() {
        return found;
    }
    if std::env::var("SSMC_SKIP_AWS_CLI").as_deref() == Ok("1") {
        eprintln!("skipped: AWS CLI not found and SSMC_SKIP_AWS_CLI=1");
        return None;
    }
    panic!(
        "the AWS CLI was not found on PATH (or AWS_CLI). Install it with `pip install awscli`, \
         point AWS_CLI at it, or set SSMC_SKIP_AWS_CLI=1 to skip these tests."
    );
}

/// Runs `aws ssm-contacts <args>` against the emulator with test credentials only.
async fn aws(cli: &Path, emulator: &RunningEmulator, secret: &str, args: &[&str]) -> Output {
    let mut command = aws_command(cli, DEFAULT_ACCESS_KEY_ID, secret, None);
    command
        .arg("ssm-contacts")
        .args(args)
        .args(["--endpoint-url", &emulator.endpoint_url()]);
    // tokio's process API keeps the runtime free to serve the emulator meanwhile.
    command.output().await.expect("the AWS CLI runs")
}

/// The `aws` command (region us-east-1, JSON output, no retries) signing with exactly
/// these credentials and nothing else from the environment or config files.
fn aws_command(
    cli: &Path,
    access_key_id: &str,
    secret: &str,
    session_token: Option<&str>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(cli);
    command
        .args(["--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_PAGER", "")
        .env("NO_PROXY", "127.0.0.1");
    // Anything else from the environment that could send the CLI elsewhere.
    for name in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SSM_CONTACTS",
        "AWS_ENDPOINT_URL_STS",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        command.env_remove(name);
    }
    if let Some(token) = session_token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    command
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "aws failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// A fresh emulator holding one seeded channel, and that channel's ARN.
async fn with_channel(seed: SeedChannel) -> (RunningEmulator, String) {
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let arn = emulator
        .admin()
        .seed_channel(&seed)
        .await
        .expect("seed")
        .arn;
    (emulator, arn)
}

/// send-activation-code and get-contact-channel work, signed by botocore.
#[tokio::test]
async fn cli_sends_and_reads_a_channel() {
    let Some(cli) = aws_cli() else { return };
    let (emulator, arn) = with_channel(SeedChannel::in_region("us-east-1")).await;
    let admin = emulator.admin();

    let sent = aws(
        &cli,
        &emulator,
        DEFAULT_SECRET_ACCESS_KEY,
        &["send-activation-code", "--contact-channel-id", &arn],
    )
    .await;
    json_of(&sent);
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 1);
    let entry = calls::last_entry(&emulator).await;
    assert_eq!(entry.operation, "SendActivationCode");
    assert_eq!(entry.region.as_deref(), Some("us-east-1"));
    assert_eq!(entry.access_key_id.as_deref(), Some(DEFAULT_ACCESS_KEY_ID));

    let got = json_of(
        &aws(
            &cli,
            &emulator,
            DEFAULT_SECRET_ACCESS_KEY,
            &["get-contact-channel", "--contact-channel-id", &arn],
        )
        .await,
    );
    assert_eq!(got["ContactChannelArn"], arn.as_str());
    assert_eq!(got["Type"], "EMAIL");
    assert_eq!(got["ActivationStatus"], "NOT_ACTIVATED");
    assert_eq!(
        got["DeliveryAddress"]["SimpleAddress"],
        "oncall@example.com"
    );
    emulator.shutdown().await;
}

/// create-contact and create-contact-channel return ARNs of the documented forms.
#[tokio::test]
async fn cli_creates_a_contact_and_a_channel() {
    let Some(cli) = aws_cli() else { return };
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let contact = json_of(
        &aws(
            &cli,
            &emulator,
            DEFAULT_SECRET_ACCESS_KEY,
            &[
                "create-contact",
                "--alias",
                "cli-team",
                "--type",
                "PERSONAL",
                "--plan",
                r#"{"Stages": []}"#,
            ],
        )
        .await,
    );
    let contact_arn = contact["ContactArn"]
        .as_str()
        .expect("ContactArn")
        .to_string();
    assert_eq!(
        contact_arn,
        "arn:aws:ssm-contacts:us-east-1:123456789012:contact/cli-team"
    );
    let channel = json_of(
        &aws(
            &cli,
            &emulator,
            DEFAULT_SECRET_ACCESS_KEY,
            &[
                "create-contact-channel",
                "--contact-id",
                &contact_arn,
                "--name",
                "mail",
                "--type",
                "EMAIL",
                "--delivery-address",
                "SimpleAddress=cli@example.com",
            ],
        )
        .await,
    );
    let channel_arn = channel["ContactChannelArn"]
        .as_str()
        .expect("ContactChannelArn");
    assert!(
        channel_arn
            .starts_with("arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/cli-team/"),
        "{channel_arn}"
    );
    // Created without --defer-activation: the first code went out at creation.
    let listed = emulator.admin().channel(channel_arn).await.expect("admin");
    assert_eq!(listed.map(|c| c.codes_sent), Some(1));
    emulator.shutdown().await;
}

/// With a page size smaller than the lists, the CLI follows NextToken to the end:
/// list-contacts returns all 5 contacts, list-contact-channels all 3 channels.
#[tokio::test]
async fn cli_pages_through_contacts_and_channels() {
    let Some(cli) = aws_cli() else { return };
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let admin = emulator.admin();
    let mut channel_arns = Vec::new();
    for (alias, name) in [
        ("cli-a", "one"),
        ("cli-a", "two"),
        ("cli-a", "three"),
        ("cli-b", "one"),
        ("cli-c", "one"),
        ("cli-d", "one"),
        ("cli-e", "one"),
    ] {
        let mut seed = SeedChannel::in_region("us-east-1");
        seed.contact_alias = Some(alias.into());
        seed.name = name.into();
        let channel = admin.seed_channel(&seed).await.expect("seed");
        if alias == "cli-a" {
            channel_arns.push(channel.arn);
        }
    }

    let contacts = json_of(
        &aws(
            &cli,
            &emulator,
            DEFAULT_SECRET_ACCESS_KEY,
            &["list-contacts", "--page-size", "2"],
        )
        .await,
    );
    let aliases: Vec<&str> = contacts["Contacts"]
        .as_array()
        .expect("Contacts")
        .iter()
        .filter_map(|c| c["Alias"].as_str())
        .collect();
    assert_eq!(aliases, ["cli-a", "cli-b", "cli-c", "cli-d", "cli-e"]);
    let list_calls = admin
        .journal()
        .await
        .expect("journal")
        .iter()
        .filter(|entry| entry.operation == "ListContacts")
        .count();
    assert_eq!(list_calls, 3, "pages of 2, 2 and 1");

    let channels = json_of(
        &aws(
            &cli,
            &emulator,
            DEFAULT_SECRET_ACCESS_KEY,
            &[
                "list-contact-channels",
                "--contact-id",
                "arn:aws:ssm-contacts:us-east-1:123456789012:contact/cli-a",
                "--page-size",
                "1",
            ],
        )
        .await,
    );
    let listed: Vec<&str> = channels["ContactChannels"]
        .as_array()
        .expect("ContactChannels")
        .iter()
        .filter_map(|c| c["ContactChannelArn"].as_str())
        .collect();
    assert_eq!(listed, channel_arns);
    emulator.shutdown().await;
}

/// An injected ThrottlingException and a bad signature show their error codes on stderr.
#[tokio::test]
async fn cli_reports_error_codes() {
    let Some(cli) = aws_cli() else { return };
    let (emulator, arn) = with_channel(SeedChannel::in_region("us-east-1")).await;
    let admin = emulator.admin();
    let spec = FaultSpec::error("SendActivationCode", FaultKind::ThrottlingException)
        .times(1)
        .retry_after(2);
    admin.inject_fault(&spec).await.expect("inject");

    let throttled = aws(
        &cli,
        &emulator,
        DEFAULT_SECRET_ACCESS_KEY,
        &["send-activation-code", "--contact-channel-id", &arn],
    )
    .await;
    assert!(!throttled.status.success());
    let stderr = String::from_utf8_lossy(&throttled.stderr);
    assert!(stderr.contains("(ThrottlingException)"), "{stderr}");
    assert!(stderr.contains("SendActivationCode"), "{stderr}");
    // AWS_MAX_ATTEMPTS=1: the CLI did not retry.
    let calls = admin.journal().await.expect("journal").len();
    assert_eq!(calls, 1);

    let forged = aws(
        &cli,
        &emulator,
        "a-wrong-secret",
        &["send-activation-code", "--contact-channel-id", &arn],
    )
    .await;
    assert!(!forged.status.success());
    let stderr = String::from_utf8_lossy(&forged.stderr);
    assert!(stderr.contains("(InvalidSignatureException)"), "{stderr}");
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 0);
    emulator.shutdown().await;
}

/// get-contact-channel and activate-contact-channel: the code read from the admin API
/// activates; a wrong or malformed code is a ValidationException; a console activation
/// (admin API) and an injected AccessDeniedException show through the CLI too.
#[tokio::test]
async fn cli_reads_and_activates_a_channel() {
    let Some(cli) = aws_cli() else { return };
    let seed = SeedChannel::in_region("us-east-1").of_type(ChannelType::Sms, "+15555550100");
    let (emulator, arn) = with_channel(seed).await;
    let admin = emulator.admin();
    let run = |args: Vec<String>| {
        let (cli, emulator) = (&cli, &emulator);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            aws(cli, emulator, DEFAULT_SECRET_ACCESS_KEY, &args).await
        }
    };
    let get = || {
        run(strings(&[
            "get-contact-channel",
            "--contact-channel-id",
            &arn,
        ]))
    };
    let activate = |code: &str| {
        run(strings(&[
            "activate-contact-channel",
            "--contact-channel-id",
            &arn,
            "--activation-code",
            code,
        ]))
    };

    let got = json_of(&get().await);
    assert_eq!(got["ContactChannelArn"], arn.as_str());
    assert_eq!(
        got["ContactArn"],
        "arn:aws:ssm-contacts:us-east-1:123456789012:contact/oncall"
    );
    assert_eq!(got["Name"], "primary-email");
    assert_eq!(got["Type"], "SMS");
    assert_eq!(got["DeliveryAddress"]["SimpleAddress"], "+15555550100");
    assert_eq!(got["ActivationStatus"], "NOT_ACTIVATED");

    json_of(
        &run(strings(&[
            "send-activation-code",
            "--contact-channel-id",
            &arn,
        ]))
        .await,
    );
    let code = admin
        .channel_code(&arn)
        .await
        .expect("GET /_emulator/channels/{arn}/code")
        .code
        .expect("a code went out");

    let wrong = if code == "999999" { "999998" } else { "999999" };
    let refused = activate(wrong).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("(ValidationException)"), "{stderr}");
    assert!(stderr.contains("ActivateContactChannel"), "{stderr}");
    assert!(stderr.contains(WRONG_ACTIVATION_CODE_MESSAGE), "{stderr}");

    // botocore checks the length itself; the digits-only pattern is the emulator's to check.
    let calls_before = admin.journal().await.expect("journal").len();
    let short = activate("12345").await;
    assert!(!short.status.success());
    assert_eq!(admin.journal().await.expect("journal").len(), calls_before);
    let letters = activate("12345a").await;
    assert!(!letters.status.success());
    let stderr = String::from_utf8_lossy(&letters.stderr);
    assert!(stderr.contains("(ValidationException)"), "{stderr}");
    assert!(stderr.contains("ActivationCode"), "{stderr}");
    assert_eq!(json_of(&get().await)["ActivationStatus"], "NOT_ACTIVATED");

    let activated = activate(&code).await;
    json_of(&activated);
    assert_eq!(json_of(&get().await)["ActivationStatus"], "ACTIVATED");
    json_of(&activate(&code).await);

    admin.deactivate_channel(&arn).await.expect("console");
    assert_eq!(json_of(&get().await)["ActivationStatus"], "NOT_ACTIVATED");
    admin.activate_channel(&arn).await.expect("console");
    assert_eq!(json_of(&get().await)["ActivationStatus"], "ACTIVATED");

    let denied = FaultSpec::error("GetContactChannel", FaultKind::AccessDeniedException).times(1);
    admin.inject_fault(&denied).await.expect("inject");
    let refused = get().await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("(AccessDeniedException)"), "{stderr}");
    assert!(stderr.contains("GetContactChannel"), "{stderr}");
    emulator.shutdown().await;
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_string()).collect()
}

/// `aws sts assume-role`, pointed at the emulator by `AWS_ENDPOINT_URL_STS` as a deployment
/// would be, returns the role's credentials as JSON; `aws ssm-contacts` signed with them
/// (`AWS_SESSION_TOKEN`) is journaled as the assumed role; an unknown role is AccessDenied.
#[tokio::test]
async fn cli_assumes_a_role_and_calls_with_it() {
    let Some(cli) = aws_cli() else { return };
    let role = "arn:aws:iam::210987654321:role/cli-sender";
    let emulator = RunningEmulator::start(EmulatorConfig::default().with_role(role))
        .await
        .expect("start");
    let admin = emulator.admin();
    let assume = |role: &str| {
        let mut command = aws_command(&cli, DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, None);
        command
            .args(["sts", "assume-role", "--role-arn", role])
            .args([
                "--role-session-name",
                "cli-session",
                "--duration-seconds",
                "900",
            ])
            .env("AWS_ENDPOINT_URL_STS", emulator.endpoint_url());
        command
    };
    let output = json_of(&assume(role).output().await.expect("the AWS CLI runs"));
    let credentials = &output["Credentials"];
    let key = credentials["AccessKeyId"].as_str().expect("AccessKeyId");
    let secret = credentials["SecretAccessKey"]
        .as_str()
        .expect("SecretAccessKey");
    let token = credentials["SessionToken"].as_str().expect("SessionToken");
    assert!(key.starts_with("ASIA"), "{output}");
    assert!(
        credentials["Expiration"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{output}"
    );
    assert_eq!(
        output["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::210987654321:assumed-role/cli-sender/cli-session"
    );
    let entry = calls::last_entry(&emulator).await;
    assert_eq!(entry.operation, "AssumeRole");
    assert_eq!(entry.issued_access_key_id.as_deref(), Some(key));

    let arn = admin
        .seed_channel(&SeedChannel {
            account_id: Some("210987654321".into()),
            ..SeedChannel::in_region("us-east-1")
        })
        .await
        .expect("seed")
        .arn;
    let mut send = aws_command(&cli, key, secret, Some(token));
    send.args([
        "ssm-contacts",
        "send-activation-code",
        "--contact-channel-id",
        &arn,
    ])
    .env("AWS_ENDPOINT_URL_SSM_CONTACTS", emulator.endpoint_url());
    json_of(&send.output().await.expect("the AWS CLI runs"));
    let entry = calls::last_entry(&emulator).await;
    assert_eq!(
        (entry.operation.as_str(), entry.outcome.as_str()),
        ("SendActivationCode", "ok")
    );
    assert_eq!(entry.access_key_id.as_deref(), Some(key));
    assert_eq!(
        entry.caller_arn.as_deref(),
        Some("arn:aws:sts::210987654321:assumed-role/cli-sender/cli-session")
    );

    let denied = assume("arn:aws:iam::210987654321:role/unknown")
        .output()
        .await
        .expect("the AWS CLI runs");
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("(AccessDenied)")
            && stderr.contains("is not authorized to perform: sts:AssumeRole on resource"),
        "{stderr}"
    );
    emulator.shutdown().await;
}
