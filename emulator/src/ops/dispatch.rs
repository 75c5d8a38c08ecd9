//! Runs an operation: picks the function for it and parses its input.

use super::request::{Caller, Done};
use super::{channels, contacts, create};
use crate::model::state::State;
use crate::model::validate::parse_input;
use crate::protocol::wire::{AwsError, Operation};

/// Runs `op` on `body` (already authenticated).
pub fn run(
    op: Operation,
    body: &[u8],
    caller: &Caller,
    state: &mut State,
) -> Result<Done, AwsError> {
    match op {
        Operation::SendActivationCode => {
            channels::send_activation_code(parse_input(body)?, caller, state)
        }
        Operation::GetContactChannel => {
            channels::get_contact_channel(parse_input(body)?, caller, state)
        }
        Operation::ActivateContactChannel => channels::activate(parse_input(body)?, caller, state),
        Operation::CreateContact => create::create_contact(parse_input(body)?, caller, state),
        Operation::CreateContactChannel => {
            create::create_channel(parse_input(body)?, caller, state)
        }
        Operation::ListContactChannels => {
            channels::list_channels(parse_input(body)?, caller, state)
        }
        Operation::DeleteContactChannel => {
            channels::delete_channel(parse_input(body)?, caller, state)
        }
        Operation::ListContacts => contacts::list_contacts(parse_input(body)?, caller, state),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::state::SeedChannel;
    use crate::ops::dispatch::*;
    use crate::protocol::wire::ValidationReason;
    use serde_json::{Value, json};

    const EAST: Caller<'static> = Caller {
        region: "us-east-1",
        account_id: "123456789012",
    };

    fn call(op: Operation, body: Value, state: &mut State) -> Result<Done, AwsError> {
        run(op, body.to_string().as_bytes(), &EAST, state)
    }

    /// Create a contact and a channel, get it, activate it with the latest code, list, delete.
    #[test]
    fn channel_lifecycle() {
        let mut state = State::default();
        let contact = call(
            Operation::CreateContact,
            json!({"Alias": "ops", "Type": "PERSONAL", "Plan": {"Stages": []}, "IdempotencyToken": "t1"}),
            &mut state,
        )
        .expect("contact");
        let contact_arn = contact.body["ContactArn"]
            .as_str()
            .expect("arn")
            .to_string();
        assert_eq!(
            contact_arn,
            "arn:aws:ssm-contacts:us-east-1:123456789012:contact/ops"
        );
        let again = call(
            Operation::CreateContact,
            json!({"Alias": "ops", "Type": "PERSONAL", "Plan": {}, "IdempotencyToken": "t1"}),
            &mut state,
        );
        assert_eq!(again.expect("idempotent").body, contact.body);
        let conflict = call(
            Operation::CreateContact,
            json!({"Alias": "ops", "Type": "PERSONAL", "Plan": {}}),
            &mut state,
        );
        assert_eq!(
            conflict.err().map(|e| e.type_name()),
            Some("ConflictException")
        );

        let created = call(
            Operation::CreateContactChannel,
            json!({"ContactId": contact_arn, "Name": "phone", "Type": "SMS",
                   "DeliveryAddress": {"SimpleAddress": "+15555550100"}, "DeferActivation": true}),
            &mut state,
        )
        .expect("channel");
        assert_eq!(created.activation_code, None);
        let arn = created.channel_arn.expect("arn");
        assert!(
            arn.starts_with("arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/ops/")
        );

        let sent = call(
            Operation::SendActivationCode,
            json!({"ContactChannelId": arn}),
            &mut state,
        )
        .expect("sent");
        assert_eq!(sent.body, json!({}));
        let code = sent.activation_code.expect("code");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let refused = call(
            Operation::ActivateContactChannel,
            json!({"ContactChannelId": arn, "ActivationCode": wrong}),
            &mut state,
        );
        assert_eq!(
            refused.err().map(|e| e.type_name()),
            Some("ValidationException")
        );
        call(
            Operation::ActivateContactChannel,
            json!({"ContactChannelId": arn, "ActivationCode": code}),
            &mut state,
        )
        .expect("activated");
        let got = call(
            Operation::GetContactChannel,
            json!({"ContactChannelId": arn}),
            &mut state,
        )
        .expect("get");
        assert_eq!(
            got.body,
            json!({"ContactArn": contact_arn, "ContactChannelArn": arn, "Name": "phone",
                   "Type": "SMS", "DeliveryAddress": {"SimpleAddress": "+15555550100"},
                   "ActivationStatus": "ACTIVATED"})
        );
        let listed = call(
            Operation::ListContactChannels,
            json!({"ContactId": contact_arn}),
            &mut state,
        )
        .expect("list");
        assert_eq!(
            listed.body["ContactChannels"].as_array().map(Vec::len),
            Some(1)
        );
        call(
            Operation::DeleteContactChannel,
            json!({"ContactChannelId": arn}),
            &mut state,
        )
        .expect("deleted");
        let gone = call(
            Operation::GetContactChannel,
            json!({"ContactChannelId": arn}),
            &mut state,
        );
        assert_eq!(
            gone.err().map(|e| e.type_name()),
            Some("ResourceNotFoundException")
        );
    }

    /// A channel is not found from another region; bad input is a field validation error.
    #[test]
    fn region_and_validation() {
        let mut state = State::default();
        let channel = state
            .seed_channel(SeedChannel::in_region("eu-west-1"), "1")
            .expect("seed");
        let elsewhere = call(
            Operation::SendActivationCode,
            json!({"ContactChannelId": channel.arn}),
            &mut state,
        );
        match elsewhere {
            Err(AwsError::ResourceNotFound {
                resource_id,
                resource_type,
                ..
            }) => {
                assert_eq!(resource_id, channel.arn);
                assert_eq!(resource_type, "CONTACT_CHANNEL");
            }
            other => panic!("unexpected {other:?}"),
        }
        for body in [
            json!({}),
            json!({"ContactChannelId": ""}),
            json!({"ContactChannelId": "arn:aws:sns:us-east-1:1:topic"}),
            json!({"ContactChannelId": "x".repeat(2049)}),
        ] {
            match call(Operation::SendActivationCode, body.clone(), &mut state) {
                Err(AwsError::Validation { reason, fields, .. }) => {
                    assert_eq!(reason, ValidationReason::FieldValidationFailed);
                    assert_eq!(fields[0].name, "ContactChannelId", "{body}");
                }
                other => panic!("{body}: unexpected {other:?}"),
            }
        }
        let bad_code = call(
            Operation::ActivateContactChannel,
            json!({"ContactChannelId": channel.arn, "ActivationCode": "12ab5"}),
            &mut state,
        );
        assert!(matches!(bad_code, Err(AwsError::Validation { .. })));
        let bad_address = call(
            Operation::CreateContactChannel,
            json!({"ContactId": channel.contact_arn, "Name": "x", "Type": "EMAIL",
                   "DeliveryAddress": {"SimpleAddress": "not-an-email"}}),
            &mut state,
        );
        match bad_address {
            Err(AwsError::Validation { fields, .. }) => {
                assert_eq!(fields[0].name, "DeliveryAddress.SimpleAddress");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Only the latest code activates (an earlier one is the wrong code, whose message
    /// never quotes it); an ACTIVATED channel answers success again, to any code; a seed
    /// can start ACTIVATED; an unknown channel is ResourceNotFoundException.
    #[test]
    fn activation_semantics() {
        let mut state = State::default();
        let arn = state
            .seed_channel(SeedChannel::default(), "123456789012")
            .expect("seed")
            .arn;
        let activate = |state: &mut State, code: &str| {
            call(
                Operation::ActivateContactChannel,
                json!({"ContactChannelId": arn, "ActivationCode": code}),
                state,
            )
        };
        match activate(&mut state, "123456") {
            Err(AwsError::Validation {
                message,
                reason,
                fields,
            }) => {
                assert_eq!(
                    message,
                    crate::protocol::wire::WRONG_ACTIVATION_CODE_MESSAGE
                );
                assert_eq!(reason, ValidationReason::Other);
                assert!(fields.is_empty());
            }
            other => panic!("no code sent yet: {other:?}"),
        }
        let send = |state: &mut State| {
            call(
                Operation::SendActivationCode,
                json!({"ContactChannelId": arn}),
                state,
            )
            .expect("sent")
            .activation_code
            .expect("code")
        };
        let first = send(&mut state);
        let mut latest = send(&mut state);
        while latest == first {
            latest = send(&mut state);
        }
        let refused = activate(&mut state, &first).expect_err("earlier code");
        assert!(!refused.to_string().contains(&first), "{refused}");
        let got = call(
            Operation::GetContactChannel,
            json!({"ContactChannelId": arn}),
            &mut state,
        )
        .expect("get");
        assert_eq!(got.body["ActivationStatus"], "NOT_ACTIVATED");

        let done = activate(&mut state, &latest).expect("latest code");
        assert_eq!(done.body, json!({}));
        assert_eq!(done.activation_code, None, "activation journals no code");
        activate(&mut state, &latest).expect("again with the same code");
        activate(&mut state, "0000000000").expect("already ACTIVATED: any code");

        let mut seeded = SeedChannel::in_region("us-east-1").activated();
        seeded.contact_alias = Some("other".into());
        let seeded = state.seed_channel(seeded, "123456789012").expect("seed");
        let got = call(
            Operation::GetContactChannel,
            json!({"ContactChannelId": seeded.arn}),
            &mut state,
        )
        .expect("get");
        assert_eq!(got.body["ActivationStatus"], "ACTIVATED");

        let unknown = call(
            Operation::ActivateContactChannel,
            json!({"ContactChannelId": "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/x/y",
                   "ActivationCode": "123456"}),
            &mut state,
        );
        assert_eq!(
            unknown.err().map(|e| e.type_name()),
            Some("ResourceNotFoundException")
        );
        for bad in ["12345", "12345678901", "12345a", "１２３４５６", ""] {
            match activate(&mut state, bad) {
                Err(AwsError::Validation { reason, fields, .. }) => {
                    assert_eq!(reason, ValidationReason::FieldValidationFailed, "{bad}");
                    assert_eq!(fields[0].name, "ActivationCode", "{bad}");
                }
                other => panic!("{bad:?}: unexpected {other:?}"),
            }
        }
    }

    /// Creation without DeferActivation sends the first code; lists page with NextToken.
    #[test]
    fn creation_sends_a_code_and_lists_page() {
        let mut state = State::default();
        call(
            Operation::CreateContact,
            json!({"Alias": "team", "Type": "PERSONAL", "Plan": {}}),
            &mut state,
        )
        .expect("contact");
        let contact = "arn:aws:ssm-contacts:us-east-1:123456789012:contact/team";
        for i in 0..3 {
            let done = call(
                Operation::CreateContactChannel,
                json!({"ContactId": contact, "Name": format!("mail {i}"), "Type": "EMAIL",
                       "DeliveryAddress": {"SimpleAddress": "a@example.com"}}),
                &mut state,
            )
            .expect("channel");
            assert!(done.activation_code.is_some());
        }
        let first = call(
            Operation::ListContactChannels,
            json!({"ContactId": contact, "MaxResults": 2}),
            &mut state,
        )
        .expect("page 1");
        assert_eq!(
            first.body["ContactChannels"].as_array().map(Vec::len),
            Some(2)
        );
        let token = first.body["NextToken"].as_str().expect("token").to_string();
        let second = call(
            Operation::ListContactChannels,
            json!({"ContactId": contact, "MaxResults": 2, "NextToken": token}),
            &mut state,
        )
        .expect("page 2");
        assert_eq!(second.body["ContactChannels"][0]["Name"], "mail 2");
        assert!(second.body.get("NextToken").is_none());
    }

    /// ListContacts: the caller's account and region only, in ARN order, filtered by
    /// alias prefix and type, paged with NextToken; bad members are field violations.
    #[test]
    fn list_contacts_scopes_filters_and_pages() {
        let mut state = State::default();
        for (alias, kind, region) in [
            ("team-b", "ESCALATION", "us-east-1"),
            ("team-a", "PERSONAL", "us-east-1"),
            ("ops", "PERSONAL", "us-east-1"),
            ("team-c", "PERSONAL", "eu-west-1"),
        ] {
            let caller = Caller {
                region,
                account_id: "123456789012",
            };
            let body = json!({"Alias": alias, "DisplayName": format!("The {alias}"),
                              "Type": kind, "Plan": {}});
            run(
                Operation::CreateContact,
                body.to_string().as_bytes(),
                &caller,
                &mut state,
            )
            .expect("contact");
        }
        let other_account = Caller {
            region: "us-east-1",
            account_id: "210987654321",
        };
        let body = json!({"Alias": "theirs", "Type": "PERSONAL", "Plan": {}});
        run(
            Operation::CreateContact,
            body.to_string().as_bytes(),
            &other_account,
            &mut state,
        )
        .expect("other account");

        let all = call(Operation::ListContacts, json!({}), &mut state).expect("list");
        assert_eq!(
            all.body,
            json!({"Contacts": [
                {"ContactArn": "arn:aws:ssm-contacts:us-east-1:123456789012:contact/ops",
                 "Alias": "ops", "DisplayName": "The ops", "Type": "PERSONAL"},
                {"ContactArn": "arn:aws:ssm-contacts:us-east-1:123456789012:contact/team-a",
                 "Alias": "team-a", "DisplayName": "The team-a", "Type": "PERSONAL"},
                {"ContactArn": "arn:aws:ssm-contacts:us-east-1:123456789012:contact/team-b",
                 "Alias": "team-b", "DisplayName": "The team-b", "Type": "ESCALATION"},
            ]})
        );

        let first = call(
            Operation::ListContacts,
            json!({"AliasPrefix": "team", "MaxResults": 1}),
            &mut state,
        )
        .expect("page 1");
        assert_eq!(first.body["Contacts"][0]["Alias"], "team-a");
        let token = first.body["NextToken"].as_str().expect("token").to_string();
        let second = call(
            Operation::ListContacts,
            json!({"AliasPrefix": "team", "MaxResults": 1, "NextToken": token}),
            &mut state,
        )
        .expect("page 2");
        assert_eq!(second.body["Contacts"][0]["Alias"], "team-b");
        assert!(second.body.get("NextToken").is_none());

        let escalations = call(
            Operation::ListContacts,
            json!({"Type": "ESCALATION"}),
            &mut state,
        )
        .expect("by type");
        assert_eq!(
            escalations.body["Contacts"].as_array().map(Vec::len),
            Some(1)
        );

        for (body, field) in [
            (json!({"MaxResults": 1025}), "MaxResults"),
            (json!({"MaxResults": -1}), "MaxResults"),
            (json!({"AliasPrefix": ""}), "AliasPrefix"),
            (json!({"AliasPrefix": "Team"}), "AliasPrefix"),
            (json!({"AliasPrefix": "a".repeat(256)}), "AliasPrefix"),
            (json!({"Type": "TEAM"}), "Type"),
            (json!({"NextToken": "not a token"}), "NextToken"),
        ] {
            match call(Operation::ListContacts, body.clone(), &mut state) {
                Err(AwsError::Validation { reason, fields, .. }) => {
                    assert_eq!(reason, ValidationReason::FieldValidationFailed, "{body}");
                    assert_eq!(fields[0].name, field, "{body}");
                }
                other => panic!("{body}: unexpected {other:?}"),
            }
        }
        let wrong_type = call(
            Operation::ListContacts,
            json!({"MaxResults": "2"}),
            &mut state,
        );
        assert_eq!(
            wrong_type.err().map(|e| e.type_name()),
            Some("SerializationException")
        );
    }
}
