//! The web UI in a real Chromium (Debian's `chromium`, driven through `chromedriver` by
//! `fantoccini`) against a real `wharf serve` holding the core plugins: search, open a
//! package, sign in with a token, rate and review, see the downloads chart; a README that
//! tries to run script shows none running; forms without the CSRF token are refused; an
//! owner replies to a review, the administrator hides and unhides it, and a user makes a
//! token on the account page. Screenshots land in `target/browser-artifacts/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::InputSource;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::catalogue::{core_registry, get};

/// Where chromedriver is expected (Debian's `chromium-driver`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Chromium is expected (Debian's `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver child on a free loopback port, killed when dropped.
pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts chromedriver and waits until it answers.
    pub(crate) fn start() -> TestResult<Self> {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install the Debian package `{package}` (apt-get install chromium chromium-driver, as scripts/test.sh does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = wharf_e2e_tests::http_client_builder().build()?;
        while http.get(format!("{}/status", driver.url)).send().is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }

    /// A headless Chromium session at `width`×`height`.
    pub(crate) async fn browser(&self, width: u32, height: u32) -> TestResult<Client> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await?;
        Ok(client)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/browser-artifacts/`, created.
fn artifacts_dir() -> TestResult<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("test binaries live in target/<profile>/deps")?;
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Waits (up to 30 s) until the browser shows `path`: a click that submits a form or follows
/// a link returns before the next page has loaded on a busy machine.
async fn wait_for_path(browser: &Client, path: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = browser.current_url().await?;
        if now.path() == path {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "the browser stayed on {now} instead of reaching {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 30 s) until the text of the first element matching `css` contains `needle`,
/// and returns that text.
async fn wait_for_text(browser: &Client, css: &str, needle: &str) -> TestResult<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = match browser.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return Ok(text);
        }
        assert!(
            Instant::now() < deadline,
            "`{css}` never showed {needle:?}; last text: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves a screenshot of the current page as `name`.png.
pub(crate) async fn screenshot(browser: &Client, name: &str) -> TestResult {
    let png = browser.screenshot().await?;
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(artifacts_dir()?.join(format!("{name}.png")), png)?;
    Ok(())
}

/// Runs `script` in the page and returns its value.
pub(crate) async fn eval(browser: &Client, script: &str) -> TestResult<Value> {
    Ok(browser.execute(script, vec![]).await?)
}

/// Downloads every version of `name` once with no token (counted in the chart).
fn download_all(registry: &TestRegistry, path: &str) -> TestResult {
    let index = registry
        .http()
        .get(format!("{}/index/{path}", registry.url()))
        .send()?
        .text()?;
    for line in index.lines() {
        let entry: Value = serde_json::from_str(line)?;
        let cksum = entry["cksum"].as_str().ok_or("cksum")?;
        let response = registry
            .http()
            .get(format!("{}/blobs/sha256/{cksum}", registry.url()))
            .send()?;
        assert_eq!(response.status(), 200);
    }
    Ok(())
}

pub(crate) fn runtime() -> TestResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Home, search from its form, open the first result and check its install command and chart.
async fn search_and_open(browser: &Client, base: &str) -> TestResult {
    // Home: the search box, categories, popular and recent packages.
    browser.goto(&format!("{base}/")).await?;
    assert_eq!(browser.title().await?, "Wharf");
    // The external script ran under the page's policy.
    assert_eq!(
        eval(browser, "return document.documentElement.dataset.enhanced").await?,
        "true"
    );
    screenshot(browser, "home").await?;

    // Search from the home page's form.
    let query = browser.find(Locator::Id("home-q")).await?;
    query.send_keys("http").await?;
    browser
        .find(Locator::Css("form.big-search button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_for_path(browser, "/search").await?;
    let results = browser.find_all(Locator::Css(".package-card h3 a")).await?;
    let mut names = Vec::new();
    for link in &results {
        names.push(link.text().await?);
    }
    assert_eq!(
        names.first().map(String::as_str),
        Some("http-client"),
        "{names:?}"
    );
    screenshot(browser, "search").await?;

    // Open the package.
    results[0].click().await?;
    wait_for_path(browser, "/packages/http-client").await?;
    let install = browser
        .find(Locator::Id("install-command"))
        .await?
        .text()
        .await?;
    assert!(
        install.starts_with("wharf install http-client@2.0.0"),
        "{install}"
    );
    // The chart has a bar for today's downloads, last of 90 days.
    let bars = browser
        .find_all(Locator::Css("#downloads-chart rect.bar"))
        .await?;
    assert_eq!(bars.len(), 1, "one day with downloads");
    let total = browser
        .find(Locator::Id("download-total"))
        .await?
        .text()
        .await?;
    assert_eq!(total, "2 downloads");
    screenshot(browser, "package").await?;
    Ok(())
}

/// Signs in with `token` through the login form, checks the session cookie's attributes,
/// then rates and reviews http-client; returns the session cookie's value.
async fn sign_in_and_review(browser: &Client, base: &str, token: &str) -> TestResult<String> {
    // Sign in with the token.
    browser.goto(&format!("{base}/login")).await?;
    browser
        .find(Locator::Id("token"))
        .await?
        .send_keys(token)
        .await?;
    browser
        .find(Locator::Css(".login-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_for_path(browser, "/account").await?;
    let heading = wait_for_text(browser, "main h1", "Your account").await?;
    assert_eq!(heading, "Your account: alice");
    let cookie = browser.get_named_cookie("wharf_session").await?;
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_eq!(cookie.path(), Some("/"));
    screenshot(browser, "account").await?;

    // Rate and review.
    browser
        .goto(&format!("{base}/packages/http-client"))
        .await?;
    browser
        .find(Locator::Css(".review-form input[name=rating][value='4']"))
        .await?
        .click()
        .await?;
    browser
        .find(Locator::Id("review-body"))
        .await?
        .send_keys("Retries work <b>well</b>.")
        .await?;
    browser
        .find(Locator::Css(".review-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_for_path(browser, "/packages/http-client").await?;
    let review = wait_for_text(browser, ".review-list .review", "alice rated").await?;
    assert!(review.contains("alice rated 4 of 5 for 2.0.0"), "{review}");
    assert!(
        review.contains("Retries work <b>well</b>."),
        "escaped as text: {review}"
    );
    screenshot(browser, "reviewed").await?;
    Ok(cookie.value().to_owned())
}

/// A review form stripped of its CSRF token is refused; the package page fits a phone.
async fn refused_without_csrf_and_fits_a_phone(browser: &Client, base: &str) -> TestResult {
    // A form without its CSRF token is refused, and nothing is saved.
    browser
        .execute(
            "document.querySelector('.review-form input[name=csrf]').remove();\
             document.querySelector('.review-form input[name=rating][value=\"1\"]').click();",
            vec![],
        )
        .await?;
    browser
        .find(Locator::Css(".review-form button[type=submit]"))
        .await?
        .click()
        .await?;
    let refusal = wait_for_text(browser, "main", "403").await?;
    assert!(refusal.contains("it carries no CSRF token"), "{refusal}");
    screenshot(browser, "csrf-refused").await?;

    // Usable at a phone's width: nothing wider than the screen.
    browser.set_window_size(390, 844).await?;
    browser
        .goto(&format!("{base}/packages/http-client"))
        .await?;
    let overflow = eval(
        browser,
        "return document.documentElement.scrollWidth - window.innerWidth",
    )
    .await?;
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "{overflow} px too wide"
    );
    screenshot(browser, "package-phone").await?;
    Ok(())
}

#[test]
fn search_open_sign_in_review_and_see_the_chart_in_chromium() -> TestResult {
    let registry = core_registry()?;
    download_all(&registry, "ht/tp/http-client")?;
    let token = registry.create_token("alice", &["publish-update"]);
    let driver = ChromeDriver::start()?;
    let base = registry.url();
    let session_cookie = runtime()?.block_on(async {
        let browser = driver.browser(1280, 1600).await?;
        let result = async {
            search_and_open(&browser, &base).await?;
            let cookie = sign_in_and_review(&browser, &base, &token).await?;
            refused_without_csrf_and_fits_a_phone(&browser, &base).await?;
            Ok::<_, Box<dyn std::error::Error>>(cookie)
        }
        .await;
        browser.close().await?;
        result
    })?;

    // The review is there through the JSON API, with the rating the form sent.
    let reviews = get(&registry, "packages/http-client/reviews", 200)?;
    assert_eq!(reviews[0]["author"], "alice", "{reviews}");
    assert_eq!(reviews[0]["rating"], 4, "{reviews}");

    // The same refusal over plain HTTP with the session cookie, and with a wrong token;
    // the data directory does not change.
    registry.settle();
    let before = registry.data_snapshot();
    for body in ["rating=1", "rating=1&csrf=0000"] {
        let response = registry
            .http()
            .post(format!("{base}/packages/http-client/review"))
            .header("Cookie", format!("wharf_session={session_cookie}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()?;
        assert_eq!(response.status(), 403, "{body}");
        let page = response.text()?;
        assert!(page.contains("the form was refused"), "{page}");
    }
    assert!(
        registry.data_snapshot() == before,
        "a refused form changed data"
    );
    Ok(())
}

#[test]
fn a_hostile_readme_runs_no_script_in_chromium() -> TestResult {
    let registry = TestRegistry::start();
    let readme = "# Hostile\n\n<script>window.pwned = 'script'; document.title = 'pwned';</script>\n\n\
        [a markdown link](javascript:window.pwned='markdown-link')\n\n\
        <a id=\"raw\" href=\"javascript:window.pwned='raw-link'\">a raw link</a>\n\n\
        <img src=\"/nothing.png\" onerror=\"window.pwned='onerror'; document.title='pwned'\">\n\n\
        <p onmouseover=\"window.pwned='mouseover'\">hover me</p>\n\nPlain **bold** text.\n";
    crate::web_pages::publish_crate_with_readme(&registry, "hostile-readme", readme)?;
    let driver = ChromeDriver::start()?;
    let base = registry.url();
    runtime()?.block_on(async {
        let browser = driver.browser(1280, 1200).await?;
        let result = async {
            browser
                .goto(&format!("{base}/packages/hostile-readme"))
                .await?;
            let readme = browser.find(Locator::Css(".readme-body")).await?;
            assert!(readme.text().await?.contains("Plain bold text."));
            // Click every link the README kept (on a fresh copy of the page each time), then
            // hover every paragraph.
            let links = readme.find_all(Locator::Css("a")).await?.len();
            assert_eq!(links, 2, "both links are kept, without their scripts");
            for index in 0..links {
                browser
                    .goto(&format!("{base}/packages/hostile-readme"))
                    .await?;
                let links = browser.find_all(Locator::Css(".readme-body a")).await?;
                links[index].click().await?;
                let pwned = eval(
                    &browser,
                    "return typeof window.pwned === 'undefined' ? null : window.pwned",
                )
                .await?;
                assert_eq!(
                    pwned,
                    Value::Null,
                    "clicking README link {index} ran a script"
                );
            }
            browser
                .goto(&format!("{base}/packages/hostile-readme"))
                .await?;
            let readme = browser.find(Locator::Css(".readme-body")).await?;
            for paragraph in readme.find_all(Locator::Css("p")).await? {
                let actions = fantoccini::actions::MouseActions::new("mouse".to_owned()).then(
                    fantoccini::actions::PointerAction::MoveToElement {
                        element: paragraph,
                        duration: None,
                        x: 0.0,
                        y: 0.0,
                    },
                );
                browser.perform_actions(actions).await?;
            }
            screenshot(&browser, "hostile-readme").await?;
            let title = browser.title().await?;
            assert_eq!(title, "hostile-readme 1.0.0 · Wharf");
            let pwned = eval(
                &browser,
                "return typeof window.pwned === 'undefined' ? null : window.pwned",
            )
            .await?;
            assert_eq!(pwned, Value::Null, "a README script ran");
            let html = eval(
                &browser,
                "return document.querySelector('.readme-body').innerHTML",
            )
            .await?;
            let html = html.as_str().ok_or("innerHTML")?;
            for forbidden in ["<script", "javascript:", "onerror", "onmouseover"] {
                assert!(
                    !html.contains(forbidden),
                    "`{forbidden}` reached the page: {html}"
                );
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        }
        .await;
        browser.close().await?;
        result
    })
}

/// Signs in with `token` through the login form and waits for the account page of `login`.
pub(crate) async fn sign_in(browser: &Client, base: &str, token: &str, login: &str) -> TestResult {
    browser.goto(&format!("{base}/login")).await?;
    browser
        .find(Locator::Id("token"))
        .await?
        .send_keys(token)
        .await?;
    browser
        .find(Locator::Css(".login-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_for_path(browser, "/account").await?;
    wait_for_text(browser, "main h1", &format!("Your account: {login}")).await?;
    Ok(())
}

/// Clicks the submit button of the first form matching `form` and waits for `path`.
async fn submit(browser: &Client, form: &str, path: &str) -> TestResult {
    browser
        .find(Locator::Css(&format!("{form} button[type=submit]")))
        .await?
        .click()
        .await?;
    wait_for_path(browser, path).await
}

/// As the owner and administrator: reply to `id`, hide it, then unhide it from `/admin`.
async fn reply_hide_and_unhide(browser: &Client, base: &str, id: i64) -> TestResult {
    browser
        .goto(&format!("{base}/packages/http-client"))
        .await?;
    let review = format!("#review-{id}");
    browser
        .find(Locator::Css(&format!(
            "{review} details.owner-reply summary"
        )))
        .await?
        .click()
        .await?;
    browser
        .find(Locator::Id(&format!("reply-{id}")))
        .await?
        .send_keys("Docs are coming in 2.1.")
        .await?;
    submit(
        browser,
        &format!("{review} .reply-form"),
        "/packages/http-client",
    )
    .await?;
    let shown = wait_for_text(browser, &format!("{review} blockquote.reply"), "2.1").await?;
    assert!(shown.contains("admin (owner) replied:"), "{shown}");
    screenshot(browser, "owner-reply").await?;

    browser
        .find(Locator::Css(&format!(
            "{review} details.moderation summary"
        )))
        .await?
        .click()
        .await?;
    browser
        .find(Locator::Id(&format!("hide-{id}")))
        .await?
        .send_keys("checking the claim")
        .await?;
    browser
        .find(Locator::Css(&format!(
            "{review} form[action$='/hide'] button[type=submit]"
        )))
        .await?
        .click()
        .await?;
    wait_for_text(
        browser,
        &format!("{review} .badge.warn"),
        "checking the claim",
    )
    .await?;

    browser.goto(&format!("{base}/admin")).await?;
    browser
        .find(Locator::Id(&format!("unhide-{id}")))
        .await?
        .send_keys("claim checked")
        .await?;
    screenshot(browser, "admin-unhide").await?;
    submit(browser, ".unhide-form", "/packages/http-client").await?;
    browser.goto(&format!("{base}/admin")).await?;
    wait_for_text(browser, "#hidden-reviews + ul", "No hidden reviews.").await?;
    Ok(())
}

/// Makes a read token with a label on the account page; returns the secret shown once.
async fn make_token(browser: &Client, base: &str) -> TestResult<String> {
    browser.goto(&format!("{base}/account")).await?;
    let read = browser
        .find(Locator::Css(".token-form input[name=scope][value=read]"))
        .await?;
    assert_eq!(read.prop("checked").await?.as_deref(), Some("true"));
    browser
        .find(Locator::Id("token-label"))
        .await?
        .send_keys("browser-made")
        .await?;
    submit(browser, ".token-form", "/account/tokens").await?;
    let secret = wait_for_text(browser, "#new-token-secret", "wharf_").await?;
    screenshot(browser, "token-made").await?;
    let rows = browser.find(Locator::Css("#my-tokens ~ div table")).await?;
    assert!(rows.text().await?.contains("browser-made"));
    Ok(secret)
}

#[test]
fn reply_unhide_and_make_a_token_in_chromium() -> TestResult {
    let registry = core_registry()?;
    let bob = registry.create_token("bob", &["publish-update"]);
    let saved = registry
        .http()
        .put(format!(
            "{}/api/wharf/v1/catalogue/packages/http-client/reviews",
            registry.url()
        ))
        .header("Authorization", &bob)
        .json(&json!({"rating": 3, "body": "Needs more docs."}))
        .send()?;
    assert!(saved.status().is_success(), "{}", saved.text()?);
    let id = get(&registry, "packages/http-client/reviews", 200)?[0]["id"]
        .as_i64()
        .ok_or("a review id")?;
    let driver = ChromeDriver::start()?;
    let base = registry.url();
    let admin = registry.admin_token.clone();
    let secret = runtime()?.block_on(async {
        let browser = driver.browser(1280, 1600).await?;
        let result = async {
            sign_in(&browser, &base, &admin, "admin").await?;
            reply_hide_and_unhide(&browser, &base, id).await?;
            make_token(&browser, &base).await
        }
        .await;
        browser.close().await?;
        result
    })?;

    // Through the JSON API: the reply is kept, the review is shown again, and the token
    // made in the browser authenticates as the administrator's.
    let reviews = get(&registry, "packages/http-client/reviews", 200)?;
    assert_eq!(reviews[0]["id"], id, "{reviews}");
    assert_eq!(reviews[0]["reply"]["body"], "Docs are coming in 2.1.");
    let secret = secret.trim();
    let listed = registry.run_on_data(&["token", "list"], &["--user", "admin"]);
    assert!(String::from_utf8(listed.stdout)?.contains("browser-made"));
    let session = crate::web_pages::sign_in(&registry, secret)?;
    let (status, account) = crate::web_pages::page(&registry, "/account", Some(&session.cookie))?;
    assert_eq!(status, 200);
    assert!(account.contains("Your account: admin"));
    Ok(())
}
