use std::net::IpAddr;

use actix_web::{HttpRequest, web};

use crate::auth::throttle;
use crate::state::AppState;

/// The client address that rate limits are keyed on.
pub fn client_ip(req: &HttpRequest, state: &web::Data<AppState>) -> Option<IpAddr> {
    throttle::client_ip(req, &state.trusted_proxies)
}
