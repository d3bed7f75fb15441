//! One template for the pages that are a single form: the forgotten and
//! reset password, the settings, the confirm button of an email link.

use crate::web::session::PageSession;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::auth::{self, Authenticated};
use crate::domain::FieldError;
use crate::web::AppError;
use crate::web::page::{Layout, form_again, render};

/// One input of a form page.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `email` or `password`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    /// What the user typed (never a password).
    pub value: String,
    pub hint: Option<&'static str>,
    pub error: Option<&'static str>,
    /// `numeric` for codes: phones show the digit keyboard.
    pub inputmode: Option<&'static str>,
}

impl Field {
    pub fn email(name: &'static str, label: &'static str, value: String) -> Self {
        Self {
            name,
            label,
            kind: "email",
            autocomplete: "email",
            value,
            hint: None,
            error: None,
            inputmode: None,
        }
    }

    pub fn current_password(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            kind: "password",
            autocomplete: "current-password",
            value: String::new(),
            hint: None,
            error: None,
            inputmode: None,
        }
    }

    /// A two-factor code from the authenticator app (or a recovery code).
    pub fn code(hint: Option<&'static str>) -> Self {
        Self {
            name: "code",
            label: "Code",
            kind: "text",
            autocomplete: "one-time-code",
            value: String::new(),
            hint,
            error: None,
            inputmode: Some("numeric"),
        }
    }

    pub fn new_password(
        name: &'static str,
        label: &'static str,
        hint: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            label,
            kind: "password",
            autocomplete: "new-password",
            value: String::new(),
            hint,
            error: None,
            inputmode: None,
        }
    }
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub lead: Option<String>,
    pub action: String,
    pub fields: Vec<Field>,
    pub submit: &'static str,
    /// The button of an action that cannot be undone.
    pub danger: bool,
    /// Said above the form instead of "Please correct the marked fields".
    pub summary: Option<String>,
    /// A link under the form: (href, text).
    pub back: Option<(&'static str, &'static str)>,
}

impl FormPage {
    /// A page titled and headed `title`, its form posting `fields` to
    /// `action` with the button `submit`.
    pub fn new(
        title: &'static str,
        session: &PageSession,
        user: Option<&Authenticated>,
        action: impl Into<String>,
        fields: Vec<Field>,
        submit: &'static str,
    ) -> Self {
        Self {
            layout: Layout::new(title, session, user),
            heading: title,
            lead: None,
            action: action.into(),
            fields,
            submit,
            danger: false,
            summary: None,
            back: None,
        }
    }

    /// Whether a field shows an error (the summary then lists them).
    pub fn has_field_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }

    /// A paragraph under the heading.
    pub fn lead(mut self, lead: impl Into<String>) -> Self {
        self.lead = Some(lead.into());
        self
    }

    /// A link under the form.
    pub fn back(mut self, href: &'static str, text: &'static str) -> Self {
        self.back = Some((href, text));
        self
    }

    /// The button of an action that cannot be undone.
    pub fn danger(mut self) -> Self {
        self.danger = true;
        self
    }

    pub fn show(&self) -> Result<HttpResponse, AppError> {
        render(StatusCode::OK, self)
    }

    /// The form again after `error`: field errors at their fields, any
    /// other refusal the form can show (throttled, taken) above it; the
    /// rest goes on as an error page.
    pub fn again(mut self, error: auth::Error) -> Result<HttpResponse, AppError> {
        let errors: Vec<FieldError> = match &error {
            auth::Error::Invalid(errors) => errors.clone(),
            auth::Error::Conflict(taken) => match self.fields.iter().find(|f| f.kind == "email") {
                Some(field) => vec![FieldError {
                    field: field.name,
                    message: taken.message(),
                }],
                None => {
                    self.summary = Some(taken.message().to_owned());
                    Vec::new()
                }
            },
            auth::Error::TooManyRequests { .. } | auth::Error::InvalidCredentials => {
                self.summary = Some(error.to_string());
                Vec::new()
            }
            _ => return Err(error.into()),
        };
        for field in &mut self.fields {
            field.error = errors
                .iter()
                .find(|e| e.field == field.name)
                .map(|e| e.message);
        }
        form_again(&error.into(), &self)
    }
}
