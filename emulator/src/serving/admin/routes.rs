//! Handlers of the admin API (see the table in `admin`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, extract};
use serde_json::json;

use super::api::{FaultId, JOURNAL_DROPPED_HEADER, RoleArnParam};
use crate::calls::app::App;
use crate::faults::chaos::{Chaos, ChaosSpec};
use crate::faults::injected::{FaultSpec, Quota, TokenBucket};
use crate::model::journal::JournalFilter;
use crate::model::sessions::StsSettingsUpdate;
use crate::model::state::{ActivationStatus, ChannelCode, SeedChannel, UnknownChannel};

pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/_emulator/healthz",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/_emulator/channels", get(channels).post(seed_channel))
        // `{arn}/code`, `{arn}/activate`, `{arn}/deactivate`: the ARN's own slashes may be
        // sent as they are or percent-encoded (`%2F`), so the action is the last segment.
        .route(
            "/_emulator/channels/{*target}",
            get(channel_read).post(channel_write),
        )
        .route("/_emulator/journal", get(journal))
        .route("/_emulator/journal/stats", get(journal_stats))
        .route(
            "/_emulator/faults",
            get(faults).post(inject_fault).delete(clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(remove_fault))
        .route(
            "/_emulator/chaos",
            get(chaos).post(start_chaos).delete(stop_chaos),
        )
        .route(
            "/_emulator/quota",
            get(quota).put(set_quota).delete(clear_quota),
        )
        .route(
            "/_emulator/roles",
            get(roles).put(add_role).delete(remove_role),
        )
        .route("/_emulator/sts", get(sts_settings).put(set_sts_settings))
        .route("/_emulator/reset", post(reset))
        // Without this, a mistyped admin path would be treated as a (badly signed) wire call.
        .route("/_emulator/{*rest}", any(unknown_admin_route))
}

/// An admin error: status plus `{"error": message}`.
struct AdminFailure(StatusCode, String);

impl IntoResponse for AdminFailure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> AdminFailure {
    AdminFailure(StatusCode::BAD_REQUEST, message.into())
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, AdminFailure> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| bad_request(rejection.body_text()))
}

async fn channels(State(app): State<Arc<App>>) -> Response {
    Json(app.state().channels()).into_response()
}

async fn seed_channel(
    State(app): State<Arc<App>>,
    payload: Result<Json<SeedChannel>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let seed = body(payload)?;
    let channel = app
        .state()
        .seed_channel(seed, &app.config.account_id)
        .map_err(|e| AdminFailure(StatusCode::CONFLICT, e.to_string()))?;
    tracing::info!(arn = %channel.arn, "channel seeded");
    Ok((StatusCode::CREATED, Json(channel)).into_response())
}

/// `{arn}/{action}` of a channel route, the ARN percent-decoded by axum.
fn channel_target(target: &str) -> Result<(&str, &str), AdminFailure> {
    let target = target.strip_prefix('/').unwrap_or(target);
    target
        .rsplit_once('/')
        .filter(|(arn, _)| !arn.is_empty())
        .ok_or_else(|| {
            AdminFailure(
                StatusCode::NOT_FOUND,
                format!(
                    "no admin route for channels/{target}: use channels/{{arn}}/code, \
                     channels/{{arn}}/activate or channels/{{arn}}/deactivate"
                ),
            )
        })
}

fn unknown_channel(e: UnknownChannel) -> AdminFailure {
    AdminFailure(StatusCode::NOT_FOUND, e.to_string())
}

/// `GET channels/{arn}/code`: the latest code, as the channel's phone shows it. The code
/// is answered, never logged.
async fn channel_read(
    State(app): State<Arc<App>>,
    Path(target): Path<String>,
) -> Result<Response, AdminFailure> {
    match channel_target(&target)? {
        (arn, "code") => {
            let code = app
                .state()
                .channel(arn)
                .map(ChannelCode::from)
                .ok_or_else(|| unknown_channel(UnknownChannel(arn.to_string())))?;
            Ok(Json(code).into_response())
        }
        (_, action) => Err(AdminFailure(
            StatusCode::NOT_FOUND,
            format!("no admin route GET channels/{{arn}}/{action} (GET takes /code)"),
        )),
    }
}

/// `POST channels/{arn}/activate` or `/deactivate`: the channel's status set from the
/// console, with no code; answers the channel.
async fn channel_write(
    State(app): State<Arc<App>>,
    Path(target): Path<String>,
) -> Result<Response, AdminFailure> {
    let (arn, status) = match channel_target(&target)? {
        (arn, "activate") => (arn, ActivationStatus::Activated),
        (arn, "deactivate") => (arn, ActivationStatus::NotActivated),
        (_, action) => {
            return Err(AdminFailure(
                StatusCode::NOT_FOUND,
                format!(
                    "no admin route POST channels/{{arn}}/{action} (POST takes /activate or \
                     /deactivate)"
                ),
            ));
        }
    };
    let channel = app
        .state()
        .set_activation_status(arn, status)
        .map_err(unknown_channel)?;
    tracing::info!(arn = %channel.arn, ?status, "activation status set from the console");
    Ok(Json(channel).into_response())
}

