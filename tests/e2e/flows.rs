//! What a person does with the pages: register, log out, log in (and be
//! sent back where they were going), get things wrong, press Back, and use
//! two browsers at once.

use serde_json::{Value, json};

use crate::driver::Browser;
use crate::helpers::{
    EMAIL_INVALID, INVALID_CREDENTIALS, LOGGED_OUT, LOGIN_FOR_ME, PASSWORD_TOO_SHORT,
    PASSWORDS_DIFFER, TestUser, USERNAME_LENGTH,
};

const LOGGED_OUT_EVERYWHERE: &str = "You have been logged out everywhere";

/// Asserts that the page shows the account of `user`.
async fn assert_shows_account(browser: &Browser, user: &TestUser) {
    assert_eq!(browser.path().await, "/me");
    let text = browser.text().await;
    assert!(text.contains(&user.username), "no username on /me:\n{text}");
    assert!(text.contains(&user.email), "no email on /me:\n{text}");
}

/// Asserts that the browser was sent to the login page and sees nothing of
/// `user`'s account.
async fn assert_sent_to_login(browser: &Browser, user: &TestUser) {
    let path = browser.path().await;
    assert!(path.starts_with("/login"), "not on the login page: {path}");
    let text = browser.text().await;
    assert!(
        !text.contains(&user.email) && !text.contains(&user.username),
        "the account shows on {path}:\n{text}"
    );
}

e2e_test!(
    async fn registering_lands_on_the_account_page(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();

        browser.register(&user).await;

        assert_shows_account(&browser, &user).await;
        assert_eq!(browser.title().await, "Your account · gatehouse");
        let text = browser.text().await;
        assert!(
            text.contains(&format!("Signed in as {}", user.username)),
            "{text}"
        );
    }
);

e2e_test!(
    async fn logging_out_says_so_and_locks_the_account_page(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();
        browser.register(&user).await;

        browser.press("Log out").await;

        assert_eq!(browser.path().await, "/login");
        let text = browser.text().await;
        assert!(text.contains(LOGGED_OUT), "no {LOGGED_OUT:?} in:\n{text}");
        browser.goto("/me").await;
        assert_eq!(browser.path().await, LOGIN_FOR_ME);
        assert_sent_to_login(&browser, &user).await;
        // The message was shown once.
        assert!(!browser.text().await.contains(LOGGED_OUT));
    }
);

e2e_test!(
    async fn the_header_logout_button_logs_out_too(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();
        browser.register(&user).await;

        browser.press_in_header("Log out").await;

        assert_eq!(browser.path().await, "/login");
        assert!(browser.text().await.contains(LOGGED_OUT));
        browser.goto("/me").await;
        assert_eq!(browser.path().await, LOGIN_FOR_ME);
    }
);

e2e_test!(
    async fn logging_in_returns_to_the_page_asked_for(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;

        browser.goto("/me").await;
        assert_eq!(browser.path().await, LOGIN_FOR_ME);
        browser.log_in_here(&user.email, &user.password).await;
        assert_shows_account(&browser, &user).await;

        browser.press("Log out").await;
        browser.goto("/login?next=/").await;
        browser.log_in_here(&user.email, &user.password).await;
        assert_eq!(browser.path().await, "/");
        let text = browser.text().await;
        assert!(
            text.contains(&format!("Signed in as {}", user.username)),
            "{text}"
        );
    }
);

e2e_test!(
    async fn a_wrong_password_gets_one_message_and_keeps_the_email(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        browser.goto("/login").await;

        browser
            .log_in_here(&user.email, "not-the-password")
            .await;

        assert_eq!(browser.path().await, "/login");
        let text = browser.text().await;
        assert_eq!(
            text.matches(INVALID_CREDENTIALS).count(),
            1,
            "the message is not there exactly once:\n{text}"
        );
        assert_eq!(browser.value_of("Email").await, user.email);
        assert_eq!(browser.value_of("Password").await, "");
        let summary = browser
            .js("const s = document.querySelector('.error-summary'); \
                 return s && { role: s.getAttribute('role'), text: s.innerText.trim() };")
            .await;
        assert_eq!(
            summary,
            json!({ "role": "alert", "text": INVALID_CREDENTIALS })
        );
        // Still works with the right password afterwards.
        browser.type_into("Password", &user.password).await;
        browser.press("Log in").await;
        assert_shows_account(&browser, &user).await;
    }
);

/// Where a message shows: the element saying it, the field it belongs to.
async fn message_placement(browser: &Browser, label: &str, message: &str) -> Value {
    browser
        .client
        .execute(
            "const [labelText, message] = arguments;
             const label = [...document.querySelectorAll('label')]
               .find(l => l.textContent.trim() === labelText);
             const input = label && document.getElementById(label.htmlFor);
             if (!input) return { error: 'no input labelled ' + labelText };
             const saying = [...document.querySelectorAll('main *')]
               .filter(el => el.children.length === 0 && el.textContent.trim() === message
                 && !el.closest('[role=alert]'));
             if (saying.length !== 1) return { error: saying.length + ' elements say ' + message };
             const el = saying[0];
             const inputBox = input.getBoundingClientRect();
             const box = el.getBoundingClientRect();
             return {
               id: el.id,
               describedby: (input.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean),
               invalid: input.getAttribute('aria-invalid'),
               sameField: el.parentElement === input.parentElement,
               gap: box.top - inputBox.bottom,
               visible: box.width > 0 && box.height > 0,
             };",
            vec![json!(label), json!(message)],
        )
        .await
        .unwrap()
}

