//! axe-core, from the npm registry (never a CDN): found at
//! `$GATEHOUSE_AXE_JS` or `target/axe/package/axe.min.js`, else fetched once
//! with `npm pack` and unpacked with `tar`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Once, OnceLock};

use serde_json::Value;

use crate::driver::{Browser, in_ci, notice_once};

/// The pinned axe-core release (`.ci/run` fetches the same one).
pub const AXE_VERSION: &str = "4.14.1";
const AXE_VAR: &str = "GATEHOUSE_AXE_JS";
/// The WCAG 2.0 and 2.1 rules, levels A and AA.
const TAGS: &str = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']";

/// The source of axe.min.js, or `None` (after one line on stderr) when it is
/// not there and cannot be fetched; under `CI=true` that fails instead.
pub fn source() -> Option<&'static str> {
    static SOURCE: OnceLock<Result<String, String>> = OnceLock::new();
    match SOURCE.get_or_init(load) {
        Ok(source) => Some(source.as_str()),
        Err(reason) => {
            assert!(!in_ci(), "accessibility tests must run in CI: {reason}");
            static NOTICE: Once = Once::new();
            notice_once(
                &NOTICE,
                &format!(
                    "skipping accessibility tests: axe-core not found ({reason}); run \
                     `npm pack axe-core@{AXE_VERSION} --pack-destination target/axe` and \
                     `tar -xzf target/axe/axe-core-{AXE_VERSION}.tgz -C target/axe`, or set \
                     {AXE_VAR} to an axe.min.js"
                ),
            );
            None
        }
    }
}

fn load() -> Result<String, String> {
    if let Some(path) = std::env::var_os(AXE_VAR).filter(|p| !p.is_empty()) {
        return std::fs::read_to_string(&path)
            .map_err(|e| format!("{AXE_VAR}={}: {e}", Path::new(&path).display()));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let file = dir.join("package/axe.min.js");
    if let Some(source) = pinned(&file) {
        return Ok(source);
    }
    fetch(&dir)?;
    pinned(&file).ok_or_else(|| {
        format!(
            "{} is not axe-core {AXE_VERSION} after fetching it",
            file.display()
        )
    })
}

/// The file's text when it is the pinned release.
fn pinned(file: &Path) -> Option<String> {
    let source = std::fs::read_to_string(file).ok()?;
    let banner = format!("axe v{AXE_VERSION}");
    source
        .lines()
        .next()
        .is_some_and(|first| first.trim_end().ends_with(&banner))
        .then_some(source)
}

/// `npm pack axe-core@VERSION` into `dir`, then `tar` out `package/axe.min.js`.
fn fetch(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tarball: PathBuf = dir.join(format!("axe-core-{AXE_VERSION}.tgz"));
    if !tarball.is_file() {
        let npm = Command::new("npm")
            .args([
                "pack",
                &format!("axe-core@{AXE_VERSION}"),
                "--pack-destination",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("npm could not run: {e}"))?;
        if !npm.status.success() {
            return Err(format!(
                "npm pack axe-core@{AXE_VERSION} failed: {}",
                String::from_utf8_lossy(&npm.stderr).trim()
            ));
        }
    }
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg("package/axe.min.js")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("tar could not run: {e}"))?;
    if !tar.status.success() {
        return Err(format!(
            "tar could not unpack {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    Ok(())
}

/// Injects axe-core into the current page and runs the WCAG 2.0/2.1 A and
/// AA rules on the whole document. Returns the violations, each described
/// on a few lines (rule id, impact, help, failing nodes' selectors).
pub async fn violations(browser: &Browser) -> Vec<String> {
    let source = source().expect("axe-core is loaded before a test runs");
    browser
        .client
        .execute(source, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("cannot inject axe-core: {e}"));
    let script = format!(
        "const done = arguments[arguments.length - 1];
         axe.run(document, {{ runOnly: {{ type: 'tag', values: {TAGS} }}, resultTypes: ['violations'] }})
           .then(results => done({{ violations: results.violations.map(v => ({{
               id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
               nodes: v.nodes.map(n => ({{ target: n.target.join(' '), summary: n.failureSummary }})),
           }})) }}))
           .catch(error => done({{ error: String(error) }}));"
    );
    let results = browser
        .client
        .execute_async(&script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("axe.run failed: {e}"));
    if let Some(error) = results["error"].as_str() {
        panic!("axe.run failed: {error}");
    }
    results["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no violations list in {results}"))
        .iter()
        .map(describe)
        .collect()
}

fn describe(violation: &Value) -> String {
    let mut text = format!(
        "{} ({}): {} <{}>",
        violation["id"].as_str().unwrap_or("?"),
        violation["impact"].as_str().unwrap_or("?"),
        violation["help"].as_str().unwrap_or("?"),
        violation["helpUrl"].as_str().unwrap_or("?"),
    );
    for node in violation["nodes"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n    {}: {}",
            node["target"].as_str().unwrap_or("?"),
            node["summary"]
                .as_str()
                .unwrap_or_default()
                .replace('\n', "\n      ")
        ));
    }
    text
}
