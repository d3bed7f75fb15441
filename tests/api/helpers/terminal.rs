//! A command run as an operator runs it at a shell: on a terminal of its
//! own (a pseudo-terminal made by `tests/support/terminal.py`), so that a
//! password prompt really prompts and its echo switch is observed.

use std::process::{Command, Stdio};
use std::sync::Once;

use serde::Deserialize;

use super::app::TestDatabase;
use super::skip::{needed, runs};

const PYTHON: &str = "/usr/bin/python3";
const TERMINAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/terminal.py");

/// What the terminal showed of a finished command.
#[derive(Debug, Deserialize)]
pub struct OnTerminal {
    /// The exit status (negative: killed by that signal, after the
    /// driver's timeout).
    pub status: i32,
    /// Everything written to the terminal, prompts and typed lines that
    /// were echoed included.
    pub shown: String,
    /// The line the command never asked for (no prompt with echo off).
    pub stuck_at_line: Option<usize>,
}

/// Runs `gatehouse ARGS` against `database` on a terminal, typing each of
/// `lines` at a prompt shown with echo off. `None` (one line for the run)
/// where Python is missing outside CI.
pub fn run_gatehouse_on_terminal(
    database: &TestDatabase,
    args: &[&str],
    lines: &[&str],
) -> Option<OnTerminal> {
    static NOTICE: Once = Once::new();
    if !needed(
        runs(PYTHON, &["--version"]),
        &NOTICE,
        "the password prompt tests",
        "apt-get install python3",
    ) {
        return None;
    }
    let gatehouse = database.command(args, &[]);
    let mut driver = Command::new(PYTHON);
    driver
        .arg(TERMINAL)
        .args(lines)
        .arg("--")
        .arg(gatehouse.get_program())
        .args(gatehouse.get_args());
    for (key, value) in gatehouse.get_envs() {
        match value {
            Some(value) => driver.env(key, value),
            None => driver.env_remove(key),
        };
    }
    if let Some(dir) = gatehouse.get_current_dir() {
        driver.current_dir(dir);
    }
    let output = driver
        .stdin(Stdio::null())
        .output()
        .expect("the terminal driver did not start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the terminal driver failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}
