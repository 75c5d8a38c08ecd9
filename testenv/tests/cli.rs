//! The `testenv` binary as the demo script uses it: `up` in the background, then signals.

#![allow(clippy::unwrap_used, reason = "in tests a panic is the failure report")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use testenv::process::signal_pid;

const BIN: &str = env!("CARGO_BIN_EXE_testenv");

/// `true` while `pid` runs; a zombie no reaper collected yet counts as gone.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `testenv up` and waits for its kubeconfig; returns the child and its stdout file.
fn up(kubeconfig: &Path, state: &Path, stdout: &Path) -> Child {
    let child = Command::new(BIN)
        .arg("up")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(File::create(stdout).unwrap())
        .spawn()
        .unwrap();
    wait_until("the kubeconfig", Duration::from_secs(120), || {
        kubeconfig.exists()
    });
    child
}

/// PIDs of the servers recorded in the one work dir under `state`.
fn server_pids(state: &Path) -> (PathBuf, Vec<u32>) {
    let dir = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("pids").exists())
        .unwrap();
    let pids = std::fs::read_to_string(dir.join("pids"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("owner "))
        .map(|l| l.split_once(' ').unwrap().1.parse().unwrap())
        .collect();
    (dir, pids)
}

/// `bin-dir` prints the library's bin dir; `up` serves kubectl until SIGTERM and then cleans
/// up; servers orphaned by a SIGKILLed `up` are swept by the next start in the same state dir.
#[test]
fn up_serves_until_signalled_and_sweeps_orphans() {
    let output = Command::new(BIN).arg("bin-dir").output().unwrap();
    assert!(output.status.success());
    let bin_dir = testenv::bin_dir().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        bin_dir.to_str().unwrap()
    );

    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let kubeconfig = scratch.path().join("kubeconfig");
    let stdout = scratch.path().join("stdout");

    // An owner killed outright leaves its servers running.
    let mut first = up(&kubeconfig, &state, &stdout);
    let (orphan_dir, orphans) = server_pids(&state);
    signal_pid(first.id(), Signal::SIGKILL).unwrap();
    first.wait().unwrap();
    assert!(orphans.iter().all(|pid| running(*pid)));
    std::fs::remove_file(&kubeconfig).unwrap();

    // The next start kills them and removes their dir.
    let mut second = up(&kubeconfig, &state, &stdout);
    assert!(orphans.iter().all(|pid| !running(*pid)), "orphans survived");
    assert!(!orphan_dir.exists());

    let printed = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        printed.contains(&format!("KUBECONFIG={}\n", kubeconfig.display())),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("TESTENV_BIN_DIR={}\n", bin_dir.display())),
        "{printed}"
    );
    let kubectl = Command::new(bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&kubectl.stdout),
        "namespace/default\n"
    );

    // SIGTERM stops everything and removes what `up` wrote.
    let (_, servers) = server_pids(&state);
    signal_pid(second.id(), Signal::SIGTERM).unwrap();
    let status = second.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(servers.iter().all(|pid| !running(*pid)));
    assert!(!kubeconfig.exists());
    let left: Vec<_> = std::fs::read_dir(&state).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in the state dir: {left:?}");
}
