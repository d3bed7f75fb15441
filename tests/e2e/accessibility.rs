//! Every page in the light and the dark colour scheme, at 320 px, 1280 px
//! and 200 % zoom: axe-core's WCAG 2.0/2.1 A and AA rules, no horizontal
//! scrolling, labelled inputs with the right autocomplete tokens, error
//! summaries announced as alerts, and a visible focus on everything the Tab
//! key reaches. Screenshots: `target/e2e/PAGE-SCHEME-WIDTH.png`.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::axe;
use crate::driver::{Browser, E2e, Scheme, Viewport};
use crate::pages::{Page, Tour};

/// Labels, autocomplete tokens, alerts and horizontal overflow, checked in
/// the page. `arguments[0]`: whether the page shows an error summary.
const FORM_AND_LAYOUT: &str = r#"
const hasErrors = arguments[0];
const problems = [];
const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '')
  + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth)
  problems.push(`scrolls horizontally: the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px viewport`);
for (const el of document.body.querySelectorAll('*')) {
  const box = el.getBoundingClientRect();
  if (box.width > 0 && (box.right > root.clientWidth + 0.5 || box.left < -0.5))
    problems.push(`${describe(el)} sticks out of the viewport (${Math.round(box.left)}..${Math.round(box.right)}px)`);
  if (!['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && el.clientWidth > 0
      && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible')
    problems.push(`${describe(el)} overflows: ${el.scrollWidth}px of content in ${el.clientWidth}px`);
}
const autocomplete = {
  '/register': { username: 'username', email: 'email', password: 'new-password', password_confirm: 'new-password' },
  '/login': { email: 'email', password: 'current-password' },
  '/password/forgot': { email: 'email' },
  '/password/reset/*': { password: 'new-password', password_confirm: 'new-password' },
  '/me/password': { current_password: 'current-password', new_password: 'new-password', new_password_confirm: 'new-password' },
  '/me/email': { new_email: 'email', current_password: 'current-password' },
  '/me/delete': { current_password: 'current-password' },
};
// Checkboxes take no autocomplete token.
const checkboxes = { '/login': ['remember'] };
for (const input of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labels = input.id ? [...document.querySelectorAll('label[for]')].filter(l => l.htmlFor === input.id) : [];
  if (labels.length !== 1 || !labels[0].textContent.trim())
    problems.push(`${describe(input)} has ${labels.length} <label for> with text`);
  const action = input.form && input.form.getAttribute('action');
  // A link's form posts to its own path: /password/reset/TOKEN.
  const expected = (autocomplete[action] || autocomplete[(action || '').replace(/[^/]+$/, '*')] || {})[input.name];
  if (input.type === 'checkbox') {
    if (!(checkboxes[action] || []).includes(input.name))
      problems.push(`${describe(input)} in form ${action} is not expected`);
  } else if (!expected)
    problems.push(`${describe(input)} in form ${action} is not expected`);
  else if (input.getAttribute('autocomplete') !== expected)
    problems.push(`${describe(input)} has autocomplete=${input.getAttribute('autocomplete')}, not ${expected}`);
}
for (const summary of document.querySelectorAll('.error-summary'))
  if (summary.getAttribute('role') !== 'alert')
    problems.push(`${describe(summary)} has role=${summary.getAttribute('role')}, not alert`);
const alerts = document.querySelectorAll('[role=alert]');
if (hasErrors && alerts.length !== 1)
  problems.push(`${alerts.length} elements with role=alert on a page with errors`);
if (!hasErrors && alerts.length !== 0)
  problems.push(`${alerts.length} elements with role=alert on a page without errors`);
return problems;
"#;

/// What has focus now and how it looks. `null` when nothing in the page has.
const FOCUSED: &str = r#"
const el = document.activeElement;
if (!el || el === document.body || el === document.documentElement) return null;
const style = getComputedStyle(el);
const focusable = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')];
return {
  what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + JSON.stringify((el.innerText || el.name || '').trim()),
  index: focusable.indexOf(el),
  outline: style.outlineStyle,
  outlineWidth: parseFloat(style.outlineWidth) || 0,
  shadow: style.boxShadow,
};
"#;

const FOCUSABLE_COUNT: &str = "return document.querySelectorAll('a[href], button, \
     input:not([type=hidden]), select, textarea').length;";

async fn press_tab(browser: &Browser) {
    let tab = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down {
            value: Key::Tab.into(),
        })
        .then(KeyAction::Up {
            value: Key::Tab.into(),
        });
    browser.client.perform_actions(tab).await.unwrap();
}

/// Tabs through the page from the top: every link, button and field must
/// be reached, in turn, and show a focus outline or shadow.
async fn focus_problems(browser: &Browser) -> Vec<String> {
    let count = browser.js(FOCUSABLE_COUNT).await.as_u64().unwrap_or(0);
    let mut problems = Vec::new();
    let mut reached = Vec::new();
    for _ in 0..=count {
        press_tab(browser).await;
        let focused = browser.js(FOCUSED).await;
        if focused.is_null() {
            break;
        }
        let what = focused["what"].as_str().unwrap_or("?").to_owned();
        let outline = focused["outline"] != "none" && focused["outlineWidth"].as_f64() >= Some(2.0);
        let shadow = focused["shadow"] != "none";
        if !outline && !shadow {
            problems.push(format!("no visible focus on {what}: {focused}"));
        }
        reached.push(focused["index"].as_i64().unwrap_or(-1));
    }
    browser.client.release_actions().await.unwrap();
    let in_order: Vec<i64> = (0..i64::try_from(count).unwrap()).collect();
    if reached != in_order {
        problems.push(format!(
            "Tab reached the focusable elements {reached:?}, not {in_order:?}"
        ));
    }
    problems
}

/// Every page in one colour scheme at every size.
async fn sweep(t: &E2e, scheme: Scheme) {
    let browser = t.browser().await;
    browser.set_scheme(scheme).await;
    let tour = Tour::start(t).await;
    let mut failures = Vec::new();
    for viewport in [Viewport::PHONE, Viewport::DESKTOP, Viewport::ZOOM_200] {
        browser.set_viewport(viewport).await;
        for page in Page::ALL {
            page.reach(&browser, &tour).await;
            let label = format!("{} ({}, {})", page.name(), scheme.name(), viewport.name());
            let emulated = browser
                .js("return [matchMedia('(prefers-color-scheme: dark)').matches, window.innerWidth];")
                .await;
            assert_eq!(
                emulated,
                json!([scheme == Scheme::Dark, viewport.width]),
                "{label}: the emulation did not take"
            );
            // Before anything else moves the focus.
            for problem in focus_problems(&browser).await {
                failures.push(format!("{label}: {problem}"));
            }
            let checks = browser
                .client
                .execute(FORM_AND_LAYOUT, vec![Value::Bool(page.has_errors())])
                .await
                .unwrap();
            for problem in checks.as_array().into_iter().flatten() {
                failures.push(format!("{label}: {}", problem.as_str().unwrap_or("?")));
            }
            if viewport.scale == 1 {
                for violation in axe::violations(&browser).await {
                    failures.push(format!("{label}: axe: {violation}"));
                }
            }
            browser
                .screenshot(&format!(
                    "{}-{}-{}",
                    page.name(),
                    scheme.name(),
                    viewport.name()
                ))
                .await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} accessibility problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

e2e_test!(
    #[axe]
    async fn accessibility_in_the_light_scheme(t) {
        sweep(&t, Scheme::Light).await;
    }
);

e2e_test!(
    #[axe]
    async fn accessibility_in_the_dark_scheme(t) {
        sweep(&t, Scheme::Dark).await;
    }
);
