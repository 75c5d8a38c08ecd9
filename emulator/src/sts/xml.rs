//! The little XML awsQuery answers need: nested elements and escaped text, written in one
//! pass. Elements are closed by the writer itself, so an answer cannot come out unbalanced.

/// The namespace of every STS answer (API version 2011-06-15).
pub(crate) const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Builds one XML document (no declaration: STS sends none).
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document whose root element `name` declares the default namespace `xmlns`.
    pub(crate) fn document(name: &str, xmlns: &str, children: impl FnOnce(&mut Self)) -> String {
        let mut writer = Self::default();
        writer
            .out
            .push_str(&format!("<{name} xmlns=\"{}\">", escape_attribute(xmlns)));
        children(&mut writer);
        writer.out.push_str(&format!("</{name}>"));
        writer.out
    }

    /// `<name>children</name>`.
    pub(crate) fn element(&mut self, name: &str, children: impl FnOnce(&mut Self)) -> &mut Self {
        self.out.push_str(&format!("<{name}>"));
        children(self);
        self.out.push_str(&format!("</{name}>"));
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub(crate) fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.out
            .push_str(&format!("<{name}>{}</{name}>", escape(text)));
        self
    }
}

/// Escapes an attribute value (double-quoted): as [`escape`], and `"` too.
fn escape_attribute(text: &str) -> String {
    escape(text).replace('"', "&quot;")
}

/// Escapes element content: `&`, `<` and `>` become entities (quotes stay, as in AWS's
/// messages), and characters XML 1.0 cannot carry at all (controls other than tab, line
/// feed and carriage return; U+FFFE, U+FFFF) become U+FFFD, so any echoed value keeps the
/// document well formed.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::sts::xml::*;

    /// Markup characters and characters XML cannot carry never reach the document raw.
    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), r#"a&lt;b&gt;&amp;"c"'d'"#);
        assert_eq!(escape_attribute(r#"a"b<"#), "a&quot;b&lt;");
        assert_eq!(escape("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
        assert_eq!(
            escape("nul\0bell\u{7}del\u{7f}"),
            "nul\u{fffd}bell\u{fffd}del\u{fffd}"
        );
        assert_eq!(escape("\u{fffe}\u{ffff}é→"), "\u{fffd}\u{fffd}é→");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    /// Elements nest and close in order; the root carries the namespace.
    #[test]
    fn documents_nest() {
        let xml = XmlWriter::document("Root", "https://example.com/a?b&c\"", |w| {
            w.element("Outer", |w| {
                w.text("A", "1<2").text("B", "");
            })
            .text("C", "x");
        });
        assert_eq!(
            xml,
            "<Root xmlns=\"https://example.com/a?b&amp;c&quot;\"><Outer><A>1&lt;2</A><B></B></Outer>\
             <C>x</C></Root>"
        );
    }
}
