//! Reading pages: form fields, their values and the CSRF token.

/// Every `<input …>` tag of a page.
pub fn input_tags(html: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        let tag = &rest[start..];
        let end = tag.find('>').map_or(tag.len(), |end| end + 1);
        tags.push(&tag[..end]);
        rest = &tag[end..];
    }
    tags
}

/// The value of `attribute="…"` in a tag, unescaped.
pub fn attribute(tag: &str, attribute: &str) -> Option<String> {
    let needle = format!("{attribute}=\"");
    let mut from = 0;
    while let Some(found) = tag[from..].find(&needle) {
        let at = from + found;
        let start = at + needle.len();
        if tag[..at].ends_with(char::is_whitespace) {
            let end = tag[start..].find('"')?;
            return Some(unescape_html(&tag[start..start + end]));
        }
        from = start;
    }
    None
}

/// The `<input>` tag named `name`, if any.
pub fn input_named<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    input_tags(html)
        .into_iter()
        .find(|tag| attribute(tag, "name").as_deref() == Some(name))
}

/// Asserts that the page has a form field named `name`.
pub fn assert_has_field(html: &str, name: &str) {
    let has_field = input_named(html, name).is_some()
        || html.contains(&format!("<textarea name=\"{name}\""))
        || html.contains(&format!("<select name=\"{name}\""));
    assert!(has_field, "no field named {name:?} in:\n{html}");
}

/// The value of the hidden `csrf_token` input, if the page has one.
pub fn find_csrf(html: &str) -> Option<String> {
    input_named(html, "csrf_token")
        .and_then(|tag| attribute(tag, "value"))
        .filter(|value| !value.is_empty())
}

/// The value of the hidden `csrf_token` input; panics without one.
pub fn csrf_from(html: &str) -> String {
    find_csrf(html).unwrap_or_else(|| panic!("no csrf_token input in:\n{html}"))
}

/// Asserts that no password field of the page carries a value.
pub fn assert_password_inputs_are_empty(html: &str) {
    for tag in input_tags(html) {
        if attribute(tag, "type").as_deref() == Some("password") {
            let value = attribute(tag, "value").unwrap_or_default();
            assert!(value.is_empty(), "a password input has a value: {tag}");
        }
    }
}

fn unescape_html(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}
