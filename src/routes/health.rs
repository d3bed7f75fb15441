use actix_web::{HttpResponse, web};

use crate::auth::Accounts;

/// 200 `ok` when the database answers a query, 503 when it does not.
pub async fn healthz(accounts: web::Data<Accounts>) -> HttpResponse {
    match accounts.check_database().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("database unavailable"),
    }
}
