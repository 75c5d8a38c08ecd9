//! Names for the control plane's two servers and the ways to stop one, shared by
//! [`crate::ServerControl`], `ControlPlane`'s restart shorthands and chaos commands that take
//! a target from their command line.

use std::fmt;
use std::str::FromStr;

/// One of the control plane's two server processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    Etcd,
    ApiServer,
}

impl Server {
    /// The process name used in logs, errors and the pid file.
    pub fn name(self) -> &'static str {
        match self {
            Server::Etcd => "etcd",
            Server::ApiServer => "kube-apiserver",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A server name a chaos command was given that is neither etcd nor the API server.
#[derive(Debug, thiserror::Error)]
#[error("unknown server {0:?}: expected etcd, apiserver or kube-apiserver")]
pub struct UnknownServer(pub String);

/// Parses `etcd`, `apiserver` or `kube-apiserver`, so a chaos command can take the target
/// from its command line or environment.
impl FromStr for Server {
    type Err = UnknownServer;

    fn from_str(s: &str) -> Result<Server, UnknownServer> {
        match s {
            "etcd" => Ok(Server::Etcd),
            "apiserver" | "kube-apiserver" => Ok(Server::ApiServer),
            other => Err(UnknownServer(other.to_owned())),
        }
    }
}

/// How a server is stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shutdown {
    /// SIGKILL: a crash, and instant. Nothing is lost: etcd's writes are in the page cache
    /// even with `--unsafe-no-fsync`, and only a machine crash would drop those.
    #[default]
    Kill,
    /// SIGTERM, then SIGKILL if the server is still running after a grace period (10 s for
    /// etcd, 30 s for kube-apiserver, whose drain alone takes 7-11 s).
    Terminate,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chaos commands can name a server the way people do.
    #[test]
    fn server_names_parse() {
        assert_eq!("etcd".parse::<Server>().unwrap(), Server::Etcd);
        assert_eq!("apiserver".parse::<Server>().unwrap(), Server::ApiServer);
        assert_eq!(
            "kube-apiserver".parse::<Server>().unwrap(),
            Server::ApiServer
        );
        let err = "scheduler".parse::<Server>().unwrap_err().to_string();
        assert!(err.contains("\"scheduler\""), "{err}");
        assert_eq!(Server::ApiServer.to_string(), "kube-apiserver");
    }
}
