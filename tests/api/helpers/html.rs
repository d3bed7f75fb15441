//! Reading pages: form fields, their values and the CSRF token, parsed with
//! `scraper` the way a browser reads them.

use scraper::{ElementRef, Html, Selector};

/// One `<input>` of a page: its attributes, unescaped, and its markup for
/// messages.
#[derive(Clone, Debug)]
pub struct Input {
    pub html: String,
    attributes: Vec<(String, String)>,
}

impl Input {
    fn new(element: ElementRef<'_>) -> Input {
        Input {
            html: element.html(),
            attributes: element
                .value()
                .attrs()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }

    /// The value of `attribute`, if the input has it.
    pub fn attr(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == attribute)
            .map(|(_, value)| value.as_str())
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("{css:?} is not a selector: {e}"))
}

/// Every `<input>` of a page, in document order.
pub fn inputs(html: &str) -> Vec<Input> {
    Html::parse_document(html)
        .select(&selector("input"))
        .map(Input::new)
        .collect()
}

/// The first `<input>` named `name`, if any.
pub fn input_named(html: &str, name: &str) -> Option<Input> {
    inputs(html)
        .into_iter()
        .find(|input| input.attr("name") == Some(name))
}

/// The `value` of the first `<input>` named `name`, if it has one.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    input_named(html, name).and_then(|input| input.attr("value").map(str::to_owned))
}

/// Asserts that the page has a form field (`<input>`, `<textarea>` or
/// `<select>`) named `name`.
pub fn assert_has_field(html: &str, name: &str) {
    let has_field = Html::parse_document(html)
        .select(&selector("input, textarea, select"))
        .any(|field| field.value().attr("name") == Some(name));
    assert!(has_field, "no field named {name:?} in:\n{html}");
}

/// The value of the hidden `csrf_token` input, if the page has one.
pub fn find_csrf(html: &str) -> Option<String> {
    input_value(html, "csrf_token").filter(|value| !value.is_empty())
}

/// The value of the hidden `csrf_token` input; panics without one.
pub fn csrf_from(html: &str) -> String {
    find_csrf(html).unwrap_or_else(|| panic!("no csrf_token input in:\n{html}"))
}

/// Asserts that no password field of the page carries a value.
pub fn assert_password_inputs_are_empty(html: &str) {
    for input in inputs(html) {
        if input
            .attr("type")
            .is_some_and(|kind| kind.eq_ignore_ascii_case("password"))
        {
            let value = input.attr("value").unwrap_or_default();
            assert!(
                value.is_empty(),
                "a password input has a value: {}",
                input.html
            );
        }
    }
}

/// The markup of the first `<form>` of a page whose `action` is `action`.
pub fn form_with_action(html: &str, action: &str) -> Option<String> {
    Html::parse_document(html)
        .select(&selector("form"))
        .find(|form| form.value().attr("action") == Some(action))
        .map(|form| form.html())
}

/// Whether the page has a link (`<a href>`) to exactly `href`.
pub fn links_to(html: &str, href: &str) -> bool {
    Html::parse_document(html)
        .select(&selector("a[href]"))
        .any(|a| a.value().attr("href") == Some(href))
}

/// The message shown at the field `name`: the element its
/// `aria-describedby` names, on an input marked invalid.
pub fn field_message(html: &str, name: &str) -> Option<String> {
    let input = input_named(html, name)?;
    if input.attr("aria-invalid") != Some("true") {
        return None;
    }
    let id = input.attr("aria-describedby")?;
    Html::parse_document(html)
        .select(&selector(&format!("[id=\"{id}\"]")))
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// Asserts that `form` has an `<input>` named `name` with this `type` and
/// `autocomplete`.
pub fn assert_input(form: &str, name: &str, kind: &str, autocomplete: &str) {
    let input = input_named(form, name).unwrap_or_else(|| panic!("no {name} in:\n{form}"));
    assert_eq!(input.attr("type"), Some(kind), "{}", input.html);
    assert_eq!(
        input.attr("autocomplete"),
        Some(autocomplete),
        "{}",
        input.html
    );
}
