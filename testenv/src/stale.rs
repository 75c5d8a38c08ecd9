//! Cleans up after control planes whose owner died without running `Drop` (a SIGKILLed test
//! binary, an aborted CI step): their servers keep running and their temp dirs stay.
//!
//! Each control plane's work dir holds a `pids` file naming its owner process and its
//! children. A later start sweeps the same root: where the owner is gone, it kills the
//! children still running *from that dir* and removes the dir.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::Error;
use crate::process::signal_pid;

/// Name of the pid file inside a work dir.
pub const PID_FILE: &str = "pids";

/// Prefix of work dirs under the root; the sweep touches nothing else.
pub const DIR_PREFIX: &str = "cp-";

/// Writes `owner <our pid>` and one `<name> <pid>` line per child into `dir`'s pid file.
pub fn record(dir: &Path, children: &[(&str, u32)]) -> Result<(), Error> {
    let mut text = format!("owner {}\n", std::process::id());
    for (name, pid) in children {
        text.push_str(&format!("{name} {pid}\n"));
    }
    let path = dir.join(PID_FILE);
    std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))
}

/// Best effort: kills orphaned children of dead owners under `root` and removes their dirs.
/// Returns how many dirs it removed.
pub fn sweep(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        if !is_ours || !dir.is_dir() {
            continue;
        }
        // No pid file yet: a control plane in another process is being created right now.
        let Ok(text) = std::fs::read_to_string(dir.join(PID_FILE)) else {
            continue;
        };
        let pids = parse(&text);
        let owner_alive = pids
            .iter()
            .find(|(name, _)| *name == "owner")
            .is_none_or(|(_, pid)| alive(*pid));
        if owner_alive {
            continue;
        }
        for (name, pid) in pids.iter().filter(|(name, _)| *name != "owner") {
            // The PID may since belong to an unrelated process; only one whose command line
            // names this dir is ours.
            if started_from(*pid, &dir) {
                tracing::warn!(name, pid, dir = %dir.display(), "killing orphaned server");
                let _ = signal_pid(*pid, Signal::SIGKILL);
            }
        }
        if std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn parse(text: &str) -> Vec<(&str, u32)> {
    text.lines()
        .filter_map(|line| {
            let (name, pid) = line.split_once(' ')?;
            Some((name, pid.trim().parse().ok()?))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn started_from(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// A dir whose owner is gone loses its still-running child and is removed; a dir whose
    /// owner lives is left alone.
    #[test]
    fn sweeps_only_dirs_of_dead_owners() {
        let root = tempfile::tempdir().unwrap();
        let dead = root.path().join("cp-dead");
        let live = root.path().join("cp-live");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();

        // A child whose command line names the dir, as etcd's --data-dir does; `read` is a
        // builtin, so no grandchild outlives it.
        let marker = format!("{}/x", dead.display());
        let mut child = Command::new("/bin/sh")
            .args(["-c", "read line", &marker])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // An owner PID that cannot exist (above the kernel's pid_max).
        std::fs::write(
            dead.join(PID_FILE),
            format!("owner 99999999\nsleep {}\n", child.id()),
        )
        .unwrap();
        record(&live, &[]).unwrap();
        // spawn() returns once the kernel releases the parent during exec, which can be just
        // before the new command line is readable in /proc.
        while !started_from(child.id(), &dead) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }

        assert_eq!(sweep(root.path()), 1);
        assert!(!dead.exists());
        assert!(live.exists());
        use std::os::unix::process::ExitStatusExt;
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "the orphan was SIGKILLed: {status:?}"
        );
    }

    /// An unrelated process that reuses a recorded PID is not killed.
    #[test]
    fn leaves_processes_not_started_from_the_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!started_from(std::process::id(), dir.path()));
    }
}
