//! Stopping, starting and restarting etcd and kube-apiserver in place, for chaos and restart
//! tests: same binary, flags, ports, certificates, ServiceAccount keys and etcd data dir, so
//! objects survive and clients built before a restart keep working after it.
//!
//! [`ServerControl`] owns both server processes. Their slots sit behind a plain mutex that is
//! never held across an `.await`, so `pids`, `check_alive` and `Drop` stay synchronous and
//! always see the current PIDs; a second, async lock serialises the slow operations (a stop
//! and a start racing on one port would fail in confusing ways). The handle is a cheap
//! `Clone` that is `Send + 'static`: a bench can move one into a spawned chaos task while the
//! rest of the program keeps using `&ControlPlane`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::process::{LOG_TAIL_LINES, Process, log_tail};
use crate::server::{Server, Shutdown};
use crate::{Error, servers, stale};

/// etcd closes its database within milliseconds of SIGTERM; this only bounds a wedged one.
const ETCD_STOP_GRACE: Duration = Duration::from_secs(10);

/// kube-apiserver drains for 7-11 s after SIGTERM; this bounds a drain that never ends.
const APISERVER_STOP_GRACE: Duration = Duration::from_secs(30);

/// While a server is down its port is unbound, and any local client may get it as the
/// source port of an outgoing connection (a client retrying a dial to that very port can even
/// connect to itself). Such a squatter is short-lived, so a start that fails to bind retries
/// the same port a few times before giving up: the port cannot change under running clients.
const BIND_ATTEMPTS: u32 = 5;
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// How to start one server: what [`ServerControl`] reruns on every (re)start.
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) log: PathBuf,
}

/// Everything a start's readiness probes need.
pub(crate) struct Probes {
    pub(crate) etcd_url: String,
    pub(crate) http: reqwest::Client,
    /// The admin client; it survives restarts like any other client.
    pub(crate) admin: kube::Client,
}

/// A handle that stops, starts and restarts the servers of one control plane; see the module
/// docs. Every operation fails with [`Error::Lifecycle`] once the control plane was stopped
/// or dropped.
#[derive(Clone)]
pub struct ServerControl {
    inner: Arc<Inner>,
}

struct Inner {
    etcd: Launch,
    apiserver: Launch,
    probes: Probes,
    /// Where the pid file goes, rewritten whenever a PID changes.
    work_dir: PathBuf,
    slots: Mutex<Slots>,
    operation: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Slots {
    etcd: Option<Process>,
    apiserver: Option<Process>,
    /// Set by [`ServerControl::close`]: the temp dir is going away, nothing may start again.
    closed: bool,
}

impl Slots {
    fn get(&mut self, server: Server) -> &mut Option<Process> {
        match server {
            Server::Etcd => &mut self.etcd,
            Server::ApiServer => &mut self.apiserver,
        }
    }

