//! Forged, tampered and malformed tokens. Each one is sent as the page cookie
//! to `GET /me` and as the bearer header to `GET /api/me`, and each must be
//! refused: a 303 to the login form, a 401 with `WWW-Authenticate: Bearer`,
//! never a 500. Every table first checks that a correctly minted token is
//! accepted, so that no table passes merely because nothing works.

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, LOGIN_FOR_ME, TestApp, assert_api_unauthorized, base64url_encode, json_body,
    jwt_claims, location, now, random_secret, sign_token_with, spawn_with_known_secret,
    valid_claims,
};

backend_tests!(
    a_correctly_minted_token_is_accepted_as_cookie_and_as_bearer,
    unsigned_tokens_are_refused_whatever_the_case_of_none,
    tokens_signed_with_hs384_or_hs512_and_the_right_key_are_refused,
    tokens_signed_with_a_wrong_or_empty_key_are_refused,
    a_changed_payload_under_the_old_signature_is_refused,
    a_token_with_its_signature_stripped_is_refused,
    expired_and_not_yet_valid_tokens_are_refused,
    a_token_missing_any_required_claim_is_refused,
    a_token_with_a_claim_of_the_wrong_json_type_is_refused,
    a_token_from_another_issuer_is_refused,
    a_token_for_a_user_that_does_not_exist_is_refused,
    key_hints_in_the_header_never_make_an_attacker_key_trusted,
    garbage_of_every_shape_is_refused,
    oversized_tokens_are_refused_in_the_cookie_and_in_the_header,
    malformed_authorization_headers_are_refused,
);

/// A server whose signing key the test knows, and two users on it.
struct Forge {
    app: TestApp,
    secret: String,
    id: i64,
    other_id: i64,
    /// A token the server issued to the user, and one to the other user.
    issued: String,
    other_issued: String,
}

async fn forge(backend: Backend) -> Forge {
    let (app, secret) = spawn_with_known_secret(backend).await;
    let (_, id, issued) = app.user_with_token().await;
    let (_, other_id, other_issued) = app.user_with_token().await;
    Forge {
        app,
        secret,
        id,
        other_id,
        issued,
        other_issued,
    }
}

fn encode_json(json: &str) -> String {
    base64url_encode(json.as_bytes())
}

/// The signature of `signing_input` (`header.payload`) with `algorithm`.
fn signature(signing_input: &str, key: &[u8], algorithm: Algorithm) -> String {
    jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(key),
        algorithm,
    )
    .expect("failed to sign")
}

/// A token made of these exact header and payload texts, signed with HS256.
fn hs256_raw(header: &str, payload: &str, key: &[u8]) -> String {
    let signing_input = format!("{}.{}", encode_json(header), encode_json(payload));
    let signature = signature(&signing_input, key, Algorithm::HS256);
    format!("{signing_input}.{signature}")
}

impl Forge {
    fn claims(&self) -> Value {
        valid_claims(&self.issued)
    }

    /// HS256 with the server's own key.
    fn sign(&self, claims: &Value) -> String {
        sign_token_with(Algorithm::HS256, claims, self.secret.as_bytes())
    }

    /// HS256 with the server's own key over an exact payload text.
    fn sign_payload(&self, payload: &str) -> String {
        hs256_raw(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            payload,
            self.secret.as_bytes(),
        )
    }

    /// The control case: a token minted like the server's own is accepted.
    async fn assert_control_accepted(&self) {
        let token = self.sign(&self.claims());
        assert_accepted(&self.app, &token, self.id).await;
    }

    /// Asserts the control case, then that every token of the table is refused.
    async fn assert_all_rejected<C: AsRef<str>>(&self, table: &[(C, String)]) {
        self.assert_control_accepted().await;
        for (case, token) in table {
            assert_rejected(&self.app, case.as_ref(), token).await;
        }
    }
}

/// Asserts that the pages send the cookie's bearer to the login form and that
/// the API answers 401 with a challenge.
async fn assert_rejected(app: &TestApp, case: &str, token: &str) {
    let page = app.get_me_with_cookie(token).await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "{case}: GET /me with the token as cookie"
    );
    assert_eq!(location(&page), LOGIN_FOR_ME, "{case}");
    let api = app.api_me(token).await;
    assert_eq!(
        api.status(),
        StatusCode::UNAUTHORIZED,
        "{case}: GET /api/me with the token as bearer"
    );
    assert_api_unauthorized(api).await;
}

