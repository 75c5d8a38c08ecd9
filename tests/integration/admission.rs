//! The chart's ValidatingAdmissionPolicy on the real API server: rendered by the real helm,
//! bound to the scenario's namespace only (scenarios share one API server), and each of its
//! rules refusing at admission with a message that names the value and the rule. The operator
//! is stopped in these worlds: the API server alone decides. The region rule duplicates one
//! of the CRD's own, so it is shown on a control plane of its own whose CRD predates that
//! rule (helm never upgrades a CRD).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use serde_json::{Value, json};
use ssm_contacts_operator::api::resource::{
    ContactChannelActivation, ContactChannelActivationSpec,
};
use ssm_contacts_operator::rules::tenancy::ALLOWED_ACCOUNTS_ANNOTATION;

use crate::Scenario;
use crate::support::{RELEASE, Result, Suite, World, chart_dir, eventually, helm, run};

/// The account of every World's own channel.
const OWN: &str = "123456789012";
/// An account no policy here allows.
const STRANGER: &str = "444455556666";

/// How long a new policy (or a changed Namespace annotation) may take to reach admission.
const EFFECTIVE_WITHIN: Duration = Duration::from_secs(30);

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(admission_refuses_an_account_outside_allowed_accounts),
        scenario!(admission_follows_the_namespace_annotation_and_fails_closed),
        scenario!(admission_refuses_a_role_outside_allowed_role_arns),
        scenario!(admission_refuses_an_arn_region_that_is_no_region),
        scenario!(admission_policy_refuses_a_region_an_older_crd_admits),
        scenario!(admission_warn_mode_admits_with_a_warning),
    ]
}

fn channel(region: &str, account: &str) -> ContactChannelActivationSpec {
    World::spec_for(&format!(
        "arn:aws:ssm-contacts:{region}:{account}:contact-channel/oncall/pager"
    ))
}

/// The chart's policy and binding, rendered by `helm template` with `values` and
/// `watchNamespaces` set to `namespace` (so the binding reaches no other scenario), into
/// `dir/policy.yaml`.
fn render_policy(suite: &Suite, dir: &Path, namespace: &str, mut values: Value) -> Result<PathBuf> {
    values["watchNamespaces"] = json!([namespace]);
    let values_file = dir.join("policy-values.json");
    std::fs::write(&values_file, serde_json::to_vec(&values)?)?;
    let rendered = run(helm(suite, &dir.join("helm"))?
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", namespace])
        .args(["--show-only", "templates/admission-policy.yaml", "-f"])
        .arg(&values_file))?;
    let scoped = format!("values: [\"{namespace}\"]");
    if !rendered.contains("kind: ValidatingAdmissionPolicyBinding") || !rendered.contains(&scoped) {
        return Err(format!("no binding scoped to {namespace}:\n{rendered}").into());
    }
    let manifest = dir.join("policy.yaml");
    std::fs::write(&manifest, &rendered)?;
    Ok(manifest)
}

/// The chart's policy for one world, applied with kubectl. The policy and its binding are
/// cluster-scoped: deleted when this is dropped.
struct Policy {
    manifest: PathBuf,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
}

impl Policy {
    async fn apply(suite: &Suite, world: &World, values: Value) -> Result<Self> {
        let policy = Self {
            manifest: render_policy(suite, world.log_dir(), &world.namespace, values)?,
            kubectl: suite.kubectl.clone(),
            kubeconfig: suite.kubeconfig.clone(),
        };
        run(policy.kubectl().args(["apply", "-f"]).arg(&policy.manifest))?;
        Ok(policy)
    }

    fn kubectl(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.kubectl);
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let deleted = self
            .kubectl()
            .args(["delete", "--ignore-not-found", "--wait=false", "-f"])
            .arg(&self.manifest)
            .output();
        if !deleted.is_ok_and(|output| output.status.success()) {
            eprintln!("could not delete the policy of {}", self.manifest.display());
        }
    }
}

/// Creates `name`; the API server's refusal by a ValidatingAdmissionPolicy, or `None` when it
/// admitted the object (which is then deleted again). Any other error fails.
async fn refusal(
    world: &World,
    name: &str,
    spec: &ContactChannelActivationSpec,
) -> Result<Option<String>> {
    match world.create(name, spec.clone()).await {
        Ok(_) => {
            world.delete(name).await?;
            Ok(None)
        }
        Err(error) if error.to_string().contains("ValidatingAdmissionPolicy") => {
            Ok(Some(error.to_string()))
        }
        Err(error) => Err(error),
    }
}

