//! `resend NAME`: one new code, asked for by a new `spec.resendToken` (a new generation).

use jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use rand::Rng;
use rand::distr::Alphanumeric;
use ssm_contacts_operator::api::resource::ContactChannelActivation;

use crate::cluster::Cluster;
use crate::error::PluginError;

/// The field manager of every write the plugin makes.
pub const FIELD_MANAGER: &str = "kubectl-ssm_contacts";

pub async fn run(cluster: &Cluster, name: &str) -> Result<String, PluginError> {
    let api = api(cluster);
    let token = new_token(Timestamp::now(), &mut rand::rng());
    let patch = serde_json::json!({ "spec": { "resendToken": token } });
    let patched = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(not_found_or(cluster, name, "setting spec.resendToken"))?;
    Ok(format!(
        "contactchannelactivation.ssmcontacts.oncall.dev/{name} resend requested: generation {}\n",
        patched.metadata.generation.unwrap_or_default()
    ))
}

/// An RFC 3339 time (to the second) and 8 random characters: unique, and readable in
/// `kubectl get -o yaml` as when the resend was asked for.
pub fn new_token(now: Timestamp, rng: &mut impl Rng) -> String {
    let suffix: String = (0..8)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect();
    format!(
        "{}-{}",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        suffix.to_lowercase()
    )
}

pub fn api(cluster: &Cluster) -> Api<ContactChannelActivation> {
    Api::namespaced(cluster.client.clone(), &cluster.namespace)
}

/// The object `name` in the cluster's namespace.
pub async fn get(cluster: &Cluster, name: &str) -> Result<ContactChannelActivation, PluginError> {
    api(cluster)
        .get(name)
        .await
        .map_err(not_found_or(cluster, name, "reading the object"))
}

/// A 404 as [`PluginError::NotFound`], anything else with `what`.
pub fn not_found_or<'a>(
    cluster: &'a Cluster,
    name: &'a str,
    what: &'a str,
) -> impl FnOnce(kube::Error) -> PluginError + 'a {
    move |error| match &error {
        kube::Error::Api(status) if status.code == 404 => PluginError::NotFound {
            namespace: cluster.namespace.clone(),
            name: name.to_owned(),
        },
        _ => PluginError::Kube {
            what: format!("{what} ({}/{name})", cluster.namespace),
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are short enough for the CRD (253), differ each time, and start with the time.
    #[test]
    fn tokens_are_unique_and_short() {
        let now: Timestamp = "2026-12-06T08:00:00Z".parse().expect("now");
        let mut rng = rand::rng();
        let a = new_token(now, &mut rng);
        let b = new_token(now, &mut rng);
        assert_ne!(a, b);
        assert!(a.starts_with("2026-12-06T08:00:00Z-"), "{a}");
        assert!(a.len() <= 253);
    }
}
