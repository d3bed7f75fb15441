//! Who is calling, from where. The auth cookie authenticates pages, the
//! bearer header the API, never the other way round; both hand the token to
//! [`Accounts::authenticate`]. The client address is resolved once per
//! request, by the request span, and read back here.

use std::any::Any;
use std::future::{Future, Ready, ready};
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::{Extensions, Payload};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use ipnet::IpNet;

use crate::auth::{Accounts, Authenticated, Client, Device, Presence};
use crate::web::cookies::{AUTH_COOKIE, REFRESH_COOKIE};
use crate::web::error::{ApiError, AppError};
use crate::web::middleware::record_user;

type Extracted<T, E> = Pin<Box<dyn Future<Output = Result<T, E>>>>;

/// Every token a page request carries in an auth cookie: normally one, but
/// a cookie planted for a parent domain or another path comes along too.
pub struct PageTokens(pub Vec<String>);

impl FromRequest for PageTokens {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(page_tokens(req))))
    }
}

fn page_tokens(req: &HttpRequest) -> Vec<String> {
    cookie_values(req, AUTH_COOKIE)
}

/// The non-empty values of every cookie called `name`.
fn cookie_values(req: &HttpRequest, name: &str) -> Vec<String> {
    req.cookies()
        .map(|cookies| {
            cookies
                .iter()
                .filter(|c| c.name() == name && !c.value().is_empty())
                .map(|c| c.value().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The refresh cookie of a page request, when it carries exactly one.
pub fn refresh_cookie(req: &HttpRequest) -> Option<String> {
    let mut values = cookie_values(req, REFRESH_COOKIE);
    (values.len() == 1).then(|| values.remove(0))
}

/// A fresh access token made for this request by silent renewal; the
/// answer sets it as the auth cookie (see `middleware::screen_request`).
#[derive(Clone)]
pub struct RenewedToken(pub String);

/// The user a token belongs to, recorded in the request's span; a database
/// fault is an error, not an anonymous visitor.
async fn authenticate(
    req: &HttpRequest,
    token: Option<&str>,
) -> Result<Option<Authenticated>, AppError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let accounts = req
        .app_data::<web::Data<Accounts>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the accounts service is missing")))?;
    let found = accounts.authenticate(token).await?;
    if let Some(auth) = &found {
        record_user(req, auth.user.id);
    }
    Ok(found)
}

/// The session id of the login a page request carries, for checking a
/// form token bound to it: its one auth cookie's, when that token is valid,
/// else the live session its refresh cookie names (read, not renewed).
/// Two auth cookies carry no login, as for [`MaybeUser`].
pub async fn login_session(req: &HttpRequest) -> Result<Option<String>, AppError> {
    let tokens = page_tokens(req);
    if tokens.len() > 1 {
        return Ok(None);
    }
    if let Some(user) = authenticate(req, tokens.first().map(String::as_str)).await? {
        return Ok(Some(user.claims.sid.clone()));
    }
    let Some(refresh) = refresh_cookie(req) else {
        return Ok(None);
    };
    let accounts = req
        .app_data::<web::Data<Accounts>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the accounts service is missing")))?;
    Ok(accounts.session_of_refresh(&refresh).await?)
}

/// A page visitor who may or may not be logged in. Two auth cookies log in
/// nobody: which one the browser sends first is not the user's choice (a
/// planted one may come first). Without a valid access token, a refresh
/// cookie naming a live session renews it silently: the visitor is served
/// as its user and the answer carries a fresh access token.
pub struct MaybeUser(pub Option<Authenticated>);

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = Extracted<Self, AppError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let tokens = page_tokens(&req);
            if tokens.len() > 1 {
                return Ok(Self(None));
            }
            if let Some(token) = tokens.first()
                && let Some(user) = authenticate(&req, Some(token)).await?
            {
                return Ok(Self(Some(user)));
            }
            let Some(refresh) = refresh_cookie(&req) else {
                return Ok(Self(None));
            };
            let accounts = req.app_data::<web::Data<Accounts>>().ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("the accounts service is missing"))
            })?;
            let Some((user, token)) = accounts.renew(&refresh).await? else {
                return Ok(Self(None));
            };
            record_user(&req, user.user.id);
            req.extensions_mut().insert(RenewedToken(token));
            Ok(Self(Some(user)))
        })
    }
}

/// A logged-in page visitor; anyone else is sent to the login form.
pub struct PageUser(pub Authenticated);

