//! The plugin binary against a real kube-apiserver + etcd (testenv) and the SSM Contacts
//! emulator: each subcommand, kubectl's flags, and the errors a person sees.
//!
//! One control plane serves every scenario (each in its own namespaces), so the whole file
//! runs in seconds; a scenario that fails names itself in the panic message.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;
use ssm_contacts_emulator::admin::SeedChannel;
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig, RunningEmulator,
};
use ssm_contacts_operator::api::resource::ContactChannelActivation;
use ssm_contacts_operator::reconcile::secret::CODE_SECRET_LABEL;
use tokio::io::AsyncWriteExt;

const ARN: &str = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/oncall/0c4e1a";

struct World {
    plane: testenv::ControlPlane,
    client: kube::Client,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

/// Runs the plugin with `args` (and `stdin`, when given), with AWS settings pointing
/// nowhere but `endpoint`.
async fn plugin(args: &[&str], stdin: Option<&str>, endpoint: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-ssm_contacts"));
    command
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("KUBECONFIG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    match endpoint {
        Some(url) => command.env("AWS_ENDPOINT_URL_SSM_CONTACTS", url),
        None => command.env_remove("AWS_ENDPOINT_URL_SSM_CONTACTS"),
    };
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the plugin starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("stdin");
    }
    drop(input);
    child.wait_with_output().await.expect("the plugin ends")
}

