//! Using the pages as a person does: fields found by their label, buttons
//! and links by their text, keys typed one by one; and a tour of every page.

use fantoccini::Locator;
use fantoccini::elements::Element;

use crate::driver::{Browser, E2e};
use crate::helpers::{Mailbox, TestUser};

/// A string as an XPath literal (the texts used here have no `'`).
fn literal(text: &str) -> String {
    assert!(!text.contains('\''), "{text:?} needs another quote");
    format!("'{text}'")
}

impl Browser {
    /// The input that the `<label>` reading `label` is for.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space()={}]", literal(label));
        let tag = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(tag) => tag,
            Err(e) => panic!("no label {label:?} on {}: {e}", self.path().await),
        };
        let id = tag
            .attr("for")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the label {label:?} has no `for`"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("label {label:?} is for #{id}, which is missing: {e}"))
    }

    /// Clicks into the field labelled `label` and types `text`.
    pub async fn type_into(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.click().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// What the field labelled `label` holds now.
    pub async fn value_of(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn click_and_wait(&self, xpath: &str, what: &str) {
        let target = match self.client.find(Locator::XPath(xpath)).await {
            Ok(target) => target,
            Err(e) => panic!("no {what} on {}: {e}", self.path().await),
        };
        self.mark_document().await;
        target.click().await.unwrap();
        self.wait_for_new_document().await;
    }

    /// Clicks the button reading `text` in the page's main content and
    /// waits for the next page.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//main//button[normalize-space()={}]", literal(text));
        self.click_and_wait(&xpath, &format!("button {text:?}"))
            .await;
    }

    /// Clicks the first button in the main content whose text starts with
    /// `text` (one that names what it acts on for screen readers) and
    /// waits for the next page.
    pub async fn press_starting_with(&self, text: &str) {
        let xpath = format!(
            "(//main//button[starts-with(normalize-space(), {})])[1]",
            literal(text)
        );
        self.click_and_wait(&xpath, &format!("button {text:?}…"))
            .await;
    }

    /// Ticks the checkbox labelled `label`.
    pub async fn tick(&self, label: &str) {
        self.field(label).await.click().await.unwrap();
    }

    /// Clicks the button reading `text` in the site header.
    pub async fn press_in_header(&self, text: &str) {
        let xpath = format!("//header//button[normalize-space()={}]", literal(text));
        self.click_and_wait(&xpath, &format!("header button {text:?}"))
            .await;
    }

    /// Follows the first link reading `text`.
    pub async fn follow(&self, text: &str) {
        let xpath = format!("//a[normalize-space()={}]", literal(text));
        self.click_and_wait(&xpath, &format!("link {text:?}")).await;
    }

    /// Fills in the registration form from the start page's link.
    pub async fn register(&self, user: &TestUser) {
        self.goto("/").await;
        self.follow("Register").await;
        self.type_into("Username", &user.username).await;
        self.type_into("Email", &user.email).await;
        self.type_into("Password", &user.password).await;
        self.type_into("Confirm password", &user.password).await;
        self.press("Create account").await;
    }

    /// Fills in the login form on the current page and sends it.
    pub async fn log_in_here(&self, email: &str, password: &str) {
        self.type_into("Email", email).await;
        self.type_into("Password", password).await;
        self.press("Log in").await;
    }

    /// Opens the login page and logs in; lands on the account page.
    pub async fn log_in(&self, user: &TestUser) {
        self.goto("/login").await;
        self.log_in_here(&user.email, &user.password).await;
        assert_eq!(self.path().await, "/me", "logging in did not lead to /me");
    }
}

/// A user registered for a tour of the pages, and the mailbox the server
/// writes to (its default: `.eml` files in `mail/` of its directory).
pub struct Tour {
    pub user: TestUser,
    pub mailbox: Mailbox,
    /// The confirmation link of the registration, as a path.
    pub confirm_path: String,
}

