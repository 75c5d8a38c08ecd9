//! `export`: the account's channels as ContactChannelActivation YAML, through the AWS SDK's
//! default chain (credentials, `AWS_ENDPOINT_URL[_SSM_CONTACTS]`, ...). Nothing is applied.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::error::DisplayErrorContext;
use kube::Resource;
use serde_json::{Value, json};
use ssm_contacts_operator::api::resource::ContactChannelActivation;

use crate::cli::ExportArgs;
use crate::error::PluginError;
use crate::names::unique_names;

/// A channel found in AWS, with the alias of its contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub alias: String,
    pub name: String,
    pub arn: String,
}

pub async fn run(args: &ExportArgs, namespace: &str) -> Result<String, PluginError> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(args.region.clone()))
        .load()
        .await;
    let client = Client::new(&config);
    let contacts = if args.contacts.is_empty() {
        list_contacts(&client, args.page_size).await?
    } else {
        args.contacts
            .iter()
            .map(|arn| (alias_of(arn).to_owned(), arn.clone()))
            .collect()
    };
    let mut found = Vec::new();
    for (alias, contact_arn) in &contacts {
        found.extend(list_channels(&client, alias, contact_arn, args.page_size).await?);
    }
    render(&found, namespace, &args.region)
}

/// `(alias, ARN)` of every contact, every page.
async fn list_contacts(
    client: &Client,
    page_size: Option<i32>,
) -> Result<Vec<(String, String)>, PluginError> {
    let mut stream = client
        .list_contacts()
        .set_max_results(page_size)
        .into_paginator()
        .items()
        .send();
    let mut contacts = Vec::new();
    while let Some(contact) = stream.next().await {
        let contact = contact.map_err(|e| aws_error("ListContacts", &e))?;
        contacts.push((contact.alias().to_owned(), contact.contact_arn().to_owned()));
    }
    Ok(contacts)
}

/// Every channel of one contact, every page.
async fn list_channels(
    client: &Client,
    alias: &str,
    contact_arn: &str,
    page_size: Option<i32>,
) -> Result<Vec<Found>, PluginError> {
    let mut stream = client
        .list_contact_channels()
        .contact_id(contact_arn)
        .set_max_results(page_size)
        .into_paginator()
        .items()
        .send();
    let mut channels = Vec::new();
    while let Some(channel) = stream.next().await {
        let channel =
            channel.map_err(|e| aws_error(&format!("ListContactChannels {contact_arn}"), &e))?;
        channels.push(Found {
            alias: alias.to_owned(),
            name: channel.name().to_owned(),
            arn: channel.contact_channel_arn().to_owned(),
        });
    }
    Ok(channels)
}

fn aws_error(operation: &str, error: &dyn std::error::Error) -> PluginError {
    PluginError::Aws {
        operation: operation.to_owned(),
        message: DisplayErrorContext(error).to_string().replace('\n', " "),
    }
}

/// The alias in a contact ARN (`...:contact/<alias>`).
fn alias_of(contact_arn: &str) -> &str {
    contact_arn.rsplit('/').next().unwrap_or(contact_arn)
}

/// The region part of an ARN (empty when the ARN names none).
fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or("")
}

/// Multi-document YAML, one object per channel, in the order found.
pub fn render(found: &[Found], namespace: &str, region: &str) -> Result<String, PluginError> {
    let triples: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|f| (f.alias.as_str(), f.name.as_str(), f.arn.as_str()))
        .collect();
    let names = unique_names(&triples);
    let mut out = String::new();
    for (channel, name) in found.iter().zip(names) {
        let mut spec = json!({
            "contactChannelId": channel.arn,
            "skipIfActivated": true,
        });
        // Only where the ARN names no region: otherwise the operator calls the ARN's.
        if arn_region(&channel.arn).is_empty() {
            spec["region"] = Value::from(region);
        }
        let object = json!({
            "apiVersion": ContactChannelActivation::api_version(&()),
            "kind": ContactChannelActivation::kind(&()),
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        let yaml =
            serde_saphyr::to_string(&object).map_err(|e| PluginError::Output(e.to_string()))?;
        out.push_str("---\n");
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each channel is one document kubectl can apply, region only where the ARN lacks it.
    #[test]
    fn renders_one_document_per_channel() {
        let found = [
            Found {
                alias: "team".into(),
                name: "Mail".into(),
                arn: "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/team/a".into(),
            },
            Found {
                alias: "team".into(),
                name: "sms".into(),
                arn: "arn:aws:ssm-contacts::123456789012:contact-channel/team/b".into(),
            },
        ];
        let yaml = render(&found, "oncall", "us-east-1").expect("yaml");
        let documents: Vec<&str> = yaml.split("---\n").filter(|d| !d.is_empty()).collect();
        assert_eq!(documents.len(), 2, "{yaml}");
        let first: ContactChannelActivation = serde_saphyr::from_str(documents[0]).expect("first");
        assert_eq!(first.metadata.name.as_deref(), Some("team-mail"));
        assert_eq!(first.metadata.namespace.as_deref(), Some("oncall"));
        assert_eq!(first.spec.region, None);
        assert!(documents[0].contains("skipIfActivated: true"), "{yaml}");
        let second: ContactChannelActivation =
            serde_saphyr::from_str(documents[1]).expect("second");
        assert_eq!(second.spec.region.as_deref(), Some("us-east-1"));
        assert!(
            yaml.contains("apiVersion: ssmcontacts.oncall.dev/v1alpha1"),
            "{yaml}"
        );
        assert!(yaml.contains("kind: ContactChannelActivation"), "{yaml}");
    }
}