/// Waits until creating `name` is refused (a new policy or annotation takes a moment to
/// reach admission); returns the refusal.
async fn wait_refused(
    world: &World,
    name: &str,
    spec: &ContactChannelActivationSpec,
) -> Result<String> {
    eventually(&format!("{name} to be refused"), EFFECTIVE_WITHIN, || {
        refusal(world, name, spec)
    })
    .await
}

/// Waits until creating `name` is refused for the reason `because` names: an annotation just
/// changed reaches admission a moment later, and until then the refusal gives the old reason.
async fn wait_refused_because(
    world: &World,
    name: &str,
    spec: &ContactChannelActivationSpec,
    because: &str,
) -> Result<String> {
    eventually(
        &format!("{name} to be refused with {because:?}"),
        EFFECTIVE_WITHIN,
        || async {
            Ok(refusal(world, name, spec)
                .await?
                .filter(|refused| refused.contains(because)))
        },
    )
    .await
}

/// Waits until creating `name` is admitted (it stays).
async fn wait_admitted(world: &World, name: &str, spec: &ContactChannelActivationSpec) -> Result {
    let last = std::sync::Mutex::new(String::new());
    let admitted = eventually(
        &format!("{name} to be admitted"),
        EFFECTIVE_WITHIN,
        || async {
            match world.create(name, spec.clone()).await {
                Ok(_) => Ok(Some(())),
                Err(error) => {
                    *last
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = error.to_string();
                    Ok(None)
                }
            }
        },
    )
    .await;
    let last = last
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    admitted.map_err(|e| format!("{e}; last refusal: {last}").into())
}

fn assert_names(refusal: &str, parts: &[&str]) {
    for part in parts {
        assert!(refusal.contains(part), "{part:?} not in: {refusal}");
    }
}

/// An account outside tenancy.allowedAccounts is refused, naming the account and the rule;
/// an allowed one is admitted; the binding reaches no namespace outside watchNamespaces; an
/// object admitted before the policy can still be relabelled, but not asked for a new code.
async fn admission_refuses_an_account_outside_allowed_accounts(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "adm-accounts").await?;
    world
        .create("before-policy", channel("us-east-1", STRANGER))
        .await?;
    let _policy = Policy::apply(
        &suite,
        &world,
        json!({"tenancy": {"allowedAccounts": [OWN, "210987654321"]}}),
    )
    .await?;
    let refused = wait_refused(&world, "stranger", &channel("us-east-1", STRANGER)).await?;
    assert_names(
        &refused,
        &[
            STRANGER,
            "tenancy.allowedAccounts",
            "123456789012, 210987654321",
        ],
    );
    world.create("own", world.spec()).await?;

    // Label edits ask for no code and pass; a spec change asks for one and is checked.
    world.relabel("before-policy").await?;
    let changed = world
        .edit_spec("before-policy", json!({"resendToken": "again"}))
        .await
        .err()
        .ok_or("a new generation of a stranger channel was admitted")?;
    assert_names(&changed.to_string(), &[STRANGER, "tenancy.allowedAccounts"]);

    // Another namespace, outside watchNamespaces: not this release's business.
    let elsewhere = testenv::create_namespace(&world.client, "adm-elsewhere").await?;
    let api: Api<ContactChannelActivation> = Api::namespaced(world.client.clone(), &elsewhere);
    let object = ContactChannelActivation::new("stranger", channel("us-east-1", STRANGER));
    api.create(&Default::default(), &object).await?;
    Ok(())
}

