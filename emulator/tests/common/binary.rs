//! The emulator binary as a child process, for the tests of its flags and of what it
//! writes: it listens on a free loopback port, logs at trace level, and announces its
//! endpoint on the first line of stdout.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::task::JoinHandle;

/// Every variable the binary takes a setting from: removed, so that only a test's flags
/// count.
const SETTINGS_FROM_ENV: [&str; 10] = [
    "EMULATOR_LISTEN",
    "EMULATOR_ACCESS_KEY_ID",
    "EMULATOR_SECRET_ACCESS_KEY",
    "EMULATOR_ACCOUNT_ID",
    "EMULATOR_SEED_CHANNELS",
    "EMULATOR_ROLES",
    "EMULATOR_CREDENTIAL_LIFETIME_SECONDS",
    "EMULATOR_STRICT_ACCOUNTS",
    "EMULATOR_JOURNAL_CAPACITY",
    "EMULATOR_ALLOW_NON_LOOPBACK",
];

/// A running emulator binary; dropping it kills the process.
pub struct Binary {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: JoinHandle<String>,
    banner: String,
    /// The URL it announced.
    pub endpoint: String,
}

impl Binary {
    /// Starts the binary with `args` after `--listen 127.0.0.1:0` and reads its banner.
    pub async fn start(args: &[&str]) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ssm-contacts-emulator"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1");
        for name in SETTINGS_FROM_ENV {
            command.env_remove(name);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the emulator binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut stderr = child.stderr.take().expect("stderr");
        // Drain stderr meanwhile, so trace logging never blocks on a full pipe.
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            stderr.read_to_string(&mut text).await.expect("stderr");
            text
        });
        let mut banner = String::new();
        stdout.read_line(&mut banner).await.expect("banner");
        let endpoint = banner
            .trim()
            .rsplit(' ')
            .next()
            .expect("endpoint")
            .to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{banner}");
        Self {
            child,
            stdout,
            stderr,
            banner,
            endpoint,
        }
    }

    /// Stops the binary and returns all it wrote: the banner, the rest of stdout, stderr.
    pub async fn stop(mut self) -> String {
        self.child
            .start_kill()
            .expect("stop the emulator we started");
        self.child.wait().await.expect("exit");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).await.expect("stdout");
        let stderr = self.stderr.await.expect("stderr");
        format!("{}{rest}{stderr}", self.banner)
    }
}
