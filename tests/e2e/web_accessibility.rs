//! Accessibility of the web UI, checked in a real Chromium on every kind of page (home,
//! search, package, publisher, login, and signed in as the administrator: account and
//! admin): every form control has a label, every image and chart a name, every section
//! a heading it is labelled by, and every piece of text a contrast of at least 4.5:1 against
//! the background it is drawn on (3:1 for large text), computed from the rendered styles.

use serde_json::Value;
use wharf_e2e_tests::TestResult;

use crate::catalogue::core_registry;
use crate::web_browser::{ChromeDriver, eval, runtime, screenshot, sign_in};

/// The script that lists the page's accessibility problems, one line each.
const CHECKS: &str = r#"
const problems = [];
const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.name ? '[name=' + el.name + ']' : '');
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (['hidden', 'submit', 'button'].includes(el.type)) continue;
  const named = el.labels.length > 0 || el.getAttribute('aria-label') ||
      el.getAttribute('aria-labelledby');
  if (!named) problems.push('no label: ' + describe(el));
}
for (const el of document.querySelectorAll('button')) {
  if (!el.textContent.trim() && !el.getAttribute('aria-label')) {
    problems.push('button without a name: ' + describe(el));
  }
}
for (const el of document.querySelectorAll('img')) {
  if (!el.hasAttribute('alt')) problems.push('image without alt: ' + el.src);
}
for (const el of document.querySelectorAll('svg[role=img]')) {
  const by = el.getAttribute('aria-labelledby');
  if (!(by && document.getElementById(by)) && !el.getAttribute('aria-label')) {
    problems.push('chart without a name: ' + describe(el));
  }
}
for (const el of document.querySelectorAll('section[aria-labelledby]')) {
  if (!document.getElementById(el.getAttribute('aria-labelledby'))) {
    problems.push('section labelled by a missing id: ' + el.getAttribute('aria-labelledby'));
  }
}
if (!document.documentElement.lang) problems.push('no lang on <html>');
const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
};
const background = (el) => {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length === 3 || (color.length === 4 && color[3] > 0)) return color.slice(0, 3);
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
for (let text = walker.nextNode(); text; text = walker.nextNode()) {
  const el = text.parentElement;
  if (!text.textContent.trim() || !el || seen.has(el)) continue;
  seen.add(el);
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.display === 'none' || el.closest('svg, title')) continue;
  if (el.getClientRects().length === 0) continue;
  const fg = luminance(rgb(style.color).slice(0, 3));
  const bg = luminance(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) {
    problems.push('contrast ' + ratio.toFixed(2) + ':1 for "' + text.textContent.trim().slice(0, 30) +
        '" (' + style.color + ' on ' + background(el).join(',') + ')');
  }
}
return problems;
"#;

#[test]
fn every_page_has_labels_names_and_readable_contrast_in_chromium() -> TestResult {
    let registry = core_registry()?;
    let driver = ChromeDriver::start()?;
    let base = registry.url();
    let admin = registry.admin_token.clone();
    let pages = [
        "/",
        "/search?q=http",
        "/search?kind=plugin&sort=downloads&host=2.0.0",
        "/packages/http-client",
        "/publishers/admin",
        "/login",
    ];
    let problems = runtime()?.block_on(async {
        let browser = driver.browser(1280, 1600).await?;
        let result = async {
            let mut problems = Vec::new();
            let mut check = async |path: &str, signed_in: bool| -> TestResult {
                browser.goto(&format!("{base}{path}")).await?;
                let found: Value = eval(&browser, CHECKS).await?;
                for problem in found.as_array().into_iter().flatten() {
                    problems.push(format!(
                        "{path}{}: {}",
                        if signed_in { " (signed in)" } else { "" },
                        problem.as_str().unwrap_or_default()
                    ));
                }
                Ok(())
            };
            for path in pages {
                check(path, false).await?;
            }
            sign_in(&browser, &base, &admin, "admin").await?;
            for path in ["/account", "/admin", "/packages/http-client"] {
                check(path, true).await?;
            }
            screenshot(&browser, "accessibility-package-signed-in").await?;
            // The checks find what they look for: an unlabelled field and faint text added
            // to a page are both reported.
            browser.goto(&format!("{base}/login")).await?;
            let planted: Value = eval(
                &browser,
                &format!(
                    "const field = document.createElement('input'); field.id = 'planted';\
                     const faint = document.createElement('p'); faint.textContent = 'faint words';\
                     faint.style.color = '#bbbbbb';\
                     document.querySelector('main').append(field, faint);{CHECKS}"
                ),
            )
            .await?;
            let planted: Vec<&str> = planted
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                planted.contains(&"no label: input#planted")
                    && planted
                        .iter()
                        .any(|p| p.starts_with("contrast ") && p.contains("faint words")),
                "{planted:?}"
            );
            Ok::<_, Box<dyn std::error::Error>>(problems)
        }
        .await;
        browser.close().await?;
        result
    })?;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
