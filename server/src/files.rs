//! Private files: the data dir holds the database (every token hash, audit event and run) and
//! the artifacts, so it is created readable by its owner only (0700), and the SQLite database
//! file is 0600. SQLite creates its `-wal` and `-shm` files with the database file's mode, so
//! making the database private before SQLite first opens it covers them too; files left by an
//! older version are tightened at start.

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) with mode 0700 where it is created. A directory that
/// already exists keeps its mode (it may be one the operator chose to share), with a warning
/// when others can enter it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let existed = dir.is_dir();
        builder.mode(0o700);
        builder.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if existed && mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data dir is open to other users; `chmod 700` it to keep the database and artifacts private"
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// The database file of a SQLite URL (`sqlite://PATH?…`), or `None` for another backend or
/// an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:") && !path.starts_with("file::memory"))
        .then(|| PathBuf::from(path))
}

/// Makes the SQLite database at `path` private (0600) before SQLite opens it: creates it empty
/// when missing, and tightens it and its `-wal` and `-shm` files when present.
pub fn make_database_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        // An empty file is a valid new SQLite database; `create` never truncates one.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let mut paths = vec![path.to_owned()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
        for file in paths.iter().filter(|file| file.exists()) {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_found_in_its_url() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/slipway/slipway.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/slipway/slipway.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://.slipway/slipway.db?mode=rwc"),
            Some(PathBuf::from(".slipway/slipway.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/slipway"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        create_private_dir(&data).unwrap();
        let db = data.join("slipway.db");
        make_database_private(&db).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
    }
}
