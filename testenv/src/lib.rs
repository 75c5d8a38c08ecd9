//! A real, throwaway Kubernetes control plane for integration tests and the demo.
//!
//! Like controller-runtime's envtest: [`ControlPlane::start`] finds (or builds, once per
//! machine) pinned `etcd`, `kube-apiserver`, `kubectl` and `helm` binaries, writes a fresh PKI
//! into a temp dir, starts etcd and then kube-apiserver on free 127.0.0.1 ports, and waits
//! until `/readyz` answers. There is no controller-manager, scheduler or kubelet: objects are
//! stored and validated (CRD schemas, RBAC, admission) but nothing runs pods or garbage
//! collects, which is all an operator's API-level tests need.
//!
//! Flow: [`binaries`] -> [`certs`] -> [`ports`] -> [`process`] (etcd, then kube-apiserver,
//! each ready-checked) -> [`kubeconfig`] for the admin, for users and for tokens.
//! [`stale`] cleans up after test processes that were killed before they could.
//! [`ServerControl`] stops, starts and restarts either server in place for chaos tests.
//!
//! ```no_run
//! # async fn scenario() -> Result<(), testenv::Error> {
//! let plane = testenv::ControlPlane::start().await?;
//! let client = plane.client().await?;
//! let ns = testenv::create_namespace(&client, "my-test").await?;
//! let status = plane.kubectl().args(["get", "ns", &ns]).status();
//! plane.restart_etcd().await?; // same ports and data; `client` keeps working
//! plane.stop().await?;
//! # Ok(()) }
//! ```
//!
//! The binaries come from [`bin_dir`]: `$SSMC_TESTENV_BIN`, or `tools/testenv/build.sh`.

#![forbid(unsafe_code)]

pub mod binaries;
pub mod certs;
mod control_plane;
pub mod kubeconfig;
mod lifecycle;
mod namespace;
pub mod ports;
pub mod process;
mod server;
mod servers;
pub mod stale;

use std::path::PathBuf;
use std::time::Duration;

pub use binaries::bin_dir;
pub use control_plane::{ControlPlane, Options, Timings};
pub use lifecycle::ServerControl;
pub use namespace::create_namespace;
pub use server::{Server, Shutdown, UnknownServer};

/// Everything that can go wrong while starting, using or stopping a control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The binaries could not be found or built.
    #[error("control plane binaries: {0}")]
    BinDir(String),

    /// A file or process operation failed; `what` names the operation and its path.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// Key or certificate generation failed.
    #[error("generating certificates: {0}")]
    Certs(#[from] rcgen::Error),

    /// The requested client certificate cannot be made.
    #[error("client certificate for {user}: {reason}")]
    ClientCert { user: String, reason: &'static str },

    /// A child process ended on its own, before it was ready or while it was serving.
    #[error("{name} exited ({status}); last lines of {log}:\n{log_tail}")]
    Exited {
        name: &'static str,
        status: String,
        log: PathBuf,
        log_tail: String,
    },

    /// A child process kept running but never reported ready.
    #[error("{name} not ready after {waited:?} ({last_problem}); last lines of {log}:\n{log_tail}")]
    NotReady {
        name: &'static str,
        waited: Duration,
        last_problem: String,
        log: PathBuf,
        log_tail: String,
    },

    /// A kubeconfig could not be read or turned into a client configuration.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),

    /// A request to the API server failed.
    #[error("kube API: {0}")]
    Kube(#[from] kube::Error),

    /// A server cannot be started (or waited for) in the control plane's current state: it
    /// already runs, etcd is down under the API server, or the control plane was stopped.
    #[error("{server}: {reason}")]
    Lifecycle {
        server: Server,
        reason: &'static str,
    },

    /// Sending a signal to a child failed.
    #[error("signalling {name} (pid {pid}): {source}")]
    Signal {
        name: &'static str,
        pid: u32,
        #[source]
        source: nix::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the operation (and path) that failed.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