impl Tour {
    pub async fn start(t: &E2e) -> Tour {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let mailbox = Mailbox::at(&t.app.database.dir.path().join("mail"));
        let confirm_path = mailbox
            .wait_for(&user.email, "Confirm your email address")
            .await
            .link_path();
        Tour {
            user,
            mailbox,
            confirm_path,
        }
    }

    /// Asks for a reset link (as the API does) and returns the newest one.
    async fn reset_path(&self, browser: &Browser) -> String {
        let subject = "Reset your gatehouse password";
        let sent = self.mailbox.to(&self.user.email, subject).len();
        let asked = reqwest::Client::new()
            .post(browser.url("/api/password/forgot"))
            .json(&serde_json::json!({ "email": self.user.email }))
            .send()
            .await
            .expect("POST /api/password/forgot");
        assert_eq!(asked.status(), reqwest::StatusCode::ACCEPTED);
        self.mailbox
            .wait_for_nth(&self.user.email, subject, sent + 1)
            .await
            .link_path()
    }
}

/// Every kind of page, in the order of a tour that starts and ends logged
/// out: anonymous pages first, then the logged-in ones, then the login page
/// that says "You have been logged out".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Home,
    Register,
    RegisterErrors,
    Login,
    LoginError,
    NotFound,
    Forgot,
    ForgotErrors,
    Reset,
    ResetErrors,
    LinkInvalid,
    ConfirmEmail,
    HomeSignedIn,
    Account,
    Sessions,
    Activity,
    ChangePassword,
    ChangePasswordErrors,
    ChangeEmail,
    DeleteAccount,
    LoggedOut,
}

impl Page {
    pub const ALL: [Page; 21] = [
        Page::Home,
        Page::Register,
        Page::RegisterErrors,
        Page::Login,
        Page::LoginError,
        Page::NotFound,
        Page::Forgot,
        Page::ForgotErrors,
        Page::Reset,
        Page::ResetErrors,
        Page::LinkInvalid,
        Page::ConfirmEmail,
        Page::HomeSignedIn,
        Page::Account,
        Page::Sessions,
        Page::Activity,
        Page::ChangePassword,
        Page::ChangePasswordErrors,
        Page::ChangeEmail,
        Page::DeleteAccount,
        Page::LoggedOut,
    ];

