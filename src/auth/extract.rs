//! Extractors: the cookie authenticates pages, the bearer header the API,
//! never the other way round.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::accounts::{Authenticated, authenticate};
use crate::auth::cookie::AUTH_COOKIE;
use crate::error::AppError;
use crate::state::AppState;

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))
}

/// The user of the auth cookie, if any; a database fault is an error, not
/// an anonymous visitor.
pub async fn cookie_user(req: &HttpRequest) -> Result<Option<Authenticated>, AppError> {
    let Some(cookie) = req.cookie(AUTH_COOKIE) else {
        return Ok(None);
    };
    authenticate(&state(req)?, cookie.value()).await
}

/// A page visitor who may or may not be logged in.
pub struct MaybePageUser(pub Option<Authenticated>);

impl FromRequest for MaybePageUser {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Self(cookie_user(&req).await?)) })
    }
}

/// A logged-in page visitor; anyone else is sent to the login form.
pub struct PageUser(pub Authenticated);

impl FromRequest for PageUser {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match cookie_user(&req).await? {
                Some(user) => Ok(Self(user)),
                None => Err(AppError::LoginRequired {
                    next: req
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned(),
                }),
            }
        })
    }
}

/// An API client with a valid bearer token; anyone else gets 401.
pub struct ApiUser(pub Authenticated);

impl FromRequest for ApiUser {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token = bearer_token(&req).ok_or(AppError::Unauthorized)?;
            authenticate(&state(&req)?, token)
                .await?
                .map(Self)
                .ok_or(AppError::Unauthorized)
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
