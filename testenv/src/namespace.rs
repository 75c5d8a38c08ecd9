//! A fresh namespace per test, so tests sharing one control plane never see each other's
//! objects. Without a controller-manager namespaces are never really deleted, so none is
//! reused: each name is new, drawn by the API server (`metadata.generateName`).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::Error;

/// The longest name a Namespace may have (a DNS label).
const MAX_NAME_LEN: usize = 63;

/// How many characters the API server appends to a `generateName`.
const GENERATED_SUFFIX_LEN: usize = 5;

/// Creates a namespace named `<prefix>-<5 random [a-z0-9]>` and returns its name. `prefix`
/// must itself be a valid DNS label start (lowercase letters, digits, `-`); a longer one is
/// cut so that the name stays within 63 characters.
pub async fn create_namespace(client: &kube::Client, prefix: &str) -> Result<String, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(generate_name(prefix)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    // A drawn name that is taken is a 409 (older servers do not draw again): draw anew.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match api.create(&PostParams::default(), &namespace).await {
            Ok(created) => {
                return created.metadata.name.ok_or_else(|| {
                    Error::io("the namespace the API server created")(std::io::Error::other(
                        "the answer names no namespace",
                    ))
                });
            }
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 3 => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `<prefix>-`, cut to leave room for the API server's suffix within a DNS label.
fn generate_name(prefix: &str) -> String {
    let mut base = format!("{prefix}-");
    base.truncate(MAX_NAME_LEN - GENERATED_SUFFIX_LEN);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix is kept whole, with a `-` before the server's suffix.
    #[test]
    fn short_prefix_is_kept() {
        assert_eq!(generate_name("plugin-status"), "plugin-status-");
    }

    /// A long prefix is cut so that the generated name is at most 63 characters.
    #[test]
    fn long_prefix_is_cut_to_fit_a_dns_label() {
        let base = generate_name(&"a".repeat(80));
        assert_eq!(base.len() + GENERATED_SUFFIX_LEN, MAX_NAME_LEN);
        assert!(base.bytes().all(|b| b == b'a'));
    }
}