async fn assert_api_rejected(app: &TestApp, case: &str, authorization: &str) {
    let api = app.api_me_with_authorization(authorization).await;
    assert_eq!(
        api.status(),
        StatusCode::UNAUTHORIZED,
        "{case}: GET /api/me with Authorization: {authorization:.80}"
    );
    assert_api_unauthorized(api).await;
}

async fn assert_accepted(app: &TestApp, token: &str, id: i64) {
    let me = json_body(app.api_me(token).await, StatusCode::OK).await;
    assert_eq!(me["id"], json!(id), "the control token is not {id}'s");
    let page = app.get_me_with_cookie(token).await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the control token does not open /me"
    );
}

async fn a_correctly_minted_token_is_accepted_as_cookie_and_as_bearer(backend: Backend) {
    let forge = forge(backend).await;

    forge.assert_control_accepted().await;

    let other = sign_token_with(
        Algorithm::HS256,
        &valid_claims(&forge.other_issued),
        forge.secret.as_bytes(),
    );
    assert_accepted(&forge.app, &other, forge.other_id).await;
}

async fn unsigned_tokens_are_refused_whatever_the_case_of_none(backend: Backend) {
    let forge = forge(backend).await;
    let payload = forge.claims().to_string();
    let mut table = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let signing_input = format!("{}.{}", encode_json(&header), encode_json(&payload));
        // The HS256 signature with the right key, under a header saying `none`.
        let real = signature(&signing_input, forge.secret.as_bytes(), Algorithm::HS256);
        table.push((
            format!("alg {alg}, empty signature"),
            format!("{signing_input}."),
        ));
        table.push((format!("alg {alg}, no signature"), signing_input.clone()));
        table.push((
            format!("alg {alg}, some signature"),
            format!("{signing_input}.{}", base64url_encode(b"some signature")),
        ));
        table.push((
            format!("alg {alg}, the HS256 signature"),
            format!("{signing_input}.{real}"),
        ));
    }

    forge.assert_all_rejected(&table).await;
}

async fn tokens_signed_with_hs384_or_hs512_and_the_right_key_are_refused(backend: Backend) {
    let forge = forge(backend).await;
    let key = forge.secret.as_bytes();

    forge
        .assert_all_rejected(&[
            (
                "HS384",
                sign_token_with(Algorithm::HS384, &forge.claims(), key),
            ),
            (
                "HS512",
                sign_token_with(Algorithm::HS512, &forge.claims(), key),
            ),
            ("HS512 under a header saying HS256", {
                let header = encode_json(r#"{"alg":"HS256","typ":"JWT"}"#);
                let input = format!("{header}.{}", encode_json(&forge.claims().to_string()));
                let signature = signature(&input, key, Algorithm::HS512);
                format!("{input}.{signature}")
            }),
        ])
        .await;
}

async fn tokens_signed_with_a_wrong_or_empty_key_are_refused(backend: Backend) {
    let forge = forge(backend).await;
    let claims = forge.claims();
    let mut truncated = forge.secret.clone();
    truncated.pop();

    forge
        .assert_all_rejected(&[
            (
                "another random key",
                sign_token_with(Algorithm::HS256, &claims, random_secret().as_bytes()),
            ),
            (
                "the empty key",
                sign_token_with(Algorithm::HS256, &claims, b""),
            ),
            (
                "the secret without its last byte",
                sign_token_with(Algorithm::HS256, &claims, truncated.as_bytes()),
            ),
            (
                "the secret upper-cased",
                sign_token_with(
                    Algorithm::HS256,
                    &claims,
                    forge.secret.to_uppercase().as_bytes(),
                ),
            ),
        ])
        .await;
}

/// `token` with its payload replaced, keeping its header and signature.
fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("no header");
    let _ = parts.next().expect("no payload");
    let signature = parts.next().expect("no signature");
    format!("{header}.{}.{signature}", encode_json(&claims.to_string()))
}