/// The Namespace annotation narrows the accounts; blanks around ids are ignored; an annotation
/// that is blank, or holds anything but 12-digit ids, allows no account (fail closed), and
/// the refusal names the annotation and what could not be read.
async fn admission_follows_the_namespace_annotation_and_fails_closed(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "adm-annotation").await?;
    world.annotate_namespace(Some(OWN)).await?;
    let _policy = Policy::apply(&suite, &world, json!({})).await?;
    let refused = wait_refused(&world, "stranger", &channel("us-east-1", STRANGER)).await?;
    assert_names(
        &refused,
        &[
            STRANGER,
            ALLOWED_ACCOUNTS_ANNOTATION,
            &world.namespace,
            "admits only 123456789012",
        ],
    );
    world.create("own", world.spec()).await?;

    world.annotate_namespace(Some("  ")).await?;
    let refused = wait_refused_because(&world, "blank", &world.spec(), "is empty").await?;
    assert_names(
        &refused,
        &[
            OWN,
            ALLOWED_ACCOUNTS_ANNOTATION,
            "is empty",
            "allows no account",
        ],
    );

    world
        .annotate_namespace(Some(&format!("{OWN}, 12345")))
        .await?;
    let refused =
        wait_refused_because(&world, "malformed", &world.spec(), "cannot be read").await?;
    assert_names(
        &refused,
        &[
            OWN,
            ALLOWED_ACCOUNTS_ANNOTATION,
            "cannot be read",
            "'12345'",
            "allows no account",
        ],
    );

    world
        .annotate_namespace(Some(&format!(" {STRANGER} , {OWN} ")))
        .await?;
    wait_admitted(&world, "spaced", &world.spec()).await?;
    world.annotate_namespace(None).await?;
    wait_admitted(&world, "unannotated", &channel("us-east-1", STRANGER)).await?;
    Ok(())
}

/// A spec.roleArn is admitted only where a tenancy.allowedRoleArns glob matches it (`*` any
/// run of characters, every other character itself); with none, no role at all.
async fn admission_refuses_a_role_outside_allowed_role_arns(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "adm-roles").await?;
    let with_role = |role: &str| ContactChannelActivationSpec {
        role_arn: Some(role.to_owned()),
        ..world.spec()
    };
    let policy = Policy::apply(&suite, &world, json!({})).await?;
    let refused = wait_refused(
        &world,
        "any-role",
        &with_role("arn:aws:iam::123456789012:role/pager"),
    )
    .await?;
    assert_names(
        &refused,
        &[
            "arn:aws:iam::123456789012:role/pager",
            "tenancy.allowedRoleArns",
            "no role may be assumed",
        ],
    );
    drop(policy);

    let glob = "arn:aws:iam::*:role/ssm-contacts.activation";
    let _policy = Policy::apply(
        &suite,
        &world,
        json!({"tenancy": {"allowedRoleArns": [glob]}}),
    )
    .await?;
    let outside = "arn:aws:iam::123456789012:role/admin";
    // The refusal must come from the new policy (it names the glob), not the old one.
    let refused = eventually("the glob in the refusal", EFFECTIVE_WITHIN, || async {
        Ok(refusal(&world, "admin", &with_role(outside))
            .await?
            .filter(|r| r.contains(glob)))
    })
    .await?;
    assert_names(&refused, &[outside, "tenancy.allowedRoleArns", glob]);
    // `.` is a dot, not any character.
    let refused = wait_refused(
        &world,
        "dot",
        &with_role("arn:aws:iam::123456789012:role/ssm-contactsXactivation"),
    )
    .await?;
    assert_names(&refused, &["ssm-contactsXactivation"]);
    wait_admitted(
        &world,
        "allowed",
        &with_role("arn:aws:iam::210987654321:role/ssm-contacts.activation"),
    )
    .await?;
    Ok(())
}

/// An ARN whose region part is not a region (`us_east_1`) is refused at admission (by the
/// CRD's own rule, which runs before any policy); with the policy in force, an ARN without a
/// region part, or with a region of several parts, is admitted.
async fn admission_refuses_an_arn_region_that_is_no_region(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "adm-region").await?;
    let _policy = Policy::apply(
        &suite,
        &world,
        json!({"tenancy": {"allowedAccounts": [OWN]}}),
    )
    .await?;
    wait_refused(&world, "stranger", &channel("us-east-1", STRANGER)).await?;
    let refused = world
        .create_refused("underscores", channel("us_east_1", OWN), "us_east_1")
        .await?;
    assert_names(&refused, &["spec.contactChannelId", "region"]);
    world.create("no-region", channel("", OWN)).await?;
    let gov =
        format!("arn:aws-us-gov:ssm-contacts:us-gov-west-1:{OWN}:contact-channel/oncall/pager");
    world.create("gov", World::spec_for(&gov)).await?;
    Ok(())
}

