//! Markup checks on every page as the browser parsed it: unique ids,
//! references that resolve, one `<h1>`, a title naming the page, and every
//! form with exactly the fields the contract names.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::driver::Browser;
use crate::pages::{Page, Tour};

/// What the page's markup looks like, gathered in the page.
const SURVEY: &str = r##"
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
const broken = [];
for (const el of document.querySelectorAll('label[for]'))
  if (!document.getElementById(el.htmlFor)) broken.push('label for=' + el.htmlFor);
for (const attr of ['aria-describedby', 'aria-labelledby', 'aria-controls'])
  for (const el of document.querySelectorAll('[' + attr + ']'))
    for (const id of el.getAttribute(attr).split(/\s+/).filter(Boolean))
      if (!document.getElementById(id)) broken.push(attr + '=' + id);
for (const a of document.querySelectorAll('a[href^="#"]'))
  if (a.getAttribute('href').length > 1 && !document.getElementById(a.getAttribute('href').slice(1)))
    broken.push('href=' + a.getAttribute('href'));
const forms = [...document.forms].map(f => ({
  action: f.getAttribute('action'),
  method: (f.getAttribute('method') || 'get').toLowerCase(),
  fields: [...f.elements].filter(e => e.name).map(e => e.name).sort(),
  types: Object.fromEntries([...f.elements].filter(e => e.name).map(e => [e.name, e.type])),
  csrf: (f.elements.namedItem('csrf_token') || {}).value || '',
  unnamed: [...f.elements].filter(e => !e.name && e.tagName !== 'BUTTON').map(e => e.outerHTML),
}));
return {
  duplicates, broken, forms,
  h1: document.querySelectorAll('h1').length,
  main: document.querySelectorAll('main').length,
  title: document.title,
  lang: document.documentElement.lang,
  charset: document.characterSet,
  viewport: (document.querySelector('meta[name=viewport]') || {}).content || '',
  stylesheets: [...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.getAttribute('href')),
  scripts: document.querySelectorAll('script').length,
  inlineStyles: document.querySelectorAll('[style], style').length,
};
"##;

/// The fields of each form, by action, as the contract names them.
fn contract_fields(action: &str) -> Option<&'static [&'static str]> {
    match action {
        "/register" => Some(&[
            "csrf_token",
            "email",
            "password",
            "password_confirm",
            "username",
        ]),
        "/login" => Some(&["csrf_token", "email", "next", "password", "remember"]),
        "/logout" | "/logout-everywhere" | "/me/sessions/end-others" | "/me/verify-email" => {
            Some(&["csrf_token"])
        }
        "/password/forgot" => Some(&["csrf_token", "email"]),
        "/me/password" => Some(&[
            "csrf_token",
            "current_password",
            "new_password",
            "new_password_confirm",
        ]),
        "/me/email" => Some(&["csrf_token", "current_password", "new_email"]),
        "/me/delete" => Some(&["csrf_token", "current_password"]),
        action if action.starts_with("/password/reset/") => {
            Some(&["csrf_token", "password", "password_confirm"])
        }
        action if action.starts_with("/verify-email/") => Some(&["csrf_token"]),
        action if action.starts_with("/me/sessions/") && action.ends_with("/end") => {
            Some(&["csrf_token"])
        }
        _ => None,
    }
}

fn expected_title(page: Page) -> &'static str {
    match page {
        Page::Home | Page::HomeSignedIn => "Home · gatehouse",
        Page::Register | Page::RegisterErrors => "Register · gatehouse",
        Page::Login | Page::LoginError | Page::LoggedOut => "Log in · gatehouse",
        Page::NotFound => "Page not found · gatehouse",
        Page::Account => "Your account · gatehouse",
        Page::Sessions => "Your sessions · gatehouse",
        Page::Activity => "Account activity · gatehouse",
        Page::Forgot | Page::ForgotErrors => "Forgot your password? · gatehouse",
        Page::Reset | Page::ResetErrors => "Choose a new password · gatehouse",
        Page::LinkInvalid => "This link is invalid or has expired · gatehouse",
        Page::ConfirmEmail => "Confirm your email address · gatehouse",
        Page::ChangePassword | Page::ChangePasswordErrors => "Change your password · gatehouse",
        Page::ChangeEmail => "Change your email address · gatehouse",
        Page::DeleteAccount => "Delete your account · gatehouse",
    }
}

