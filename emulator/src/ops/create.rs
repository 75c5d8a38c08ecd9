//! Operations that create contacts and channels, idempotent by token.

use serde::Deserialize;
use serde_json::{Value, json};

use super::contacts::CONTACT_TYPES;
use super::request::{Caller, Done};
use crate::model::arn::{self, Arn};
use crate::model::state::{ChannelType, Contact, State};
use crate::model::validate::{Check, is_alias_char, is_name_char};
use crate::protocol::wire::AwsError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateContactInput {
    alias: Option<String>,
    display_name: Option<String>,
    #[serde(rename = "Type")]
    contact_type: Option<String>,
    plan: Option<Value>,
    tags: Option<Vec<Tag>>,
    idempotency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

pub(super) fn create_contact(
    input: CreateContactInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let mut check = Check::default();
    if let Some(alias) = check.required("Alias", &input.alias)
        && check.length("Alias", alias, 1, 255)
    {
        check.chars("Alias", alias, r"^[a-z0-9_\-]*$", is_alias_char);
    }
    if let Some(name) = &input.display_name
        && check.length("DisplayName", name, 0, 255)
    {
        check.chars(
            "DisplayName",
            name,
            r"^[\p{L}\p{Z}\p{N}_.\-]*$",
            is_name_char,
        );
    }
    if let Some(kind) = check.required("Type", &input.contact_type) {
        check.one_of("Type", kind, &CONTACT_TYPES);
    }
    if let Some(plan) = check.required("Plan", &input.plan)
        && !plan.is_object()
    {
        check.fail("Plan", "Member must be a structure");
    }
    if let Some(tags) = &input.tags {
        if tags.len() > 50 {
            check.fail("Tags", "Member must have length less than or equal to 50");
        }
        for tag in tags {
            if let Some(key) = check.required("Tags.member.Key", &tag.key) {
                check.length("Tags.member.Key", key, 1, 128);
            }
            if let Some(value) = check.required("Tags.member.Value", &tag.value) {
                check.length("Tags.member.Value", value, 1, 256);
            }
        }
    }
    check.token("IdempotencyToken", input.idempotency_token.as_ref());
    check.finish()?;

    const OP: &str = "CreateContact";
    if let Some(token) = &input.idempotency_token
        && let Some(previous) = state.idempotent(OP, token)
    {
        return Ok(Done::new(previous, None));
    }
    let alias = input.alias.unwrap_or_default();
    let contact_type = input.contact_type.unwrap_or_default();
    let partition = arn::partition_for(caller.region);
    let contact_arn = arn::contact_arn(partition, caller.region, caller.account_id, &alias);
    let created = state.insert_contact(Contact {
        arn: contact_arn.clone(),
        alias,
        display_name: input.display_name.filter(|name| !name.is_empty()),
        contact_type,
        region: Some(caller.region.to_string()),
    });
    if !created {
        return Err(AwsError::Conflict {
            message: format!("A contact with ARN {contact_arn} already exists."),
            resource_id: contact_arn,
            resource_type: "CONTACT".into(),
        });
    }
    let body = json!({ "ContactArn": contact_arn });
    if let Some(token) = input.idempotency_token {
        state.remember(OP, token, body.clone());
    }
    Ok(Done::new(body, None))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateChannelInput {
    contact_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "Type")]
    channel_type: Option<String>,
    delivery_address: Option<Address>,
    defer_activation: Option<bool>,
    idempotency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Address {
    simple_address: Option<String>,
}

/// SMS and VOICE take `+` and digits; EMAIL an address with a local part and a domain.
fn address_fits(channel_type: ChannelType, address: &str) -> bool {
    match channel_type {
        ChannelType::Sms | ChannelType::Voice => address
            .strip_prefix('+')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())),
        ChannelType::Email => address
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
    }
}

pub(super) fn create_channel(
    input: CreateChannelInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let mut check = Check::default();
    if let Some(contact) = check.required("ContactId", &input.contact_id) {
        check.arn("ContactId", contact);
    }
    if let Some(name) = check.required("Name", &input.name)
        && check.length("Name", name, 1, 255)
    {
        check.chars("Name", name, r"^[\p{L}\p{Z}\p{N}_.\-]*$", is_name_char);
    }
    let channel_type = check
        .required("Type", &input.channel_type)
        .filter(|kind| check.one_of("Type", kind, &["SMS", "VOICE", "EMAIL"]))
        .and_then(|kind| ChannelType::parse(kind));
    let address = check
        .required("DeliveryAddress", &input.delivery_address)
        .and_then(|address| {
            check.required("DeliveryAddress.SimpleAddress", &address.simple_address)
        })
        .filter(|address| check.length("DeliveryAddress.SimpleAddress", address, 1, 320));
    if let (Some(kind), Some(address)) = (channel_type, address)
        && !address_fits(kind, address)
    {
        check.fail(
            "DeliveryAddress.SimpleAddress",
            format!("Member is not a valid {} address", kind.as_str()),
        );
    }
    check.token("IdempotencyToken", input.idempotency_token.as_ref());
    check.finish()?;

    const OP: &str = "CreateContactChannel";
    if let Some(token) = &input.idempotency_token
        && let Some(previous) = state.idempotent(OP, token)
    {
        let arn = previous["ContactChannelArn"].as_str().map(String::from);
        return Ok(Done::new(previous, arn));
    }
    let contact_id = input.contact_id.unwrap_or_default();
    let Some(contact) = state.contact_in_region(&contact_id, caller.region).cloned() else {
        return Err(AwsError::field(
            "ContactId",
            format!("Contact {contact_id} does not exist in {}", caller.region),
        ));
    };
    let parsed = Arn::parse(&contact.arn);
    let (partition, account) = parsed
        .as_ref()
        .map_or(("aws", caller.account_id), |a| (a.partition, a.account));
    let region = contact
        .region
        .clone()
        .unwrap_or_else(|| caller.region.to_string());
    let id = uuid::Uuid::new_v4().to_string();
    let channel_arn = arn::channel_arn(partition, &region, account, &contact.alias, &id);
    state.insert_channel(
        channel_arn.clone(),
        contact.arn,
        input.name.unwrap_or_default(),
        channel_type.unwrap_or_default(),
        address.cloned().unwrap_or_default(),
        Some(region),
    );
    // Without DeferActivation the service sends the first code at creation.
    let activation_code = if input.defer_activation == Some(true) {
        None
    } else {
        Some(
            state
                .channel_in_region(&channel_arn, caller.region)?
                .issue_code(),
        )
    };
    let body = json!({ "ContactChannelArn": channel_arn });
    if let Some(token) = input.idempotency_token {
        state.remember(OP, token, body.clone());
    }
    Ok(Done {
        activation_code,
        ..Done::new(body, Some(channel_arn))
    })
}
