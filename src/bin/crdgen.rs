//! Prints the ContactChannelActivation CRD generated from the Rust types.
//! `cargo run --bin crdgen > crds/contactchannelactivations.yaml`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", ssm_contacts_operator::api::crd::render()?);
    Ok(())
}