/// The forms a page must have, by action; one ending in `/` is the start
/// of a link's path.
fn expected_forms(page: Page) -> &'static [&'static str] {
    match page {
        Page::Home | Page::NotFound | Page::LinkInvalid => &[],
        Page::Register | Page::RegisterErrors => &["/register"],
        Page::Login | Page::LoginError | Page::LoggedOut => &["/login"],
        Page::HomeSignedIn => &["/logout"],
        Page::Sessions => &["/logout", "/me/sessions/end-others"],
        Page::Activity => &["/logout"],
        Page::Account => &["/logout", "/logout-everywhere", "/me/verify-email"],
        Page::Forgot | Page::ForgotErrors => &["/password/forgot"],
        Page::Reset | Page::ResetErrors => &["/password/reset/"],
        Page::ConfirmEmail => &["/verify-email/"],
        Page::ChangePassword | Page::ChangePasswordErrors => &["/logout", "/me/password"],
        Page::ChangeEmail => &["/logout", "/me/email"],
        Page::DeleteAccount => &["/logout", "/me/delete"],
    }
}

async fn markup_problems(browser: &Browser, page: Page) -> Vec<String> {
    let survey = browser.js(SURVEY).await;
    let mut problems = Vec::new();
    let mut check = |ok: bool, problem: String| {
        if !ok {
            problems.push(format!("{}: {problem}", page.name()));
        }
    };
    let empty = Vec::new();
    let list = |key: &str| survey[key].as_array().unwrap_or(&empty).clone();
    check(
        list("duplicates").is_empty(),
        format!("duplicate ids {}", survey["duplicates"]),
    );
    check(
        list("broken").is_empty(),
        format!("references to missing ids {}", survey["broken"]),
    );
    check(survey["h1"] == 1, format!("{} <h1> elements", survey["h1"]));
    check(
        survey["main"] == 1,
        format!("{} <main> elements", survey["main"]),
    );
    check(
        survey["title"] == expected_title(page),
        format!("title {}", survey["title"]),
    );
    check(survey["lang"] == "en", format!("lang {}", survey["lang"]));
    check(
        survey["charset"] == "UTF-8",
        format!("charset {}", survey["charset"]),
    );
    check(
        survey["viewport"]
            .as_str()
            .is_some_and(|v| v.contains("width=device-width")),
        format!("viewport {}", survey["viewport"]),
    );
    let stylesheets = list("stylesheets");
    check(
        stylesheets.len() == 1
            && stylesheets[0]
                .as_str()
                .is_some_and(|href| href.starts_with("/static/style.css")),
        format!("stylesheets {stylesheets:?}"),
    );
    check(
        survey["scripts"] == 0,
        format!("{} scripts", survey["scripts"]),
    );
    check(
        survey["inlineStyles"] == 0,
        format!("{} inline styles", survey["inlineStyles"]),
    );

    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for form in list("forms") {
        let action = form["action"].as_str().unwrap_or_default().to_owned();
        *actions.entry(action.clone()).or_default() += 1;
        check(
            form["method"] == "post",
            format!("form {action} uses {}", form["method"]),
        );
        check(
            !form["csrf"].as_str().unwrap_or_default().is_empty(),
            format!("form {action} has no csrf_token value"),
        );
        check(
            form["unnamed"].as_array().is_some_and(Vec::is_empty),
            format!("form {action} has unnamed fields {}", form["unnamed"]),
        );
        let fields: Vec<&str> = form["fields"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match contract_fields(&action) {
            Some(expected) => check(
                fields == expected,
                format!("form {action} has fields {fields:?}, not {expected:?}"),
            ),
            None => check(false, format!("a form posts to {action:?}")),
        }
        for (name, kind) in [
            ("csrf_token", "hidden"),
            ("next", "hidden"),
            ("email", "email"),
            ("new_email", "email"),
            ("password", "password"),
            ("current_password", "password"),
            ("new_password", "password"),
            ("new_password_confirm", "password"),
            ("password_confirm", "password"),
            ("username", "text"),
            ("remember", "checkbox"),
        ] {
            let actual = &form["types"][name];
            check(
                actual.is_null() || actual == kind,
                format!("form {action}: {name} is of type {actual}"),
            );
        }
    }
    for action in expected_forms(page) {
        let found = if action.ends_with('/') {
            actions
                .keys()
                .any(|a| a.len() > action.len() && a.starts_with(action))
        } else {
            actions.contains_key(*action)
        };
        check(found, format!("no form posting to {action}"));
    }
    let signed_in = page.signed_in();
    // Logged in, the header adds a logout form; the main content may too.
    for (action, count) in &actions {
        let allowed = if action == "/logout" && signed_in {
            2
        } else {
            1
        };
        check(
            *count <= allowed,
            format!("{count} forms posting to {action}"),
        );
    }
    problems
}

e2e_test!(
    async fn every_page_has_unique_ids_and_the_contract_fields(t) {
        let browser = t.browser().await;
        let tour = Tour::start(&t).await;
        let mut problems = Vec::new();
        for page in Page::ALL {
            page.reach(&browser, &tour).await;
            problems.extend(markup_problems(&browser, page).await);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
);
