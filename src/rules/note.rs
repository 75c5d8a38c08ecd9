//! What an Event says about a call: its type, reason and the call it reports on. Rules
//! decide notes; [`crate::reconcile::events`] publishes them.

use crate::api::reason::Reason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event to publish along with a status write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: Reason,
    /// What the Event's `action` names: the call whose outcome it reports.
    pub call: Call,
    pub message: String,
}

/// The call an Event reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    SendActivationCode,
    GetContactChannel,
    ActivateContactChannel,
    AssumeRole,
    /// Reading the object itself from the API server.
    ReadObject,
}

impl Call {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SendActivationCode => "SendActivationCode",
            Self::GetContactChannel => "GetContactChannel",
            Self::ActivateContactChannel => "ActivateContactChannel",
            Self::AssumeRole => "AssumeRole",
            Self::ReadObject => "ReadObject",
        }
    }
}
