//! The admin API: plain JSON over HTTP under `/_emulator/`, no signature, camelCase.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /_emulator/healthz` | 200 while serving |
//! | `POST /_emulator/channels` | seed a channel ([`SeedChannel`]) -> 201 [`Channel`]; 409 if the ARN exists |
//! | `GET /_emulator/channels` | every [`Channel`] with `codesSent` and `lastCode` |
//! | `GET /_emulator/channels/{arn}/code` | the channel's latest code ([`ChannelCode`]); 404 if unknown |
//! | `POST /_emulator/channels/{arn}/activate` | set `ACTIVATED` "from the console" (no code) -> [`Channel`]; 404 if unknown |
//! | `POST /_emulator/channels/{arn}/deactivate` | set `NOT_ACTIVATED` -> [`Channel`]; 404 if unknown |
//! | `GET /_emulator/journal?operation=&channel=&afterSeq=` | the kept wire calls in order ([`JournalEntry`]); header `x-emulator-journal-dropped` |
//! | `GET /_emulator/journal/stats` | [`JournalStats`]: capacity, retained, recorded, dropped |
//! | `POST /_emulator/faults` | inject a [`FaultSpec`] -> 201 `{"id"}` |
//! | `GET /_emulator/faults` | the faults in force ([`ActiveFault`]) |
//! | `DELETE /_emulator/faults[/{id}]` | clear all faults, or one |
//! | `POST /_emulator/chaos` | start seeded random faults ([`ChaosSpec`]) -> [`ChaosStatus`] |
//! | `GET /_emulator/chaos` | the [`ChaosStatus`] in force, or `null` |
//! | `DELETE /_emulator/chaos` | stop chaos -> its last [`ChaosStatus`], or `null` |
//! | `PUT /_emulator/quota` | a [`Quota`] over SendActivationCode calls; `GET` shows it, `DELETE` removes it |
//! | `GET /_emulator/roles` | the role ARNs STS AssumeRole accepts, sorted |
//! | `PUT /_emulator/roles` | make a role assumable ([`RoleArnParam`]) -> 201 (200 if it was); 400 if not a role ARN |
//! | `DELETE /_emulator/roles?arn=` | make a role unassumable -> 204; 404 if it was not assumable |
//! | `GET /_emulator/sts` | the [`StsSettings`] in force |
//! | `PUT /_emulator/sts` | change some [`StsSettings`] ([`StsSettingsUpdate`]) -> the new settings; 400 out of range |
//! | `POST /_emulator/reset` | forget channels, contacts, journal, faults, chaos and quota; start-up roles and STS settings back (issued credentials stay valid) |
//!
//! In channel routes the ARN goes in the path as it is or percent-encoded (`%2F` for its
//! slashes; [`AdminClient`] encodes it); the last path segment is the action.
//!
//! This file only declares and re-exports: `api` holds the admin API's own shapes, which
//! `routes` (the server side, over the emulator's state) and `client` share.

mod api;
mod client;
pub(crate) mod routes;

pub use crate::faults::chaos::{ChaosError, ChaosOutcome, ChaosSpec, ChaosStatus, ChaosTally};
pub use crate::faults::injected::{ActiveFault, FaultKind, FaultSpec, Quota};
pub use crate::model::journal::{
    JournalEntry, JournalFilter, JournalStats, OUTCOME_ABANDONED, OUTCOME_DROPPED, OUTCOME_OK,
};
pub use crate::model::sessions::{StsSettings, StsSettingsUpdate};
pub use crate::model::state::{
    ActivationStatus, Channel, ChannelCode, ChannelType, SeedChannel, UnknownChannel,
};
pub use api::{FaultId, JOURNAL_DROPPED_HEADER, RoleArnParam};
pub use client::{AdminClient, AdminError};
