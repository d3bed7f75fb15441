//! Several instances, and `gatehouse migrate` runs, starting at the same
//! moment on one fresh database: all of them come up.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{Backend, TestDatabase, listening_address, run_gatehouse};

backend_tests! {
    multi_thread:
        four_servers_started_together_on_an_empty_database_all_serve,
        three_migrate_runs_started_together_all_succeed;
}

/// A server process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gatehouse serve` and returns it with the address it printed, or
/// what it printed instead when it exited first.
fn start(database: &TestDatabase, gate: &Barrier) -> (Server, Result<String, String>) {
    let mut command = database.command(&["serve"], &[]);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    gate.wait();
    let mut child = command.spawn().expect("failed to start gatehouse");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let server = Server(child);
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(address) = listening_address(&line) {
            return (server, Ok(address));
        }
        printed.push_str(&line);
        printed.push('\n');
    }
    // Stdout closed: the process ended without listening.
    let mut errors = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        errors.push_str(&line);
        errors.push('\n');
    }
    (
        server,
        Err(format!("stdout:\n{printed}\nstderr:\n{errors}")),
    )
}

async fn four_servers_started_together_on_an_empty_database_all_serve(backend: Backend) {
    let database = Arc::new(TestDatabase::create(&backend));
    let gate = Arc::new(Barrier::new(4));
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (database, gate) = (Arc::clone(&database), Arc::clone(&gate));
            std::thread::spawn(move || start(&database, &gate))
        })
        .collect();
    let started: Vec<(Server, Result<String, String>)> =
        starts.into_iter().map(|s| s.join().unwrap()).collect();

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for (n, (_server, address)) in started.iter().enumerate() {
        let address = address
            .as_ref()
            .unwrap_or_else(|printed| panic!("server {n} did not come up:\n{printed}"));
        let health = client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK, "server {n} at {address}");
    }
}

async fn three_migrate_runs_started_together_all_succeed(backend: Backend) {
    let database = Arc::new(TestDatabase::create(&backend));
    let gate = Arc::new(Barrier::new(3));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (database, gate) = (Arc::clone(&database), Arc::clone(&gate));
            std::thread::spawn(move || {
                gate.wait();
                run_gatehouse(&database, &["migrate"], &[])
            })
        })
        .collect();
    for (n, run) in runs.into_iter().enumerate() {
        let finished = run.join().unwrap();
        assert!(finished.status.success(), "migrate run {n}: {finished:#?}");
    }
    // The schema is complete: a server on it serves.
    let finished = run_gatehouse(&database, &["purge-denylist"], &[]);
    assert!(finished.status.success(), "{finished:#?}");
}
