//! The OpenAPI 3.1 document of `/api`, served at `GET /api/openapi.json`.
//!
//! Each handler's `#[utoipa::path]` says what the handler answers: its
//! success and the refusals of the core it calls. What a request meets
//! around every handler is added here once, by [`Edge`]: the host check's
//! 400, and for a JSON body the 400, 408, 413, 415 and 422 of the body
//! limit, its deadline and the JSON extractor.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, web};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::routes::sessions;
use crate::web::error::{Detail, FieldErrors};

/// The document, with every operation of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gatehouse",
        description = "The JSON API of gatehouse: accounts, bearer tokens and sessions.

Every answer is JSON (`application/json`), except 204 and HEAD. Errors are \
`{\"detail\": \"…\"}`, or `{\"detail\": [{\"field\", \"message\"}]}` for invalid fields. \
Operations with a lock take the `access_token` of `POST /api/login` or `POST /api/refresh` \
as `Authorization: Bearer …`; the others take no login.

Besides what each operation lists: every `GET` also answers `HEAD`; a method a path does \
not take gets 405 with `Allow`; a path under `/api` that is not listed here gets 404 \
`{\"detail\": \"Page not found\"}`; a request that declares a body over 16 KiB gets 413 \
and one whose body takes over 10 s to arrive gets 408, whatever the operation."
    ),
    paths(
        super::register,
        super::login,
        super::refresh,
        super::logout,
        super::me,
        super::delete_me,
        super::resend_confirmation,
        super::change_password,
        super::forgot_password,
        super::reset_password,
        sessions::api_list,
        sessions::api_end,
        document,
    ),
    components(schemas(Detail, FieldErrors)),
    modifiers(&BearerToken, &Edge),
    tags(
        (name = "account", description = "Registration and the caller's account"),
        (name = "tokens", description = "Login, refresh and logout"),
        (name = "password", description = "A forgotten password, without a login"),
        (name = "sessions", description = "The caller's live sessions"),
        (name = "document", description = "This document"),
    )
)]
pub struct ApiDoc;

/// No valid bearer token: none, malformed, expired, logged out, or of an
/// ended session or a deleted account (`Not authenticated`).
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthenticated(#[expect(dead_code, reason = "a schema only")] Detail);

/// The faults of a request that reaches the database.
#[derive(IntoResponses)]
pub enum ServerFaults {
    /// The database cannot be reached or had no connection free within
    /// 3 s (`Retry-After: 5`), or, where a password is hashed, too many
    /// wait for it (`Retry-After: 1`)
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
    )]
    Unavailable(Detail),
    /// `Something went wrong`: a fault the log describes (the answer never does)
    #[response(status = 500)]
    Internal(Detail),
}

/// The scheme the locked operations name: `Authorization: Bearer <JWT>`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The `access_token` of `POST /api/login` or `POST /api/refresh`",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The answers of the middleware and the JSON extractor (see
/// `web::middleware` and `startup::json_config`), added to each operation.
struct Edge;

impl Modify for Edge {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let detail = || schema::<Detail>();
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add(
                    operation,
                    "400",
                    "`Unknown host`: the `Host` is not one `GATEHOUSE_ALLOWED_HOSTS` lists",
                    detail(),
                );
                if operation.request_body.is_none() {
                    continue;
                }
                add(operation, "400", "`The body is not valid JSON`", detail());
                add(
                    operation,
                    "408",
                    "The body did not arrive within 10 s of the headers; the connection closes",
                    detail(),
                );
                add(operation, "413", "The body is over 16 KiB", detail());
                add(
                    operation,
                    "415",
                    "The body is not sent as `Content-Type: application/json`",
                    detail(),
                );
                add(
                    operation,
                    "422",
                    "The body is not a JSON object, or has a key twice (`field` is `body`)",
                    schema::<FieldErrors>(),
                );
            }
        }
    }
}

/// A reference to a component schema.
fn schema<T: utoipa::ToSchema>() -> RefOr<utoipa::openapi::Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// Adds a JSON answer to an operation; where the operation has one with
/// that status already, the description is added to its own.
fn add(
    operation: &mut Operation,
    status: &str,
    description: &str,
    schema: RefOr<utoipa::openapi::Schema>,
) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(status) {
        Some(RefOr::T(existing)) => {
            existing.description = format!("{}; or {description}", existing.description);
            if existing.content.is_empty() {
                existing.content.insert(
                    "application/json".to_owned(),
                    Content::new(Some(schema)).into(),
                );
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let mut response = Response::new(description);
            response.content.insert(
                "application/json".to_owned(),
                Content::new(Some(schema)).into(),
            );
            responses.insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// The document as served: serialized once, at start.
pub struct OpenApiJson(web::Bytes);

impl OpenApiJson {
    pub fn build() -> serde_json::Result<Self> {
        Ok(Self(web::Bytes::from(ApiDoc::openapi().to_json()?)))
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "document",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api`", body = serde_json::Value))
)]
pub async fn document(json: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::json())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(json.0.clone())
}
