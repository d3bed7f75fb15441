//! Sessions that last, in a real browser: "Keep me logged in" survives the
//! access token's end while the person keeps clicking, and the sessions
//! page ends another browser's session.

use std::time::Duration;

use crate::helpers::TestUser;

e2e_test!(
    #[env("GATEHOUSE_TOKEN_TTL" = "1s")]
    async fn a_remembered_login_outlives_its_access_token_while_in_use(t) {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let browser = t.browser().await;
        browser.goto("/login").await;
        browser.type_into("Email", &user.email).await;
        browser.type_into("Password", &user.password).await;
        browser.tick("Keep me logged in").await;
        browser.press("Log in").await;
        assert_eq!(browser.path().await, "/me");

        // The refresh cookie outlives the browser: it has an expiry.
        let cookie = browser
            .client
            .get_named_cookie("gatehouse_refresh")
            .await
            .expect("no refresh cookie in the browser");
        assert!(cookie.expires().is_some(), "a remembered login's cookie ends with the browser");

        // Each access token lives a second (plus the 5 s leeway); keep
        // clicking for longer than that: never sent to the login page.
        for round in 0..3 {
            tokio::time::sleep(Duration::from_millis(3500)).await;
            for path in ["/", "/me", "/me/sessions"] {
                browser.goto(path).await;
                assert_eq!(browser.path().await, path, "round {round}: sent away from {path}");
                assert!(browser.text().await.contains(&user.username) || path == "/me/sessions");
            }
        }
    }
);

e2e_test!(
    async fn the_sessions_page_ends_another_browsers_session(t) {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let mine = t.browser().await;
        mine.log_in(&user).await;
        let other = t.browser().await;
        other.log_in(&user).await;

        mine.goto("/me/sessions").await;
        let page = mine.text().await;
        assert_eq!(page.matches("This device").count(), 1, "{page}");
        mine.press_starting_with("End this session").await;
        assert_eq!(mine.path().await, "/me/sessions");
        assert!(mine.text().await.contains("Session ended"));

        // The other browser is logged out at its next click.
        other.goto("/me").await;
        assert!(other.path().await.starts_with("/login"), "{}", other.path().await);
        // This one is not.
        mine.goto("/me").await;
        assert_eq!(mine.path().await, "/me");
    }
);
