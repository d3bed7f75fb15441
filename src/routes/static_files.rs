//! Static files, compiled into the binary so it runs from any directory.
//! Pages link the stylesheet with its content hash in the URL, so it can be
//! cached for a year and still change with a new release.

use std::sync::LazyLock;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::web::AppError;

const STYLESHEET: &str = include_str!("../../static/style.css");

/// `/static/style.css?v=<hash of its content>`.
pub static STYLESHEET_URL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "/static/style.css?v={}",
        content_version(STYLESHEET.as_bytes())
    )
});

/// FNV-1a: stable across builds and platforms, enough to tell versions apart.
fn content_version(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

pub async fn static_file(
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let body = match name.as_str() {
        "style.css" => STYLESHEET,
        _ => return Err(AppError::NotFound),
    };
    // Only the current version's URL may be kept for long.
    let versioned = req
        .uri()
        .path_and_query()
        .is_some_and(|p| p.as_str() == STYLESHEET_URL.as_str());
    let cache = if versioned {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ]
    } else {
        vec![CacheDirective::Public, CacheDirective::MaxAge(300)]
    };
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(CacheControl(cache))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content() {
        assert_eq!(content_version(b"a"), content_version(b"a"));
        assert_ne!(content_version(b"a"), content_version(b"b"));
        assert!(STYLESHEET_URL.starts_with("/static/style.css?v="));
    }
}
