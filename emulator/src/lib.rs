//! A local emulator of AWS SSM Contacts (ssm-contacts 2021-05-03), with the STS AssumeRole
//! its clients use for cross-account calls, for tests and demos.
//!
//! It speaks the real wire protocols on one endpoint, so the unmodified AWS SDK and CLI
//! talk to it: SSM Contacts as awsJson1.1 on `POST /` with `X-Amz-Target:
//! SSMContacts.<Operation>` (errors as `__type` + members with
//! `x-amzn-RequestId`/`x-amzn-ErrorType`), STS as awsQuery (a form-encoded `POST /` with
//! `Action=AssumeRole`, XML answers). Both are SigV4-signed (signing names `ssm-contacts`
//! and `sts`) with a configured long-term key or with temporary credentials the emulator
//! issued (`ASIA...` key plus `X-Amz-Security-Token`).
//!
//! The folders, each using only those listed before it:
//!
//! - `protocol`: the awsJson1.1 wire format (`wire`) and SigV4 (`sigv4`);
//! - `faults`: injected faults, the request-rate quota and seeded random faults (`chaos`);
//! - `model`: what the emulator remembers (`state`, `journal`, `roles`, `sessions`), how
//!   it is set up (`config`), and ARNs and input checks;
//! - `ops`: the SSM Contacts operations; `sts`: STS AssumeRole and its awsQuery shapes;
//! - `calls`: one wire call, from the bytes read to the answer;
//! - `serving`: the accept loop, the admin API and the `RunningEmulator` handle.
//!
//! A wire call flows `serving::server` (hyper accept loop) -> `calls::handler` (read, pick
//! the protocol, `calls::auth` over `sigv4`, faults, quota) -> `ops` (validate with
//! `validate`/`arn`, act on `state`) or `calls::sts_call` (`sts`' AssumeRole against
//! `roles`, issuing `sessions`) -> journal (`calls::call`) -> answer (`wire`, or `sts`'s
//! XML). The `admin` API under `/_emulator/` seeds channels, reads the
//! journal and codes (and activates channels "from the console"), manages assumable roles
//! and STS settings, and injects faults (errors, an HTML 502, a broken body, cut
//! connections, latency), seeded random faults (`chaos`) and a request-rate quota. The
//! journal is a ring of the newest [`EmulatorConfig::journal_capacity`] calls that counts
//! what it let go; each entry names who signed the call (`accessKeyId`, `callerArn`).
//!
//! Implemented operations: SendActivationCode, GetContactChannel, ActivateContactChannel,
//! CreateContact, CreateContactChannel, ListContactChannels, DeleteContactChannel,
//! ListContacts; STS AssumeRole.

#![forbid(unsafe_code)]

mod calls;
pub mod faults;
mod model;
mod ops;
mod protocol;
mod serving;
mod sts;

// The public paths of the modules tests and the operator use.
pub use faults::chaos;
pub use model::config::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCOUNT_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig,
};
pub use model::journal::DEFAULT_JOURNAL_CAPACITY;
pub use model::{journal, roles, sessions, state};
pub use protocol::{sigv4, wire};
pub use serving::admin;
pub use serving::running::RunningEmulator;
