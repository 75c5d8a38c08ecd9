//! One child server process: spawned with its output in a log file, checked, stopped by PID.
//!
//! `std::process::Child` rather than tokio's: `Drop` must kill and reap synchronously, also
//! while a test unwinds from a panic or after its runtime is gone, and a reaped child leaves
//! no `/proc/<pid>` behind.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Error;

/// Lines of a log quoted in an error: enough for a Go panic's head or the flag that was
/// refused, short enough to read in a test failure.
pub const LOG_TAIL_LINES: usize = 40;

/// How long a SIGKILLed child may take to be reaped before we report it as stuck.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running child server; killed and reaped on drop if still running.
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with `args`, stdout and stderr appended to `log`, in `log`'s folder.
    /// Appended, not truncated: a server restarted in place keeps its earlier run's lines,
    /// which are what explains a failed restart.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process, Error> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(Error::io(format!("opening {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io(format!("duplicating {}", log.display())))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(dir) = log.parent() {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .map_err(Error::io(format!("starting {}", program.display())))?;
        tracing::debug!(name, pid = child.id(), log = %log.display(), "started");
        Ok(Process {
            name,
            child,
            log: log.to_owned(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Err(Error::Exited)`, with the log's tail, once the child has ended.
    pub fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(Error::io(format!(
                "checking {} (pid {})",
                self.name,
                self.pid()
            ))(e)),
        }
    }

    /// SIGKILL and reap. For kube-apiserver, whose SIGTERM drain takes 7-11 s and buys nothing
    /// for a server whose data dies with it.
    pub async fn kill(&mut self) -> Result<(), Error> {
        if self.has_exited() {
            return Ok(());
        }
        self.signal(Signal::SIGKILL)?;
        self.reap(REAP_TIMEOUT).await.map(|_| ())
    }

    /// SIGTERM, then SIGKILL if the child is still running after `grace`. For etcd, which
    /// closes its database cleanly within milliseconds.
    pub async fn terminate(&mut self, grace: Duration) -> Result<(), Error> {
        if self.has_exited() {
            return Ok(());
        }
        self.signal(Signal::SIGTERM)?;
        if self.reap(grace).await?.is_some() {
            return Ok(());
        }
        tracing::warn!(
            name = self.name,
            pid = self.pid(),
            ?grace,
            "ignored SIGTERM; killing"
        );
        self.kill().await
    }

    /// The last [`LOG_TAIL_LINES`] lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, LOG_TAIL_LINES)
    }

    pub(crate) fn exited(&self, status: String) -> Error {
        Error::Exited {
            name: self.name,
            status,
            log: self.log.clone(),
            log_tail: self.log_tail(),
        }
    }

    fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    fn signal(&self, signal: Signal) -> Result<(), Error> {
        signal_pid(self.pid(), signal).map_err(|source| Error::Signal {
            name: self.name,
            pid: self.pid(),
            source,
        })
    }

    /// Polls for the exit for up to `timeout`; `None` if the child is still running.
    async fn reap(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) if started.elapsed() >= timeout => return Ok(None),
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => {
                    return Err(Error::io(format!(
                        "reaping {} (pid {})",
                        self.name,
                        self.pid()
                    ))(e));
                }
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Best effort: Drop cannot report, and SIGKILL can only fail for a child that
            // is already gone. wait() reaps it so no zombie keeps /proc/<pid>.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` to `pid`. The only way this crate ever signals a process: by the PID it
/// started (or recorded in a pid file), never by name.
pub fn signal_pid(pid: u32, signal: Signal) -> Result<(), nix::Error> {
    let pid = i32::try_from(pid).map_err(|_| nix::Error::EINVAL)?;
    kill(Pid::from_raw(pid), signal)
}

/// The last `lines` lines of the file at `path`, or a note saying why there are none.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(log unreadable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that dies is reported with its exit status and the end of its log.
    #[tokio::test]
    async fn exit_is_reported_with_the_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let args = ["-c", "for i in $(seq 1 50); do echo line$i; done; exit 3"].map(String::from);
        let mut process = Process::spawn("sh", Path::new("/bin/sh"), &args, &log).unwrap();
        let err = loop {
            match process.check_running() {
                Ok(()) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("line50"), "{err}");
        assert!(err.contains("line11"), "{err}");
        assert!(!err.contains("line10\n"), "{err}");
    }

    /// terminate() falls back to SIGKILL for a child that ignores SIGTERM, and reaps it.
    #[tokio::test]
    async fn terminate_kills_a_child_that_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let args = ["-c", "trap '' TERM; echo ready; exec sleep 30"].map(String::from);
        let mut process = Process::spawn("sh", Path::new("/bin/sh"), &args, &log).unwrap();
        // The trap must be set before the signal arrives, or the test proves nothing; exec
        // keeps one process (an ignored signal stays ignored across exec).
        while !log_tail(&log, 1).contains("ready") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = process.pid();
        process.terminate(Duration::from_millis(200)).await.unwrap();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    /// Dropping a running process kills and reaps it.
    #[test]
    fn drop_kills_and_reaps() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let process =
            Process::spawn("sleep", Path::new("/bin/sleep"), &["30".into()], &log).unwrap();
        let pid = process.pid();
        drop(process);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
