//! `testenv`: run the local control plane in the foreground (for the demo and for poking at
//! it by hand), or print the bin dir.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

use testenv::{ControlPlane, Options};

/// A local Kubernetes control plane (etcd + kube-apiserver on 127.0.0.1).
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a control plane and keep it until SIGINT or SIGTERM.
    ///
    /// Prints `KUBECONFIG=<path>` and `TESTENV_BIN_DIR=<dir>` once ready. The kubeconfig
    /// file appears only when the API server is ready, so a script that started this in
    /// the background can wait for the file. On exit the kubeconfig and pid file are removed.
    Up {
        /// Where to copy the admin kubeconfig.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Folder for the control plane's temp dir and the pid file [default: $TMPDIR/ssmc-testenv].
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Pid file of this process [default: <state-dir>/testenv.pid].
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Extra kube-apiserver flag (repeatable), e.g. --apiserver-flag=--v=2.
        #[arg(long = "apiserver-flag", allow_hyphen_values = true)]
        apiserver_flags: Vec<String>,
    },
    /// Print the folder holding etcd, kube-apiserver, kubectl and helm (building them if needed).
    BinDir,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings only by default: the one-line summary below says what a person needs, and a
    // demo script redirecting stderr to a file gets no colour codes.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "testenv=warn".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    match Args::parse().command {
        Cmd::BinDir => {
            let dir = tokio::task::spawn_blocking(testenv::bin_dir).await??;
            println!("{}", dir.display());
            Ok(())
        }
        Cmd::Up {
            kubeconfig,
            state_dir,
            pid_file,
            apiserver_flags,
        } => up(&kubeconfig, state_dir, pid_file, apiserver_flags).await,
    }
}

async fn up(
    kubeconfig: &Path,
    state_dir: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    apiserver_flags: Vec<String>,
) -> anyhow::Result<()> {
    let state_dir = state_dir.unwrap_or_else(|| std::env::temp_dir().join("ssmc-testenv"));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let pid_file = pid_file.unwrap_or_else(|| state_dir.join("testenv.pid"));
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pid_file.display()))?;

    // Listen before starting: a signal during the start must still lead to a clean stop.
    let mut sigint = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;

    let options = Options {
        data_dir_root: Some(state_dir),
        apiserver_flags,
        ..Options::default()
    };
    let started = tokio::select! {
        plane = ControlPlane::start_with(options) => Some(plane),
        _ = sigint.recv() => None,
        _ = sigterm.recv() => None,
    };
    let plane = match started {
        Some(Ok(plane)) => plane,
        Some(Err(e)) => {
            remove_files(&[&pid_file])?;
            return Err(e).context("starting the control plane");
        }
        // Dropping the half-started future killed whatever it had spawned.
        None => return remove_files(&[&pid_file]),
    };

    let text = std::fs::read_to_string(plane.kubeconfig_path()).context("reading kubeconfig")?;
    testenv::kubeconfig::write(kubeconfig, &text)
        .with_context(|| format!("writing {}", kubeconfig.display()))?;
    let timings = plane.timings();
    println!("KUBECONFIG={}", kubeconfig.display());
    println!("TESTENV_BIN_DIR={}", plane.bin_dir().display());
    eprintln!(
        "testenv: {} ready (etcd {:.1?}, kube-apiserver {:.1?}, total {:.1?}); pid file {}",
        plane.server_url(),
        timings.etcd_ready,
        timings.apiserver_ready,
        timings.total,
        pid_file.display()
    );

    let mut health = tokio::time::interval(Duration::from_secs(1));
    let ended = loop {
        tokio::select! {
            _ = sigint.recv() => break Ok("SIGINT"),
            _ = sigterm.recv() => break Ok("SIGTERM"),
            _ = health.tick() => {
                if let Err(e) = plane.check_alive() {
                    break Err(e);
                }
            }
        }
    };
    let stopped = plane.stop().await;
    remove_files(&[kubeconfig, &pid_file])?;
    match ended {
        Ok(signal) => {
            eprintln!("testenv: stopped on {signal}");
            stopped.context("stopping the control plane")
        }
        Err(e) => Err(e).context("control plane died"),
    }
}

fn remove_files(paths: &[&Path]) -> anyhow::Result<()> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}
