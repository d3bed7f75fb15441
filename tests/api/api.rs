//! The JSON API under `/api`.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::helpers::{
    AUTH_COOKIE, Backend, DEFAULT_TTL_SECS, EMAIL_INVALID, EMAIL_TAKEN, INVALID_CREDENTIALS,
    PASSWORD_TOO_SHORT, TestApp, TestUser, USERNAME_LENGTH, USERNAME_TAKEN,
    assert_api_unauthorized, assert_field_error, json_body, jwt_claims, jwt_part, now,
    validation_errors,
};

backend_tests!(
    registering_through_the_api_returns_the_new_user,
    registering_invalid_values_through_the_api_lists_each_problem,
    registering_a_taken_email_through_the_api_is_a_conflict,
    registering_a_taken_username_through_the_api_is_a_conflict,
    registering_a_taken_email_and_username_through_the_api_reports_the_email,
    an_api_body_that_is_not_json_is_a_bad_request,
    an_api_body_of_another_content_type_is_unsupported,
    an_api_body_of_the_wrong_shape_is_unprocessable,
    an_api_body_over_16_kib_is_too_large,
    unknown_json_fields_are_ignored,
    logging_in_through_the_api_returns_a_bearer_token,
    every_api_login_issues_a_distinct_token,
    logging_in_through_the_api_with_a_wrong_password_is_unauthorized,
    logging_in_through_the_api_with_an_unknown_email_is_unauthorized,
    logging_out_through_the_api_revokes_the_token,
    logging_out_through_the_api_without_a_token_is_unauthorized,
    the_api_returns_the_current_user,
    the_api_without_a_token_is_unauthorized,
    the_api_with_a_malformed_authorization_header_is_unauthorized,
    the_api_with_basic_authentication_is_unauthorized,
    the_api_never_authenticates_by_cookie,
);

async fn registering_through_the_api_returns_the_new_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();

    let response = app.api_register(&user.api_registration()).await;

    let body = json_body(response, StatusCode::CREATED).await;
    assert!(body["id"].is_i64(), "{body}");
    assert_eq!(body["username"], user.username.as_str());
    assert_eq!(body["email"], user.email.as_str());
    assert!(body.get("password").is_none(), "{body}");
    assert!(!body.to_string().contains(&user.password), "{body}");
}

async fn registering_invalid_values_through_the_api_lists_each_problem(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .api_register(&json!({
            "username": "zz",
            "email": "not-an-email",
            "password": "tiny-pw",
        }))
        .await;

    let errors = validation_errors(response).await;
    assert_field_error(&errors, "username", USERNAME_LENGTH);
    assert_field_error(&errors, "email", EMAIL_INVALID);
    assert_field_error(&errors, "password", PASSWORD_TOO_SHORT);
    assert!(
        !format!("{errors:?}").contains("tiny-pw"),
        "password echoed: {errors:?}"
    );
}

async fn registering_a_taken_email_through_the_api_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = TestUser::generate();
    app.register_via_api(&first).await;
    let second = TestUser {
        email: first.email.clone(),
        ..TestUser::generate()
    };

    let response = app.api_register(&second.api_registration()).await;

    let body = json_body(response, StatusCode::CONFLICT).await;
    assert_eq!(body, json!({ "detail": EMAIL_TAKEN }));
}

async fn registering_a_taken_username_through_the_api_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = TestUser::generate();
    app.register_via_api(&first).await;
    let second = TestUser {
        username: first.username.clone(),
        ..TestUser::generate()
    };

    let response = app.api_register(&second.api_registration()).await;

    let body = json_body(response, StatusCode::CONFLICT).await;
    assert_eq!(body, json!({ "detail": USERNAME_TAKEN }));
}

async fn registering_a_taken_email_and_username_through_the_api_reports_the_email(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let first = TestUser::generate();
    app.register_via_api(&first).await;

    let response = app.api_register(&first.api_registration()).await;

    let body = json_body(response, StatusCode::CONFLICT).await;
    assert_eq!(body, json!({ "detail": EMAIL_TAKEN }));
}

async fn an_api_body_that_is_not_json_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/register", "/api/login"] {
        let response = app
            .post_raw(path, "application/json", b"{not json".to_vec())
            .await;
        let body = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
}

async fn an_api_body_of_another_content_type_is_unsupported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let body = user.api_registration().to_string().into_bytes();

    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = app
            .post_raw("/api/register", content_type, body.clone())
            .await;
        let answer = json_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert!(answer["detail"].is_string(), "{content_type}: {answer}");
    }
    let response = app.post_raw("/api/login", "text/plain", body).await;
    json_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

