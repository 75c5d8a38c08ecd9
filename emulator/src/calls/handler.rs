//! One wire call: read -> pick the protocol (an awsQuery call goes to `sts_call`) ->
//! authenticate (`auth`) -> authorize the account -> injected fault or chaos (applied by
//! `fault_effects`) -> quota -> operation -> journal -> answer (or cut the connection).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Bytes, to_bytes};
use axum::extract::{Extension, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::calls::app::App;
use crate::calls::auth;
use crate::calls::call::Call;
use crate::calls::connection::ConnectionControl;
use crate::calls::fault_effects::{self, Answer};
use crate::calls::sts_call;
use crate::faults::injected::FaultSpec;
use crate::model::journal::OUTCOME_OK;
use crate::ops::{self, Caller, Done};
use crate::protocol::wire::{self, AwsError, Operation, TARGET_PREFIX};

/// Larger bodies are refused; no SSM Contacts input comes near it.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The signing name of the service.
const SIGNING_NAME: &str = "ssm-contacts";

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
    if !parts.headers.contains_key("x-amz-target") && sts_call::is_query_call(&parts.headers, &body)
    {
        return sts_call::call(&app, connection, &parts, &body, call).await;
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
    if let Some(response) =
        fault_effects::before_operation(&app, &mut call, &connection, fault.as_ref()).await
    {
        return response;
    }
    if let Some(error) = fault
        .as_ref()
        .and_then(|spec| spec.aws_error(call.channel_arn.as_deref()))
    {
        return app.answer_error(&call, &error);
    }

    // The quota counts SendActivationCode calls that reach the service (past faults).
    if operation == Operation::SendActivationCode {
        let region = call.region.clone().unwrap_or_default();
        // The state's lock is held for the bucket alone: answering takes it again.
        let throttled = {
            let mut state = app.state();
            let state = &mut *state;
            let bucket = match state.region_quotas.get_mut(&region) {
                Some(bucket) => Some(bucket),
                None => state.quota.as_mut(),
            };
            bucket.and_then(|bucket| {
                (!bucket.try_take(Instant::now())).then(|| bucket.quota.throttled())
            })
        };
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
    let answer = || answer_of(&result);
    if let Some(response) =
        fault_effects::after_operation(&app, &call, &connection, fault.as_ref(), answer).await
    {
        return response;
    }
    match result {
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
    }
}

/// What the operation answered, as a fault that acts on the answer sees it.
fn answer_of(result: &Result<Done, AwsError>) -> Answer {
    let (outcome, status, body, activation_code) = match result {
        Ok(done) => (
            OUTCOME_OK,
            StatusCode::OK,
            done.body.to_string(),
            done.activation_code.clone(),
        ),
        Err(error) => (
            error.type_name(),
            error.status(),
            error.body().to_string(),
            None,
        ),
    };
    Answer {
        outcome,
        status,
        body,
        content_type: wire::CONTENT_TYPE,
        activation_code,
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

impl App {
    fn answer_error(&self, call: &Call, error: &AwsError) -> Response {
        self.record(call, error.type_name(), Some(error.status()), false, None);
        error.to_response(&call.request_id)
    }
}
