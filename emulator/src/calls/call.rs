//! What the journal says about one wire call, filled in as the call progresses, and
//! writing it down (to the journal and the log) when the call ends.

use axum::http::StatusCode;

use crate::calls::app::App;
use crate::model::journal::JournalEntry;

/// What the journal will say about the call, filled in as it progresses.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub request_id: String,
    pub operation: String,
    pub channel_arn: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// Who signed it, once authenticated.
    pub caller_arn: Option<String>,
    /// AssumeRole's parameters and the key it issued.
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub issued_access_key_id: Option<String>,
    pub fault: Option<String>,
    pub chaos_draw: Option<u64>,
}

impl App {
    /// Journals and logs `call` with its outcome; every call ends here exactly once.
    pub(crate) fn record(
        &self,
        call: &Call,
        outcome: &str,
        status: Option<StatusCode>,
        connection_dropped: bool,
        activation_code: Option<String>,
    ) {
        tracing::info!(
            operation = %call.operation,
            channel = call.channel_arn.as_deref().unwrap_or("-"),
            region = call.region.as_deref().unwrap_or("-"),
            access_key_id = call.access_key_id.as_deref().unwrap_or("-"),
            caller = call.caller_arn.as_deref().unwrap_or("-"),
            role = call.role_arn.as_deref(),
            issued_access_key_id = call.issued_access_key_id.as_deref(),
            outcome,
            status = status.map(|s| s.as_u16()),
            connection_dropped,
            fault = call.fault.as_deref(),
            chaos_draw = call.chaos_draw,
            request_id = %call.request_id,
            "wire call"
        );
        self.state().record(JournalEntry {
            seq: 0,
            time: jiff::Timestamp::now(),
            operation: call.operation.clone(),
            channel_arn: call.channel_arn.clone(),
            region: call.region.clone(),
            access_key_id: call.access_key_id.clone(),
            caller_arn: call.caller_arn.clone(),
            role_arn: call.role_arn.clone(),
            role_session_name: call.role_session_name.clone(),
            issued_access_key_id: call.issued_access_key_id.clone(),
            outcome: outcome.to_string(),
            http_status: status.map(|s| s.as_u16()),
            request_id: call.request_id.clone(),
            connection_dropped,
            fault: call.fault.clone(),
            chaos_draw: call.chaos_draw,
            activation_code,
        });
    }
}
