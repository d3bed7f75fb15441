//! Account settings: the account page, changing the password, changing
//! the address by a link to the new one, deleting the account, on pages
//! and through the API.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADDRESS_CHANGED_MAIL, Backend, Browser, CONFIRM_MAIL, CookieUser, EMAIL_TAKEN, LINK_INVALID,
    NEW_ADDRESS_MAIL, PASSWORD_CHANGED_MAIL, PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT,
    PASSWORDS_DIFFER, RESET_MAIL, TestApp, TestUser, assert_api_login, assert_api_unauthorized,
    assert_error_for, assert_field_error, assert_form_error, assert_form_error_at, assert_input,
    assert_no_store, assert_password_inputs_are_empty, assert_redirects_to, csrf_from,
    form_with_action, fresh_address, fresh_password, input_value, links_to, spawn_with_mail,
    validation_errors,
};

backend_tests!(
    the_account_page_shows_the_account_and_links_to_its_settings,
    the_settings_pages_need_a_login,
    the_settings_pages_are_not_stored_and_their_forms_carry_the_csrf_token,
    settings_posts_without_the_csrf_token_are_forbidden_and_change_nothing,
    changing_the_password_keeps_this_session_and_ends_the_others,
    a_wrong_current_password_is_refused_at_its_field_and_changes_nothing,
    wrong_current_passwords_on_the_password_form_count_as_failed_logins,
    wrong_current_passwords_on_the_email_and_delete_forms_count_as_failed_logins,
    the_new_password_follows_the_registration_rules,
    a_password_change_voids_earlier_reset_and_change_of_address_links,
    changing_the_address_waits_for_the_link_sent_to_the_new_one,
    changing_to_a_taken_address_is_refused,
    an_address_taken_before_the_confirmation_is_refused_and_changes_nothing,
    a_wrong_password_or_a_bad_address_on_the_email_form_sends_nothing,
    deleting_the_account_ends_everything_and_frees_the_name_and_address,
    a_wrong_password_on_the_delete_form_keeps_the_account,
    the_api_changes_the_password_keeping_the_calling_token,
    the_api_deletes_the_account,
    the_settings_api_needs_a_bearer_token,
);

const PASSWORD_PAGE: &str = "/me/password";
const EMAIL_PAGE: &str = "/me/email";
const DELETE_PAGE: &str = "/me/delete";
const PASSWORD_CHANGED_FLASH: &str = "Your password has been changed";
const DELETED_FLASH: &str = "Your account has been deleted";
const WRONG_CURRENT: &str = "Current password is incorrect";

async fn change_password(browser: &Browser, current: &str, new: &str, confirm: &str) -> Response {
    browser
        .submit_form(
            PASSWORD_PAGE,
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_confirm", confirm),
            ],
        )
        .await
}

async fn delete_account(browser: &Browser, current: &str) -> Response {
    browser
        .submit_form(DELETE_PAGE, &[("current_password", current)])
        .await
}

/// Logs `user` in elsewhere, in a browser and through the API, and uses
/// both; returns the browser and the API's access and refresh tokens.
async fn logged_in_elsewhere(app: &TestApp, user: &TestUser) -> (CookieUser, String, String) {
    let elsewhere = app.new_browser().log_in_as(user).await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    // Both in use, as the server may remember them.
    elsewhere.me().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);
    (elsewhere, access, refresh)
}

async fn api_delete_me(browser: &Browser, token: Option<&str>, body: &Value) -> Response {
    let mut request = browser.client.delete(browser.url("/api/me")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("DELETE")
}

/// A field a form must have: its name, `type` and `autocomplete`.
type Expected = (&'static str, &'static str, &'static str);

async fn the_account_page_shows_the_account_and_links_to_its_settings(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let html = owner.me().await;
    for href in ["/me/password", "/me/email", "/me/sessions", "/me/delete"] {
        assert!(links_to(&html, href), "no link to {href}:\n{html}");
    }
    assert!(html.contains("Not confirmed"), "{html}");

    let letter = mail
        .mailbox()
        .wait_for(&owner.user.email, CONFIRM_MAIL)
        .await;
    assert_redirects_to(&owner.press_button(&letter.link_path()).await, "/me");
    let _flash = owner.me().await;
    let html = owner.me().await;
    assert!(html.contains("Confirmed"), "{html}");
    assert!(!html.to_lowercase().contains("not confirmed"), "{html}");
}

async fn the_settings_pages_need_a_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for (page, next) in [
        (PASSWORD_PAGE, "%2Fme%2Fpassword"),
        (EMAIL_PAGE, "%2Fme%2Femail"),
        (DELETE_PAGE, "%2Fme%2Fdelete"),
    ] {
        let anonymous = app.new_browser();
        assert_redirects_to(&anonymous.get(page).await, &format!("/login?next={next}"));
        // Logging in there leads back to the page.
        let login = anonymous.get_login(Some(page)).await;
        let csrf = csrf_from(&login.text().await.expect("body"));
        let answer = anonymous
            .post_login(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
                ("next", page),
                ("csrf_token", csrf.as_str()),
            ])
            .await;
        assert_redirects_to(&answer, page);
        assert_eq!(anonymous.get(page).await.status(), StatusCode::OK);
    }
}

