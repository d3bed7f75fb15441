/// Where to send a user after login: `raw` when it is a path on this site,
/// else `/me`. A local path starts with exactly one `/`; `//host` and
/// `/\host` are read by browsers as other hosts, and control characters or
/// backslashes have no place in our own paths.
pub fn next_path(raw: Option<&str>) -> &str {
    const FALLBACK: &str = "/me";
    let Some(path) = raw else {
        return FALLBACK;
    };
    // Encoded slashes and controls count as what they encode.
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if path.len() <= 2048 && is_local(path) && is_local(&decoded) {
        path
    } else {
        FALLBACK
    }
}

fn is_local(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for path in ["/", "/me", "/me?tab=1", "/a/b#c", "/me?next=%2Fme"] {
            assert_eq!(next_path(Some(path)), path);
        }
    }

    #[test]
    fn everything_else_falls_back_to_the_account_page() {
        for raw in [
            "",
            "me",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/\n/evil.example",
            "/%2F/evil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
        ] {
            assert_eq!(next_path(Some(raw)), "/me", "{raw:?}");
        }
        assert_eq!(next_path(None), "/me");
    }
}
