//! The web UI's pages in process: the HTML of a package page and a search page as insta
//! snapshots (days and the static files' hashes redacted), and the headers every page
//! carries.

use crate::support::Registry;

/// Replaces every `YYYY-MM-DD` (and the time after it) by `[day]`, and the content hash in
/// static file names by `[hash]`, which change from run to run or build to build.
fn stable(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while i < bytes.len() {
        let is_day = bytes.len() - i >= 10
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 5..i + 7].iter().all(u8::is_ascii_digit)
            && bytes[i + 7] == b'-'
            && bytes[i + 8..i + 10].iter().all(u8::is_ascii_digit);
        if is_day {
            out.push_str("[day]");
            i += 10;
            if bytes.len() - i >= 10 && bytes[i] == b'T' && bytes[i + 9] == b'Z' {
                i += 10;
            }
        } else if html[i..].starts_with("/static/wharf.") {
            out.push_str("/static/wharf.[hash].");
            i += "/static/wharf.".len() + 17;
        } else {
            let c = html[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[tokio::test]
async fn a_package_page_and_a_search_page_render_as_snapshotted() {
    let registry = Registry::start().await;
    registry.seed("alpha", "1.0.0").await;
    registry.seed("alpha", "1.1.0").await;
    registry.seed("beta", "0.1.0").await;
    let page = registry.get("/packages/alpha").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    insta::assert_snapshot!("web_package_page", stable(&page.text()));
    let search = registry.get("/search?q=alpha&sort=recent").await;
    assert_eq!(search.status, 200, "{}", search.text());
    insta::assert_snapshot!("web_search_page", stable(&search.text()));
    let missing = registry.get("/packages/gamma").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("gamma"), "{}", missing.text());
}
