//! The link between a wire call and the connection that carries it: lets a handler close
//! its own connection with no answer, as a crashed or partitioned service would.
//!
//! Its own module so that `server` (which owns connections) and `handler` (which decides
//! to cut one) both depend on it instead of on each other.

use std::sync::Arc;

use axum::response::Response;
use tokio::sync::Notify;

/// Shared by a connection task and the requests it serves; the connection task drops the
/// hyper connection when asked, which closes the socket without writing a response.
#[derive(Clone, Default)]
pub(crate) struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Asks the connection task to close the connection.
    pub(crate) fn cut(&self) {
        // notify_one keeps a permit if the connection task is not waiting yet.
        self.0.notify_one();
    }

    /// Resolves once a request asked for the cut.
    pub(crate) async fn cut_requested(&self) {
        self.0.notified().await;
    }

    /// Closes the connection with no answer; the response future never completes (the
    /// connection task drops it together with the connection).
    pub(crate) async fn cut_now(&self) -> Response {
        self.cut();
        std::future::pending().await
    }
}
