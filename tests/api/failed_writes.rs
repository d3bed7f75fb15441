//! A write that fails is never acknowledged: with the SQLite file on a full
//! disk, or with a PostgreSQL server that refuses the commit, registrations
//! answer 5xx and issue nothing, the login throttle refuses (fails closed),
//! every acknowledged account survives, no id is handed out twice, and the
//! service is back once writes work again.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser, json_body};

const WRONG_PASSWORD: &str = "not-the-password";

/// Lenient limits, so that only a failed write can refuse.
fn lenient(builder: crate::helpers::AppBuilder) -> crate::helpers::AppBuilder {
    builder
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_REGISTER_LIMIT", "100000/1h")
        .env("GATEHOUSE_LOGIN_LIMIT", "100000/1m")
        .env("GATEHOUSE_LOGIN_EMAIL_LIMIT", "100000/1m")
        .env("GATEHOUSE_LOGIN_ADDRESS_LIMIT", "100000/1m")
}

/// A tmpfs of a few MiB mounted over a directory, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` (with one line saying why) where mounting is refused; under
    /// `CI=true` that is a failure, never a skip.
    fn mount(path: &Path) -> Option<SmallDisk> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
            .arg(path)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk {
                path: path.to_owned(),
            }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "the full-disk test must run in CI, but mounting a tmpfs failed: {why}"
                );
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the full-disk test: mounting a tmpfs failed ({why}); run the tests as root to enable it"
                );
                None
            }
        }
    }

    /// Writes a file until the disk has no room left.
    fn fill(&self) {
        let mut filler =
            std::fs::File::create(self.path.join("filler")).expect("cannot create the filler");
        let chunk = vec![0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).expect("cannot remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Registers through the API: `Some(id)` when acknowledged (201), `None`
/// for a 5xx (or a 429, when the registration limit could not count it);
/// anything else fails the test.
async fn try_register(app: &TestApp, user: &TestUser) -> Option<i64> {
    let response = app.api_register(&user.api_registration()).await;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let body = response.text().await.unwrap_or_default();
        assert!(
            body.contains("detail"),
            "a 5xx without a JSON detail: {body}"
        );
        return None;
    }
    let body = json_body(response, StatusCode::CREATED).await;
    Some(body["id"].as_i64().expect("an id"))
}

/// Every acknowledged account still logs in, as itself.
async fn assert_all_there(app: &TestApp, acknowledged: &HashMap<i64, TestUser>) {
    for (id, user) in acknowledged {
        let token = app.login_via_api(&user.email, &user.password).await;
        let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
        assert_eq!(me["id"].as_i64(), Some(*id), "{user:?}");
        assert_eq!(me["email"], user.email.as_str());
    }
}

/// A login that cannot be counted is refused (429), the right password too.
async fn assert_throttle_closed(app: &TestApp, user: &TestUser) {
    for password in [WRONG_PASSWORD, user.password.as_str()] {
        let response = app
            .api_login(&serde_json::json!({ "email": user.email, "password": password }))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "a login while writes fail must be refused"
        );
        assert!(response.headers().contains_key("retry-after"));
    }
}

/// Nothing acknowledged may be missing, and new ids are new.
async fn assert_back(app: &TestApp, acknowledged: &mut HashMap<i64, TestUser>) {
    for _ in 0..3 {
        let user = TestUser::generate();
        let id = try_register(app, &user)
            .await
            .expect("registration must work again once writes do");
        assert!(
            !acknowledged.contains_key(&id),
            "id {id} was handed out twice"
        );
        acknowledged.insert(id, user);
    }
    assert_all_there(app, acknowledged).await;
}

#[tokio::test]
async fn on_a_full_disk_sqlite_acknowledges_no_write_it_did_not_make() {
    let database = Arc::new(TestDatabase::create(&Backend::Sqlite));
    let Some(disk) = SmallDisk::mount(database.dir.path()) else {
        return;
    };
    // Without limits the account's insert is the registration's only
    // write: the one whose failed commit SQLite reports nowhere else.
    let app = TestApp::builder_on(Arc::clone(&database))
        .env("GATEHOUSE_RATE_LIMITS", "off")
        .spawn()
        .await;
    let mut acknowledged = HashMap::new();
    for _ in 0..3 {
        let user = TestUser::generate();
        let id = try_register(&app, &user).await.expect("registration");
        acknowledged.insert(id, user);
    }
    let first = acknowledged.values().next().cloned().expect("a user");

    disk.fill();
    let mut refused = 0;
    for _ in 0..400 {
        let user = TestUser::generate();
        match try_register(&app, &user).await {
            Some(id) => {
                assert!(
                    !acknowledged.contains_key(&id),
                    "id {id} was handed out twice"
                );
                acknowledged.insert(id, user);
            }
            None => refused += 1,
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(refused >= 3, "the full disk never refused a registration");
    // A form registration is refused too, without an auth cookie.
    let browser = app.new_browser();
    let form = browser.register_via_form(&TestUser::generate()).await;
    assert!(
        form.status().is_server_error(),
        "form registration: {}",
        form.status()
    );
    assert!(
        browser.auth_cookie().is_none(),
        "a cookie for an unwritten account"
    );
    // With limits on, a login that cannot be counted is refused.
    let throttled = lenient(app.builder_on_this_database()).spawn().await;
    assert_throttle_closed(&throttled, &first).await;
    let refused = try_register(&throttled, &TestUser::generate()).await;
    assert_eq!(refused, None);

    disk.free();
    assert_back(&throttled, &mut acknowledged).await;
    drop(throttled);
    assert_back(&app, &mut acknowledged).await;
    drop(app);
}

/// A trigger that refuses every change of a table at commit time, the way
/// a server out of disk or in a failed-over state would.
const REFUSE_USERS: &str = r"
CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
CREATE CONSTRAINT TRIGGER refuse_users AFTER INSERT OR UPDATE ON users
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
";

const REFUSE_RATE_LIMITS: &str = r"
CREATE CONSTRAINT TRIGGER refuse_rate_limits AFTER INSERT OR UPDATE ON rate_limits
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
";

const ALLOW_COMMITS: &str = r"
DROP TRIGGER refuse_users ON users;
DROP TRIGGER refuse_rate_limits ON rate_limits;
";

#[tokio::test]
async fn when_postgresql_refuses_the_commit_nothing_is_acknowledged() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = lenient(TestApp::builder(backend)).spawn().await;
    let mut acknowledged = HashMap::new();
    let user = TestUser::generate();
    let id = try_register(&app, &user).await.expect("registration");
    acknowledged.insert(id, user.clone());

    let mut admin = PgConnection::establish(&app.database_url).expect("connect");
    // The account's insert runs, returns its row, and fails at commit.
    admin
        .batch_execute(REFUSE_USERS)
        .expect("install the trigger");
    for _ in 0..3 {
        let response = app
            .api_register(&TestUser::generate().api_registration())
            .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let browser = app.new_browser();
    let form = browser.register_via_form(&TestUser::generate()).await;
    assert!(
        form.status().is_server_error(),
        "form registration: {}",
        form.status()
    );
    assert!(
        browser.auth_cookie().is_none(),
        "a cookie for an unwritten account"
    );
    // The throttle's counters cannot be written either: logins are refused.
    admin
        .batch_execute(REFUSE_RATE_LIMITS)
        .expect("install the trigger");
    assert_throttle_closed(&app, &user).await;

    admin
        .batch_execute(ALLOW_COMMITS)
        .expect("drop the trigger");
    assert_back(&app, &mut acknowledged).await;
}
