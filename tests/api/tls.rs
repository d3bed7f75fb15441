//! Verified TLS to PostgreSQL: `gatehouse migrate` against a cluster of this
//! test's own, whose server certificate for `localhost` is signed by a CA
//! made here, with `sslrootcert=<file>`, with `sslrootcert=system` and
//! `SSL_CERT_FILE`, and with `sslrootcert=system` alone, where the system's
//! CA store must be what is read.
//!
//! Self-contained on purpose: the binary is run here with an environment of
//! its own, not through the shared harness.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::helpers::{Backend, certificates, free_port};

/// Where Debian keeps the system's CA bundle.
const DEBIAN_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The line `gatehouse` logs when `sslrootcert=system` found a bundle.
const TRUSTING_BUNDLE: &str = "PostgreSQL sslrootcert=system: trusting the system's CA bundle";
/// OpenSSL's words for a chain that ends in no trusted root.
const VERIFY_FAILED: &str = "certificate verify failed";

backend_tests! {
    postgres_only: sslrootcert_file_and_system_store;
}

async fn sslrootcert_file_and_system_store(_backend: Backend) {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let ca = cluster.ca.display().to_string();
    let url = |query: &str| {
        format!(
            "postgres://postgres@localhost:{}/postgres?{query}",
            cluster.port
        )
    };

    let file = migrate(
        &cluster.dir,
        &url(&format!("sslmode=verify-full&sslrootcert={ca}")),
        &[],
    );
    assert_success("sslrootcert=<the test CA>", &file);

    let env_file = migrate(
        &cluster.dir,
        &url("sslrootcert=system"),
        &[("SSL_CERT_FILE", ca.as_str())],
    );
    assert_success(
        "sslrootcert=system with SSL_CERT_FILE=<the test CA>",
        &env_file,
    );

    // The system's store does not hold the test's CA: verification fails,
    // an error, not a panic. libpq words it the same whether it read the
    // system's bundle or found no store at all: the next case tells which.
    let system = migrate(&cluster.dir, &url("sslrootcert=system"), &[]);
    // A command logs on stderr, beside its error.
    let stderr = String::from_utf8_lossy(&system.stderr);
    assert_eq!(
        system.status.code(),
        Some(1),
        "sslrootcert=system without SSL_CERT_*: expected exit 1\n{}",
        describe(&system)
    );
    assert!(
        stderr.contains(VERIFY_FAILED) && !stderr.contains("panicked"),
        "sslrootcert=system without SSL_CERT_*: expected {VERIFY_FAILED:?}\n{}",
        describe(&system)
    );

    // The same, with the system's bundle replaced by the test's CA in a
    // mount namespace of that process alone: now it verifies, which only
    // reading the system's bundle explains.
    match migrate_with_system_bundle(&cluster.dir, &url("sslrootcert=system"), &cluster.ca) {
        Some(output) => assert_success(
            "sslrootcert=system, the system bundle holding the test CA",
            &output,
        ),
        None => eprintln!(
            "skipping the case of a system bundle holding the test CA: \
             cannot bind-mount over {DEBIAN_BUNDLE} in a private mount namespace"
        ),
    }

    // Which bundle was trusted, from the log line that says so.
    if Path::new(DEBIAN_BUNDLE).exists() {
        assert!(
            stderr.contains(TRUSTING_BUNDLE) && stderr.contains(DEBIAN_BUNDLE),
            "sslrootcert=system without SSL_CERT_*: expected {DEBIAN_BUNDLE} to be trusted\n{}",
            describe(&system)
        );
    }
}

/// With no environment, the probe finds the bundle Debian ships.
#[test]
fn the_probe_finds_debians_bundle_with_no_environment() {
    if !Path::new(DEBIAN_BUNDLE).exists() {
        eprintln!("skipping the probe check: {DEBIAN_BUNDLE} does not exist on this host");
        return;
    }
    let dir = tempdir();
    // Port 1 on loopback refuses at once; the probe runs before connecting.
    let output = migrate(
        dir.path(),
        "postgres://postgres@127.0.0.1:1/postgres?sslrootcert=system",
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains(TRUSTING_BUNDLE))
        .unwrap_or_else(|| panic!("no {TRUSTING_BUNDLE:?} line\n{}", describe(&output)));
    assert!(
        line.contains(&format!("bundle={DEBIAN_BUNDLE}")),
        "the probe found another bundle: {line}"
    );
}

fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("gatehouse-tls-")
        .tempdir()
        .expect("failed to create a temporary directory")
}

