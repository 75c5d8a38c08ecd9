//! The admin API: plain JSON over HTTP under `/_emulator/`, no signature, camelCase.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /_emulator/healthz` | 200 while serving |
//! | `POST /_emulator/channels` | seed a channel ([`SeedChannel`]) -> 201 [`Channel`]; 409 if the ARN exists |
//! | `GET /_emulator/channels` | every [`Channel`] with `codesSent` and `lastCode` |
//! | `GET /_emulator/journal?operation=&channel=&afterSeq=` | wire calls in order ([`JournalEntry`]) |
//! | `POST /_emulator/faults` | inject a [`FaultSpec`] -> 201 `{"id"}` |
//! | `GET /_emulator/faults` | the faults in force ([`ActiveFault`]) |
//! | `DELETE /_emulator/faults[/{id}]` | clear all faults, or one |
//! | `PUT /_emulator/quota` | a [`Quota`] over SendActivationCode calls; `GET` shows it, `DELETE` removes it |
//! | `POST /_emulator/reset` | forget channels, contacts, journal, faults and quota |

mod client;
pub(crate) mod routes;

pub use crate::faults::{ActiveFault, FaultKind, FaultSpec, Quota};
pub use crate::state::{
    ActivationStatus, Channel, ChannelType, JournalEntry, JournalFilter, OUTCOME_DROPPED,
    OUTCOME_OK, SeedChannel,
};
pub use client::{AdminClient, AdminError};

/// Answer of `POST /_emulator/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultId {
    pub id: u64,
}
