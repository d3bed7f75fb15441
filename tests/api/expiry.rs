//! The leeway on `exp` is five seconds, counted to the millisecond.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;

use crate::helpers::{Backend, sign_token, spawn_with_known_secret, valid_claims};

backend_tests!(a_token_is_refused_once_exp_plus_five_seconds_has_passed);

/// Waits until the clock is between 200 and 400 ms into a second and
/// returns that second.
async fn early_in_a_second() -> i64 {
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let millis = now.subsec_millis();
        if (200..400).contains(&millis) {
            return i64::try_from(now.as_secs()).unwrap();
        }
        let wait = (1200 - millis) % 1000;
        tokio::time::sleep(Duration::from_millis(u64::from(wait))).await;
    }
}

async fn a_token_is_refused_once_exp_plus_five_seconds_has_passed(backend: Backend) {
    let (app, secret) = spawn_with_known_secret(backend).await;
    let (_, _, issued) = app.user_with_token().await;
    let token_expiring = |exp: i64| {
        let mut claims = valid_claims(&issued);
        claims["exp"] = exp.into();
        claims["iat"] = (exp - 60).into();
        sign_token(&claims, secret.as_bytes())
    };

    // 0.2–0.4 s past exp + 5 s: a count in whole seconds would still take it.
    let second = early_in_a_second().await;
    let just_past = token_expiring(second - 5);
    let within = token_expiring(second - 4);
    let past = app.api_me(&just_past).await.status();
    let inside = app.api_me(&within).await.status();
    assert_eq!(
        past,
        StatusCode::UNAUTHORIZED,
        "a token 0.2 s past its leeway"
    );
    assert_eq!(inside, StatusCode::OK, "a token 0.6 s inside its leeway");

    // The same for pages, and for a token the cache has seen: accepted now,
    // refused once its leeway has passed, to the millisecond.
    let second = early_in_a_second().await;
    let cached = token_expiring(second - 4);
    assert_eq!(
        app.get_me_with_cookie(&cached).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.api_me(&cached).await.status(), StatusCode::OK);
    // exp + 5 s is `second + 1`; wait until 0.2 s past it.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let target = Duration::from_millis(u64::try_from(second + 1).unwrap() * 1000 + 200);
    tokio::time::sleep(target.saturating_sub(now)).await;
    assert_eq!(app.api_me(&cached).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_me_with_cookie(&cached).await.status(),
        StatusCode::SEE_OTHER
    );
}
