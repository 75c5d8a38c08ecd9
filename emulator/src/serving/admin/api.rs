//! The admin API's own request and answer shapes (the rest are the state's types), shared
//! by the routes and the client.

/// Header of `GET /_emulator/journal` with how many entries the ring has let go.
pub const JOURNAL_DROPPED_HEADER: &str = "x-emulator-journal-dropped";

/// A role, as `PUT /_emulator/roles` takes it and `DELETE /_emulator/roles?arn=` names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleArnParam {
    pub arn: String,
}

/// Answer of `POST /_emulator/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultId {
    pub id: u64,
}