/// Runs the plugin with `args` alone: no stdin, no AWS endpoint.
async fn run(args: &[&str]) -> Output {
    plugin(args, None, None).await
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "plugin failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exit code 1 and one `error:` line on stderr, no panic.
fn failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

impl World {
    /// Runs the plugin with `args` against this cluster, in namespace `namespace`.
    async fn run_in(&self, namespace: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", self.kubeconfig(), "-n", namespace]);
        plugin(&all, stdin, None).await
    }

    async fn start() -> World {
        let plane = testenv::ControlPlane::start()
            .await
            .expect("control plane starts");
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
        for args in [
            vec![
                "apply".to_owned(),
                "-f".to_owned(),
                crds.display().to_string(),
            ],
            [
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/contactchannelactivations.ssmcontacts.oncall.dev",
            ]
            .map(String::from)
            .to_vec(),
        ] {
            let output = plane.kubectl().args(&args).output().expect("kubectl");
            assert!(
                output.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let client = plane.client().await.expect("client");
        let kubeconfig = plane.kubeconfig_path().to_owned();
        let dir = tempfile::tempdir().expect("temp dir");
        World {
            plane,
            client,
            kubeconfig,
            dir,
        }
    }

    fn kubeconfig(&self) -> &str {
        self.kubeconfig.to_str().expect("utf-8 path")
    }

    async fn namespace(&self, prefix: &str) -> String {
        testenv::create_namespace(&self.client, prefix)
            .await
            .expect("namespace")
    }

    fn api(&self, namespace: &str) -> Api<ContactChannelActivation> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates an object on the channel [`ARN`], then writes `status` through the status
    /// subresource as the operator would (no operator runs here, so what `status` shows is
    /// fixed).
    async fn object(&self, namespace: &str, name: &str, status: Option<serde_json::Value>) {
        self.object_with(namespace, name, json!({"contactChannelId": ARN}), status)
            .await;
    }

    /// [`World::object`] with the spec `spec`.
    async fn object_with(
        &self,
        namespace: &str,
        name: &str,
        spec: serde_json::Value,
        status: Option<serde_json::Value>,
    ) {
        let object: ContactChannelActivation = serde_json::from_value(json!({
            "apiVersion": "ssmcontacts.oncall.dev/v1alpha1",
            "kind": "ContactChannelActivation",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .expect("object");
        self.api(namespace)
            .create(&PostParams::default(), &object)
            .await
            .expect("create");
        if let Some(status) = status {
            self.api(namespace)
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "status": status })),
                )
                .await
                .expect("status");
        }
    }

    /// The object `name` in `namespace` as the API server has it.
    async fn get(&self, namespace: &str, name: &str) -> ContactChannelActivation {
        self.api(namespace).get(name).await.expect("get")
    }

    /// A copy of the admin kubeconfig whose context names `namespace`.
    fn kubeconfig_in(&self, namespace: &str) -> String {
        let mut config = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        for context in &mut config.contexts {
            if let Some(context) = &mut context.context {
                context.namespace = Some(namespace.to_owned());
            }
        }
        let path = self.dir.path().join(format!("{namespace}.kubeconfig"));
        let text = serde_saphyr::to_string(&config).expect("yaml");
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

fn condition(type_: &str, status: &str, reason: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "set by the test",
           "observedGeneration": 1, "lastTransitionTime": "2026-12-06T08:00:00Z"})
}

/// The value of `key` in a code Secret, which must carry the code label.
fn labelled_code(secret: Secret, key: &str) -> String {
    let labels = secret.metadata.labels.unwrap_or_default();
    assert!(labels.contains_key(CODE_SECRET_LABEL), "labelled");
    let data = secret.data.unwrap_or_default();
    String::from_utf8(data.get(key).expect("key").0.clone()).expect("utf-8")
}

/// Every scenario against one control plane and one emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_against_a_cluster() {
    let world = World::start().await;
    let emulator = RunningEmulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    bad_kubeconfig_and_context(&world).await;
    status_names_what_each_object_waits_for(&world).await;
    resend_bumps_the_generation(&world).await;
    activate_writes_a_labelled_secret(&world).await;
    export_pages_and_applies(&world, &emulator).await;
    emulator.shutdown().await;
    world.plane.stop().await.expect("stop");
}

/// A kubeconfig that cannot be read, an unknown context: one clear line, exit code 1.
async fn bad_kubeconfig_and_context(world: &World) {
    let missing = run(&["status", "--kubeconfig", "/nonexistent/kubeconfig"]).await;
    let stderr = failure(&missing);
    assert!(
        stderr.contains("cannot read kubeconfig /nonexistent/kubeconfig"),
        "{stderr}"
    );
    let garbage = world.dir.path().join("garbage");
    std::fs::write(&garbage, "{not: [yaml").expect("write");
    let garbage = garbage.display().to_string();
    failure(&run(&["status", "--kubeconfig", &garbage]).await);
    let unknown = run(&[
        "status",
        "--kubeconfig",
        world.kubeconfig(),
        "--context",
        "nope",
    ])
    .await;
    let stderr = failure(&unknown);
    assert!(
        stderr.contains("context \"nope\" is not in the kubeconfig"),
        "{stderr}"
    );
}

/// `status` reads the context's namespace, names what each object waits for and until
/// when, its attempts and last error; `-A` adds NAMESPACE; a name shows one object.
async fn status_names_what_each_object_waits_for(world: &World) {
    let ns = world.namespace("plugin-status").await;
    let other = world.namespace("plugin-status-other").await;
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(3600))
        .expect("time")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    world
        .object(
            &ns,
            "in-line",
            Some(json!({"observedGeneration": 1, "conditions": [
                condition("CodeSent", "False", "Pending"),
                condition("Reconciling", "True", "Pending")]})),
        )
        .await;
    world
        .object(
            &ns,
            "cooling",
            Some(
                json!({"observedGeneration": 1, "nextAttemptTime": soon, "conditions": [
                condition("CodeSent", "False", "ChannelCooldown")]}),
            ),
        )
        .await;
    world
        .object(
            &ns,
            "throttled",
            Some(
                json!({"observedGeneration": 1, "attempts": 3, "nextAttemptTime": soon,
                "lastError": {"code": "ThrottlingException", "message": "Rate exceeded",
                              "httpStatus": 400, "time": "2026-12-06T08:00:00Z"},
                "conditions": [condition("CodeSent", "False", "Throttled")]}),
            ),
        )
        .await;
    world
        .object(
            &ns,
            "sent",
            Some(
                json!({"observedGeneration": 1, "attempts": 1, "conditions": [
                condition("CodeSent", "True", "Sent"),
                condition("Activated", "False", "AwaitingCode")]}),
            ),
        )
        .await;
    world.object(&ns, "fresh", None).await;
    world.object(&other, "elsewhere", None).await;

    let in_ns = world.kubeconfig_in(&ns);
    let table = stdout(&run(&["status", "--kubeconfig", &in_ns]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(
        lines[0].starts_with("NAME ") && lines[0].contains("WAITING FOR"),
        "{table}"
    );
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {table}"))
            .to_string()
    };
    assert!(line("in-line").contains("send line (Pending)"), "{table}");
    assert!(
        line("cooling").contains("channel cooldown (ChannelCooldown)"),
        "{table}"
    );
    assert!(line("cooling").contains(" in 5"), "{table}");
    assert!(line("cooling").contains(&soon), "{table}");
    let throttled = line("throttled");
    assert!(throttled.contains("retry (Throttled)"), "{table}");
    assert!(throttled.contains("   3   "), "{table}");
    assert!(
        throttled.contains("ThrottlingException: Rate exceeded"),
        "{table}"
    );
    assert!(
        line("sent").contains("the person to enter the code (AwaitingCode)"),
        "{table}"
    );
    assert!(line("fresh").contains("operator (not seen yet)"), "{table}");
    assert!(line("fresh").contains("0c4e1a"), "{table}");

    let one = stdout(&world.run_in(&ns, &["status", "sent"], None).await);
    assert_eq!(one.lines().count(), 2, "{one}");

    let all = stdout(&run(&["status", "-A", "--kubeconfig", world.kubeconfig()]).await);
    assert!(all.starts_with("NAMESPACE "), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with(&other) && l.contains("elsewhere")),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with(&ns) && l.contains("in-line")),
        "{all}"
    );

    let context = Kubeconfig::read_from(&world.kubeconfig)
        .expect("kubeconfig")
        .current_context
        .expect("current context");
    let named = stdout(&run(&["status", "--kubeconfig", &in_ns, "--context", &context]).await);
    // The same objects (UNTIL may have moved on by a second).
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect()
    };
    assert_eq!(names(&named), names(&table), "{named}");
    let empty = world.namespace("plugin-status-empty").await;
    let nothing = world.run_in(&empty, &["status"], None).await;
    assert_eq!(stdout(&nothing), "");
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        stderr.contains(&format!("No resources found in {empty} namespace.")),
        "{stderr}"
    );
    let missing = world.run_in(&ns, &["status", "nope"], None).await;
    assert!(failure(&missing).contains("not found"));
}

