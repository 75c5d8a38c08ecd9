//! Locates the pinned control plane binaries, building them once per machine if needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::Error;

/// Names a bin dir must hold; `bin_dir` refuses a folder missing any of them so a half-built
/// cache fails here, with its path, instead of as a confusing spawn error later.
pub const BINARIES: [&str; 4] = ["etcd", "kube-apiserver", "kubectl", "helm"];

/// Environment variable that points at a ready bin dir and skips `build.sh` entirely.
pub const BIN_ENV: &str = "SSMC_TESTENV_BIN";

/// The build script's answer, kept for the life of the process: every test that starts a
/// control plane would otherwise hash the Go modules again. The mutex also keeps two threads
/// of one test binary from running two cold builds side by side.
static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The folder holding `etcd`, `kube-apiserver`, `kubectl` and `helm`.
///
/// `$SSMC_TESTENV_BIN` if set; otherwise runs `tools/testenv/build.sh` (a no-op when its
/// cache is warm, about 15 minutes on two cold cores otherwise) and takes the last line it
/// prints. Blocking: call it from `spawn_blocking` inside async code.
pub fn bin_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(BIN_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        check(&dir)?;
        return Ok(dir);
    }
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(dir) = built.as_ref() {
        return Ok(dir.clone());
    }
    let dir = run_build_script(&build_script())?;
    check(&dir)?;
    *built = Some(dir.clone());
    Ok(dir)
}

/// `tools/testenv/build.sh` of the repository this crate was compiled from.
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/testenv/build.sh")
}

fn run_build_script(script: &Path) -> Result<PathBuf, Error> {
    if !script.is_file() {
        return Err(Error::BinDir(format!(
            "{} not found; set {BIN_ENV} to a folder holding {}",
            script.display(),
            BINARIES.join(", ")
        )));
    }
    // stderr is inherited so a cold build shows its progress instead of looking hung.
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(Error::io(format!("running {}", script.display())))?;
    if !output.status.success() {
        return Err(Error::BinDir(format!(
            "{} failed ({})",
            script.display(),
            output.status
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty());
    match last {
        Some(line) => Ok(PathBuf::from(line)),
        None => Err(Error::BinDir(format!(
            "{} printed no bin dir",
            script.display()
        ))),
    }
}

fn check(dir: &Path) -> Result<(), Error> {
    let missing: Vec<&str> = BINARIES
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::BinDir(format!(
            "{} lacks {}",
            dir.display(),
            missing.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bin dir missing a binary is refused with the names that are missing.
    #[test]
    fn incomplete_bin_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("etcd"), "").unwrap();
        let err = check(dir.path()).unwrap_err().to_string();
        assert!(err.contains("kube-apiserver, kubectl, helm"), "{err}");
    }

    /// The build script's last non-empty line is the answer; progress lines before it are not.
    #[test]
    fn last_line_of_the_script_is_the_bin_dir() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("build.sh");
        std::fs::write(&script, "echo progress\necho /some/bin\necho\n").unwrap();
        assert_eq!(run_build_script(&script).unwrap(), Path::new("/some/bin"));
    }
}
