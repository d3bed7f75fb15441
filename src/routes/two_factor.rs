//! Two-factor authentication: its settings page, set-up, turning it off,
//! new recovery codes, and the second step of a login.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::token::unix_now;
use crate::auth::two_factor::TotpSecret;
use crate::auth::{self, Accounts, Authenticated, Device, PendingLogin};
use crate::domain::FieldError;
use crate::web::form::Form;
use crate::web::form_page::{Field, FormPage};
use crate::web::page::{Layout, form_again, render, see_other};
use crate::web::session::PageSession;
use crate::web::{AppError, AuthCookies, DeviceCookies, MaybeUser, PageUser, Remote, session};

#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    /// `Some(recovery codes left)` when two-factor is on.
    pub codes_left: Option<i64>,
    pub summary: Option<String>,
}

#[derive(Template)]
#[template(path = "two_factor_setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub qr_svg: String,
    /// The secret in groups of four, for typing in by hand.
    pub secret: String,
    pub uri: String,
    pub has_errors: bool,
    pub code_error: Option<&'static str>,
    pub password_error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub layout: Layout,
    pub lead: &'static str,
    pub codes: Vec<String>,
}

fn status_page(
    session: &PageSession,
    auth: &Authenticated,
    codes_left: Option<i64>,
) -> TwoFactorPage {
    TwoFactorPage {
        layout: Layout::new("Two-factor authentication", session, Some(auth)),
        codes_left,
        summary: None,
    }
}

pub async fn settings(
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    let left = accounts.two_factor_status(auth.user.id).await?;
    render(StatusCode::OK, &status_page(&session, &auth, left))
}

fn setup_page(
    session: &PageSession,
    auth: &Authenticated,
    secret: &TotpSecret,
    errors: &[FieldError],
) -> SetupPage {
    let message = |field| errors.iter().find(|e| e.field == field).map(|e| e.message);
    SetupPage {
        layout: Layout::new("Set up two-factor authentication", session, Some(auth)),
        qr_svg: secret.qr_svg(&auth.user.email),
        secret: secret.grouped(),
        uri: secret.uri(&auth.user.email),
        has_errors: !errors.is_empty(),
        code_error: message("code"),
        password_error: message("current_password"),
    }
}

/// A fresh secret, kept in the session until a code from it turns
/// two-factor on.
pub async fn setup(
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    if accounts.two_factor_status(auth.user.id).await?.is_some() {
        return Ok(see_other("/me/two-factor").finish());
    }
    // The same secret until it is confirmed: a reload keeps the QR code an
    // app may have scanned already.
    let secret = match session::two_factor_setup(&session).and_then(|s| TotpSecret::from_base32(&s))
    {
        Some(secret) => secret,
        None => {
            let secret = TotpSecret::generate();
            session::set_two_factor_setup(&session, &secret.base32());
            secret
        }
    };
    render(StatusCode::OK, &setup_page(&session, &auth, &secret, &[]))
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_password: String,
    csrf_token: Option<String>,
}