/// `resend` sets a new resendToken: one new generation per call.
async fn resend_bumps_the_generation(world: &World) {
    let ns = world.namespace("plugin-resend").await;
    world.object(&ns, "phone", None).await;
    let resend = ["resend", "phone"];
    let first = stdout(&world.run_in(&ns, &resend, None).await);
    assert!(first.contains("generation 2"), "{first}");
    let token = world.get(&ns, "phone").await.spec.resend_token;
    let second = stdout(&world.run_in(&ns, &resend, None).await);
    assert!(second.contains("generation 3"), "{second}");
    let object = world.get(&ns, "phone").await;
    assert_eq!(object.metadata.generation, Some(3));
    assert!(object.spec.resend_token.is_some());
    assert_ne!(object.spec.resend_token, token);
    failure(&world.run_in(&ns, &["resend", "ghost"], None).await);
}

/// `activate` takes the code from a pipe, writes it into a labelled Secret (creating the
/// reference when there is none, updating the Secret the next time) and never prints it.
async fn activate_writes_a_labelled_secret(world: &World) {
    let ns = world.namespace("plugin-activate").await;
    world.object(&ns, "phone", None).await;
    let activate = ["activate", "phone"];
    let output = world.run_in(&ns, &activate, Some("  123456\n")).await;
    let out = stdout(&output);
    assert!(!out.contains("123456"), "{out}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("123456"), "{stderr}");
    assert!(stderr.contains("started generation 2"), "{stderr}");
    let object = world.get(&ns, "phone").await;
    let reference = object.spec.activation_code_secret_ref.expect("reference");
    assert_eq!(reference.name, "phone-activation-code");
    assert_eq!(reference.key, "code");
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &ns);
    let read = |secret: Secret| labelled_code(secret, "code");
    assert_eq!(
        read(secrets.get("phone-activation-code").await.expect("secret")),
        "123456"
    );

    stdout(&world.run_in(&ns, &activate, Some("7654321098")).await);
    assert_eq!(
        read(secrets.get("phone-activation-code").await.expect("secret")),
        "7654321098"
    );
    let generation = world.get(&ns, "phone").await.metadata.generation;
    assert_eq!(
        generation,
        Some(2),
        "only the first activate adds the reference"
    );

    let bad = world.run_in(&ns, &activate, Some("12ab56\n")).await;
    let stderr = failure(&bad);
    assert!(
        stderr.contains("6 to 10 digits") && !stderr.contains("12ab56"),
        "{stderr}"
    );
    assert_eq!(
        read(secrets.get("phone-activation-code").await.expect("secret")),
        "7654321098"
    );

    // An object that names its Secret and key: that key of that Secret, no spec change.
    let spec = json!({"contactChannelId": ARN,
                      "activationCodeSecretRef": {"name": "desk-otp", "key": "otp"}});
    world.object_with(&ns, "desk", spec, None).await;
    let output = world
        .run_in(&ns, &["activate", "desk"], Some("246810\n"))
        .await;
    stdout(&output);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("generation"));
    let secret = secrets.get("desk-otp").await.expect("secret");
    assert_eq!(labelled_code(secret, "otp"), "246810");
    let generation = world.get(&ns, "desk").await.metadata.generation;
    assert_eq!(generation, Some(1), "a named Secret needs no spec change");
}