/// The CRD's rule on the ARN's region part, which this control plane's CRD lacks.
const CRD_REGION_RULE: &str = "                - message: the ARN's region part must be empty or look like a region, such as us-east-1\n                  rule: \"!self.matches('^arn:[^:]*:[^:]*:[^:]+:') || self.matches('^arn:[^:]*:[^:]*:[a-z]{2}(-[a-z]+)+-[0-9]+:')\"\n";

/// On a cluster whose CRD predates the region rule (helm installs a CRD once and never
/// upgrades it), `us_east_1` passes the schema; the policy refuses it, naming the region part
/// and the rule. A control plane of its own: the suite's CRD cannot be swapped under the
/// other scenarios.
async fn admission_policy_refuses_a_region_an_older_crd_admits(suite: Arc<Suite>) -> Result {
    let plane = testenv::ControlPlane::start().await?;
    let result = on_an_older_crd(&suite, &plane).await;
    plane.stop().await?;
    result
}

async fn on_an_older_crd(suite: &Suite, plane: &testenv::ControlPlane) -> Result {
    let dir = tempfile::tempdir()?;
    let crd = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/contactchannelactivations.yaml"),
    )?;
    if !crd.contains(CRD_REGION_RULE) {
        return Err("crds/ no longer holds the region rule this scenario takes out".into());
    }
    let older = dir.path().join("older-crd.yaml");
    std::fs::write(&older, crd.replace(CRD_REGION_RULE, ""))?;
    run(plane.kubectl().args(["apply", "-f"]).arg(&older))?;
    run(plane.kubectl().args([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/contactchannelactivations.ssmcontacts.oncall.dev",
    ]))?;
    let client = plane.client().await?;
    let namespace = testenv::create_namespace(&client, "adm-older-crd").await?;
    let api: Api<ContactChannelActivation> = Api::namespaced(client, &namespace);
    let object = |name: &str| ContactChannelActivation::new(name, channel("us_east_1", OWN));
    api.create(&Default::default(), &object("before-policy"))
        .await?;

    let manifest = render_policy(suite, dir.path(), &namespace, json!({}))?;
    run(plane.kubectl().args(["apply", "-f"]).arg(&manifest))?;
    let refused = eventually("us_east_1 to be refused", EFFECTIVE_WITHIN, || async {
        match api
            .create(&Default::default(), &object("underscores"))
            .await
        {
            Ok(_) => {
                api.delete("underscores", &Default::default()).await?;
                Ok(None)
            }
            Err(error) => Ok(Some(error.to_string())),
        }
    })
    .await?;
    assert_names(
        &refused,
        &[
            "ValidatingAdmissionPolicy",
            "'us_east_1'",
            "is not an AWS region",
            "^[a-z]{2}(-[a-z]+)+-[0-9]+$",
        ],
    );
    Ok(())
}

/// validationActions [Warn]: the object is admitted, and kubectl prints a Warning naming the
/// account and the rule.
async fn admission_warn_mode_admits_with_a_warning(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "adm-warn").await?;
    let _policy = Policy::apply(
        &suite,
        &world,
        json!({
            "tenancy": {"allowedAccounts": [OWN]},
            "admissionPolicy": {"validationActions": ["Warn"]},
        }),
    )
    .await?;
    let mut attempt = 0;
    let (name, warning) = eventually("a Warning from kubectl", EFFECTIVE_WITHIN, || {
        attempt += 1;
        let name = format!("warned-{attempt}");
        let world = &world;
        let suite = &suite;
        async move {
            let object = json!({
                "apiVersion": "ssmcontacts.oncall.dev/v1alpha1",
                "kind": "ContactChannelActivation",
                "metadata": {"name": name, "namespace": world.namespace},
                "spec": {"contactChannelId": channel("us-east-1", STRANGER).contact_channel_id},
            });
            let file = world.log_dir().join(format!("{name}.json"));
            std::fs::write(&file, serde_json::to_vec(&object)?)?;
            let output = std::process::Command::new(&suite.kubectl)
                .arg("--kubeconfig")
                .arg(&suite.kubeconfig)
                .args(["create", "-f"])
                .arg(&file)
                .output()?;
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if !output.status.success() {
                return Err(format!("kubectl create {name} failed: {stderr}").into());
            }
            Ok(stderr.contains("Warning").then_some((name, stderr)))
        }
    })
    .await?;
    assert_names(&warning, &[STRANGER, "tenancy.allowedAccounts"]);
    world.api.get(&name).await?;
    Ok(())
}
