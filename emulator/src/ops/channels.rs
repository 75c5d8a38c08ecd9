//! Operations on an existing channel (or a contact's channels).

use serde::Deserialize;
use serde_json::{Value, json};

use super::paging::Window;
use super::request::{Caller, Done};
use crate::model::state::{ActivationStatus, Channel, State};
use crate::model::validate::Check;
use crate::protocol::wire::{AwsError, ValidationReason, WRONG_ACTIVATION_CODE_MESSAGE};

/// Input of the operations that only name a channel.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ChannelIdInput {
    contact_channel_id: Option<String>,
}

impl ChannelIdInput {
    fn checked(&self) -> Result<&str, AwsError> {
        let mut check = Check::default();
        let id = check.required("ContactChannelId", &self.contact_channel_id);
        if let Some(id) = id {
            check.arn("ContactChannelId", id);
        }
        check.finish()?;
        Ok(id.map_or("", String::as_str))
    }
}

pub(super) fn send_activation_code(
    input: ChannelIdInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let arn = input.checked()?;
    let code = state.channel_in_region(arn, caller.region)?.issue_code();
    Ok(Done {
        activation_code: Some(code),
        ..Done::new(json!({}), Some(arn.to_string()))
    })
}

pub(super) fn get_contact_channel(
    input: ChannelIdInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let arn = input.checked()?;
    let channel = state.channel_in_region(arn, caller.region)?;
    Ok(Done::new(channel_shape(channel), Some(arn.to_string())))
}

pub(super) fn delete_channel(
    input: ChannelIdInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let arn = input.checked()?;
    state.channel_in_region(arn, caller.region)?;
    state.remove_channel(arn);
    Ok(Done::new(json!({}), Some(arn.to_string())))
}

/// `GetContactChannelResult`, which is also the `ContactChannel` list item.
fn channel_shape(channel: &Channel) -> Value {
    json!({
        "ContactArn": channel.contact_arn,
        "ContactChannelArn": channel.arn,
        "Name": channel.name,
        "Type": channel.channel_type.as_str(),
        "DeliveryAddress": {"SimpleAddress": channel.delivery_address},
        "ActivationStatus": channel.activation_status,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ActivateInput {
    contact_channel_id: Option<String>,
    activation_code: Option<String>,
}

/// ActivateContactChannel. The code must be the latest one sent (a phone shows only the
/// newest text); a channel already `ACTIVATED` answers success to any well-formed code,
/// as activating it again changes nothing. No log line or answer quotes the code.
pub(super) fn activate(
    input: ActivateInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let mut check = Check::default();
    if let Some(id) = check.required("ContactChannelId", &input.contact_channel_id) {
        check.arn("ContactChannelId", id);
    }
    if let Some(code) = check.required("ActivationCode", &input.activation_code)
        && check.length("ActivationCode", code, 6, 10)
    {
        check.chars("ActivationCode", code, "^[0-9]*$", |c| c.is_ascii_digit());
    }
    check.finish()?;
    let (Some(arn), Some(code)) = (input.contact_channel_id, input.activation_code) else {
        return Err(AwsError::field(
            "ContactChannelId",
            "Member must not be null",
        ));
    };
    let channel = state.channel_in_region(&arn, caller.region)?;
    match channel.activation_status {
        ActivationStatus::Activated => {}
        ActivationStatus::NotActivated if channel.last_code.as_deref() == Some(code.as_str()) => {
            channel.activation_status = ActivationStatus::Activated;
        }
        ActivationStatus::NotActivated => {
            return Err(AwsError::Validation {
                message: WRONG_ACTIVATION_CODE_MESSAGE.into(),
                reason: ValidationReason::Other,
                fields: Vec::new(),
            });
        }
    }
    Ok(Done::new(json!({}), Some(arn)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListChannelsInput {
    contact_id: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub(super) fn list_channels(
    input: ListChannelsInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let mut check = Check::default();
    if let Some(contact) = check.required("ContactId", &input.contact_id) {
        check.arn("ContactId", contact);
    }
    let window = Window::read(&mut check, input.next_token.as_ref(), input.max_results);
    check.finish()?;
    let contact_id = input.contact_id.unwrap_or_default();
    if state
        .contact_in_region(&contact_id, caller.region)
        .is_none()
    {
        return Err(AwsError::ResourceNotFound {
            message: format!("Contact {contact_id} not found in {}.", caller.region),
            resource_id: contact_id,
            resource_type: "CONTACT".into(),
        });
    }
    let (page, next) = window.page(&state.channels_of(&contact_id), channel_shape);
    let mut body = json!({ "ContactChannels": page });
    if let Some(next) = next {
        body["NextToken"] = Value::from(next);
    }
    Ok(Done::new(body, None))
}
