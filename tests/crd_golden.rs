//! The committed CRD must be what the Rust types generate (and the chart's copy identical).

use std::path::Path;

#[test]
/// crds/contactchannelactivations.yaml is current; regenerate with `cargo run --bin crdgen`.
fn committed_crd_matches_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = ssm_contacts_operator::api::crd::render().unwrap();
    let committed =
        std::fs::read_to_string(root.join("crds/contactchannelactivations.yaml")).unwrap();
    assert!(
        committed == generated,
        "crds/contactchannelactivations.yaml is stale: run `cargo run --bin crdgen > crds/contactchannelactivations.yaml`"
    );
    let chart_copy =
        root.join("charts/ssm-contacts-operator/files/crds/contactchannelactivations.yaml");
    if chart_copy.exists() {
        assert_eq!(
            std::fs::read_to_string(chart_copy).unwrap(),
            committed,
            "the chart's CRD differs from crds/"
        );
    }
}