async fn an_api_body_of_the_wrong_shape_is_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let errors = validation_errors(app.api_register(&json!([1, 2, 3])).await).await;
    assert!(
        errors.iter().any(|(field, _)| field == "body"),
        "{errors:?}"
    );
    let errors = validation_errors(app.api_register(&json!("a string")).await).await;
    assert!(
        errors.iter().any(|(field, _)| field == "body"),
        "{errors:?}"
    );
    let wrong_type = json!({ "username": 42, "email": "x@example.com", "password": 12345678 });
    validation_errors(app.api_register(&wrong_type).await).await;
    let missing = json!({ "username": "someone" });
    validation_errors(app.api_register(&missing).await).await;
    validation_errors(app.api_login(&json!([])).await).await;
}

async fn an_api_body_over_16_kib_is_too_large(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let mut body = user.api_registration();
    body["padding"] = Value::String("a".repeat(17 * 1024));

    let response = app.api_register(&body).await;

    json_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let login = app.api_login(&user.api_login()).await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

async fn unknown_json_fields_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let mut body = user.api_registration();
    body["id"] = json!(999);
    body["is_admin"] = json!(true);

    let response = app.api_register(&body).await;

    let created = json_body(response, StatusCode::CREATED).await;
    assert_ne!(created["id"], json!(999), "{created}");
    assert!(created.get("is_admin").is_none(), "{created}");
    let token = app.login_via_api(&user.email, &user.password).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["id"], created["id"]);
}

async fn logging_in_through_the_api_returns_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let created = app.register_via_api(&user).await;
    let before = now();

    let response = app.api_login(&user.api_login()).await;

    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], json!(DEFAULT_TTL_SECS));
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(token, 0)["alg"], "HS256");
    let claims = jwt_claims(token);
    assert_eq!(
        claims["sub"],
        json!(created["id"].as_i64().unwrap().to_string())
    );
    assert_eq!(claims["iss"], "gatehouse");
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((before - 5..=now() + 5).contains(&iat), "{claims}");
    assert_eq!(
        exp - iat,
        i64::try_from(DEFAULT_TTL_SECS).unwrap(),
        "{claims}"
    );
    // No cookie for API clients.
    assert!(app.auth_cookie().is_none());
}

async fn every_api_login_issues_a_distinct_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let first = app.login_via_api(&user.email, &user.password).await;
    let second = app.login_via_api(&user.email, &user.password).await;

    assert_ne!(jwt_claims(&first)["jti"], jwt_claims(&second)["jti"]);
    // Logging one out leaves the other alive.
    assert_eq!(
        app.api_logout(&first).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.api_me(&second).await.status(), StatusCode::OK);
}

async fn logging_in_through_the_api_with_a_wrong_password_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let response = app
        .api_login(&json!({ "email": user.email, "password": "Wrong-Password-987" }))
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body, json!({ "detail": INVALID_CREDENTIALS }));
}

async fn logging_in_through_the_api_with_an_unknown_email_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .api_login(&json!({ "email": "nobody@example.com", "password": "Some-Password-123" }))
        .await;

    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body, json!({ "detail": INVALID_CREDENTIALS }));
}

async fn logging_out_through_the_api_revokes_the_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;

    let response = app.api_logout(&user.token).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    user.assert_token_rejected().await;
    assert_api_unauthorized(app.api_logout(&user.token).await).await;
}

async fn logging_out_through_the_api_without_a_token_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .client
        .post(app.url("/api/logout"))
        .send()
        .await
        .unwrap();

    assert_api_unauthorized(response).await;
    assert_api_unauthorized(app.api_logout("not-a-token").await).await;
}

async fn the_api_returns_the_current_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;

    // Asserts the body: exactly the user's id, username and email.
    user.me().await;
}

async fn the_api_without_a_token_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.client.get(app.url("/api/me")).send().await.unwrap();

    assert_api_unauthorized(response).await;
}

async fn the_api_with_a_malformed_authorization_header_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;

    for header in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        "Bearer garbage".to_owned(),
        format!("Bearer {token}x"),
        format!("Token {token}"),
        token.clone(),
    ] {
        let response = app.api_me_with_authorization(&header).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "Authorization: {header}"
        );
        assert_api_unauthorized(response).await;
    }
}

async fn the_api_with_basic_authentication_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let response = app
        .client
        .get(app.url("/api/me"))
        .basic_auth(&user.email, Some(&user.password))
        .send()
        .await
        .unwrap();

    assert_api_unauthorized(response).await;
}

async fn the_api_never_authenticates_by_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    let token = user.token();
    user.me().await;

    // The jar sends the cookie along.
    let response = app.client.get(app.url("/api/me")).send().await.unwrap();
    assert_api_unauthorized(response).await;

    let response = app
        .new_browser()
        .client
        .get(app.url("/api/me"))
        .header(COOKIE, format!("{AUTH_COOKIE}={token}"))
        .send()
        .await
        .unwrap();
    assert_api_unauthorized(response).await;

    // The cookie alone cannot log out either.
    let response = app
        .client
        .post(app.url("/api/logout"))
        .send()
        .await
        .unwrap();
    assert_api_unauthorized(response).await;
    user.me().await;
}
