//! STS over the awsQuery protocol, on the same endpoint as SSM Contacts: a form-encoded
//! `POST /` (`Action=AssumeRole&Version=2011-06-15&...`, no `X-Amz-Target`), SigV4 with
//! signing name `sts`, XML answers. One call: authenticate -> action -> injected fault ->
//! AssumeRole -> journal -> answer.
//!
//! Chaos mode and the quota are SSM Contacts matters and leave STS calls alone; injected
//! faults naming `AssumeRole` (or no operation) apply.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use crate::calls::app::App;
use crate::calls::auth;
use crate::calls::call::Call;
use crate::calls::connection::ConnectionControl;
use crate::calls::fault_effects::{self, Answer};
use crate::model::journal::OUTCOME_OK;
use crate::protocol::wire::{self, ASSUME_ROLE};
use crate::sts::assume;
use crate::sts::error::{self, StsError};
use crate::sts::form::Form;

/// SigV4 signing name of STS.
const SIGNING_NAME: &str = "sts";
/// The API version awsQuery clients send.
const VERSION: &str = "2011-06-15";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether a call without `X-Amz-Target` is an awsQuery call: a form content type, or a
/// body that carries an `Action` (some clients omit the content type).
pub(crate) fn is_query_call(headers: &HeaderMap, body: &[u8]) -> bool {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .get(..FORM_CONTENT_TYPE.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(FORM_CONTENT_TYPE))
        });
    form_type || Form::parse(body).get("Action").is_some()
}

/// Serves one awsQuery call and journals it.
pub(crate) async fn call(
    app: &App,
    connection: ConnectionControl,
    parts: &Parts,
    body: &[u8],
    mut call: Call,
) -> Response {
    let form = Form::parse(body);
    let action = form.get("Action").unwrap_or("");
    call.operation = action.to_string();
    if action == ASSUME_ROLE {
        call.role_arn = form.get("RoleArn").map(String::from);
        call.role_session_name = form.get("RoleSessionName").map(String::from);
    }

    let principal = match auth::authenticate(app, SIGNING_NAME, parts, body) {
        Ok(principal) => principal,
        Err(rejected) => {
            call.region = rejected.region;
            call.access_key_id = rejected.access_key_id;
            let has_authorization = parts.headers.contains_key(header::AUTHORIZATION);
            let error = StsError::from_auth(&rejected.error, has_authorization);
            return answer_error(app, &call, &error);
        }
    };
    call.region = Some(principal.region.clone());
    call.access_key_id = Some(principal.access_key_id.clone());
    call.caller_arn = Some(principal.identity.arn().to_string());

    if parts.method != Method::POST || parts.uri.path() != "/" || action != ASSUME_ROLE {
        let error = StsError::invalid_action(format!(
            "Could not find operation {action} for version {}: the emulator serves STS \
             {ASSUME_ROLE} as POST / (got {} {}).",
            form.get("Version").unwrap_or(VERSION),
            parts.method,
            parts.uri.path()
        ));
        return answer_error(app, &call, &error);
    }

    let fault = app.state().faults.take(ASSUME_ROLE, None);
    if let Some(response) =
        fault_effects::before_operation(app, &mut call, &connection, fault.as_ref()).await
    {
        return response;
    }
    if let Some(error) = fault.as_ref().and_then(StsError::from_fault) {
        return answer_error(app, &call, &error);
    }

    let caller_arn = principal.identity.arn();
    let result = assume::assume_role(
        &mut app.state(),
        caller_arn,
        &form,
        &call.request_id,
        jiff::Timestamp::now(),
    );
    let (outcome, status, xml) = match &result {
        Ok(issued) => {
            call.issued_access_key_id = Some(issued.access_key_id.clone());
            (OUTCOME_OK, StatusCode::OK, issued.xml.clone())
        }
        Err(error) => (error.code, error.status, error.to_xml(&call.request_id)),
    };
    let answer = || Answer {
        outcome,
        status,
        body: xml.clone(),
        content_type: error::CONTENT_TYPE,
        activation_code: None,
    };
    if let Some(response) =
        fault_effects::after_operation(app, &call, &connection, fault.as_ref(), answer).await
    {
        return response;
    }
    app.record(&call, outcome, Some(status), false, None);
    wire::raw_response(status, error::CONTENT_TYPE, xml, Some(&call.request_id))
}

fn answer_error(app: &App, call: &Call, error: &StsError) -> Response {
    app.record(call, error.code, Some(error.status), false, None);
    error.to_response(&call.request_id)
}

#[cfg(test)]
mod tests {
    use crate::calls::sts_call::*;
    use axum::http::HeaderValue;

    /// Form content types (any case, with parameters) and `Action=` bodies are awsQuery.
    #[test]
    fn query_calls_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_query_call(&headers, b"{}"));
        assert!(is_query_call(
            &headers,
            b"Version=2011-06-15&Action=AssumeRole"
        ));
        assert!(!is_query_call(&headers, br#"{"Action=": 1}"#));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        );
        assert!(is_query_call(&headers, b""));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        assert!(!is_query_call(&headers, b"{}"));
    }
}