async fn a_changed_payload_under_the_old_signature_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let minted = forge.sign(&forge.claims());
    // A token the server issued itself, through a login.
    let (_, issued_id, issued) = forge.app.user_with_token().await;
    let issued_claims = jwt_claims(&issued);
    assert_eq!(issued_claims["sub"], json!(issued_id.to_string()));

    let mut table = Vec::new();
    for (origin, token, claims) in [
        ("minted", &minted, jwt_claims(&minted)),
        ("issued", &issued, issued_claims.clone()),
    ] {
        let mut other_user = claims.clone();
        other_user["sub"] = json!(forge.other_id.to_string());
        table.push((
            format!("{origin}: sub swapped"),
            with_payload(token, &other_user),
        ));

        let mut longer = claims.clone();
        longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
        table.push((
            format!("{origin}: exp extended"),
            with_payload(token, &longer),
        ));

        let mut other_version = claims.clone();
        other_version["ver"] = json!(claims["ver"].as_i64().unwrap_or(0) + 1);
        table.push((
            format!("{origin}: ver changed"),
            with_payload(token, &other_version),
        ));

        let mut new_jti = claims.clone();
        new_jti["jti"] = json!(uuid::Uuid::new_v4().to_string());
        table.push((
            format!("{origin}: jti changed"),
            with_payload(token, &new_jti),
        ));

        // The same claims, serialized with other whitespace: other bytes.
        let reformatted = serde_json::to_string_pretty(&claims).unwrap();
        let mut parts = token.split('.');
        let header = parts.next().unwrap();
        let signature = parts.nth(1).unwrap();
        table.push((
            format!("{origin}: payload reformatted"),
            format!("{header}.{}.{signature}", encode_json(&reformatted)),
        ));
    }

    forge.assert_all_rejected(&table).await;
    // The untouched issued token still works.
    assert_accepted(&forge.app, &issued, issued_id).await;
}

async fn a_token_with_its_signature_stripped_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let token = forge.sign(&forge.claims());
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('A') { 'B' } else { 'A' };
    flipped.pop();
    flipped.push(last);

    forge
        .assert_all_rejected(&[
            ("header.payload.", format!("{signing_input}.")),
            ("header.payload", signing_input.to_owned()),
            (
                "signature cut short",
                format!("{signing_input}.{}", &signature[..signature.len() / 2]),
            ),
            (
                "last signature character changed",
                format!("{signing_input}.{flipped}"),
            ),
            (
                "signature padded with =",
                format!("{signing_input}.{signature}="),
            ),
        ])
        .await;
}

async fn expired_and_not_yet_valid_tokens_are_refused(backend: Backend) {
    let forge = forge(backend).await;
    let mut expired = forge.claims();
    expired["iat"] = json!(now() - 930);
    expired["exp"] = json!(now() - 30);
    let mut not_yet_valid = forge.claims();
    not_yet_valid["nbf"] = json!(now() + 60);
    let mut long_expired = forge.claims();
    long_expired["iat"] = json!(0);
    long_expired["exp"] = json!(1);

    forge
        .assert_all_rejected(&[
            ("expired 30 s ago", forge.sign(&expired)),
            ("expired in 1970", forge.sign(&long_expired)),
            ("nbf 60 s ahead", forge.sign(&not_yet_valid)),
        ])
        .await;
}

async fn a_token_missing_any_required_claim_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let mut table = Vec::new();
    for claim in ["sub", "exp", "iat", "jti", "iss", "ver"] {
        let mut claims = forge.claims();
        claims.as_object_mut().unwrap().remove(claim);
        table.push((claim, forge.sign(&claims)));
    }
    table.push(("every claim", forge.sign(&json!({}))));

    forge.assert_all_rejected(&table).await;
}

async fn a_token_with_a_claim_of_the_wrong_json_type_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let exp = now() + 900;
    let iat = now();
    let mut table = Vec::new();
    for (case, claim, value) in [
        ("sub as number", "sub", json!(forge.id)),
        ("exp as string", "exp", json!(exp.to_string())),
        ("iat as string", "iat", json!(iat.to_string())),
        ("jti as number", "jti", json!(12345)),
        ("iss as array", "iss", json!(["gatehouse"])),
        ("ver as string", "ver", json!("0")),
        ("nbf as string", "nbf", json!((iat - 10).to_string())),
        ("ver as null", "ver", Value::Null),
        ("ver as boolean", "ver", json!(false)),
        ("ver as float", "ver", json!(0.5)),
        ("sub as null", "sub", Value::Null),
        ("exp as float string", "exp", json!(format!("{exp}.0"))),
    ] {
        let mut claims = forge.claims();
        claims[claim] = value;
        table.push((case, forge.sign(&claims)));
    }

    forge.assert_all_rejected(&table).await;
}

