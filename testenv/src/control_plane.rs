//! `ControlPlane`: start etcd and kube-apiserver, hand out clients and kubeconfigs, stop.
//! Restarting either server in place is [`crate::lifecycle`]'s job; see `restart.rs` for the
//! `ControlPlane` shorthands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use tempfile::TempDir;

use crate::Error;
use crate::certs::Pki;
use crate::kubeconfig::{self, Credentials};
use crate::lifecycle::{Launch, Probes, ServerControl};
use crate::server::Server;
use crate::{binaries, ports, servers, stale};

mod restart;

/// How to start a control plane; `Options::default()` is what [`ControlPlane::start`] uses.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Folder with `etcd`, `kube-apiserver`, `kubectl` and `helm`; default [`crate::bin_dir`].
    pub bin_dir: Option<PathBuf>,
    /// Appended to kube-apiserver's command line; a repeated flag overrides ours.
    pub apiserver_flags: Vec<String>,
    /// Where the per-control-plane temp dir goes; default `$TMPDIR/ssmc-testenv`. Orphans of
    /// killed test runs under it are cleaned up on start.
    pub data_dir_root: Option<PathBuf>,
}

/// How long the start took, measured from each process's spawn to its first ready answer.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub etcd_ready: Duration,
    pub apiserver_ready: Duration,
    /// Whole `start_with`, including the bin dir lookup, PKI generation and a retry if any.
    pub total: Duration,
}

/// A running etcd + kube-apiserver on 127.0.0.1, private to its owner.
///
/// Stop it with [`ControlPlane::stop`] to learn about failures; dropping it (also while a
/// test panics) kills both servers and removes its temp dir on a best-effort basis.
pub struct ControlPlane {
    bin_dir: PathBuf,
    work_dir: PathBuf,
    server_url: String,
    etcd_url: String,
    kubeconfig: PathBuf,
    pki: Pki,
    timings: Timings,
    control: ServerControl,
    /// Removed on stop or drop, after `control`'s processes that live in it are killed.
    dir: Option<TempDir>,
}

impl ControlPlane {
    /// Builds (or finds cached) binaries, starts etcd + kube-apiserver on free 127.0.0.1 ports.
    pub async fn start() -> Result<ControlPlane, Error> {
        Self::start_with(Options::default()).await
    }

    /// [`ControlPlane::start`] with a bin dir, extra kube-apiserver flags or a data dir root.
    pub async fn start_with(opts: Options) -> Result<ControlPlane, Error> {
        let started = Instant::now();
        let bin_dir = match opts.bin_dir.clone() {
            Some(dir) => dir,
            // A cold build.sh runs for minutes; keep it off the async worker threads.
            None => tokio::task::spawn_blocking(binaries::bin_dir)
                .await
                .map_err(|e| Error::BinDir(format!("bin dir lookup panicked: {e}")))??,
        };
        let root = opts
            .data_dir_root
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("ssmc-testenv"));
        std::fs::create_dir_all(&root)
            .map_err(Error::io(format!("creating {}", root.display())))?;
        let swept = stale::sweep(&root);
        if swept > 0 {
            tracing::warn!(swept, root = %root.display(), "removed control planes of dead owners");
        }