/// `gatehouse migrate` with only `PATH`, `HOME` (the temporary folder, so no
/// `~/.postgresql` of the user's counts), `RUST_LOG`, `DATABASE_URL` and
/// `env`: no inherited `GATEHOUSE_*`, `PG*` or `SSL_CERT_*`.
fn migrate(dir: &Path, url: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command.arg("migrate");
    clean_env(&mut command, dir, url, env);
    command.output().expect("failed to run gatehouse")
}

fn clean_env(command: &mut Command, dir: &Path, url: &str, env: &[(&str, &str)]) {
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", url)
        .envs(env.iter().copied());
}

/// `gatehouse migrate` with the system's bundle replaced by `ca` for that
/// process alone, in a private mount namespace; `None` where that cannot be
/// made (not root, no `unshare`, no such bundle).
fn migrate_with_system_bundle(dir: &Path, url: &str, ca: &Path) -> Option<Output> {
    if !is_root() || !Path::new(DEBIAN_BUNDLE).exists() {
        return None;
    }
    let in_namespace = |program: &[&OsString]| {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$1" "$2" && shift 2 && exec "$@""#)
            .arg("sh")
            .arg(ca)
            .arg(DEBIAN_BUNDLE)
            .args(program);
        clean_env(&mut command, dir, url, &[]);
        command.output().ok()
    };
    let usable = in_namespace(&[&OsString::from("true")])?;
    if !usable.status.success() {
        return None;
    }
    in_namespace(&[
        &OsString::from(env!("CARGO_BIN_EXE_gatehouse")),
        &OsString::from("migrate"),
    ])
}

fn assert_success(case: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{case}: expected gatehouse migrate to succeed\n{}",
        describe(output)
    );
}

fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// A PostgreSQL cluster in a temporary folder, with `ssl=on`, trust over TCP
/// on 127.0.0.1 and a free port; stopped when dropped, before its folder goes.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    ca: PathBuf,
    port: u16,
    as_root: bool,
    _temp: TempDir,
}

impl Cluster {
    /// `None` (after one line on stderr) where PostgreSQL's programs are not
    /// installed, except under `CI=true`, where that fails the test.
    fn start() -> Option<Cluster> {
        let Some(bin) = postgres_bin() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("initdb not found under /usr/lib/postgresql/*/bin or on PATH");
            }
            eprintln!(
                "skipping the TLS test: initdb not found under /usr/lib/postgresql/*/bin or on PATH"
            );
            return None;
        };
        let temp = tempdir();
        let dir = temp.path().to_owned();
        let data = dir.join("data");
        let sockets = dir.join("sockets");
        fs::create_dir(&sockets).expect("failed to create the socket folder");

        let (ca_pem, cert_pem, key_pem) = certificates();
        let ca = dir.join("ca.pem");
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        fs::write(&ca, ca_pem).expect("failed to write the CA");
        fs::write(&cert, cert_pem).expect("failed to write the server certificate");
        fs::write(&key, key_pem).expect("failed to write the server key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .expect("failed to restrict the server key");

        // initdb refuses to run as root: the cluster belongs to `postgres`.
        let as_root = is_root();
        if as_root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("failed to run chown");
            assert!(status.success(), "chown to postgres failed");
        }
        let port = free_port();
        let cluster = Cluster {
            bin,
            dir,
            data,
            ca,
            port,
            as_root,
            _temp: temp,
        };
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        );
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            sockets.display(),
            cert.display(),
            key.display()
        );
        let conf = cluster.data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).expect("failed to read postgresql.conf");
        text.push_str(&settings);
        fs::write(&conf, text).expect("failed to write postgresql.conf");

        let log = cluster.dir.join("server.log");
        let started = cluster.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
        if !started.status.success() {
            panic!(
                "pg_ctl start failed\n{}\nserver log:\n{}",
                describe(&started),
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Some(cluster)
    }

    /// One of PostgreSQL's programs, as `postgres` when the test runs as root.
    fn command(&self, program: &str, args: &[&OsStr]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {program}: {e}"))
    }

    fn run(&self, program: &str, args: &[&OsStr]) {
        let output = self.command(program, args);
        assert!(
            output.status.success(),
            "{program} failed\n{}",
            describe(&output)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Also after a failed start: pg_ctl only reports that none runs.
        let _ = self.command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

/// The folder of the newest PostgreSQL installed, or of `initdb` on `PATH`.
fn postgres_bin() -> Option<PathBuf> {
    let mut installed: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    installed.sort();
    installed.pop().map(|(_, bin)| bin).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    })
}
