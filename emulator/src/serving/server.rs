//! Serving: an accept loop on hyper directly (not `axum::serve`), so that a fault can close
//! a connection with no HTTP answer at all, as a crashed or partitioned service would.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

use super::admin;
use crate::calls::app::App;
use crate::calls::connection::ConnectionControl;
use crate::calls::handler;

/// The admin API under `/_emulator/`, and the wire protocol everywhere else.
pub(crate) fn router(app: Arc<App>) -> Router {
    admin::routes::router()
        .fallback(handler::wire_call)
        .with_state(app)
}

/// Accepts connections until `shutdown` turns true, then closes every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let control = ConnectionControl::default();
    let for_requests = control.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(for_requests.clone());
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    // When the client closes its side mid-call, hyper sees the end of input, ends
    // `connection` with an error and drops the call's future wherever it was waiting (see
    // `fault_effects::hold`, which journals such a call).
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = control.cut_requested() => {
            tracing::debug!("connection cut by an injected fault");
        }
    }
}