async fn the_settings_pages_are_not_stored_and_their_forms_carry_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let pages: [(&str, &[Expected]); 3] = [
        (
            PASSWORD_PAGE,
            &[
                ("current_password", "password", "current-password"),
                ("new_password", "password", "new-password"),
                ("new_password_confirm", "password", "new-password"),
            ],
        ),
        (
            EMAIL_PAGE,
            &[
                ("new_email", "email", "email"),
                ("current_password", "password", "current-password"),
            ],
        ),
        (
            DELETE_PAGE,
            &[("current_password", "password", "current-password")],
        ),
    ];
    for (page, fields) in pages {
        let response = owner.get(page).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {page}");
        assert_no_store(&response, page);
        let html = response.text().await.expect("body");
        let form = form_with_action(&html, page).unwrap_or_else(|| panic!("no form:\n{html}"));
        assert!(!csrf_from(&form).is_empty());
        for (name, kind, autocomplete) in fields {
            assert_input(&form, name, kind, autocomplete);
        }
    }
    assert_no_store(&owner.get_me().await, "/me");
}

async fn settings_posts_without_the_csrf_token_are_forbidden_and_change_nothing(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    let (unwanted, wanted) = (fresh_address(), fresh_address());

    for csrf in [None, Some("forged")] {
        let with = |mut fields: Vec<(&'static str, String)>| {
            if let Some(csrf) = csrf {
                fields.push(("csrf_token", csrf.to_owned()));
            }
            fields
        };
        let password = owner
            .post_form(
                PASSWORD_PAGE,
                &with(vec![
                    ("current_password", user.password.clone()),
                    ("new_password", new.clone()),
                    ("new_password_confirm", new.clone()),
                ]),
            )
            .await;
        assert_eq!(password.status(), StatusCode::FORBIDDEN);
        let email = owner
            .post_form(
                EMAIL_PAGE,
                &with(vec![
                    ("new_email", unwanted.clone()),
                    ("current_password", user.password.clone()),
                ]),
            )
            .await;
        assert_eq!(email.status(), StatusCode::FORBIDDEN);
        let delete = owner
            .post_form(
                DELETE_PAGE,
                &with(vec![("current_password", user.password.clone())]),
            )
            .await;
        assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    }

    owner.me().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    assert_api_login(&app, &user.email, &new, StatusCode::UNAUTHORIZED).await;
    // A change asked for afterwards with the token is the only one mailed.
    assert_redirects_to(
        &owner.change_email_via_form(&wanted, &user.password).await,
        "/me",
    );
    mail.mailbox().wait_for(&wanted, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&unwanted, "").is_empty());
}

async fn changing_the_password_keeps_this_session_and_ends_the_others(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (elsewhere, access, refresh) = logged_in_elsewhere(&app, &user).await;

    let new = fresh_password();
    let changed = change_password(&owner, &user.password, &new, &new).await;
    assert_redirects_to(&changed, "/me");
    let html = owner.me().await;
    assert!(html.contains(PASSWORD_CHANGED_FLASH), "{html}");
    owner.me().await;

    elsewhere.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    assert_redirects_to(
        &app.new_browser().login_via_form(&user.email, &new).await,
        "/me",
    );
    let notice = mail
        .mailbox()
        .wait_for(&user.email, PASSWORD_CHANGED_MAIL)
        .await;
    assert!(!notice.body.contains(&new), "the notice shows no password");
    // This browser is still logged in after all that.
    owner.me().await;
}

async fn a_wrong_current_password_is_refused_at_its_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let elsewhere = app.new_browser().log_in_as(&user).await;
    let new = fresh_password();

    let refused = change_password(&owner, "not-my-password", &new, &new).await;
    let html = assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    assert!(!html.contains(&new), "the new password is not echoed");

    owner.me().await;
    elsewhere.me().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    assert_api_login(&app, &user.email, &new, StatusCode::UNAUTHORIZED).await;
}