/// Asserts that `message` shows right below the field labelled `label`, in
/// an element whose id the field's `aria-describedby` names.
async fn assert_message_at_field(browser: &Browser, label: &str, message: &str) {
    let placement = message_placement(browser, label, message).await;
    assert!(
        placement["error"].is_null(),
        "{label}: {}",
        placement["error"]
    );
    let id = placement["id"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "{label}: the message {message:?} has no id");
    assert!(
        placement["describedby"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(id))),
        "{label}: aria-describedby does not name #{id}: {placement}"
    );
    assert_eq!(placement["invalid"], json!("true"), "{label}: {placement}");
    assert_eq!(placement["sameField"], json!(true), "{label}: {placement}");
    assert_eq!(placement["visible"], json!(true), "{label}: {placement}");
    let gap = placement["gap"].as_f64().unwrap_or(f64::MAX);
    assert!(
        (0.0..40.0).contains(&gap),
        "{label}: the message is {gap}px from its field"
    );
}

e2e_test!(
    async fn registration_errors_show_at_their_fields(t) {
        let browser = t.browser().await;
        browser.goto("/register").await;
        browser.type_into("Username", "ab").await;
        browser.type_into("Email", "not-an-email").await;
        browser.type_into("Password", "short").await;
        browser.type_into("Confirm password", "shorter").await;

        browser.press("Create account").await;

        assert_eq!(browser.path().await, "/register");
        assert_message_at_field(&browser, "Username", USERNAME_LENGTH).await;
        assert_message_at_field(&browser, "Email", EMAIL_INVALID).await;
        assert_message_at_field(&browser, "Password", PASSWORD_TOO_SHORT).await;
        assert_eq!(browser.value_of("Username").await, "ab");
        assert_eq!(browser.value_of("Email").await, "not-an-email");
        assert_eq!(browser.value_of("Password").await, "");
        assert_eq!(browser.value_of("Confirm password").await, "");
        let alert = browser
            .js("return [...document.querySelectorAll('[role=alert]')].map(e => e.innerText.trim());")
            .await;
        assert!(
            alert.as_array().is_some_and(|a| a.len() == 1),
            "expected one alert: {alert}"
        );

        // Fix those; now only the confirmation is wrong.
        let user = TestUser::generate();
        for (label, value) in [("Username", &user.username), ("Email", &user.email)] {
            browser.field(label).await.clear().await.unwrap();
            browser.type_into(label, value).await;
        }
        browser.type_into("Password", &user.password).await;
        browser
            .type_into("Confirm password", &format!("{}x", user.password))
            .await;
        browser.press("Create account").await;

        assert_eq!(browser.path().await, "/register");
        assert_message_at_field(&browser, "Confirm password", PASSWORDS_DIFFER).await;
        let text = browser.text().await;
        for gone in [USERNAME_LENGTH, EMAIL_INVALID, PASSWORD_TOO_SHORT] {
            assert!(!text.contains(gone), "{gone:?} still shows:\n{text}");
        }
        assert_eq!(browser.value_of("Username").await, user.username);
        assert_eq!(browser.value_of("Email").await, user.email);
    }
);

e2e_test!(
    async fn the_back_button_after_logout_does_not_show_the_account(t) {
        let browser = t.browser().await;
        let user = TestUser::generate();
        browser.register(&user).await;
        browser.goto("/").await;
        browser.follow("Go to your account").await;
        assert_shows_account(&browser, &user).await;

        browser.press("Log out").await;
        assert_eq!(browser.path().await, "/login");
        browser.client.back().await.unwrap();

        assert_sent_to_login(&browser, &user).await;
        assert_eq!(browser.path().await, LOGIN_FOR_ME);
    }
);

e2e_test!(
    async fn logging_out_in_one_browser_keeps_the_other_logged_in(t) {
        let (first, second) = (t.browser().await, t.browser().await);
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        first.log_in(&user).await;
        second.log_in(&user).await;

        first.press("Log out").await;
        assert!(first.text().await.contains(LOGGED_OUT));

        second.client.refresh().await.unwrap();
        assert_shows_account(&second, &user).await;
        first.goto("/me").await;
        assert_sent_to_login(&first, &user).await;
    }
);

e2e_test!(
    async fn logging_out_everywhere_logs_the_other_browser_out(t) {
        let (first, second) = (t.browser().await, t.browser().await);
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        first.log_in(&user).await;
        second.log_in(&user).await;

        first.press("Log out everywhere").await;
        assert_eq!(first.path().await, "/login");
        assert!(first.text().await.contains(LOGGED_OUT_EVERYWHERE));

        second.client.refresh().await.unwrap();
        assert_eq!(second.path().await, LOGIN_FOR_ME);
        assert_sent_to_login(&second, &user).await;
        // A fresh login works again.
        second
            .log_in_here(&user.email, &user.password)
            .await;
        assert_shows_account(&second, &user).await;
    }
);