/// `export` follows every page of ListContacts and ListContactChannels, names colliding
/// channels apart, and prints YAML that `kubectl apply -f -` takes.
async fn export_pages_and_applies(world: &World, emulator: &RunningEmulator) {
    let admin = emulator.admin();
    let mut seeded = Vec::new();
    for contact in ["alpha", "bravo", "charlie", "delta", "echo"] {
        for channel in ["Mail", "sms", "voice"] {
            let mut seed = SeedChannel::in_region("us-east-1");
            seed.contact_alias = Some(contact.into());
            seed.name = channel.into();
            seeded.push(admin.seed_channel(&seed).await.expect("seed").arn);
        }
    }
    let mut twin = SeedChannel::in_region("us-east-1");
    twin.contact_alias = Some("alpha".into());
    twin.name = "mail".into();
    seeded.push(admin.seed_channel(&twin).await.expect("seed").arn);

    let ns = world.namespace("plugin-export").await;
    let endpoint = emulator.endpoint_url();
    let args = [
        "export",
        "--region",
        "us-east-1",
        "--page-size",
        "2",
        "-n",
        &ns,
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ];
    let yaml = stdout(&plugin(&args, None, Some(&endpoint)).await);
    let documents: Vec<ContactChannelActivation> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).expect("document"))
        .collect();
    assert_eq!(documents.len(), 16, "{yaml}");
    let mut arns: Vec<&str> = documents
        .iter()
        .map(|d| d.spec.contact_channel_id.as_str())
        .collect();
    arns.sort();
    let mut wanted: Vec<&str> = seeded.iter().map(String::as_str).collect();
    wanted.sort();
    assert_eq!(arns, wanted);
    let names: Vec<&str> = documents
        .iter()
        .filter_map(|d| d.metadata.name.as_deref())
        .collect();
    assert!(names.contains(&"bravo-sms"), "{names:?}");
    let mails: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("alpha-mail-"))
        .collect();
    assert_eq!(mails.len(), 2, "{names:?}");
    assert!(
        documents
            .iter()
            .all(|d| d.spec.skip_if_activated && d.spec.region.is_none())
    );
    assert!(
        documents
            .iter()
            .all(|d| d.metadata.namespace.as_deref() == Some(ns.as_str()))
    );
    let pages = admin
        .journal()
        .await
        .expect("journal")
        .iter()
        .filter(|e| e.operation == "ListContacts")
        .count();
    assert_eq!(pages, 3, "5 contacts in pages of 2");

    let mut apply = world
        .plane
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    {
        use std::io::Write;
        let mut stdin = apply.stdin.take().expect("stdin");
        stdin.write_all(yaml.as_bytes()).expect("write");
    }
    let applied = apply.wait_with_output().expect("kubectl apply");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let listed = world
        .api(&ns)
        .list(&Default::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 16);

    let only = [
        "export",
        "--region",
        "us-east-1",
        "--page-size",
        "1",
        "-n",
        &ns,
        "--contact",
        "arn:aws:ssm-contacts:us-east-1:123456789012:contact/charlie",
    ];
    let yaml = stdout(&plugin(&only, None, Some(&endpoint)).await);
    assert_eq!(
        yaml.matches("kind: ContactChannelActivation").count(),
        3,
        "{yaml}"
    );
    assert!(yaml.contains("name: charlie-voice"), "{yaml}");
}
