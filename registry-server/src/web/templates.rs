//! The page templates: one file per page under `templates/`, embedded in the binary and
//! parsed once. Every template auto-escapes its output as HTML; the only value inserted
//! unescaped is a README, which `ammonia` has already sanitised.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, Value};

use super::assets;
use crate::error::ApiError;

/// Every template by name, with its source.
const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("templates/base.html")),
    ("home.html", include_str!("templates/home.html")),
    ("search.html", include_str!("templates/search.html")),
    ("package.html", include_str!("templates/package.html")),
    ("publisher.html", include_str!("templates/publisher.html")),
    ("login.html", include_str!("templates/login.html")),
    ("account.html", include_str!("templates/account.html")),
    ("admin.html", include_str!("templates/admin.html")),
    ("error.html", include_str!("templates/error.html")),
    ("macros.html", include_str!("templates/macros.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("the built-in template {name} parses: {e:#}"));
        }
        // Paths the server makes itself (no input in them): inserted as they are.
        env.add_global("css_url", Value::from_safe_string(assets::stylesheet_url()));
        env.add_global("js_url", Value::from_safe_string(assets::script_url()));
        env
    })
}

/// Renders template `name` with `context` and `base`, the prefix of every link and form
/// (see [`super::base`]; a path the server makes, `/t/` and a checked tenant name, so it is
/// inserted as it is, like the asset URLs).
pub(crate) fn render(name: &str, context: Value) -> Result<String, ApiError> {
    let base = Value::from_safe_string(super::base());
    let context = minijinja::context! { base => base, ..context };
    environment()
        .get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|e| ApiError::internal(&format!("rendering the page {name}"), &e))
}

#[cfg(test)]
mod tests {
    use super::{TEMPLATES, environment};

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
    }

    #[tokio::test]
    async fn links_carry_the_prefix_of_the_registry_being_shown() {
        let page = || {
            super::render(
                "error.html",
                minijinja::context! { title => "t", status => 401, message => "m", login => true },
            )
            .expect("renders")
        };
        let tenant = super::super::under("/t/acme".to_owned(), async { page() }).await;
        assert!(tenant.contains("href=\"/t/acme/login\""), "{tenant}");
        assert!(tenant.contains("action=\"/t/acme/search\""), "{tenant}");
        let default = page();
        assert!(default.contains("href=\"/login\""), "{default}");
        assert!(default.contains("action=\"/search\""), "{default}");
    }

    #[test]
    fn values_are_escaped() {
        let html = super::render(
            "error.html",
            minijinja::context! { title => "t", status => 400, message => "<script>x</script>\"'" },
        )
        .expect("renders");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
    }
}
