//! The JWTs: claims, signature, pinned algorithm, lifetime. The server runs
//! with an explicit `GATEHOUSE_SECRET` so tokens can be made by hand.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, auth_set_cookie, base64url_encode, json_body, jwt_claims, now, random_secret,
    sign_token, sign_token_with, spawn_with_known_secret, valid_claims,
};

backend_tests!(
    a_token_verifies_with_the_configured_secret,
    a_token_made_with_the_configured_secret_is_accepted,
    an_expired_token_is_rejected,
    a_token_from_another_issuer_is_rejected,
    a_token_that_is_not_yet_valid_is_rejected,
    a_token_without_a_jti_is_rejected,
    an_unsigned_token_is_rejected,
    a_token_signed_with_another_algorithm_is_rejected,
    a_token_for_a_user_that_does_not_exist_is_rejected,
    the_token_lifetime_is_configurable,
);

struct Signed {
    app: TestApp,
    secret: String,
    id: i64,
    /// A token the server issued to user `id`.
    issued: String,
}

async fn spawn_with_secret(backend: Backend) -> Signed {
    let (app, secret) = spawn_with_known_secret(backend).await;
    let (_, id, issued) = app.user_with_token().await;
    Signed {
        app,
        secret,
        id,
        issued,
    }
}

/// Asserts that both the API and the pages accept `token`, as user `id`.
async fn assert_accepted(app: &TestApp, token: &str, id: i64) {
    let me = app.assert_accepted_as_cookie_and_bearer(token).await;
    assert_eq!(me["id"], json!(id));
}

async fn a_token_verifies_with_the_configured_secret(backend: Backend) {
    let Signed { app, secret, .. } = spawn_with_secret(backend).await;
    let (_, id, token) = app.user_with_token().await;

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["gatehouse"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("the token does not verify with GATEHOUSE_SECRET");

    assert_eq!(decoded.header.alg, Algorithm::HS256);
    assert_eq!(decoded.claims["sub"], json!(id.to_string()));
    assert!(decoded.claims["jti"].is_string());
    let other_key = DecodingKey::from_secret(random_secret().as_bytes());
    assert!(jsonwebtoken::decode::<Value>(&token, &other_key, &validation).is_err());
}

async fn a_token_made_with_the_configured_secret_is_accepted(backend: Backend) {
    let Signed {
        app,
        secret,
        id,
        issued,
    } = spawn_with_secret(backend).await;

    let token = sign_token(&valid_claims(&issued), secret.as_bytes());

    assert_accepted(&app, &token, id).await;
}

async fn an_expired_token_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id: _,
        issued,
    } = spawn_with_secret(backend).await;
    let mut claims = valid_claims(&issued);
    claims["iat"] = json!(now() - 1000);
    claims["exp"] = json!(now() - 60);

    let token = sign_token(&claims, secret.as_bytes());

    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn a_token_from_another_issuer_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id: _,
        issued,
    } = spawn_with_secret(backend).await;
    let mut other_issuer = valid_claims(&issued);
    other_issuer["iss"] = json!("someone-else");
    let mut no_issuer = valid_claims(&issued);
    no_issuer.as_object_mut().unwrap().remove("iss");

    for claims in [other_issuer, no_issuer] {
        let token = sign_token(&claims, secret.as_bytes());
        app.assert_rejected_as_cookie_and_bearer(&token).await;
    }
}

async fn a_token_that_is_not_yet_valid_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id: _,
        issued,
    } = spawn_with_secret(backend).await;
    let mut claims = valid_claims(&issued);
    claims["nbf"] = json!(now() + 600);

    let token = sign_token(&claims, secret.as_bytes());

    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn a_token_without_a_jti_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id: _,
        issued,
    } = spawn_with_secret(backend).await;
    let mut claims = valid_claims(&issued);
    claims.as_object_mut().unwrap().remove("jti");

    let token = sign_token(&claims, secret.as_bytes());

    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn an_unsigned_token_is_rejected(backend: Backend) {
    let Signed { app, issued, .. } = spawn_with_secret(backend).await;
    let header = base64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = base64url_encode(valid_claims(&issued).to_string().as_bytes());

    for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        app.assert_rejected_as_cookie_and_bearer(&token).await;
    }
}

async fn a_token_signed_with_another_algorithm_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id: _,
        issued,
    } = spawn_with_secret(backend).await;

    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_token_with(algorithm, &valid_claims(&issued), secret.as_bytes());
        app.assert_rejected_as_cookie_and_bearer(&token).await;
    }
}

async fn a_token_for_a_user_that_does_not_exist_is_rejected(backend: Backend) {
    let Signed {
        app,
        secret,
        id,
        issued,
    } = spawn_with_secret(backend).await;

    for sub in [json!((id + 1000).to_string()), json!("not-a-number")] {
        let mut claims = valid_claims(&issued);
        claims["sub"] = sub;
        let token = sign_token(&claims, secret.as_bytes());
        app.assert_rejected_as_cookie_and_bearer(&token).await;
    }
}

async fn the_token_lifetime_is_configurable(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_TOKEN_TTL", "2h")
        .spawn()
        .await;
    let (user, _, token) = app.user_with_token().await;

    let claims = jwt_claims(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
    let login = app.api_login(&user.api_login()).await;
    let body = json_body(login, StatusCode::OK).await;
    assert_eq!(body["expires_in"], json!(7200));

    let response = app.login_via_form(&user.email, &user.password).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(auth_set_cookie(&response).max_age(), Some(7200));
}