async fn journal(
    State(app): State<Arc<App>>,
    filter: Result<Query<JournalFilter>, QueryRejection>,
) -> Result<Response, AdminFailure> {
    let Query(filter) = filter.map_err(|rejection| bad_request(rejection.body_text()))?;
    let (entries, stats) = {
        let state = app.state();
        (state.journal(&filter), state.journal_stats())
    };
    // The body stays a plain array (scripts grep it); the header tells whether it is whole.
    let mut response = Json(entries).into_response();
    response
        .headers_mut()
        .insert(JOURNAL_DROPPED_HEADER, HeaderValue::from(stats.dropped));
    Ok(response)
}

async fn journal_stats(State(app): State<Arc<App>>) -> Response {
    Json(app.state().journal_stats()).into_response()
}

async fn chaos(State(app): State<Arc<App>>) -> Response {
    Json(app.state().chaos.as_ref().map(Chaos::status)).into_response()
}

async fn start_chaos(
    State(app): State<Arc<App>>,
    payload: Result<Json<ChaosSpec>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let spec = body(payload)?;
    let chaos = Chaos::start(spec).map_err(|e| bad_request(e.to_string()))?;
    let status = chaos.status();
    app.state().chaos = Some(chaos);
    tracing::info!(?status.spec, "chaos started");
    Ok(Json(status).into_response())
}

async fn stop_chaos(State(app): State<Arc<App>>) -> Response {
    let last = app.state().chaos.take().map(|chaos| chaos.status());
    tracing::info!(?last, "chaos stopped");
    Json(last).into_response()
}

async fn faults(State(app): State<Arc<App>>) -> Response {
    Json(app.state().faults.list()).into_response()
}

async fn inject_fault(
    State(app): State<Arc<App>>,
    payload: Result<Json<FaultSpec>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let spec = body(payload)?;
    spec.check().map_err(bad_request)?;
    let id = app.state().faults.add(spec.clone());
    tracing::info!(id, ?spec, "fault injected");
    Ok((StatusCode::CREATED, Json(FaultId { id })).into_response())
}

async fn clear_faults(State(app): State<Arc<App>>) -> StatusCode {
    app.state().faults.clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(
    State(app): State<Arc<App>>,
    Path(id): Path<u64>,
) -> Result<StatusCode, AdminFailure> {
    if app.state().faults.remove(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminFailure(
            StatusCode::NOT_FOUND,
            format!("no fault {id}"),
        ))
    }
}

async fn quota(State(app): State<Arc<App>>) -> Response {
    Json(
        app.state()
            .quota
            .as_ref()
            .map(|bucket| bucket.quota.clone()),
    )
    .into_response()
}

async fn set_quota(
    State(app): State<Arc<App>>,
    payload: Result<Json<Quota>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let quota = body(payload)?;
    quota.check().map_err(bad_request)?;
    let bucket = TokenBucket::new(quota.clone(), Instant::now());
    match &quota.region {
        Some(region) => {
            app.state().region_quotas.insert(region.clone(), bucket);
        }
        None => app.state().quota = Some(bucket),
    }
    tracing::info!(?quota, "quota set");
    Ok(Json(quota).into_response())
}

async fn clear_quota(State(app): State<Arc<App>>) -> StatusCode {
    let mut state = app.state();
    state.quota = None;
    state.region_quotas.clear();
    StatusCode::NO_CONTENT
}

async fn roles(State(app): State<Arc<App>>) -> Response {
    Json(app.state().roles.list()).into_response()
}

/// `PUT roles` `{"arn"}`: 201 when added, 200 when the role was already assumable.
async fn add_role(
    State(app): State<Arc<App>>,
    payload: Result<Json<RoleArnParam>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let RoleArnParam { arn } = body(payload)?;
    let added = app
        .state()
        .roles
        .add(&arn)
        .map_err(|e| bad_request(e.to_string()))?;
    tracing::info!(%arn, added, "role assumable");
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(RoleArnParam { arn })).into_response())
}

/// `DELETE roles?arn=`: 204, or 404 for a role that was not assumable.
async fn remove_role(
    State(app): State<Arc<App>>,
    query: Result<Query<RoleArnParam>, QueryRejection>,
) -> Result<StatusCode, AdminFailure> {
    let Query(RoleArnParam { arn }) =
        query.map_err(|rejection| bad_request(rejection.body_text()))?;
    if app.state().roles.remove(&arn) {
        tracing::info!(%arn, "role no longer assumable");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminFailure(
            StatusCode::NOT_FOUND,
            format!("no assumable role {arn}"),
        ))
    }
}

async fn sts_settings(State(app): State<Arc<App>>) -> Response {
    Json(app.state().sts.current).into_response()
}

async fn set_sts_settings(
    State(app): State<Arc<App>>,
    payload: Result<Json<StsSettingsUpdate>, JsonRejection>,
) -> Result<Response, AdminFailure> {
    let update = body(payload)?;
    let mut state = app.state();
    let settings = state
        .sts
        .current
        .updated(update)
        .map_err(|e| bad_request(e.to_string()))?;
    state.sts.current = settings;
    tracing::info!(?settings, "STS settings changed");
    Ok(Json(settings).into_response())
}

async fn reset(State(app): State<Arc<App>>) -> StatusCode {
    app.state().reset();
    tracing::info!("state reset");
    StatusCode::NO_CONTENT
}

async fn unknown_admin_route(request: extract::Request) -> AdminFailure {
    AdminFailure(
        StatusCode::NOT_FOUND,
        format!(
            "no admin route {} {}",
            request.method(),
            request.uri().path()
        ),
    )
}