impl FromRequest for PageUser {
    type Error = AppError;
    type Future = Extracted<Self, AppError>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let maybe = MaybeUser::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            match maybe.await? {
                MaybeUser(Some(user)) => Ok(Self(user)),
                MaybeUser(None) => Err(AppError::LoginRequired {
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
pub struct ApiUser {
    pub auth: Authenticated,
    /// The bearer token itself, for logging it out.
    pub token: String,
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = Extracted<Self, ApiError>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token = bearer_token(&req).ok_or(ApiError(AppError::Unauthorized))?;
            match authenticate(&req, Some(token)).await? {
                Some(auth) => Ok(Self {
                    auth,
                    token: token.to_owned(),
                }),
                None => Err(ApiError(AppError::Unauthorized)),
            }
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<&str> {
    // Checked as UTF-8 rather than by `HeaderValue::to_str`, which looks
    // at the 300 bytes one by one on every API request: a token with a
    // character outside visible ASCII fails its signature check all the same.
    let value = std::str::from_utf8(req.headers().get(header::AUTHORIZATION)?.as_bytes()).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The other end: the client address (as the request span resolved it),
/// whether it still waits for the answer, and its `User-Agent` (for the
/// session list).
pub struct Remote(pub Client, pub Presence, pub String);

impl FromRequest for Remote {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Device { client, user_agent } = device(req);
        ready(Ok(Self(client, presence(req), user_agent)))
    }
}

/// Whether the client still waits for the answer.
impl FromRequest for Presence {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(presence(req)))
    }
}

/// Where a request comes from, for the account's activity log.
impl FromRequest for Device {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(device(req)))
    }
}

fn device(req: &HttpRequest) -> Device {
    let client = req.extensions().get::<Client>().copied();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Device {
        client: client.unwrap_or_else(|| TrustedProxies::default().resolve(req)),
        user_agent,
    }
}

/// A second handle on the client's TCP socket, taken when the connection
/// is accepted, so that work queued for a request can ask whether the
/// client is still there. actix-web keeps serving a request whose client
/// has hung up until it writes the answer.
#[derive(Clone)]
struct ClientSocket(Arc<socket2::Socket>);

/// For `HttpServer::on_connect`: keeps the connection's socket handle.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    match socket2::SockRef::from(stream).try_clone() {
        Ok(socket) => {
            data.insert(ClientSocket(Arc::new(socket)));
        }
        Err(error) => tracing::debug!(%error, "cannot keep a handle on a client socket"),
    }
}

/// Whether the client of a request still waits for its answer: its side of
/// the connection is open (a peek finds data or nothing yet, not the end).
fn presence(req: &HttpRequest) -> Presence {
    match req.conn_data::<ClientSocket>() {
        Some(ClientSocket(socket)) => {
            let socket = Arc::clone(socket);
            Presence::new(move || still_open(&socket))
        }
        None => Presence::default(),
    }
}

/// The socket is non-blocking (the server's), so a peek never waits.
fn still_open(socket: &socket2::Socket) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    match socket.peek(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// The reverse proxies whose `X-Forwarded-For` counts.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// The TCP peer, or, when the peer is a trusted proxy, the rightmost
    /// address in `X-Forwarded-For` that is not itself one.
    pub fn resolve(&self, req: &HttpRequest) -> Client {
        let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
            return Client(None);
        };
        if self.0.is_empty() {
            return Client(Some(peer));
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        Client(Some(self.resolve_ip(peer, &forwarded.join(","))))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The pure part of [`TrustedProxies::resolve`].
    pub fn resolve_ip(&self, peer: IpAddr, forwarded_for: &str) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_for.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return ip,
                // A hop we cannot read: stop at the last one we could.
                Err(_) => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|s| s.parse().expect("network")).collect())
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_added() {
        // (trusted, peer, X-Forwarded-For, client)
        let cases: [(&[&str], &str, &str, &str); 10] = [
            // An untrusted peer is the client whatever it forwards.
            (&[], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
            (
                &["10.0.0.1/32"],
                "203.0.113.9",
                "198.51.100.1",
                "203.0.113.9",
            ),
            // Behind a trusted proxy: the rightmost untrusted hop. The
            // client may prepend anything; only what our proxies saw counts.
            (&["10.0.0.1/32"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
            (
                &["10.0.0.1/32", "10.0.0.2/32"],
                "10.0.0.1",
                "1.1.1.1, 198.51.100.1, 10.0.0.2",
                "198.51.100.1",
            ),
            // A range trusts every address in it.
            (
                &["10.0.0.0/8"],
                "10.20.30.40",
                "198.51.100.1, 10.9.9.9",
                "198.51.100.1",
            ),
            (&["::1/128"], "::1", "198.51.100.2", "198.51.100.2"),
            (&["10.0.0.0/8"], "11.0.0.1", "198.51.100.1", "11.0.0.1"),
            // A mapped IPv4 peer is the IPv4 address it carries.
            (
                &["10.0.0.0/8"],
                "::ffff:10.1.1.1",
                "198.51.100.3",
                "198.51.100.3",
            ),
            // A trusted proxy without a readable header is the client.
            (&["10.0.0.1/32"], "10.0.0.1", "", "10.0.0.1"),
            (&["10.0.0.1/32"], "10.0.0.1", "garbage", "10.0.0.1"),
        ];
        for (trusted, peer, forwarded, client) in cases {
            assert_eq!(
                proxies(trusted).resolve_ip(ip(peer), forwarded),
                ip(client),
                "{trusted:?} {peer} {forwarded:?}"
            );
        }
    }
}
