//! READMEs on package pages: Markdown rendered by `pulldown-cmark`, then sanitised by
//! `ammonia` (its allow-list drops `<script>`, `<style>`, event attributes such as
//! `onerror=`, and links or images whose URL scheme is not http, https or mailto, e.g.
//! `javascript:`), with `rel="noopener noreferrer nofollow"` on every link.

use pulldown_cmark::{Options, Parser, html};

/// The README as safe HTML.
pub(crate) fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_renders_and_scripts_links_and_handlers_are_removed() {
        let html = render(
            "# Title\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) \
             <a href=\"javascript:alert(3)\">raw</a>\n\n<img src=x onerror=\"alert(4)\">\n\n\
             <p onclick=\"alert(5)\">para</p>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("para"), "{html}");
        for forbidden in ["<script", "alert(1)", "javascript:", "onerror", "onclick"] {
            assert!(
                !html.contains(forbidden),
                "`{forbidden}` survived in {html}"
            );
        }
    }
}
