//! ListContacts: the caller's contacts in the called region, filtered and paged.

use serde::Deserialize;
use serde_json::{Value, json};

use super::paging::Window;
use super::request::{Caller, Done};
use crate::model::state::{Contact, State};
use crate::model::validate::{Check, is_alias_char};
use crate::protocol::wire::AwsError;

/// The model's `ContactType` values.
pub(super) const CONTACT_TYPES: [&str; 3] = ["PERSONAL", "ESCALATION", "ONCALL_SCHEDULE"];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListContactsInput {
    next_token: Option<String>,
    max_results: Option<i64>,
    alias_prefix: Option<String>,
    #[serde(rename = "Type")]
    contact_type: Option<String>,
}

/// Contacts of the caller's account visible from the caller's region, in ARN order;
/// `AliasPrefix` and `Type` filter before paging, so a token stays valid for one filter.
pub(super) fn list_contacts(
    input: ListContactsInput,
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    let mut check = Check::default();
    let window = Window::read(&mut check, input.next_token.as_ref(), input.max_results);
    if let Some(prefix) = &input.alias_prefix
        && check.length("AliasPrefix", prefix, 1, 255)
    {
        check.chars("AliasPrefix", prefix, r"^[a-z0-9_\-]*$", is_alias_char);
    }
    if let Some(kind) = &input.contact_type {
        check.one_of("Type", kind, &CONTACT_TYPES);
    }
    check.finish()?;
    let matching: Vec<&Contact> = state
        .contacts_in(caller.account_id, caller.region)
        .into_iter()
        .filter(|c| {
            input
                .alias_prefix
                .as_deref()
                .is_none_or(|p| c.alias.starts_with(p))
        })
        .filter(|c| {
            input
                .contact_type
                .as_deref()
                .is_none_or(|t| c.contact_type == t)
        })
        .collect();
    let (page, next) = window.page(&matching, |contact| contact_shape(contact));
    let mut body = json!({ "Contacts": page });
    if let Some(next) = next {
        body["NextToken"] = Value::from(next);
    }
    Ok(Done::new(body, None))
}

/// The model's `Contact` list item (`DisplayName` only when the contact has one).
fn contact_shape(contact: &Contact) -> Value {
    let mut shape = json!({
        "ContactArn": contact.arn,
        "Alias": contact.alias,
        "Type": contact.contact_type,
    });
    if let Some(name) = &contact.display_name {
        shape["DisplayName"] = Value::from(name.as_str());
    }
    shape
}
