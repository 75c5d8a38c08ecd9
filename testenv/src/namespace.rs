//! A fresh namespace per test, so tests sharing one control plane never see each other's
//! objects. Without a controller-manager namespaces are never really deleted, so none is
//! reused: each name is new.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::Rng;

use crate::Error;

const SUFFIX_LEN: usize = 6;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Creates a namespace named `<prefix>-<6 random [a-z0-9]>` and returns its name. `prefix`
/// must itself be a valid DNS label start (lowercase letters, digits, `-`), at most 56 chars.
pub async fn create_namespace(client: &kube::Client, prefix: &str) -> Result<String, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    // 36^6 names make a clash unlikely; retrying on 409 makes it harmless.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let name = format!("{prefix}-{}", random_suffix());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => return Ok(name),
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 3 => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..SUFFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Suffixes are DNS-label safe and vary.
    #[test]
    fn suffix_is_lowercase_alphanumeric() {
        let a = random_suffix();
        assert_eq!(a.len(), SUFFIX_LEN);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(a, random_suffix(), "two draws of 36^6 should differ");
    }
}
