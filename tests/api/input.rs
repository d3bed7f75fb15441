//! Input rules: normalization, lengths and uniqueness of usernames, emails
//! and passwords.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, EMAIL_INVALID, EMAIL_TAKEN, EMAIL_TOO_LONG, PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT,
    TestApp, TestUser, USERNAME_CHARACTERS, USERNAME_LENGTH, USERNAME_TAKEN, assert_field_error,
    json_body, validation_errors,
};

backend_tests!(
    emails_are_trimmed_and_lower_cased,
    logging_in_ignores_the_case_and_surrounding_spaces_of_the_email,
    an_email_differing_only_in_case_is_already_registered,
    usernames_are_unique_regardless_of_case,
    usernames_keep_their_case_for_display,
    usernames_are_unicode_normalized,
    usernames_of_3_and_32_characters_are_accepted,
    usernames_shorter_than_3_or_longer_than_32_characters_are_rejected,
    usernames_with_other_characters_are_rejected,
    invalid_emails_are_rejected,
    an_email_of_254_characters_is_accepted_and_one_of_255_is_rejected,
    a_password_of_seven_characters_is_too_short,
    a_password_of_eight_multibyte_characters_is_long_enough,
    a_password_of_72_bytes_works,
    a_password_over_72_bytes_is_rejected_not_truncated,
    passwords_sharing_their_first_72_bytes_never_both_work,
);

fn registration(username: &str, email: &str, password: &str) -> serde_json::Value {
    json!({ "username": username, "email": email, "password": password })
}

async fn emails_are_trimmed_and_lower_cased(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .api_register(&registration(
            "alice",
            "  Alice@Example.COM ",
            "Password-123",
        ))
        .await;

    let body = json_body(response, StatusCode::CREATED).await;
    assert_eq!(body["email"], "alice@example.com");
    let token = app.login_via_api("alice@example.com", "Password-123").await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["email"], "alice@example.com");
}

async fn logging_in_ignores_the_case_and_surrounding_spaces_of_the_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.api_register(&registration("alice", "alice@example.com", "Password-123"))
        .await;

    for email in [
        "ALICE@EXAMPLE.COM",
        "Alice@example.com",
        " alice@example.com ",
    ] {
        let response = app
            .api_login(&json!({ "email": email, "password": "Password-123" }))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{email:?}");
    }
    let response = app
        .login_via_form("ALICE@Example.com", "Password-123")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn an_email_differing_only_in_case_is_already_registered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .api_register(&registration(
            "alice",
            "  Alice@Example.COM ",
            "Password-123",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = app
        .api_register(&registration("alice2", "ALICE@example.com", "Password-123"))
        .await;

    let body = json_body(response, StatusCode::CONFLICT).await;
    assert_eq!(body["detail"], EMAIL_TAKEN);
}

async fn usernames_are_unique_regardless_of_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .api_register(&registration("Bob", "bob@example.com", "Password-123"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    for username in ["bob", "BOB", "bOb"] {
        let response = app
            .api_register(&registration(
                username,
                &format!("{username}-other@example.com"),
                "Password-123",
            ))
            .await;
        let body = json_body(response, StatusCode::CONFLICT).await;
        assert_eq!(body["detail"], USERNAME_TAKEN, "{username}");
    }
}

async fn usernames_keep_their_case_for_display(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .api_register(&registration(
            "MixedCase.Name",
            "mixed@example.com",
            "Password-123",
        ))
        .await;

    let body = json_body(response, StatusCode::CREATED).await;
    assert_eq!(body["username"], "MixedCase.Name");
}

async fn usernames_are_unicode_normalized(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Fullwidth letters are NFKC-equivalent to ASCII ones.
    let response = app
        .api_register(&registration(
            "\u{ff46}\u{ff55}\u{ff4c}\u{ff4c}",
            "full@example.com",
            "Password-123",
        ))
        .await;

    let body = json_body(response, StatusCode::CREATED).await;
    assert_eq!(body["username"], "full");
    let response = app
        .api_register(&registration("FULL", "full2@example.com", "Password-123"))
        .await;
    let body = json_body(response, StatusCode::CONFLICT).await;
    assert_eq!(body["detail"], USERNAME_TAKEN);
}

async fn usernames_of_3_and_32_characters_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for (index, username) in ["abc".to_owned(), "a".repeat(32), "a_b-c.9".to_owned()]
        .iter()
        .enumerate()
    {
        let response = app
            .api_register(&registration(
                username,
                &format!("user{index}@example.com"),
                "Password-123",
            ))
            .await;
        let body = json_body(response, StatusCode::CREATED).await;
        assert_eq!(body["username"], username.as_str());
    }
}

async fn usernames_shorter_than_3_or_longer_than_32_characters_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for username in [String::new(), "ab".to_owned(), "a".repeat(33)] {
        let response = app
            .api_register(&registration(
                &username,
                "someone@example.com",
                "Password-123",
            ))
            .await;
        let errors = validation_errors(response).await;
        assert_field_error(&errors, "username", USERNAME_LENGTH);
    }
}