async fn a_token_from_another_issuer_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let mut table = Vec::new();
    for iss in [
        "someone-else",
        "Gatehouse",
        "gatehouse ",
        "",
        "gatehouse.evil",
    ] {
        let mut claims = forge.claims();
        claims["iss"] = json!(iss);
        table.push((iss, forge.sign(&claims)));
    }

    forge.assert_all_rejected(&table).await;
}

async fn a_token_for_a_user_that_does_not_exist_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let missing = forge.id.max(forge.other_id) + 1000;
    let mut table = Vec::new();
    for (case, sub) in [
        ("an id never given out", missing.to_string()),
        ("id 0", "0".to_owned()),
        ("a negative id", "-1".to_owned()),
        ("an id beyond 64 bits", "99999999999999999999999".to_owned()),
        ("not a number", "not-a-number".to_owned()),
        ("an id with a leading zero", format!("0{}", forge.id)),
        ("an id with a plus sign", format!("+{}", forge.id)),
        ("an id with a space", format!(" {}", forge.id)),
        ("SQL in sub", format!("{} OR 1=1", forge.id)),
    ] {
        let mut claims = forge.claims();
        claims["sub"] = json!(sub);
        table.push((case, forge.sign(&claims)));
    }

    forge.assert_all_rejected(&table).await;
}

async fn key_hints_in_the_header_never_make_an_attacker_key_trusted(backend: Backend) {
    let forge = forge(backend).await;
    let attacker = b"an attacker's key of 32+ bytes!!!";
    let payload = forge.claims().to_string();
    let jwk = json!({ "kty": "oct", "k": base64url_encode(attacker), "alg": "HS256" });
    let headers = [
        (
            "kid",
            json!({ "alg": "HS256", "typ": "JWT", "kid": "attacker" }),
        ),
        (
            "jku",
            json!({ "alg": "HS256", "typ": "JWT", "jku": "http://127.0.0.1:9/x" }),
        ),
        ("jwk", json!({ "alg": "HS256", "typ": "JWT", "jwk": jwk })),
        (
            "kid, jku and jwk",
            json!({
                "alg": "HS256",
                "typ": "JWT",
                "kid": "attacker",
                "jku": "http://127.0.0.1:9/x",
                "jwk": jwk,
            }),
        ),
        (
            "x5u",
            json!({ "alg": "HS256", "typ": "JWT", "x5u": "http://127.0.0.1:9/x" }),
        ),
    ];
    let mut table = Vec::new();
    for (case, header) in &headers {
        table.push((*case, hs256_raw(&header.to_string(), &payload, attacker)));
    }
    // A kid naming an empty file, with the empty key.
    let dev_null = json!({ "alg": "HS256", "typ": "JWT", "kid": "../../../../../../dev/null" });
    table.push((
        "kid of /dev/null, empty key",
        hs256_raw(&dev_null.to_string(), &payload, b""),
    ));

    forge.assert_all_rejected(&table).await;
}

