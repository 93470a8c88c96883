//! Text helpers shared by the adapters that write HTML (the invite pages in
//! `ledger-http`, the invite mail in `ledger-mail`). Adapters never depend on
//! each other, so the one escaping function they share lives here. Pure, no
//! dependencies.

/// Escapes text for HTML element content and for quoted attribute values
/// (single or double quotes).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn an_ampersand_is_escaped_once_and_entities_are_not_decoded() {
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn plain_and_non_ascii_text_is_left_as_it_is() {
        assert_eq!(escape_html("Zoë Ørsted 1 Main St"), "Zoë Ørsted 1 Main St");
        assert_eq!(escape_html(""), "");
    }
}
