//! A form extractor that refuses what it cannot read exactly: a body that is
//! not UTF-8 is a 400, not a guess with replacement characters. An empty
//! body is an empty form whatever its content type, so that it meets the
//! CSRF check like any other form without a token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::web::error::AppError;

/// `application/x-www-form-urlencoded`, at most the app's body limit.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.essence_str() == "application/x-www-form-urlencoded"
        );
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|error| {
                if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::BadRequest("The form could not be read")
                }
            })?;
            if !is_form && !body.is_empty() {
                return Err(AppError::UnsupportedMediaType(
                    "Send the form as application/x-www-form-urlencoded",
                ));
            }
            parse_form(&body).map(Form)
        })
    }
}

/// Decodes a form body, refusing fields that are not UTF-8 and repeated or
/// malformed fields.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let all_utf8 = body.split(|b| *b == b'&').all(|pair| {
        let spaced: Vec<u8> = pair
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .is_ok()
    });
    if !all_utf8 {
        return Err(AppError::BadRequest("The form is not valid UTF-8"));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Login {
        email: String,
        password: Option<String>,
    }

    #[test]
    fn a_form_is_decoded() {
        let form: Login = parse_form(b"email=a%40b.c&password=x+y%C3%A9").expect("valid");
        assert_eq!(
            form,
            Login {
                email: "a@b.c".into(),
                password: Some("x yé".into())
            }
        );
    }

    #[test]
    fn invalid_utf8_is_refused_not_replaced() {
        for body in [&b"email=%FF%FE"[..], b"email=a&password=%C3", b"email=\xff"] {
            assert!(
                matches!(parse_form::<Login>(body), Err(AppError::BadRequest(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn repeated_and_missing_fields_are_refused() {
        assert!(parse_form::<Login>(b"email=a&email=b").is_err());
        assert!(parse_form::<Login>(b"password=x").is_err());
    }
}