async fn garbage_of_every_shape_is_refused(backend: Backend) {
    let forge = forge(backend).await;
    let valid = forge.sign(&forge.claims());
    let (signing_input, _) = valid.rsplit_once('.').unwrap();
    let header = encode_json(r#"{"alg":"HS256","typ":"JWT"}"#);

    let table = [
        ("empty", String::new()),
        (".", ".".to_owned()),
        ("..", "..".to_owned()),
        ("...", "...".to_owned()),
        ("a.b.c", "a.b.c".to_owned()),
        ("a single word", "token".to_owned()),
        ("not base64", "!!!.@@@.###".to_owned()),
        ("not base64 in the payload", format!("{header}.%%%.abc")),
        (
            "base64 of text that is not JSON",
            format!(
                "{}.{}.{}",
                base64url_encode(b"hello"),
                base64url_encode(b"world"),
                base64url_encode(b"sig")
            ),
        ),
        (
            "a header that is not JSON, signed",
            hs256_raw(
                "not json",
                &forge.claims().to_string(),
                forge.secret.as_bytes(),
            ),
        ),
        (
            "a JSON array payload, signed",
            forge.sign_payload(&json!([forge.id.to_string(), "gatehouse"]).to_string()),
        ),
        (
            "a JSON string payload, signed",
            forge.sign_payload(r#""gatehouse""#),
        ),
        ("a JSON number payload, signed", forge.sign_payload("42")),
        ("a JSON null payload, signed", forge.sign_payload("null")),
        (
            "a JSON array header, signed",
            hs256_raw(
                r#"["HS256"]"#,
                &forge.claims().to_string(),
                forge.secret.as_bytes(),
            ),
        ),
        (
            "four segments",
            format!("{valid}.{}", base64url_encode(b"x")),
        ),
        ("five segments", format!("{signing_input}.a.b.c")),
        ("a valid token twice", format!("{valid}.{valid}")),
        ("unicode", "ünïcödé.tökén.✓".to_owned()),
        ("unicode after a valid token", format!("{valid}✓")),
        ("spaces", "a b.c d.e f".to_owned()),
        ("a space inside a valid token", {
            let (head, tail) = valid.split_at(valid.len() / 2);
            format!("{head} {tail}")
        }),
        ("padding in the payload", {
            let mut parts = valid.split('.');
            let (h, p, s) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            format!("{h}.{p}==.{s}")
        }),
        // With a `+` or `/` forced in, so it never equals the valid token.
        (
            "standard base64 alphabet",
            format!("{}+/", valid.replace('-', "+").replace('_', "/")),
        ),
    ];

    forge.assert_all_rejected(&table).await;
}

async fn oversized_tokens_are_refused_in_the_cookie_and_in_the_header(backend: Backend) {
    let forge = forge(backend).await;
    let mut table = Vec::new();
    for size in [8 * 1024, 64 * 1024] {
        let mut claims = forge.claims();
        claims["pad"] = json!("x".repeat(size * 3 / 4));
        let signed = forge.sign(&claims);
        assert!(
            signed.len() >= size,
            "the token is only {} bytes",
            signed.len()
        );
        let forged = sign_token_with(Algorithm::HS256, &claims, random_secret().as_bytes());
        table.push((format!("{} KiB, the right key", size / 1024), signed));
        table.push((format!("{} KiB, another key", size / 1024), forged));
        table.push((format!("{} KiB of A", size / 1024), "A".repeat(size)));
    }

    forge.assert_all_rejected(&table).await;
}

async fn malformed_authorization_headers_are_refused(backend: Backend) {
    let forge = forge(backend).await;
    forge.assert_control_accepted().await;
    let valid = forge.sign(&forge.claims());
    let other = sign_token_with(
        Algorithm::HS256,
        &valid_claims(&forge.other_issued),
        forge.secret.as_bytes(),
    );
    let forged = sign_token_with(
        Algorithm::HS256,
        &forge.claims(),
        random_secret().as_bytes(),
    );

    for (case, authorization) in [
        ("two tokens", format!("Bearer {valid} {other}")),
        ("the same token twice", format!("Bearer {valid} {valid}")),
        (
            "two bearer credentials",
            format!("Bearer {valid}, Bearer {other}"),
        ),
        ("the Token scheme", format!("Token {valid}")),
        ("the Basic scheme", format!("Basic {valid}")),
        ("no scheme", valid.clone()),
        ("the scheme glued to the token", format!("Bearer{valid}")),
        ("the scheme alone", "Bearer".to_owned()),
        ("Token x", "Token x".to_owned()),
        (
            "a forged token, lowercase bearer",
            format!("bearer {forged}"),
        ),
        (
            "a forged token, extra spaces",
            format!("Bearer    {forged}"),
        ),
        (
            "a forged token, upper-case BEARER",
            format!("BEARER {forged}"),
        ),
    ] {
        assert_api_rejected(&forge.app, case, &authorization).await;
    }

    // The scheme is case-insensitive and `1*SP` separates it from the token
    // (RFC 7235, RFC 6750), so these two may be accepted. Whichever way the
    // server reads them, the answer is for the token's own user or a 401.
    for (case, authorization) in [
        ("lowercase bearer", format!("bearer {valid}")),
        ("extra spaces", format!("Bearer   {valid}")),
    ] {
        let response = forge.app.api_me_with_authorization(&authorization).await;
        match response.status() {
            StatusCode::OK => {
                let me = json_body(response, StatusCode::OK).await;
                assert_eq!(me["id"], json!(forge.id), "{case}");
            }
            StatusCode::UNAUTHORIZED => assert_api_unauthorized(response).await,
            status => panic!("{case}: {status}"),
        }
    }
}
