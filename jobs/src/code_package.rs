//! Code packages: a command job's directory packed as a gzipped tar (what `git` would track:
//! `.gitignore`, `.ignore` and `.git/info/exclude` are honoured, `.git` itself is left out),
//! its sha256 digest, the git commit it came from, and unpacking it safely on the worker.
//! Everything here is blocking file work: callers run it on a blocking thread.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// The largest package packed or unpacked (compressed and unpacked alike): code, not data.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// What can go wrong packing or unpacking code.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("code directory '{0}': {1}")]
    Io(String, std::io::Error),
    #[error("code directory '{0}': {1}")]
    Walk(String, ignore::Error),
    #[error(
        "code package: over {MAX_PACKAGE_BYTES} bytes; leave data out of the code directory (list it in .gitignore)"
    )]
    TooLarge,
    #[error("code package: {0}")]
    Unpack(String),
}

/// A packed directory.
#[derive(Debug, Clone)]
pub struct Package {
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    pub files: usize,
}

/// The `sha256:<hex>` digest of some bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Packs `dir` as a gzipped tar, honouring ignore files; entries are sorted and stamped with
/// no time or owner, so the same files give the same digest.
pub fn pack(dir: &Path) -> Result<Package, PackageError> {
    let shown = dir.display().to_string();
    let io = |err| PackageError::Io(shown.clone(), err);
    let mut paths = Vec::new();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build();
    for entry in walker {
        let entry = entry.map_err(|err| PackageError::Walk(shown.clone(), err))?;
        if entry.file_type().is_some_and(|kind| kind.is_file()) {
            paths.push(entry.into_path());
        }
    }
    paths.sort();
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    let mut total = 0u64;
    for path in &paths {
        let relative = path.strip_prefix(dir).map_err(|err| {
            PackageError::Unpack(format!(
                "{} is outside the directory: {err}",
                path.display()
            ))
        })?;
        let mut file = std::fs::File::open(path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        total += metadata.len();
        if total > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge);
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(metadata.len());
        header.set_mode(if is_executable(&metadata) {
            0o755
        } else {
            0o644
        });
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, relative, &mut file)
            .map_err(io)?;
    }
    let bytes = archive
        .into_inner()
        .and_then(|encoder| encoder.finish())
        .map_err(io)?;
    Ok(Package {
        digest: digest_of(&bytes),
        bytes,
        files: paths.len(),
    })
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// The commit checked out in `dir`, when it is inside a git work tree and `git` is installed.
pub fn git_commit(dir: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
}

/// Unpacks a package into `dir`. Entries that would land outside it (absolute paths, `..`),
/// links and special files are refused; the unpacked size is bounded.
pub fn unpack(bytes: &[u8], dir: &Path) -> Result<usize, PackageError> {
    let bad = |err: std::io::Error| PackageError::Unpack(err.to_string());
    let decoder = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(LimitedReader {
        inner: decoder,
        left: MAX_PACKAGE_BYTES,
    });
    let mut files = 0;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            let path = entry.path().map_err(bad)?.display().to_string();
            return Err(PackageError::Unpack(format!(
                "'{path}': only files and directories may be packed"
            )));
        }
        // `unpack_in` refuses paths that climb out of `dir` (it answers false).
        if !entry.unpack_in(dir).map_err(bad)? {
            let path = entry.path().map_err(bad)?.display().to_string();
            return Err(PackageError::Unpack(format!(
                "'{path}' would land outside the working directory"
            )));
        }
        files += usize::from(kind.is_file());
    }
    Ok(files)
}

/// Reads at most `left` bytes, then fails: a small gzip can unpack to a huge tar.
struct LimitedReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.left = self.left.checked_sub(read as u64).ok_or_else(|| {
            std::io::Error::other(format!("unpacks to over {MAX_PACKAGE_BYTES} bytes"))
        })?;
        Ok(read)
    }
}

/// Writes `bytes` to `path`, creating its directory (a test and tool helper).
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_what_git_would_track_and_unpacks_it_byte_for_byte() {
        let source = tempfile::tempdir().unwrap();
        let root = source.path();
        write_file(&root.join("train.py"), b"print('hi')\n").unwrap();
        write_file(&root.join("lib/util.py"), b"X = 1\n").unwrap();
        write_file(&root.join("data/big.csv"), b"a,b\n1,2\n").unwrap();
        write_file(&root.join(".gitignore"), b"data/\n*.pyc\n").unwrap();
        write_file(&root.join("lib/util.pyc"), b"\0\0").unwrap();
        write_file(&root.join(".git/HEAD"), b"ref: refs/heads/main\n").unwrap();
        let package = pack(root).unwrap();
        assert_eq!(package.files, 3, "train.py, lib/util.py and .gitignore");
        assert!(package.digest.starts_with("sha256:"));
        assert_eq!(pack(root).unwrap().digest, package.digest, "stable digest");

        let target = tempfile::tempdir().unwrap();
        assert_eq!(unpack(&package.bytes, target.path()).unwrap(), 3);
        let read = |p: &str| std::fs::read(target.path().join(p)).unwrap();
        assert_eq!(read("train.py"), b"print('hi')\n");
        assert_eq!(read("lib/util.py"), b"X = 1\n");
        assert!(!target.path().join("data").exists());
        assert!(!target.path().join(".git").exists());
    }

    #[test]
    fn a_package_that_climbs_out_is_refused() {
        let mut archive = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let body = b"evil";
        header.set_size(body.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..` itself, so the name is written into the header directly.
        header.as_old_mut().name[..10].copy_from_slice(b"../evil.sh");
        header.set_cksum();
        archive.append(&header, &body[..]).unwrap();
        let tar_bytes = archive.into_inner().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&tar_bytes).unwrap();
        let bytes = encoder.finish().unwrap();
        let outer = tempfile::tempdir().unwrap();
        let inner = outer.path().join("work");
        std::fs::create_dir(&inner).unwrap();
        let err = unpack(&bytes, &inner).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(!outer.path().join("evil.sh").exists());
    }
}