async fn usernames_with_other_characters_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for username in ["with space", "semi;colon", "émile", "a<b>c", "tab\there"] {
        let response = app
            .api_register(&registration(
                username,
                "someone@example.com",
                "Password-123",
            ))
            .await;
        let errors = validation_errors(response).await;
        assert_field_error(&errors, "username", USERNAME_CHARACTERS);
    }
}

async fn invalid_emails_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for email in [
        "",
        "plainaddress",
        "@example.com",
        "user@",
        "user@@example.com",
        "user name@example.com",
        "user@-example.com",
        "user@exa mple.com",
    ] {
        let response = app
            .api_register(&registration("someone", email, "Password-123"))
            .await;
        let errors = validation_errors(response).await;
        assert_field_error(&errors, "email", EMAIL_INVALID);
    }
    // The WHATWG grammar needs no dot in the domain.
    let response = app
        .api_register(&registration(
            "someone",
            "someone@localhost",
            "Password-123",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

fn email_of_length(length: usize) -> String {
    // Domain labels stay within 63 characters, as the grammar requires.
    let domain = format!("{}.{}.", "b".repeat(63), "c".repeat(63));
    let last_label = length - 64 - 1 - domain.len();
    let email = format!("{}@{domain}{}", "a".repeat(64), "d".repeat(last_label));
    assert_eq!(email.len(), length);
    email
}

async fn an_email_of_254_characters_is_accepted_and_one_of_255_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .api_register(&registration(
            "longest",
            &email_of_length(255),
            "Password-123",
        ))
        .await;
    let errors = validation_errors(response).await;
    assert_field_error(&errors, "email", EMAIL_TOO_LONG);

    let response = app
        .api_register(&registration(
            "longest",
            &email_of_length(254),
            "Password-123",
        ))
        .await;
    let body = json_body(response, StatusCode::CREATED).await;
    assert_eq!(body["email"], email_of_length(254).as_str());
}

async fn a_password_of_seven_characters_is_too_short(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for password in ["", "1234567", "ééééééé"] {
        let response = app
            .api_register(&registration("someone", "someone@example.com", password))
            .await;
        let errors = validation_errors(response).await;
        assert_field_error(&errors, "password", PASSWORD_TOO_SHORT);
    }
}

async fn a_password_of_eight_multibyte_characters_is_long_enough(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = "éééééééé";
    assert_eq!(password.len(), 16);

    let response = app
        .api_register(&registration("someone", "someone@example.com", password))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.login_via_api("someone@example.com", password).await;
}

async fn a_password_of_72_bytes_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ascii = TestUser {
        password: "p".repeat(72),
        ..TestUser::generate()
    };
    let multibyte = TestUser {
        password: "é".repeat(36),
        ..TestUser::generate()
    };

    for user in [ascii, multibyte] {
        assert_eq!(user.password.len(), 72);
        app.register_via_api(&user).await;
        app.login_via_api(&user.email, &user.password).await;
    }
}

async fn a_password_over_72_bytes_is_rejected_not_truncated(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for password in [
        "p".repeat(73),
        format!("{}a", "é".repeat(36)),
        "p".repeat(200),
    ] {
        let response = app
            .api_register(&registration("someone", "someone@example.com", &password))
            .await;
        let errors = validation_errors(response).await;
        assert_field_error(&errors, "password", PASSWORD_TOO_LONG);
    }
    // Nothing was created.
    let user = TestUser {
        username: "someone".to_owned(),
        email: "someone@example.com".to_owned(),
        ..TestUser::generate()
    };
    app.register_via_api(&user).await;
}

async fn passwords_sharing_their_first_72_bytes_never_both_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser {
        password: "q".repeat(72),
        ..TestUser::generate()
    };
    app.register_via_api(&user).await;

    for longer in [
        format!("{}x", user.password),
        format!("{}{}", user.password, "q".repeat(28)),
    ] {
        let response = app
            .api_login(&json!({ "email": user.email, "password": longer }))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = app.login_via_form(&user.email, &longer).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    app.login_via_api(&user.email, &user.password).await;
}
