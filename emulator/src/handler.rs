//! One wire call: read -> pick the protocol (an awsQuery call goes to `sts`) ->
//! authenticate (`auth`) -> authorize the account -> injected fault or chaos -> quota ->
//! operation -> journal -> answer (or cut the connection).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Bytes, to_bytes};
use axum::extract::{Extension, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::App;
use crate::auth;
use crate::connection::ConnectionControl;
use crate::faults::{self, FaultKind, FaultSpec};
use crate::journal::{JournalEntry, OUTCOME_ABANDONED, OUTCOME_DROPPED, OUTCOME_OK};
use crate::ops::{self, Caller, Done};
use crate::sts;
use crate::wire::{self, AwsError, Operation, TARGET_PREFIX};

/// Larger bodies are refused; no SSM Contacts input comes near it.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The signing name of the service.
const SIGNING_NAME: &str = "ssm-contacts";
pub(crate) const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
     <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

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

/// The axum handler for everything outside `/_emulator/`.
pub(crate) async fn wire_call(
    State(app): State<Arc<App>>,
    Extension(connection): Extension<ConnectionControl>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let mut call = Call {
        request_id: uuid::Uuid::new_v4().to_string(),
        operation: target
            .strip_prefix(TARGET_PREFIX)
            .unwrap_or(target)
            .to_string(),
        ..Call::default()
    };
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            // Answered in awsJson even to an STS caller: no real client sends a megabyte.
            let error = AwsError::Serialization {
                message: format!("The request body could not be read: {e}"),
            };
            return app.answer_error(&call, &error);
        }
    };
    if !parts.headers.contains_key("x-amz-target") && sts::is_query_call(&parts.headers, &body) {
        return sts::call(&app, connection, &parts, &body, call).await;
    }
    call.channel_arn = peek_channel(&body);

    let principal = match auth::authenticate(&app, SIGNING_NAME, &parts, &body) {
        Ok(principal) => principal,
        Err(rejected) => {
            call.region = rejected.region;
            call.access_key_id = rejected.access_key_id;
            return app.answer_error(&call, &rejected.error);
        }
    };
    call.region = Some(principal.region.clone());
    call.access_key_id = Some(principal.access_key_id.clone());
    call.caller_arn = Some(principal.identity.arn().to_string());
    let operation = match Operation::from_name(&call.operation) {
        Some(op) if parts.method == Method::POST && parts.uri.path() == "/" => op,
        _ => {
            let error = AwsError::UnknownOperation {
                message: format!(
                    "The emulator serves POST / with X-Amz-Target {TARGET_PREFIX}<Operation> for \
                     {}; got {} {} with target '{target}'.",
                    Operation::ALL.map(Operation::name).join(", "),
                    parts.method,
                    parts.uri.path()
                ),
            };
            return app.answer_error(&call, &error);
        }
    };
    // IAM decides before the service does: a call on another account's resource never
    // reaches faults, quota or the operation.
    let strict_accounts = app.state().sts.current.strict_accounts;
    if let Err(error) = auth::authorize(&principal.identity, strict_accounts, operation, &body) {
        return app.answer_error(&call, &error);
    }

    let (fault, chaos_draw) = pick_fault(&app, operation.name(), call.channel_arn.as_deref());
    call.chaos_draw = chaos_draw;
    if let Some(spec) = &fault {
        call.fault = Some(
            spec.error
                .map_or_else(|| "latency".to_string(), |kind| format!("{kind:?}")),
        );
        if let Some(delay) = faults::latency(spec) {
            hold(&app, &call, delay).await;
        }
    }
    let kind = fault.as_ref().and_then(|spec| spec.error);
    match (kind, &fault) {
        (Some(FaultKind::DropBeforeProcessing), _) => {
            app.record(&call, OUTCOME_DROPPED, None, false, None);
            return connection.cut_now().await;
        }
        (Some(FaultKind::Html502), Some(spec)) => {
            let status = status_or(spec, StatusCode::BAD_GATEWAY);
            app.record(&call, "Html502", Some(status), false, None);
            // A proxy's page: no request id, not JSON.
            return wire::raw_response(status, "text/html", BAD_GATEWAY_PAGE.into(), None);
        }
        (Some(_), Some(spec)) => {
            if let Some(error) = spec.aws_error(call.channel_arn.as_deref()) {
                return app.answer_error(&call, &error);
            }
        }
        _ => {}
    }

    // The quota counts SendActivationCode calls that reach the service (past faults).
    if operation == Operation::SendActivationCode {
        let throttled = app.state().quota.as_mut().and_then(|bucket| {
            (!bucket.try_take(Instant::now())).then(|| bucket.quota.throttled())
        });
        if let Some(error) = throttled {
            return app.answer_error(&call, &error);
        }
    }

    // Resources a call creates belong to the caller's account (the role's, for
    // temporary credentials).
    let caller = Caller {
        region: call.region.as_deref().unwrap_or(""),
        account_id: principal.identity.account(),
    };
    let result = ops::run(operation, &body, &caller, &mut app.state());
    if let Ok(done) = &result
        && done.channel_arn.is_some()
    {
        call.channel_arn.clone_from(&done.channel_arn);
    }
    match (kind, fault) {
        (Some(FaultKind::DropAfterProcessing), _) => {
            let (outcome, code) = outcome_of(&result);
            app.record(&call, &outcome, None, true, code);
            connection.cut_now().await
        }
        (Some(FaultKind::MalformedJson), Some(spec)) => {
            let (outcome, code) = outcome_of(&result);
            let (status, body) = match &result {
                Ok(done) => (status_or(&spec, StatusCode::OK), done.body.to_string()),
                Err(error) => (status_or(&spec, error.status()), error.body().to_string()),
            };
            app.record(&call, &outcome, Some(status), false, code);
            // Cut on bytes: half of a multi-byte character is as broken as the rest.
            let broken = String::from_utf8_lossy(&body.as_bytes()[..body.len() / 2]).into_owned();
            wire::raw_response(status, wire::CONTENT_TYPE, broken, Some(&call.request_id))
        }
        _ => match result {
            Ok(done) => {
                app.record(
                    &call,
                    OUTCOME_OK,
                    Some(StatusCode::OK),
                    false,
                    done.activation_code,
                );
                wire::json_response(StatusCode::OK, &done.body, &call.request_id)
            }
            Err(error) => app.answer_error(&call, &error),
        },
    }
}