/// A server with the login limits on and two failed logins allowed.
async fn strict_app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "2/15m")
        .spawn()
        .await
}

/// Asserts that the login form refuses `user`'s right password with a 429.
async fn assert_login_throttled(app: &TestApp, user: &TestUser) {
    let login = app
        .new_browser()
        .login_via_form(&user.email, &user.password)
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn wrong_current_passwords_on_the_password_form_count_as_failed_logins(backend: Backend) {
    let app = strict_app(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    for _ in 0..2 {
        let refused = change_password(&owner, "not-my-password", &new, &new).await;
        assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    }
    assert_login_throttled(&app, &user).await;
}

async fn wrong_current_passwords_on_the_email_and_delete_forms_count_as_failed_logins(
    backend: Backend,
) {
    let app = strict_app(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let refused = owner
        .change_email_via_form(&fresh_address(), "not-my-password")
        .await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    let refused = delete_account(&owner, "not-my-password").await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    assert_login_throttled(&app, &user).await;
    owner.me().await;
}

async fn the_new_password_follows_the_registration_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let current = user.password.as_str();

    let short = change_password(&owner, current, "short", "short").await;
    assert_form_error(short, "new_password", PASSWORD_TOO_SHORT).await;
    let long = "a".repeat(73);
    let too_long = change_password(&owner, current, &long, &long).await;
    assert_form_error(too_long, "new_password", PASSWORD_TOO_LONG).await;
    let (new, other) = (fresh_password(), fresh_password());
    let differ = change_password(&owner, current, &new, &other).await;
    assert_form_error(differ, "new_password_confirm", PASSWORDS_DIFFER).await;
    let common = change_password(&owner, current, "password123", "password123").await;
    assert_form_error_at(common, "new_password").await;

    for tried in [
        "short",
        long.as_str(),
        new.as_str(),
        other.as_str(),
        "password123",
    ] {
        assert_api_login(&app, &user.email, tried, StatusCode::UNAUTHORIZED).await;
    }
    assert_api_login(&app, &user.email, current, StatusCode::OK).await;
    owner.me().await;
}

async fn a_password_change_voids_earlier_reset_and_change_of_address_links(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let stranger = app.new_browser();
    assert_redirects_to(&stranger.forgot_via_form(&user.email).await, "/login");
    let reset = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let moved = fresh_address();
    assert_redirects_to(
        &owner.change_email_via_form(&moved, &user.password).await,
        "/me",
    );
    let change = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;
    assert_eq!(app.get(&reset.link_path()).await.status(), StatusCode::OK);
    assert_eq!(app.get(&change.link_path()).await.status(), StatusCode::OK);

    let new = fresh_password();
    assert_redirects_to(
        &change_password(&owner, &user.password, &new, &new).await,
        "/me",
    );

    for link in [&reset, &change] {
        let page = stranger.get(&link.link_path()).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{}", link.subject);
        assert!(page.text().await.expect("body").contains(LINK_INVALID));
    }
    let intruder = fresh_password();
    let posted = stranger
        .post_blind(
            &reset.link_path(),
            &[("password", &intruder), ("password_confirm", &intruder)],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::BAD_REQUEST);
    let pressed = stranger.post_blind(&change.link_path(), &[]).await;
    assert_eq!(pressed.status(), StatusCode::BAD_REQUEST);

    assert_api_login(&app, &user.email, &intruder, StatusCode::UNAUTHORIZED).await;
    let token = app.login_via_api(&user.email, &new).await;
    assert_eq!(app.api_me_json(&token).await["email"], user.email.as_str());
}

async fn changing_the_address_waits_for_the_link_sent_to_the_new_one(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let token = app.login_via_api(&user.email, &user.password).await;
    let moved = fresh_address();

    let asked = owner.change_email_via_form(&moved, &user.password).await;
    assert_redirects_to(&asked, "/me");
    let html = owner.me().await;
    assert!(
        html.contains(&format!("We have sent a confirmation link to {moved}")),
        "{html}"
    );
    assert_eq!(app.api_me_json(&token).await["email"], user.email.as_str());

    let letter = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;
    assert!(letter.subject.contains("gatehouse"), "{}", letter.subject);
    letter.assert_link_starts_with(&format!("{}/verify-email/", app.address));
    // Opening the link (anywhere, twice) changes nothing.
    let elsewhere = app.new_browser();
    for _ in 0..2 {
        elsewhere.form_at(&letter.link_path()).await;
    }
    owner.me().await;
    assert_api_login(&app, &moved, &user.password, StatusCode::UNAUTHORIZED).await;

    // The button does.
    assert_redirects_to(&elsewhere.press_button(&letter.link_path()).await, "/me");
    let me = app.api_me_json(&token).await;
    assert_eq!(me["email"], moved.as_str());
    assert_eq!(me["email_verified"], true);
    let _flash = owner.get_me().await;
    let html = owner.page_text("/me").await;
    assert!(html.contains(&moved), "{html}");
    assert!(!html.contains(&user.email), "{html}");
    assert!(html.contains("Confirmed"), "{html}");
    assert!(!html.to_lowercase().contains("not confirmed"), "{html}");

    assert_api_login(&app, &moved, &user.password, StatusCode::OK).await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    let notice = mail
        .mailbox()
        .wait_for(&user.email, ADDRESS_CHANGED_MAIL)
        .await;
    assert!(notice.subject.contains("gatehouse"), "{}", notice.subject);
    // Used: the link works once.
    let again = elsewhere.get(&letter.link_path()).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(!app.logs().contains(&letter.token()));
}

async fn changing_to_a_taken_address_is_refused(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let other = TestUser::generate();
    app.register_via_api(&other).await;

    for taken in [other.email.clone(), other.email.to_uppercase()] {
        let refused = owner.change_email_via_form(&taken, &user.password).await;
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        let html = refused.text().await.expect("body");
        assert!(html.contains(EMAIL_TAKEN), "{html}");
        assert_password_inputs_are_empty(&html);
    }
    // A free address asked for afterwards is the only one mailed.
    let free = fresh_address();
    assert_redirects_to(
        &owner.change_email_via_form(&free, &user.password).await,
        "/me",
    );
    mail.mailbox().wait_for(&free, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&other.email, NEW_ADDRESS_MAIL).is_empty());
    owner.me().await;
}

async fn an_address_taken_before_the_confirmation_is_refused_and_changes_nothing(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let moved = fresh_address();
    assert_redirects_to(
        &owner.change_email_via_form(&moved, &user.password).await,
        "/me",
    );
    let letter = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;

    // Someone registers the address meanwhile.
    let squatter = TestUser {
        email: moved.clone(),
        ..TestUser::generate()
    };
    app.register_via_api(&squatter).await;
    let refused = owner.press_button(&letter.link_path()).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.expect("body");
    assert!(html.contains(EMAIL_TAKEN), "{html}");
    owner.me().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;

    // Once the address is free again, the same link works.
    let squatter_token = app.login_via_api(&squatter.email, &squatter.password).await;
    let gone = api_delete_me(
        &app,
        Some(&squatter_token),
        &json!({ "current_password": squatter.password }),
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_redirects_to(&owner.press_button(&letter.link_path()).await, "/me");
    let token = app.login_via_api(&moved, &user.password).await;
    assert_eq!(app.api_me_json(&token).await["email"], moved.as_str());

    // One notice to the old address, for the change that happened: mail
    // asked for later has arrived, so nothing else is on its way.
    let asked = app.new_browser().forgot_via_form(&moved).await;
    assert_redirects_to(&asked, "/login");
    mail.mailbox().wait_for(&moved, RESET_MAIL).await;
    assert_eq!(
        mail.mailbox().to(&user.email, ADDRESS_CHANGED_MAIL).len(),
        1
    );
}

async fn a_wrong_password_or_a_bad_address_on_the_email_form_sends_nothing(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let unwanted = fresh_address();

    let refused = owner
        .change_email_via_form(&unwanted, "not-my-password")
        .await;
    let html = assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    assert_eq!(
        input_value(&html, "new_email"),
        Some(unwanted.clone()),
        "the new address is kept"
    );
    let bad = owner
        .change_email_via_form("not an address", &user.password)
        .await;
    assert_form_error_at(bad, "new_email").await;

    let wanted = fresh_address();
    assert_redirects_to(
        &owner.change_email_via_form(&wanted, &user.password).await,
        "/me",
    );
    mail.mailbox().wait_for(&wanted, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&unwanted, "").is_empty());
    owner.me().await;
}

async fn deleting_the_account_ends_everything_and_frees_the_name_and_address(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (elsewhere, access, refresh) = logged_in_elsewhere(&app, &user).await;
    let bystander = app.new_browser().register_cookie_user().await;

    let deleted = delete_account(&owner, &user.password).await;
    assert_redirects_to(&deleted, "/");
    let home = owner.page_text("/").await;
    assert!(home.contains(DELETED_FLASH), "{home}");
    assert!(!home.contains("Signed in as"), "{home}");

    owner.assert_logged_out().await;
    elsewhere.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    let login = app
        .new_browser()
        .login_via_form(&user.email, &user.password)
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    bystander.me().await;

    // The username and the address are free: the form registers them again.
    let again = app.new_browser();
    let newcomer = TestUser {
        password: fresh_password(),
        ..user.clone()
    };
    let registered = again.register_via_form(&newcomer).await;
    assert_redirects_to(&registered, "/me");
    CookieUser::new(&again, newcomer.clone()).me().await;
    let confirmations = mail
        .mailbox()
        .wait_for_count(&user.email, CONFIRM_MAIL, 2)
        .await;
    assert_eq!(confirmations.len(), 2);
}

async fn a_wrong_password_on_the_delete_form_keeps_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let refused = delete_account(&owner, "not-my-password").await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    owner.me().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    let taken = app.new_browser().register_via_form(&user).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}

