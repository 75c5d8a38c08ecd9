//! `activate NAME`: the code the person received, from standard input into the object's
//! code Secret, which the operator enters into AWS. The code is never printed, logged or
//! put into an error.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams};
use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
use ssm_contacts_operator::api::resource::CodeSecretRef;
use ssm_contacts_operator::reconcile::secret::CODE_SECRET_LABEL;
use ssm_contacts_operator::rules::activation::well_formed;

use crate::cluster::Cluster;
use crate::error::PluginError;
use crate::resend::{FIELD_MANAGER, api, get, not_found_or};

/// A code as typed; `Debug` shows no digit and there is no `Display`.
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// Trims whitespace (a trailing newline, spaces pasted around it) and checks 6 to 10 digits.
pub fn parse_code(input: &str) -> Result<Code, PluginError> {
    let code = input.trim();
    if well_formed(code) {
        Ok(Code(code.to_owned()))
    } else {
        Err(PluginError::MalformedCode {
            length: code.chars().count(),
        })
    }
}

/// The key a created reference names (the CRD's default).
const DEFAULT_KEY: &str = "code";
const SECRET_SUFFIX: &str = "-activation-code";

/// The Secret created for an object without `activationCodeSecretRef`: `<name>-activation-code`,
/// its name part cut so that the whole stays a valid name (at most 253 characters).
pub fn default_secret_name(object: &str) -> String {
    let room = 253 - SECRET_SUFFIX.len();
    let base: String = object.chars().take(room).collect();
    format!("{}{SECRET_SUFFIX}", base.trim_end_matches(['-', '.']))
}

pub async fn run(cluster: &Cluster, name: &str) -> Result<String, PluginError> {
    let object = get(cluster, name).await?;
    let existing = object.spec.activation_code_secret_ref.clone();
    let reference = existing.clone().unwrap_or_else(|| CodeSecretRef {
        name: default_secret_name(name),
        key: DEFAULT_KEY.to_owned(),
    });
    let prompt = format!("Activation code for {}/{name}: ", cluster.namespace);
    let code = parse_code(&read_code(&prompt)?)?;
    write_secret(cluster, &reference, &code).await?;
    let mut out = format!(
        "secret/{} written (key {:?}, labelled {CODE_SECRET_LABEL})\n",
        reference.name, reference.key
    );
    if existing.is_none() {
        let patch = serde_json::json!({
            "spec": {"activationCodeSecretRef": {"name": reference.name, "key": reference.key}}
        });
        let patched = api(cluster)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(not_found_or(
                cluster,
                name,
                "setting spec.activationCodeSecretRef",
            ))?;
        let generation = patched.metadata.generation.unwrap_or_default();
        out.push_str(&format!(
            "contactchannelactivation.ssmcontacts.oncall.dev/{name} now names it in spec.activationCodeSecretRef (generation {generation})\n"
        ));
        // A spec change is a new generation, and the operator sends each generation a code
        // before it enters the Secret's: the code just typed may be superseded.
        eprintln!(
            "note: adding spec.activationCodeSecretRef started generation {generation}; if the operator sends it a new code, run `kubectl ssm-contacts activate {name}` again with that newer code (naming the Secret in the spec before the code is sent avoids this)"
        );
    }
    Ok(out)
}

/// Server-side apply of the labelled Secret: creates it, or replaces the key's value.
async fn write_secret(
    cluster: &Cluster,
    reference: &CodeSecretRef,
    code: &Code,
) -> Result<(), PluginError> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(reference.name.clone()),
            namespace: Some(cluster.namespace.clone()),
            labels: Some(BTreeMap::from([(
                CODE_SECRET_LABEL.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            reference.key.clone(),
            ByteString(code.0.as_bytes().to_vec()),
        )])),
        // No type: a new Secret defaults to Opaque, and an existing one keeps its own
        // (the type is immutable, so claiming it could only fail).
        ..Secret::default()
    };
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    secrets
        .patch(
            &reference.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .map_err(PluginError::kube(format!(
            "writing secret {}/{}",
            cluster.namespace, reference.name
        )))?;
    Ok(())
}

/// The code from standard input: typed without echo on a terminal, else read whole.
fn read_code(prompt: &str) -> Result<String, PluginError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut text = String::new();
        // A code is short: more than this is not a code, and is not read into memory whole.
        stdin
            .lock()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| PluginError::Stdin(e.kind().to_string()))?;
        return Ok(text);
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let echo_off = EchoOff::new(&stdin)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo_off);
    let _ = writeln!(stderr);
    read.map_err(|e| PluginError::Stdin(e.kind().to_string()))?;
    Ok(line)
}

/// Terminal echo turned off while it lives, restored when dropped (also on an error).
struct EchoOff<'a> {
    stdin: &'a std::io::Stdin,
    saved: nix::sys::termios::Termios,
}

impl<'a> EchoOff<'a> {
    fn new(stdin: &'a std::io::Stdin) -> Result<Self, PluginError> {
        let saved = tcgetattr(stdin).map_err(|e| PluginError::Stdin(e.desc().to_owned()))?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(stdin, SetArg::TCSANOW, &quiet)
            .map_err(|e| PluginError::Stdin(e.desc().to_owned()))?;
        Ok(Self { stdin, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.stdin, SetArg::TCSANOW, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace is trimmed; 6 to 10 ASCII digits pass; the error never quotes the input.
    #[test]
    fn codes_are_checked_without_being_quoted() {
        for good in ["123456", " 0123456789\n", "\t654321\r\n"] {
            assert!(parse_code(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "12345",
            "12345678901",
            "12345a",
            "１２３４５６",
            "123 456",
        ] {
            let error = parse_code(bad).expect_err(bad).to_string();
            assert!(error.contains("6 to 10 digits"), "{error}");
            if !bad.trim().is_empty() {
                assert!(!error.contains(bad.trim()), "{error}");
            }
        }
        assert_eq!(
            format!("{:?}", parse_code("123456").expect("code")),
            "Code(<redacted>)"
        );
    }

    /// The created Secret's name stays within 253 characters and ends in the suffix.
    #[test]
    fn default_secret_names_fit() {
        assert_eq!(default_secret_name("phone"), "phone-activation-code");
        let long = format!("{}.x", "a".repeat(250));
        let name = default_secret_name(&long);
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with("a-activation-code"), "{name}");
    }
}