pub(crate) fn status_or(spec: &FaultSpec, default: StatusCode) -> StatusCode {
    spec.http_status
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(default)
}

fn outcome_of(result: &Result<Done, AwsError>) -> (String, Option<String>) {
    match result {
        Ok(done) => (OUTCOME_OK.to_string(), done.activation_code.clone()),
        Err(error) => (error.type_name().to_string(), None),
    }
}

/// The channel a call is about, read leniently before validation so faults can match it.
fn peek_channel(body: &Bytes) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("ContactChannelId")?.as_str().map(String::from)
}

/// The fault for a call: the oldest matching injected fault, else chaos's decision (with
/// its draw number). Injected faults win so a test can script a call in a chaos run, and
/// such calls use no draw.
fn pick_fault(
    app: &App,
    operation: &str,
    channel_arn: Option<&str>,
) -> (Option<FaultSpec>, Option<u64>) {
    let mut state = app.state();
    if let Some(spec) = state.faults.take(operation, channel_arn) {
        return (Some(spec), None);
    }
    match state.chaos.as_mut().and_then(|chaos| chaos.draw(operation)) {
        Some(decision) => (decision.fault(), Some(decision.draw)),
        None => (None, None),
    }
}

/// Holds the call for a latency fault, before anything is done. A client that gives up
/// closes its connection; hyper notices the end of input mid-call, ends the connection and
/// drops this future during the sleep. The guard then journals the call as `abandoned`:
/// the operation never ran, so nothing was sent, however long the delay would have been.
pub(crate) async fn hold(app: &App, call: &Call, delay: Duration) {
    let mut guard = AbandonedIfDropped {
        app,
        call,
        armed: true,
    };
    tokio::time::sleep(delay).await;
    guard.armed = false;
}

/// Journals a held call whose future was dropped before the hold ended.
struct AbandonedIfDropped<'a> {
    app: &'a App,
    call: &'a Call,
    armed: bool,
}

impl Drop for AbandonedIfDropped<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.app
                .record(self.call, OUTCOME_ABANDONED, None, false, None);
        }
    }
}

impl App {
    fn answer_error(&self, call: &Call, error: &AwsError) -> Response {
        self.record(call, error.type_name(), Some(error.status()), false, None);
        error.to_response(&call.request_id)
    }

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