/// Turns two-factor on: 200 with the recovery codes, shown once.
pub async fn enable(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
    Remote(client, presence, user_agent): Remote,
    Form(form): Form<EnableForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let Some(secret) =
        session::two_factor_setup(&session).and_then(|s| TotpSecret::from_base32(&s))
    else {
        return Ok(see_other("/me/two-factor/setup").finish());
    };
    match accounts
        .enable_two_factor(
            &auth,
            &secret,
            &form.code,
            &form.current_password,
            Device { client, user_agent },
            &presence,
        )
        .await
    {
        Ok(codes) => {
            session::clear_two_factor_setup(&session);
            render(
                StatusCode::OK,
                &RecoveryCodesPage {
                    layout: Layout::new("Your recovery codes", &session, Some(&auth)),
                    lead: "Two-factor authentication is on.",
                    codes,
                },
            )
        }
        Err(auth::Error::Invalid(errors)) => {
            let page = setup_page(&session, &auth, &secret, &errors);
            form_again(&auth::Error::Invalid(errors).into(), &page)
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
    csrf_token: Option<String>,
}

/// The settings page again after a refused form.
async fn refused(
    session: &PageSession,
    accounts: &Accounts,
    auth: &Authenticated,
    error: auth::Error,
) -> Result<HttpResponse, AppError> {
    let summary = match &error {
        auth::Error::Invalid(errors) => errors
            .iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join(". "),
        auth::Error::TooManyRequests { .. } => error.to_string(),
        _ => return Err(error.into()),
    };
    let codes_left = accounts.two_factor_status(auth.user.id).await?;
    let mut page = status_page(session, auth, codes_left);
    page.summary = Some(summary);
    form_again(&error.into(), &page)
}

pub async fn disable(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
    Remote(client, presence, user_agent): Remote,
    Form(form): Form<DisableForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts
        .disable_two_factor(
            &auth,
            &form.current_password,
            &form.code,
            Device { client, user_agent },
            &presence,
        )
        .await
    {
        Ok(()) => {
            session::set_flash(&session, "Two-factor authentication is off");
            Ok(see_other("/me").finish())
        }
        Err(error) => refused(&session, &accounts, &auth, error).await,
    }
}

#[derive(Deserialize)]
pub struct CodesForm {
    #[serde(default)]
    current_password: String,
    csrf_token: Option<String>,
}

pub async fn recovery_codes(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
    Remote(client, presence, _): Remote,
    Form(form): Form<CodesForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts
        .new_recovery_codes(auth.user.id, &form.current_password, client, &presence)
        .await
    {
        Ok(codes) => render(
            StatusCode::OK,
            &RecoveryCodesPage {
                layout: Layout::new("Your recovery codes", &session, Some(&auth)),
                lead: "Your new recovery codes; the old ones no longer work.",
                codes,
            },
        ),
        Err(error) => refused(&session, &accounts, &auth, error).await,
    }
}

fn code_page(session: &PageSession, user: Option<&Authenticated>) -> FormPage {
    FormPage::new(
        "Enter your code",
        session,
        user,
        "/login/two-factor",
        vec![Field::code(Some(
            "The six digits your authenticator app shows, or one of your recovery codes.",
        ))],
        "Log in",
    )
    .lead("Your account has two-factor authentication on.")
    .back("/login", "Start again")
}

/// The second step of a login: the code, for the login waiting in this
/// browser's session; without one, back to the login form.
pub async fn login_form(
    session: PageSession,
    MaybeUser(user): MaybeUser,
) -> Result<HttpResponse, AppError> {
    match session::pending_login(&session) {
        Some(pending) if pending.expires_at > unix_now() => {
            code_page(&session, user.as_ref()).show()
        }
        Some(_) => {
            session::clear_pending_login(&session);
            session::set_flash(&session, auth::Error::PendingLoginExpired.to_string());
            Ok(see_other("/login").finish())
        }
        None => Ok(see_other("/login").finish()),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    csrf_token: Option<String>,
}

pub async fn login(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    cookies: web::Data<AuthCookies>,
    devices: web::Data<DeviceCookies>,
    Remote(client, _, user_agent): Remote,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let Some(pending) = session::pending_login(&session) else {
        return Ok(see_other("/login").finish());
    };
    let device = Device { client, user_agent };
    match accounts.complete_login(&pending, &form.code, device).await {
        Ok(issued) => {
            session::restart(&session);
            session::set_flash(&session, format!("Welcome, {}", issued.user.username));
            Ok(see_other(&pending.next)
                .cookie(cookies.holding(issued.token))
                .cookie(cookies.refresh(issued.session.refresh, issued.session.remembered))
                .cookie(devices.naming(issued.user.id))
                .finish())
        }
        Err(auth::Error::PendingLoginExpired) => {
            session::clear_pending_login(&session);
            session::set_flash(&session, auth::Error::PendingLoginExpired.to_string());
            Ok(see_other("/login").finish())
        }
        Err(error @ auth::Error::TooManyRequests { .. }) => {
            // The fifth wrong code: this login is over.
            session::clear_pending_login(&session);
            let mut page = code_page(&session, None);
            page.summary = Some("Too many wrong codes. Log in again.".into());
            form_again(&error.into(), &page)
        }
        Err(error @ auth::Error::AccountDisabled) => {
            // Disabled while the login waited for its code: it is over.
            session::clear_pending_login(&session);
            let page = crate::routes::login::LoginPage {
                layout: Layout::new("Log in", &session, None),
                email: String::new(),
                next: pending.next,
                error: Some(error.to_string()),
            };
            form_again(&error.into(), &page)
        }
        Err(error @ auth::Error::InvalidCode) => {
            let mut page = code_page(&session, None);
            page.summary = Some(error.to_string());
            form_again(&error.into(), &page)
        }
        Err(error) => Err(error.into()),
    }
}

/// Starts the second step after a right password.
pub fn start_pending(
    session: &actix_session::Session,
    user_id: i32,
    remember: bool,
    next: &str,
) -> HttpResponse {
    session::set_pending_login(
        session,
        &PendingLogin::new(user_id, remember, next.to_owned()),
    );
    see_other("/login/two-factor").finish()
}
