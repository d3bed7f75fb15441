use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection;

use crate::state::AppState;

/// 200 `ok` when the database answers a query, 503 when it does not.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let answered = state
        .with_conn(|conn| Ok(conn.batch_execute("SELECT 1")?))
        .await;
    match answered {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("database unavailable"),
    }
}
