//! `gatehouse backup PATH`: an online copy of a SQLite database and its key
//! file, made while the server runs, that a server started on it serves;
//! PostgreSQL is pointed at pg_dump.

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestUser, run_gatehouse};

backend_tests!(a_backup_restores_to_a_server_that_logs_in);

async fn a_backup_restores_to_a_server_that_logs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let token = app.login_via_api(&user.email, &user.password).await;
    // A folder of its own: the test's database folder goes with the server.
    let backups = tempfile::tempdir().expect("temp dir");
    let copy = backups.path().join("copy.db");
    let copy_arg = copy.display().to_string();

    let made = run_gatehouse(&app.database, &["backup", &copy_arg], &[]);
    if app.database.is_postgres() {
        assert_eq!(made.status.code(), Some(1), "{made:?}");
        assert!(made.stderr.contains("pg_dump"), "{made:?}");
        assert!(!copy.exists());
        return;
    }
    assert!(made.status.success(), "{made:?}");
    let key = copy.with_extension("key");
    for file in [&copy, &key] {
        let mode = std::fs::metadata(file)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{} is readable by others", file.display());
    }
    // Once made, the copy is not overwritten.
    let again = run_gatehouse(&app.database, &["backup", &copy_arg], &[]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    // Written after the backup: not in it.
    let later = TestUser::generate();
    app.register_via_api(&later).await;

    drop(app);
    let restored = TestApp::builder(Backend::Sqlite)
        .env("DATABASE_URL", &format!("sqlite://{copy_arg}"))
        .spawn()
        .await;
    // The copy's key file signs as before: the token issued before the
    // backup still works, and the password logs in.
    let me = restored.api_me(&token).await;
    assert_eq!(me.status(), StatusCode::OK);
    restored.login_via_api(&user.email, &user.password).await;
    let missing = restored.api_login(&later.api_login()).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
}
