//! Python for end-to-end tests that drive the server with real clients (the Triton client,
//! and whatever else `tests/python/requirements.txt` pins): one virtual environment per
//! version of that file, made once in a cache dir outside the clone
//! (`$SLIPWAY_PYTHON_VENV`, else `/var/tmp/slipway-venv-<hash of the file>`), under a file
//! lock so parallel tests wait for one `pip install` instead of racing. A venv that cannot be
//! made fails the test that needs it: a missing client must never pass as a skipped test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

/// The folder of the Python scripts and the requirements file.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The pinned requirements.
pub fn requirements() -> PathBuf {
    python_dir().join("requirements.txt")
}

/// FNV-1a, 64 bits: a stable short name for a version of the requirements (std's hasher
/// may change between Rust releases, and a venv must be found again by later test runs).
fn short_hash(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:012x}", hash >> 16)
}

/// The interpreter that makes the venv: `$SLIPWAY_PYTHON`, else `python3`.
fn base_python() -> String {
    std::env::var("SLIPWAY_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs `command`, panicking with its output when it fails.
fn run_or_fail(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot {what}: {err}"));
    assert!(
        output.status.success(),
        "cannot {what} ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes the venv at `dir` with `python` for the `pinned` requirements unless a complete one
/// is there. The caller holds the lock.
fn make_venv(dir: &Path, python: &str, file: &Path, pinned: &[u8]) {
    let marker = dir.join(".slipway-requirements");
    if std::fs::read(&marker).is_ok_and(|done| done == pinned) {
        return;
    }
    // A venv cut short (or made for other requirements) is made afresh.
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .unwrap_or_else(|err| panic!("cannot remove the stale venv {}: {err}", dir.display()));
    }
    let mut venv = Command::new(python);
    venv.args(["-m", "venv"]).arg(dir);
    run_or_fail(
        venv,
        &format!(
            "create a Python venv at {} (on Debian: apt-get install python3-venv)",
            dir.display()
        ),
    );
    let mut pip = Command::new(dir.join("bin").join("python"));
    pip.args(["-m", "pip", "install", "--no-input", "--quiet", "-r"])
        .arg(file);
    run_or_fail(
        pip,
        &format!("install {} into {}", file.display(), dir.display()),
    );
    std::fs::write(&marker, pinned)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", marker.display()));
}

/// The venv's folder, made (once per process, and once per machine while the requirements
/// stay the same) if needed.
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| make("requirements.txt", std::env::var_os("SLIPWAY_PYTHON_VENV")))
        .clone()
}

/// The venv of another pinned requirements file of `tests/python/` (a benchmark's), made once
/// per machine and version of that file, in `/var/tmp/slipway-venv-<hash>`.
pub fn venv_for(file: &str) -> PathBuf {
    make(file, None)
}

fn make(file: &str, dir: Option<std::ffi::OsString>) -> PathBuf {
    let file = python_dir().join(file);
    let requirements =
        std::fs::read(&file).unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
    let dir = match dir {
        Some(dir) => PathBuf::from(dir),
        // /var/tmp outlives reboots and clones, so a machine installs each version once.
        None => {
            PathBuf::from("/var/tmp").join(format!("slipway-venv-{}", short_hash(&requirements)))
        }
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", parent.display()));
    }
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", lock_path.display()));
    // Other test processes wait here while one installs; the lock goes with the file.
    lock.lock()
        .unwrap_or_else(|err| panic!("cannot lock {}: {err}", lock_path.display()));
    make_venv(&dir, &base_python(), &file, &requirements);
    drop(lock);
    dir
}

/// What a script did.
#[derive(Debug)]
pub struct PythonRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl PythonRun {
    /// Panics with the script's output unless it succeeded; returns its stdout.
    pub fn expect_success(&self, what: &str) -> &str {
        assert!(
            self.status.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// Runs `tests/python/<script>` with `args` in the venv, with `env` added to its
/// environment (for tokens, which should not show in a process list).
pub fn run_script(script: &str, args: &[&str], env: &[(&str, &str)]) -> PythonRun {
    let python = venv().join("bin").join("python");
    let path = python_dir().join(script);
    let output = Command::new(&python)
        .arg(&path)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {} {}: {err}", python.display(), path.display()));
    PythonRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_venv_name_is_stable_and_follows_the_requirements() {
        assert_eq!(short_hash(b"numpy==2.4.6\n"), short_hash(b"numpy==2.4.6\n"));
        assert_ne!(short_hash(b"numpy==2.4.6\n"), short_hash(b"numpy==2.4.5\n"));
        assert_eq!(short_hash(b"").len(), 12);
    }

    #[test]
    #[should_panic(expected = "cannot create a Python venv")]
    fn a_venv_that_cannot_be_made_fails_the_test() {
        let dir = tempfile::tempdir().unwrap();
        make_venv(
            &dir.path().join("venv"),
            "/nonexistent/python3",
            &requirements(),
            b"numpy==2.4.6\n",
        );
    }
}
