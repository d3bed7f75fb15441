//! `sslrootcert=system` with the vendored OpenSSL.
//!
//! libpq's `sslrootcert=system` trusts OpenSSL's default CA locations. The
//! OpenSSL built into this binary has its defaults under its build prefix
//! (`/usr/local/ssl`), which no distribution fills, so every server
//! certificate would fail to verify. Unless the operator picked the store
//! with `SSL_CERT_FILE` or `SSL_CERT_DIR` (OpenSSL reads those itself), the
//! URL's `system` becomes the path of the bundle the distribution ships, as
//! found by `openssl-probe`, and the `sslmode=verify-full` that `system`
//! implies is spelt out. Anything libpq would refuse is left for libpq to
//! refuse with its own message.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The variables through which the operator chooses OpenSSL's store.
const STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// What a path may keep unencoded in a URL query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// [`with_system_roots`] with the process's environment and the real probe.
/// Called once, when the pool is built.
pub fn resolve_system_roots(url: &str) -> String {
    let mut probed = None;
    let resolved = with_system_roots(
        url,
        |name| std::env::var_os(name),
        || {
            let bundle = system_bundle();
            probed = Some(bundle.clone());
            bundle
        },
    );
    // The URL may hold a password: only the bundle is logged.
    match probed {
        Some(Some(bundle)) => tracing::info!(
            bundle = %bundle.display(),
            "PostgreSQL sslrootcert=system: trusting the system's CA bundle"
        ),
        Some(None) => tracing::warn!(
            "PostgreSQL sslrootcert=system: no CA bundle found in the usual places; \
             set SSL_CERT_FILE or sslrootcert=/path/to/ca.pem"
        ),
        None => {}
    }
    resolved
}

/// The CA bundle the system ships, looked for in the places distributions
/// use. `openssl-probe` prefers `SSL_CERT_FILE` when that names a file, which
/// is why [`with_system_roots`] asks only when the variable is unset.
pub fn system_bundle() -> Option<PathBuf> {
    openssl_probe::probe().cert_file
}

/// The libpq URL `url` with `sslrootcert=system` replaced by the bundle that
/// `probe` finds, and `sslmode=verify-full` added when the URL and the
/// environment (`env`) name no mode. `url` comes back unchanged when the
/// root is not `system`, when `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, when
/// the mode in force is not `verify-full` (libpq refuses that with
/// `system`), when the query does not parse, or when `probe` finds nothing.
pub fn with_system_roots(
    url: &str,
    env: impl Fn(&str) -> Option<OsString>,
    probe: impl FnOnce() -> Option<PathBuf>,
) -> String {
    rewrite(url, &env, probe).unwrap_or_else(|| url.to_owned())
}

fn rewrite(
    url: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
    probe: impl FnOnce() -> Option<PathBuf>,
) -> Option<String> {
    // An empty `SSL_CERT_*` chooses nothing; libpq's own variables count as
    // libpq reads them.
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    let is = |value: &[u8], expected: &str| value == expected.as_bytes();

    // libpq's parse: `&`-separated `key=value`, both percent-decoded, the
    // last of a key winning; one `&` may end the query.
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut raw: Vec<&str> = query.split('&').collect();
    if query.is_empty() || (raw.len() > 1 && raw.last() == Some(&"")) {
        raw.pop();
    }
    let mut params = Vec::with_capacity(raw.len());
    for param in &raw {
        let (key, value) = param.split_once('=')?;
        params.push((decode(key), decode(value)));
    }
    let last = |name: &str| params.iter().rposition(|(key, _)| is(key, name));

    let root = last("sslrootcert");
    match root {
        Some(i) if !is(&params[i].1, "system") => return None,
        None if env("PGSSLROOTCERT").as_deref() != Some(OsStr::new("system")) => return None,
        _ => {}
    }
    if STORE_VARIABLES.iter().any(|name| set(name).is_some()) {
        return None;
    }
    // The mode in force, as libpq picks it: `ssl=true` is its alias of
    // `sslmode=require`, and so is `PGREQUIRESSL=1`.
    let require = || OsString::from("require");
    let value = |i: usize| OsString::from(String::from_utf8_lossy(&params[i].1).into_owned());
    let mode = match (last("ssl"), last("sslmode")) {
        (Some(ssl), Some(i)) if i > ssl => Some(value(i)),
        (Some(_), _) => Some(require()),
        (None, Some(i)) => Some(value(i)),
        (None, None) => env("PGSSLMODE").or_else(|| {
            env("PGREQUIRESSL")
                .filter(|value| value.as_encoded_bytes().starts_with(b"1"))
                .map(|_| require())
        }),
    };
    if mode.as_deref().is_some_and(|mode| mode != "verify-full") {
        return None;
    }

    let root_param = format!("sslrootcert={}", encode(&probe()?)?);
    let mut query = raw;
    match root {
        Some(i) => query[i] = &root_param,
        None => query.push(&root_param),
    }
    if mode.is_none() {
        query.push("sslmode=verify-full");
    }
    Some(format!("{base}?{}", query.join("&")))
}

fn decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