    /// A slot counts as running only while its process does: one that crashed by itself
    /// may be started again.
    fn running(&mut self, server: Server) -> bool {
        self.get(server)
            .as_mut()
            .is_some_and(|p| p.check_running().is_ok())
    }
}

impl ServerControl {
    pub(crate) fn new(
        etcd: Launch,
        apiserver: Launch,
        probes: Probes,
        work_dir: &Path,
    ) -> ServerControl {
        ServerControl {
            inner: Arc::new(Inner {
                etcd,
                apiserver,
                probes,
                work_dir: work_dir.to_owned(),
                slots: Mutex::new(Slots::default()),
                operation: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Stops `server`; a no-op if it is not running. kube-apiserver keeps running while etcd
    /// is down (its requests fail until etcd is back); etcd does not care about the API server.
    pub async fn stop(&self, server: Server, how: Shutdown) -> Result<(), Error> {
        let _operation = self.inner.operation.lock().await;
        self.stop_locked(server, how).await
    }

    /// Starts `server` again and waits until it is ready: etcd answers `/health`, and the
    /// API server (if running) answers `/readyz` and lists namespaces, a read that reaches
    /// etcd. Starting kube-apiserver needs etcd running. Returns the time from the spawn until
    /// ready. Fails with [`Error::Lifecycle`] if `server` is already running.
    pub async fn start(&self, server: Server) -> Result<Duration, Error> {
        let _operation = self.inner.operation.lock().await;
        self.start_locked(server).await
    }

    /// [`ServerControl::stop`], then [`ServerControl::start`], without another operation in
    /// between. Returns the time from the new process's spawn until ready; a server that was
    /// not running is simply started.
    pub async fn restart(&self, server: Server, how: Shutdown) -> Result<Duration, Error> {
        let _operation = self.inner.operation.lock().await;
        self.stop_locked(server, how).await?;
        self.start_locked(server).await
    }

    /// PID of `server`'s process, if one was started and not stopped (it may have crashed
    /// since: see [`ServerControl::check_alive`]).
    pub fn pid(&self, server: Server) -> Option<u32> {
        self.slots().get(server).as_ref().map(Process::pid)
    }

    /// Whether `server`'s process is up (not necessarily ready: a start may be waiting).
    pub fn is_running(&self, server: Server) -> bool {
        self.slots().running(server)
    }

    /// `Err(Error::Exited)` if a server ended by itself; servers stopped on purpose are fine.
    pub fn check_alive(&self) -> Result<(), Error> {
        let mut slots = self.slots();
        for server in [Server::ApiServer, Server::Etcd] {
            if let Some(process) = slots.get(server) {
                process.check_running()?;
            }
        }
        Ok(())
    }

    /// Takes both processes out for good, API server first; later operations fail. The
    /// caller stops them (async) or drops them (which kills them synchronously).
    pub(crate) fn close(&self) -> (Option<Process>, Option<Process>) {
        let mut slots = self.slots();
        slots.closed = true;
        (slots.apiserver.take(), slots.etcd.take())
    }

    /// How long a SIGTERMed `server` may take before SIGKILL, also for `ControlPlane::stop`.
    pub(crate) fn stop_grace(server: Server) -> Duration {
        match server {
            Server::Etcd => ETCD_STOP_GRACE,
            Server::ApiServer => APISERVER_STOP_GRACE,
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // Every critical section is a single take, insert or check, so a panic inside one
        // (none is expected) cannot leave the slots half-updated: poisoning carries no news.
        self.inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn launch(&self, server: Server) -> &Launch {
        match server {
            Server::Etcd => &self.inner.etcd,
            Server::ApiServer => &self.inner.apiserver,
        }
    }

    async fn stop_locked(&self, server: Server, how: Shutdown) -> Result<(), Error> {
        // Taken out first, so pids() and Drop no longer count it; if this future is dropped
        // mid-way, the Process's own Drop kills it.
        let Some(mut process) = self.slots().get(server).take() else {
            return Ok(());
        };
        let stopped = match how {
            Shutdown::Kill => process.kill().await,
            Shutdown::Terminate => process.terminate(Self::stop_grace(server)).await,
        };
        tracing::info!(%server, pid = process.pid(), ?how, "stopped");
        stopped.and(self.record())
    }

    async fn start_locked(&self, server: Server) -> Result<Duration, Error> {
        let mut attempt = 1;
        loop {
            let spawned = Instant::now();
            self.spawn(server)?;
            match self.wait_ready(server).await {
                Ok(_) => {
                    let ready = spawned.elapsed();
                    tracing::info!(%server, pid = self.pid(server), ?ready, "started");
                    return Ok(ready);
                }
                Err(e @ Error::Exited { .. }) if attempt < BIND_ATTEMPTS && port_taken(&e) => {
                    tracing::warn!(%server, attempt, "port still taken; retrying the start");
                    attempt += 1;
                    tokio::time::sleep(BIND_RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Spawns `server` into its slot and records the new PID, all under the slot lock, so a
    /// concurrent close() either prevents the spawn or takes the new process with it.
    fn spawn(&self, server: Server) -> Result<(), Error> {
        let mut slots = self.slots();
        let refuse = |reason| Err(Error::Lifecycle { server, reason });
        if slots.closed {
            return refuse("the control plane was stopped");
        }
        if slots.running(server) {
            return refuse("already running");
        }
        if server == Server::ApiServer && !slots.running(Server::Etcd) {
            return refuse("cannot start while etcd is stopped");
        }
        let launch = self.launch(server);
        if launch.log.exists() {
            mark_restart(&launch.log, server);
        }
        let process = Process::spawn(server.name(), &launch.program, &launch.args, &launch.log)?;
        *slots.get(server) = Some(process);
        record(&self.inner.work_dir, &mut slots)
    }

    /// Waits until `server` is ready; after etcd, also until a running API server serves
    /// reads again (its etcd client reconnects by itself, with backoff).
    async fn wait_ready(&self, server: Server) -> Result<(), Error> {
        let probes = &self.inner.probes;
        if server == Server::Etcd {
            servers::wait_ready(
                server.name(),
                &self.inner.etcd.log,
                servers::ETCD_READY_TIMEOUT,
                || self.check_up(&[Server::Etcd]),
                || servers::etcd_healthy(&probes.http, &probes.etcd_url),
            )
            .await?;
            if !self.is_running(Server::ApiServer) {
                return Ok(());
            }
        }
        servers::wait_ready(
            Server::ApiServer.name(),
            &self.inner.apiserver.log,
            servers::APISERVER_READY_TIMEOUT,
            || self.check_up(&[Server::ApiServer, Server::Etcd]),
            || servers::apiserver_ready(&probes.admin),
        )
        .await
        .map(|_| ())
    }

    /// `Ok` while every one of `needed` runs; an exit's error, or a lifecycle error if one was
    /// taken away (the control plane was stopped meanwhile).
    fn check_up(&self, needed: &[Server]) -> Result<(), Error> {
        let mut slots = self.slots();
        for &server in needed {
            match slots.get(server) {
                Some(process) => process.check_running()?,
                None => {
                    return Err(Error::Lifecycle {
                        server,
                        reason: "stopped while waiting for it to become ready",
                    });
                }
            }
        }
        Ok(())
    }

    fn record(&self) -> Result<(), Error> {
        let mut slots = self.slots();
        record(&self.inner.work_dir, &mut slots)
    }
}

/// Rewrites the pid file with the current children, so a later sweep finds (and only kills)
/// the processes that run now. Skipped once closed: the dir is being removed.
fn record(work_dir: &Path, slots: &mut Slots) -> Result<(), Error> {
    if slots.closed {
        return Ok(());
    }
    let mut children = Vec::new();
    for server in [Server::Etcd, Server::ApiServer] {
        if let Some(process) = slots.get(server) {
            children.push((server.name(), process.pid()));
        }
    }
    stale::record(work_dir, &children)
}

/// A line between two runs in a server's log, so a reader can tell which run said what.
/// Best effort: a log that cannot be appended to will fail the spawn right after anyway.
fn mark_restart(log: &Path, server: Server) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(file, "==== testenv: starting {server} again ====");
    }
}

/// Whether a start failed because its port was still (or again) bound by another socket.
fn port_taken(error: &Error) -> bool {
    match error {
        Error::Exited { log, .. } => {
            // Only the newest run's lines: an earlier run may have failed the same way.
            let tail = log_tail(log, LOG_TAIL_LINES);
            let newest = tail.rsplit("==== testenv: starting").next().unwrap_or("");
            newest.contains("address already in use")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bind failure of the newest run is retried; one of an earlier run is not.
    #[test]
    fn port_taken_reads_only_the_newest_run() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("etcd.log");
        let exited = || Error::Exited {
            name: "etcd",
            status: "exit status: 1".into(),
            log: log.clone(),
            log_tail: String::new(),
        };
        std::fs::write(&log, "serving\n").unwrap();
        mark_restart(&log, Server::Etcd);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, b"listen tcp: bind: address already in use\n")
            })
            .unwrap();
        assert!(port_taken(&exited()));
        mark_restart(&log, Server::Etcd);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"unknown flag: --x\n"))
            .unwrap();
        assert!(!port_taken(&exited()));
    }
}