    /// Used in screenshot names.
    pub fn name(self) -> &'static str {
        match self {
            Page::Home => "home",
            Page::Register => "register",
            Page::RegisterErrors => "register-errors",
            Page::Login => "login",
            Page::LoginError => "login-error",
            Page::NotFound => "not-found",
            Page::Forgot => "forgot",
            Page::ForgotErrors => "forgot-errors",
            Page::Reset => "reset",
            Page::ResetErrors => "reset-errors",
            Page::LinkInvalid => "link-invalid",
            Page::ConfirmEmail => "confirm-email",
            Page::HomeSignedIn => "home-signed-in",
            Page::Account => "account",
            Page::Sessions => "sessions",
            Page::Activity => "activity",
            Page::ChangePassword => "change-password",
            Page::ChangePasswordErrors => "change-password-errors",
            Page::ChangeEmail => "change-email",
            Page::DeleteAccount => "delete-account",
            Page::LoggedOut => "logged-out",
        }
    }

    /// Whether the page shows an error summary.
    pub fn has_errors(self) -> bool {
        matches!(
            self,
            Page::RegisterErrors
                | Page::LoginError
                | Page::ForgotErrors
                | Page::ResetErrors
                | Page::ChangePasswordErrors
        )
    }

    /// Whether the tour is logged in on this page.
    pub fn signed_in(self) -> bool {
        matches!(
            self,
            Page::HomeSignedIn
                | Page::Account
                | Page::Sessions
                | Page::Activity
                | Page::ChangePassword
                | Page::ChangePasswordErrors
                | Page::ChangeEmail
                | Page::DeleteAccount
        )
    }

    /// Brings the browser to this page, in tour order.
    pub async fn reach(self, browser: &Browser, tour: &Tour) {
        let user = &tour.user;
        match self {
            Page::Home => browser.goto("/").await,
            Page::Register => browser.goto("/register").await,
            Page::RegisterErrors => {
                browser.goto("/register").await;
                browser.type_into("Username", "ab").await;
                browser.type_into("Email", "not-an-email").await;
                browser.type_into("Password", "short").await;
                browser.type_into("Confirm password", "shorter").await;
                browser.press("Create account").await;
            }
            Page::Login => browser.goto("/login").await,
            Page::LoginError => {
                browser.goto("/login").await;
                browser.log_in_here(&user.email, "not-the-password").await;
            }
            Page::NotFound => browser.goto("/no/such/page").await,
            Page::Forgot => {
                browser.goto("/login").await;
                browser.follow("Forgot your password?").await;
            }
            Page::ForgotErrors => {
                browser.goto("/password/forgot").await;
                browser.type_into("Email", "not-an-email").await;
                browser.press("Send the link").await;
            }
            Page::Reset => browser.goto(&tour.reset_path(browser).await).await,
            Page::ResetErrors => {
                browser.goto(&tour.reset_path(browser).await).await;
                browser.type_into("New password", "short").await;
                browser.type_into("Confirm new password", "short").await;
                browser.press("Set the new password").await;
            }
            Page::LinkInvalid => browser.goto("/password/reset/no-such-link").await,
            Page::ConfirmEmail => browser.goto(&tour.confirm_path).await,
            Page::HomeSignedIn => {
                browser.log_in(user).await;
                browser.goto("/").await;
            }
            Page::Account => browser.goto("/me").await,
            Page::Sessions => {
                // A second session (an API client), so the page shows an
                // end button and "End all other sessions" too.
                let login = reqwest::Client::new()
                    .post(browser.url("/api/login"))
                    .json(&serde_json::json!({ "email": user.email, "password": user.password }))
                    .send()
                    .await
                    .expect("POST /api/login");
                assert!(login.status().is_success(), "{}", login.status());
                browser.goto("/me/sessions").await;
            }
            Page::Activity => {
                browser.goto("/me").await;
                browser.follow("Activity").await;
            }
            Page::ChangePassword => {
                browser.goto("/me").await;
                browser.follow("Change password").await;
            }
            Page::ChangePasswordErrors => {
                browser.goto("/me/password").await;
                browser
                    .type_into("Current password", "not-the-password")
                    .await;
                browser
                    .type_into("New password", "a-brand-new-password")
                    .await;
                browser
                    .type_into("Confirm new password", "a-brand-new-password")
                    .await;
                browser.press("Change password").await;
            }
            Page::ChangeEmail => {
                browser.goto("/me").await;
                browser.follow("Change email address").await;
            }
            Page::DeleteAccount => {
                browser.goto("/me").await;
                browser.follow("Delete account").await;
            }
            Page::LoggedOut => {
                browser.goto("/me").await;
                browser.press("Log out").await;
            }
        }
        let text = browser.text().await;
        let expected = match self {
            Page::Home => "Log in",
            Page::Register => "Create an account",
            Page::RegisterErrors => "Password must be at least 8 characters",
            Page::Login => "Log in",
            Page::LoginError => "Invalid email or password",
            Page::NotFound => "Page not found",
            Page::Forgot => "Forgot your password?",
            Page::ForgotErrors => "Enter a valid email address",
            Page::Reset => "Choose a new password",
            Page::ResetErrors => "Password must be at least 8 characters",
            Page::LinkInvalid => "This link is invalid or has expired",
            Page::ConfirmEmail => "Confirm my email address",
            Page::HomeSignedIn => "Signed in as",
            Page::Account => "Your email address is not confirmed",
            Page::Sessions => "This device",
            Page::Activity => "Logged in",
            Page::ChangePassword => "Change your password",
            Page::ChangePasswordErrors => "Current password is incorrect",
            Page::ChangeEmail => "Change your email address",
            Page::DeleteAccount => "Delete your account",
            Page::LoggedOut => "You have been logged out",
        };
        assert!(
            text.contains(expected),
            "{self:?}: no {expected:?} on {}:\n{text}",
            browser.path().await
        );
    }
}
