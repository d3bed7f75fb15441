//! Where a generated secret lives. With SQLite it is a key file beside the
//! database (`gatehouse.db` → `gatehouse.key`), readable by its owner only,
//! so that a copy of the database alone (a backup, `gatehouse.db*`) signs
//! no tokens. PostgreSQL instances may share nothing but the database, so
//! there it stays in the database (configure the secret to avoid that).

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::db::AnyConnection;
use crate::models::secret;

/// The key file of the SQLite database at `database`.
pub fn beside(database: &str) -> PathBuf {
    Path::new(database).with_extension("key")
}

/// The secret in the key file at `path`, creating the file when there is
/// none: with the secret an earlier version kept in the database (which
/// then forgets it), else with `generated()`. Run it under the migration
/// lock, so instances starting together make one file.
pub fn load_or_move(
    conn: &mut AnyConnection,
    path: &Path,
    generated: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    let stored = secret::stored(conn)?;
    let raw = match read(path)? {
        Some(raw) => raw,
        None => {
            let raw = stored.clone().unwrap_or_else(generated);
            create(path, &raw)?;
            tracing::info!("keeping the generated secret in {}", path.display());
            raw
        }
    };
    // Only when there is one: even an empty delete writes.
    if stored.is_some() {
        secret::forget(conn).context("removing the secret from the database")?;
    }
    Ok(raw)
}

/// The secret in the key file, `None` when there is no file.
pub fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading the key file {}", path.display()));
        }
    };
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "the key file {} can be read by other users (mode {:o}); make it private with: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(Some(text.trim().to_owned()))
}

/// Writes a new key file holding `secret`, mode 0600; an existing one is
/// never overwritten.
pub fn create(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the key file {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
        .with_context(|| format!("writing the key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_database_under_another_name() {
        assert_eq!(beside("data/gatehouse.db"), Path::new("data/gatehouse.key"));
        assert_eq!(beside("gatehouse"), Path::new("gatehouse.key"));
    }

    #[test]
    fn a_key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("g.key");
        assert_eq!(read(&path).expect("read"), None);
        create(&path, "first-secret").expect("create");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(create(&path, "second-secret").is_err());
        assert_eq!(read(&path).expect("read").as_deref(), Some("first-secret"));
    }
}
