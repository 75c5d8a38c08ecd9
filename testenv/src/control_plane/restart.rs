//! `ControlPlane` shorthands for restart and chaos tests: stop, start and restart either
//! server in place. They take `&self`, so a test can run them next to code that borrows the
//! control plane; [`ControlPlane::server_control`] gives a `'static` handle for spawned tasks
//! and the graceful [`Shutdown::Terminate`].

use std::time::Duration;

use super::ControlPlane;
use crate::Error;
use crate::lifecycle::ServerControl;
use crate::server::{Server, Shutdown};

impl ControlPlane {
    /// A cloneable handle on both servers, e.g. for a chaos task spawned beside the workload.
    pub fn server_control(&self) -> ServerControl {
        self.control.clone()
    }

    /// Kills kube-apiserver and starts it again with the same flags, port and PKI; returns
    /// once `/readyz` answers and a namespace list works (the time from spawn to ready).
    /// Clients built before keep working: the URL and the CA do not change.
    pub async fn restart_apiserver(&self) -> Result<Duration, Error> {
        self.control
            .restart(Server::ApiServer, Shutdown::Kill)
            .await
    }

    /// Kills etcd and starts it again on the same ports and data dir, so every object
    /// survives; returns once etcd is healthy and, if kube-apiserver runs, once it has
    /// reconnected and serves reads again (the time from spawn to all that).
    pub async fn restart_etcd(&self) -> Result<Duration, Error> {
        self.control.restart(Server::Etcd, Shutdown::Kill).await
    }

    /// Kills kube-apiserver and leaves it down until [`ControlPlane::start_apiserver`].
    pub async fn stop_apiserver(&self) -> Result<(), Error> {
        self.control.stop(Server::ApiServer, Shutdown::Kill).await
    }

    /// Starts a stopped (or crashed) kube-apiserver and waits until it serves; needs etcd.
    pub async fn start_apiserver(&self) -> Result<Duration, Error> {
        self.control.start(Server::ApiServer).await
    }

    /// Kills etcd and leaves it down until [`ControlPlane::start_etcd`]. A running
    /// kube-apiserver stays up and fails its requests meanwhile.
    pub async fn stop_etcd(&self) -> Result<(), Error> {
        self.control.stop(Server::Etcd, Shutdown::Kill).await
    }

    /// Starts a stopped (or crashed) etcd and waits until it is healthy and a running
    /// kube-apiserver serves reads again. After an outage of 30 s or more that took about
    /// 15 s here, the API server's etcd client reconnecting with backoff; after a short one,
    /// 1 to 6 s.
    pub async fn start_etcd(&self) -> Result<Duration, Error> {
        self.control.start(Server::Etcd).await
    }
}