async fn the_api_changes_the_password_keeping_the_calling_token(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let (caller, caller_refresh) = app.api_session(&user.email, &user.password).await;
    let (other, other_refresh) = app.api_session(&user.email, &user.password).await;
    let browser = app.new_browser().log_in_as(&user).await;
    let new = fresh_password();

    let wrong = app
        .api_change_password(
            Some(&caller),
            &json!({ "current_password": "not-my-password", "new_password": new }),
        )
        .await;
    assert_field_error(
        &validation_errors(wrong).await,
        "current_password",
        WRONG_CURRENT,
    );
    let short = app
        .api_change_password(
            Some(&caller),
            &json!({ "current_password": user.password, "new_password": "short" }),
        )
        .await;
    assert_field_error(
        &validation_errors(short).await,
        "new_password",
        PASSWORD_TOO_SHORT,
    );
    let missing = app
        .api_change_password(Some(&caller), &json!({ "current_password": user.password }))
        .await;
    assert_error_for(&validation_errors(missing).await, "new_password");
    // Nothing changed yet.
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    assert_eq!(app.api_me(&other).await.status(), StatusCode::OK);

    let changed = app
        .api_change_password(
            Some(&caller),
            &json!({ "current_password": user.password, "new_password": new }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.api_me_json(&caller).await["email"], user.email.as_str());
    app.assert_api_session_ended(&other, &other_refresh).await;
    browser.assert_logged_out().await;
    assert_eq!(
        app.api_refresh(&caller_refresh).await.status(),
        StatusCode::OK
    );
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;
    mail.mailbox()
        .wait_for(&user.email, PASSWORD_CHANGED_MAIL)
        .await;
}

async fn the_api_deletes_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let (caller, _) = app.api_session(&user.email, &user.password).await;
    let (other, other_refresh) = app.api_session(&user.email, &user.password).await;
    let browser = app.new_browser().log_in_as(&user).await;

    let wrong = api_delete_me(
        &app,
        Some(&caller),
        &json!({ "current_password": "not-my-password" }),
    )
    .await;
    assert_field_error(
        &validation_errors(wrong).await,
        "current_password",
        WRONG_CURRENT,
    );
    let missing = api_delete_me(&app, Some(&caller), &json!({})).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.api_me_json(&caller).await["email"], user.email.as_str());

    let deleted = api_delete_me(
        &app,
        Some(&caller),
        &json!({ "current_password": user.password }),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.api_me(&caller).await.status(), StatusCode::UNAUTHORIZED);
    app.assert_api_session_ended(&other, &other_refresh).await;
    browser.assert_logged_out().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    let again = app.api_register(&user.api_registration()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
}

async fn the_settings_api_needs_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    let change = json!({ "current_password": user.password, "new_password": new });
    let delete = json!({ "current_password": user.password });

    // Neither a missing header nor the page's cookie logs the API in.
    for browser in [&app.new_browser(), &owner.browser] {
        assert_api_unauthorized(browser.api_change_password(None, &change).await).await;
        assert_api_unauthorized(api_delete_me(browser, None, &delete).await).await;
        assert_api_unauthorized(browser.api_change_password(Some("garbage"), &change).await).await;
        assert_api_unauthorized(api_delete_me(browser, Some("garbage"), &delete).await).await;
    }
    owner.me().await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
}
