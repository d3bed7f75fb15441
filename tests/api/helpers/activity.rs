//! The activity log as `gatehouse audit --json` prints it.

use serde_json::Value;

use super::app::{TestApp, run_gatehouse};

/// `gatehouse audit ARGS --json`, expecting success: one object per line.
pub fn audit(app: &TestApp, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.push("--json");
    let finished = run_gatehouse(&app.database, &all, &[]);
    assert!(finished.status.success(), "{finished:?}");
    finished
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

/// The names of the user's events, oldest first.
pub fn event_names(app: &TestApp, email: &str) -> Vec<String> {
    audit(app, &["--user", email])
        .iter()
        .map(|e| e["event"].as_str().expect("event is a string").to_owned())
        .collect()
}

/// The user's events named `name`, oldest first.
pub fn events_named(app: &TestApp, email: &str, name: &str) -> Vec<Value> {
    audit(app, &["--user", email])
        .into_iter()
        .filter(|e| e["event"] == name)
        .collect()
}
