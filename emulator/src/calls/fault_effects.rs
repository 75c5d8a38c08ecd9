//! What a picked fault does to a call, the same for SSM Contacts (`handler`) and STS
//! (`sts_call`): before the operation it is named in the journal, holds a latency fault, cuts
//! the connection or answers a proxy's 502 page; after the operation it cuts the connection
//! or cuts the answer in half. Error faults are worded by each protocol, so they stay with
//! the callers.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;

use crate::calls::app::App;
use crate::calls::call::Call;
use crate::calls::connection::ConnectionControl;
use crate::faults::injected::{FaultKind, FaultSpec, latency};
use crate::model::journal::{OUTCOME_ABANDONED, OUTCOME_DROPPED};
use crate::protocol::wire;

const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
     <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// What the operation answered, for a fault that acts on the answer.
pub(crate) struct Answer {
    pub outcome: &'static str,
    pub status: StatusCode,
    pub body: String,
    pub content_type: &'static str,
    pub activation_code: Option<String>,
}

/// Applies the part of `fault` that comes before the operation. `Some` ends the call
/// there (connection cut, 502 page); `None` lets it go on, to the caller's error fault if
/// the fault is one.
pub(crate) async fn before_operation(
    app: &App,
    call: &mut Call,
    connection: &ConnectionControl,
    fault: Option<&FaultSpec>,
) -> Option<Response> {
    let spec = fault?;
    call.fault = Some(
        spec.error
            .map_or_else(|| "latency".to_string(), |kind| format!("{kind:?}")),
    );
    if let Some(delay) = latency(spec) {
        hold(app, call, delay).await;
    }
    match spec.error? {
        FaultKind::DropBeforeProcessing => {
            app.record(call, OUTCOME_DROPPED, None, false, None);
            Some(connection.cut_now().await)
        }
        FaultKind::Html502 => {
            let status = status_or(spec, StatusCode::BAD_GATEWAY);
            app.record(call, "Html502", Some(status), false, None);
            // A proxy's page: no request id, neither JSON nor XML.
            Some(wire::raw_response(
                status,
                "text/html",
                BAD_GATEWAY_PAGE.into(),
                None,
            ))
        }
        _ => None,
    }
}

/// Applies the part of `fault` that comes after the operation ran. `Some` is the call's
/// end (connection cut, answer cut in half); `None` leaves the answer to the caller.
/// `answer` is only asked for when the fault needs it.
pub(crate) async fn after_operation(
    app: &App,
    call: &Call,
    connection: &ConnectionControl,
    fault: Option<&FaultSpec>,
    answer: impl FnOnce() -> Answer,
) -> Option<Response> {
    let spec = fault?;
    match spec.error? {
        FaultKind::DropAfterProcessing => {
            let answer = answer();
            app.record(call, answer.outcome, None, true, answer.activation_code);
            Some(connection.cut_now().await)
        }
        FaultKind::MalformedJson => {
            let answer = answer();
            let status = status_or(spec, answer.status);
            app.record(
                call,
                answer.outcome,
                Some(status),
                false,
                answer.activation_code,
            );
            // Cut on bytes: half of a multi-byte character is as broken as the rest, and
            // issued credentials never reach a parser whole.
            let body = answer.body;
            let broken = String::from_utf8_lossy(&body.as_bytes()[..body.len() / 2]).into_owned();
            Some(wire::raw_response(
                status,
                answer.content_type,
                broken,
                Some(&call.request_id),
            ))
        }
        _ => None,
    }
}

fn status_or(spec: &FaultSpec, default: StatusCode) -> StatusCode {
    spec.http_status
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(default)
}

/// Holds the call for a latency fault, before anything is done. A client that gives up
/// closes its connection; hyper notices the end of input mid-call, ends the connection and
/// drops this future during the sleep. The guard then journals the call as `abandoned`:
/// the operation never ran, so nothing was sent, however long the delay would have been.
async fn hold(app: &App, call: &Call, delay: Duration) {
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