        // A port picked free can be taken before our child binds it; the child then exits at
        // once. One retry with fresh ports makes that race practically irrelevant.
        let mut attempt = 1;
        loop {
            match Self::start_once(&bin_dir, &root, &opts.apiserver_flags).await {
                Ok(mut plane) => {
                    plane.timings.total = started.elapsed();
                    tracing::info!(
                        url = plane.server_url,
                        etcd_ready = ?plane.timings.etcd_ready,
                        apiserver_ready = ?plane.timings.apiserver_ready,
                        total = ?plane.timings.total,
                        "control plane ready"
                    );
                    return Ok(plane);
                }
                Err(e @ Error::Exited { .. }) if attempt == 1 => {
                    tracing::warn!(error = %e, "control plane start failed; retrying once");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_once(
        bin_dir: &Path,
        root: &Path,
        apiserver_flags: &[String],
    ) -> Result<ControlPlane, Error> {
        let dir = tempfile::Builder::new()
            .prefix(stale::DIR_PREFIX)
            .tempdir_in(root)
            .map_err(Error::io(format!(
                "creating a temp dir in {}",
                root.display()
            )))?;
        let work_dir = dir.path().to_owned();
        stale::record(&work_dir, &[])?;

        let pki = Pki::generate()?;
        let files = pki.write_to(&work_dir.join("pki"))?;
        let [etcd_port, peer_port, apiserver_port] = ports::free_ports()?;

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let server_url = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig = work_dir.join("admin.kubeconfig");
        let admin = Credentials::ClientCert {
            cert_pem: &pki.admin.cert_pem,
            key_pem: &pki.admin.key_pem,
        };
        kubeconfig::write(
            &kubeconfig,
            &kubeconfig::render(&server_url, &pki.serving_ca_pem, "admin", &admin),
        )?;
        for sub in ["cache", "config", "data"] {
            let path = work_dir.join("helm").join(sub);
            std::fs::create_dir_all(&path)
                .map_err(Error::io(format!("creating {}", path.display())))?;
        }

        // Everything a restart reuses is fixed here, once: flags, ports, PKI files, data dir.
        let control = ServerControl::new(
            Launch {
                program: bin_dir.join("etcd"),
                args: servers::etcd_args(&work_dir.join("etcd"), etcd_port, peer_port),
                log: work_dir.join("etcd.log"),
            },
            Launch {
                program: bin_dir.join("kube-apiserver"),
                args: servers::apiserver_args(&etcd_url, apiserver_port, &files, apiserver_flags),
                log: work_dir.join("kube-apiserver.log"),
            },
            Probes {
                etcd_url: etcd_url.clone(),
                http: reqwest::Client::new(),
                admin: client_from(&kubeconfig).await?,
            },
            &work_dir,
        );
        // From here on, Drop kills whatever started if a later step fails.
        let mut plane = ControlPlane {
            bin_dir: bin_dir.to_owned(),
            work_dir,
            server_url,
            etcd_url,
            kubeconfig,
            pki,
            timings: Timings {
                etcd_ready: Duration::ZERO,
                apiserver_ready: Duration::ZERO,
                total: Duration::ZERO,
            },
            control,
            dir: Some(dir),
        };
        plane.timings.etcd_ready = plane.control.start(Server::Etcd).await?;
        plane.timings.apiserver_ready = plane.control.start(Server::ApiServer).await?;
        Ok(plane)
    }

    /// Folder holding `kube-apiserver`, `etcd`, `kubectl` and `helm`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Admin kubeconfig (client certificate `CN=admin, O=system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// `http://127.0.0.1:PORT` of etcd.
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The temp dir holding PKI, etcd data, logs and kubeconfigs; gone after stop or drop.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// PIDs of the current children (kube-apiserver, etcd), without those stopped on
    /// purpose; they change with every restart.
    pub fn pids(&self) -> Vec<u32> {
        [Server::ApiServer, Server::Etcd]
            .into_iter()
            .filter_map(|server| self.control.pid(server))
            .collect()
    }

    /// PID of `server`'s current process, `None` while it is stopped.
    pub fn pid(&self, server: Server) -> Option<u32> {
        self.control.pid(server)
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// PEM of the CA that signed the API server's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.serving_ca_pem
    }

    /// A new admin client.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_from(&self.kubeconfig).await
    }

    /// `kubectl --kubeconfig=<admin>` with a private discovery cache, so runs do not fill
    /// `~/.kube/cache` with one folder per random port.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.bin_dir.join("kubectl"));
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.work_dir.join("kube-cache").display()
            ));
        command
    }

    /// `helm` with `KUBECONFIG` set to the admin kubeconfig and `HELM_*` homes in the temp
    /// dir, so no repository, plugin or cache of the user's leaks in or out.
    pub fn helm(&self) -> Command {
        let helm = self.work_dir.join("helm");
        let mut command = Command::new(self.bin_dir.join("helm"));
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", helm.join("cache"))
            .env("HELM_CONFIG_HOME", helm.join("config"))
            .env("HELM_DATA_HOME", helm.join("data"));
        command
    }

    /// Writes a kubeconfig at `path` that authenticates with a bearer token, e.g. one from a
    /// ServiceAccount's TokenRequest.
    pub async fn kubeconfig_for_token(&self, token: &str, path: &Path) -> Result<(), Error> {
        let text = kubeconfig::render(
            &self.server_url,
            &self.pki.serving_ca_pem,
            "token",
            &Credentials::Token(token),
        );
        kubeconfig::write(path, &text)
    }

    /// Writes a kubeconfig at `path` for `user` in `groups` (at most one, see
    /// [`Pki::client_cert`]) with a client certificate signed by the client CA.
    pub async fn kubeconfig_for_user(
        &self,
        user: &str,
        groups: &[&str],
        path: &Path,
    ) -> Result<(), Error> {
        let cert = self.pki.client_cert(user, groups)?;
        let credentials = Credentials::ClientCert {
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        };
        let text = kubeconfig::render(
            &self.server_url,
            &self.pki.serving_ca_pem,
            user,
            &credentials,
        );
        kubeconfig::write(path, &text)
    }

    /// `Err(Error::Exited)` if a server has ended by itself; one stopped on purpose (see
    /// [`ControlPlane::stop_apiserver`]) does not count.
    pub fn check_alive(&self) -> Result<(), Error> {
        self.control.check_alive()
    }

    /// Kills kube-apiserver (its SIGTERM drain takes seconds and protects nothing here),
    /// stops etcd with SIGTERM, reaps both and removes the temp dir. Every step runs even if
    /// an earlier one failed; the first failure is returned. [`ServerControl`] handles fail
    /// from now on.
    pub async fn stop(mut self) -> Result<(), Error> {
        let (apiserver, etcd) = self.control.close();
        let mut result = Ok(());
        if let Some(mut apiserver) = apiserver {
            result = result.and(apiserver.kill().await);
        }
        if let Some(mut etcd) = etcd {
            let grace = ServerControl::stop_grace(Server::Etcd);
            result = result.and(etcd.terminate(grace).await);
        }
        if let Some(dir) = self.dir.take() {
            let what = format!("removing {}", dir.path().display());
            result = result.and(dir.close().map_err(Error::io(what)));
        }
        result
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Order matters: the API server first, so it never sees etcd vanish, then the dir.
        let (apiserver, etcd) = self.control.close();
        drop(apiserver);
        drop(etcd);
        drop(self.dir.take());
    }
}

async fn client_from(path: &Path) -> Result<kube::Client, Error> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
