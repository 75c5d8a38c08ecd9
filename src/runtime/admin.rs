//! The admin HTTP servers: probes (/livez, /readyz, see [`crate::runtime::health`]) and
//! /metrics in the Prometheus text format, on two addresses by default (a NetworkPolicy can
//! then open metrics to Prometheus alone) or on one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::runtime::health::Health;

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    health: Arc<Health>,
}

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serves {
    Probes,
    Metrics,
    Both,
}

impl Serves {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Probes => "probes",
            Self::Metrics => "metrics",
            Self::Both => "probes and metrics",
        }
    }
}

/// Where each part is served: probes and metrics apart, or both on one address.
pub fn listeners(probes: SocketAddr, metrics: SocketAddr) -> Vec<(SocketAddr, Serves)> {
    if probes == metrics {
        vec![(probes, Serves::Both)]
    } else {
        vec![(probes, Serves::Probes), (metrics, Serves::Metrics)]
    }
}

/// An admin server's future, ending only if serving fails.
pub type Serving = std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// A bound admin server: its address and the future that serves it.
pub type Bound = (SocketAddr, Serving);

/// Binds each listener; returns the bound addresses and their server futures.
pub async fn serve(
    listeners: &[(SocketAddr, Serves)],
    registry: Registry,
    health: Arc<Health>,
) -> std::io::Result<Vec<Bound>> {
    let state = AdminState {
        registry: Arc::new(registry),
        health,
    };
    let mut bound = Vec::new();
    for (addr, serves) in listeners {
        let mut app = Router::new();
        if *serves != Serves::Metrics {
            app = app
                .route("/livez", get(|| async { "ok" }))
                .route("/healthz", get(|| async { "ok" }))
                .route("/readyz", get(readyz));
        }
        if *serves != Serves::Probes {
            app = app.route("/metrics", get(metrics));
        }
        let app = app.with_state(state.clone());
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        bound.push((
            local,
            Box::pin(async move { axum::serve(listener, app).await }) as Serving,
        ));
    }
    Ok(bound)
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    match state.health.check(Instant::now()) {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