fn encode(path: &Path) -> Option<String> {
    path.to_str()
        .map(|path| utf8_percent_encode(path, QUERY_VALUE).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn found() -> Option<PathBuf> {
        Some(PathBuf::from(BUNDLE))
    }

    fn rewritten(url: &str) -> String {
        with_system_roots(url, no_env, found)
    }

    fn env_with(name: &'static str, value: &'static str) -> impl Fn(&str) -> Option<OsString> {
        move |asked| (asked == name).then(|| OsString::from(value))
    }

    #[test]
    fn system_becomes_the_bundle_and_verify_full_is_spelt_out() {
        assert_eq!(
            rewritten("postgres://u:p@db.example:5432/app?sslrootcert=system"),
            format!("postgres://u:p@db.example:5432/app?sslrootcert={BUNDLE}&sslmode=verify-full")
        );
    }

    #[test]
    fn other_parameters_and_their_order_are_kept() {
        assert_eq!(
            rewritten(
                "postgresql://db/app?connect_timeout=5&sslmode=verify-full\
                 &sslrootcert=system&application_name=a%20b"
            ),
            format!(
                "postgresql://db/app?connect_timeout=5&sslmode=verify-full\
                 &sslrootcert={BUNDLE}&application_name=a%20b"
            )
        );
    }

    #[test]
    fn percent_encoded_keys_and_values_are_decoded() {
        assert_eq!(
            rewritten("postgres://db/app?ssl%72ootcert=syst%65m&ssl%6Dode=verify%2Dfull"),
            format!("postgres://db/app?sslrootcert={BUNDLE}&ssl%6Dode=verify%2Dfull")
        );
    }

    #[test]
    fn the_bundle_path_is_percent_encoded() {
        let url = with_system_roots("postgres://db/app?sslrootcert=system", no_env, || {
            Some(PathBuf::from("/opt/my certs/ca&roots#1.pem"))
        });
        assert_eq!(
            url,
            "postgres://db/app?sslrootcert=/opt/my%20certs/ca%26roots%231.pem&sslmode=verify-full"
        );
    }

    #[test]
    fn the_last_sslrootcert_is_the_one_in_force() {
        assert_eq!(
            rewritten("postgres://db/app?sslrootcert=/a.pem&sslrootcert=system"),
            format!(
                "postgres://db/app?sslrootcert=/a.pem&sslrootcert={BUNDLE}&sslmode=verify-full"
            )
        );
        let url = "postgres://db/app?sslrootcert=system&sslrootcert=/a.pem";
        assert_eq!(rewritten(url), url);
    }

    #[test]
    fn urls_without_sslrootcert_system_are_left_alone() {
        for url in [
            "postgres://u:p@db/app",
            "postgres://db/app?sslmode=verify-full",
            "postgres://db/app?sslmode=verify-full&sslrootcert=/etc/db/ca.pem",
            "postgres://db/app?sslrootcert=System",
            "postgres://db/app?application_name=system",
        ] {
            assert_eq!(rewritten(url), url);
        }
    }

    #[test]
    fn modes_libpq_refuses_with_system_are_left_for_libpq_to_refuse() {
        for url in [
            "postgres://db/app?sslrootcert=system&sslmode=require",
            "postgres://db/app?sslmode=verify-ca&sslrootcert=system",
            "postgres://db/app?sslrootcert=system&ssl=true",
            "postgres://db/app?sslmode=verify-full&sslrootcert=system&ssl=true",
        ] {
            assert_eq!(rewritten(url), url);
        }
        assert_eq!(
            rewritten("postgres://db/app?ssl=true&sslrootcert=system&sslmode=verify-full"),
            format!("postgres://db/app?ssl=true&sslrootcert={BUNDLE}&sslmode=verify-full")
        );
        let url = "postgres://db/app?sslrootcert=system";
        for mode in ["require", ""] {
            assert_eq!(
                with_system_roots(url, env_with("PGSSLMODE", mode), found),
                url
            );
        }
        assert_eq!(
            with_system_roots(url, env_with("PGREQUIRESSL", "1"), found),
            url
        );
        assert_eq!(
            with_system_roots(url, env_with("PGSSLMODE", "verify-full"), found),
            format!("postgres://db/app?sslrootcert={BUNDLE}")
        );
    }

    #[test]
    fn pgsslrootcert_system_counts_when_the_url_names_no_root() {
        assert_eq!(
            with_system_roots(
                "postgres://db/app",
                env_with("PGSSLROOTCERT", "system"),
                found
            ),
            format!("postgres://db/app?sslrootcert={BUNDLE}&sslmode=verify-full")
        );
        let url = "postgres://db/app?sslrootcert=/etc/db/ca.pem";
        assert_eq!(
            with_system_roots(url, env_with("PGSSLROOTCERT", "system"), found),
            url
        );
    }

    #[test]
    fn the_operators_ssl_cert_variables_are_honoured() {
        let url = "postgres://db/app?sslrootcert=system";
        for name in STORE_VARIABLES {
            assert_eq!(
                with_system_roots(url, env_with(name, "/etc/db/roots"), || {
                    panic!("no probe when {name} is set")
                }),
                url
            );
        }
        // Set but empty is not a choice of store.
        assert_eq!(
            with_system_roots(url, env_with("SSL_CERT_FILE", ""), found),
            format!("postgres://db/app?sslrootcert={BUNDLE}&sslmode=verify-full")
        );
    }

    #[test]
    fn nothing_found_leaves_the_url_alone() {
        let url = "postgres://u:p@db/app?sslrootcert=system";
        assert_eq!(with_system_roots(url, no_env, || None), url);
    }

    #[test]
    fn a_query_libpq_would_reject_is_left_for_libpq() {
        for url in [
            "postgres://db/app?sslrootcert=system&oops",
            "postgres://db/app?sslrootcert=system&&sslmode=verify-full",
            "postgres://db/app?&sslrootcert=system",
        ] {
            assert_eq!(rewritten(url), url);
        }
    }

    #[test]
    fn a_trailing_ampersand_and_undecodable_bytes_are_what_libpq_accepts() {
        assert_eq!(
            rewritten("postgres://db/app?application_name=%FF&sslrootcert=system&"),
            format!(
                "postgres://db/app?application_name=%FF&sslrootcert={BUNDLE}&sslmode=verify-full"
            )
        );
    }
}
