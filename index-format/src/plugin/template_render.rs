//! Rendering a solution template: the values of its parameters (given ones checked against
//! the spec, defaults for the rest), and its files folder rendered with `minijinja` (file
//! contents and file names). A template is untrusted input: every rendered path must stay a
//! plain relative path, and rendering is bounded (fuel, output size).

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{Environment, UndefinedBehavior};

use super::{ParameterValue, TemplateSpec};
use crate::FormatError;

/// The most bytes one rendered file may have.
pub const MAX_RENDERED_FILE_BYTES: usize = 8 << 20;
/// The template engine's instruction budget for one file (name or contents).
const RENDER_FUEL: u64 = 5_000_000;
/// The longest component of a rendered path, as for a path in a package.
const MAX_COMPONENT_BYTES: usize = 255;

/// The values a template is rendered with, by parameter name.
pub type TemplateValues = BTreeMap<String, ParameterValue>;

/// One rendered file, ready to be written under the target folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// The rendered path, relative and `/`-separated (no `.`, `..`, empty or absolute parts).
    pub path: String,
    /// The path inside the template's files folder it came from.
    pub source: String,
    /// The rendered contents (a file that is not UTF-8 is copied as it is).
    pub data: Vec<u8>,
}

impl TemplateSpec {
    /// The values to render with: each `NAME=TEXT` of `given` read and checked as its
    /// parameter's type, defaults for the others. An unknown name or a value given twice is
    /// [`FormatError::InvalidTemplateValue`]; every required parameter left without a value
    /// is listed at once in [`FormatError::MissingTemplateParameters`].
    pub fn values(&self, given: &[(String, String)]) -> Result<TemplateValues, FormatError> {
        let mut values = TemplateValues::new();
        for (name, text) in given {
            let Some(parameter) = self.parameter(name) else {
                let known = self
                    .parameters
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect::<Vec<_>>();
                return Err(FormatError::InvalidTemplateValue {
                    parameter: name.clone(),
                    reason: if known.is_empty() {
                        "the template has no parameters".to_owned()
                    } else {
                        format!("no such parameter; the template has {}", known.join(", "))
                    },
                });
            };
            let value = parameter.parse_value(text).map_err(|reason| {
                FormatError::InvalidTemplateValue {
                    parameter: name.clone(),
                    reason,
                }
            })?;
            if values.insert(name.clone(), value).is_some() {
                return Err(FormatError::InvalidTemplateValue {
                    parameter: name.clone(),
                    reason: "given twice; give each parameter once".to_owned(),
                });
            }
        }
        let mut missing = Vec::new();
        for parameter in &self.parameters {
            if values.contains_key(&parameter.name) {
                continue;
            }
            match &parameter.default {
                Some(default) => {
                    values.insert(parameter.name.clone(), default.clone());
                }
                None => missing.push(format!(
                    "`{}` ({}: {})",
                    parameter.name, parameter.kind, parameter.description
                )),
            }
        }
        if !missing.is_empty() {
            return Err(FormatError::MissingTemplateParameters {
                list: missing.join(", "),
            });
        }
        Ok(values)
    }

    /// The files of the package (path relative to the package root, data) that lie in the
    /// files folder, with their path inside it.
    fn template_files<'a>(&self, files: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
        let prefix = format!("{}/", self.files);
        files
            .iter()
            .filter_map(|(path, data)| path.strip_prefix(&prefix).map(|inner| (inner, *data)))
            .collect()
    }

    /// The publish check of a template's files: the files folder holds at least one file,
    /// and every file name and every UTF-8 file's contents parse as templates and use only
    /// declared parameters (or the engine's own globals).
    pub fn check_files(&self, files: &[(&str, &[u8])]) -> Result<(), FormatError> {
        let inner = self.template_files(files);
        if inner.is_empty() {
            return Err(FormatError::plugin(
                "[template] files",
                format!(
                    "the folder `{}` holds no file; put the files to render there",
                    self.files
                ),
            ));
        }
        let env = environment();
        let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
        let declared: BTreeSet<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
        for (path, data) in inner {
            let mut sources = vec![("name", path)];
            if let Ok(text) = std::str::from_utf8(data) {
                sources.push(("contents", text));
            }
            for (part, source) in sources {
                let template = env
                    .template_from_named_str(path, source)
                    .map_err(|e| render_error(path, part, &e))?;
                let unknown = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|name| {
                        !declared.contains(name.as_str()) && !globals.contains(name.as_str())
                    })
                    .collect::<BTreeSet<_>>();
                if let Some(name) = unknown.first() {
                    return Err(FormatError::TemplateRender {
                        file: path.to_owned(),
                        reason: format!(
                            "its {part} uses `{name}`, which is not a parameter; declare it in [[template.parameters]] or fix the name"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Renders the files folder with `values`: each file's path and (when UTF-8) contents
    /// through the template engine. Refuses (nothing is returned) a file whose rendered path
    /// is empty, absolute, has a `.`, `..` or empty component, a backslash or a control
    /// character, two files rendering to one path, and output above
    /// [`MAX_RENDERED_FILE_BYTES`].
    pub fn render(
        &self,
        files: &[(&str, &[u8])],
        values: &TemplateValues,
    ) -> Result<Vec<RenderedFile>, FormatError> {
        let env = environment();
        let mut rendered = Vec::new();
        let mut seen = BTreeSet::new();
        for (source, data) in self.template_files(files) {
            let path = env
                .render_named_str(source, source, values)
                .map_err(|e| render_error(source, "name", &e))?;
            check_rendered_path(source, &path)?;
            if !seen.insert(path.clone()) {
                return Err(FormatError::TemplateRender {
                    file: source.to_owned(),
                    reason: format!("another file of the template also renders to `{path}`"),
                });
            }
            let data = match std::str::from_utf8(data) {
                Ok(text) => env
                    .render_named_str(source, text, values)
                    .map_err(|e| render_error(source, "contents", &e))?
                    .into_bytes(),
                Err(_) => data.to_vec(),
            };
            if data.len() > MAX_RENDERED_FILE_BYTES {
                return Err(FormatError::TemplateRender {
                    file: source.to_owned(),
                    reason: format!(
                        "it renders to {} bytes; at most {MAX_RENDERED_FILE_BYTES} are allowed",
                        data.len()
                    ),
                });
            }
            rendered.push(RenderedFile {
                path,
                source: source.to_owned(),
                data,
            });
        }
        Ok(rendered)
    }
}

/// The engine every template renders with: an unknown variable is an error, no HTML
/// escaping (templates write configuration and code), a bool printed `true`/`false` as
/// TOML, YAML and JSON write it, trailing newlines kept, and a fuel budget so a hostile
/// template cannot loop for ever.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(|out, state, value| {
        if value.kind() == minijinja::value::ValueKind::Bool {
            out.write_str(if value.is_true() { "true" } else { "false" })?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(RENDER_FUEL));
    env
}

fn render_error(file: &str, part: &str, error: &minijinja::Error) -> FormatError {
    let line = error
        .line()
        .map_or_else(String::new, |line| format!(" (line {line})"));
    let detail = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    FormatError::TemplateRender {
        file: file.to_owned(),
        reason: format!("its {part} cannot be rendered{line}: {detail}"),
    }
}

/// A rendered path must be a plain relative path that stays inside the target folder.
fn check_rendered_path(source: &str, path: &str) -> Result<(), FormatError> {
    let refuse = |why: &str| FormatError::TemplateRender {
        file: source.to_owned(),
        reason: format!("its name renders to `{path}`, {why}; the template or a value is wrong"),
    };
    if path.is_empty() {
        return Err(refuse("which is empty"));
    }
    if path.starts_with('/') {
        return Err(refuse("which is absolute"));
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err(refuse("which has a backslash or a control character"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(refuse("which has an empty component")),
            "." | ".." => return Err(refuse("which would leave the target folder")),
            long if long.len() > MAX_COMPONENT_BYTES => {
                return Err(refuse("which has a component longer than 255 bytes"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PluginManifest;

    const SPEC: &str = r#"
[plugin]
name = "svc"
version = "1.0.0"
kind = "template"
description = "A service"
license = "MIT"
entry = "files/flow.json"

[dependencies]
host-api = "^2"

[template]

[[template.parameters]]
name = "name"
type = "string"
description = "The service name"
pattern = "[a-z]+"

[[template.parameters]]
name = "port"
type = "integer"
description = "The port"
default = 8080
min = 1024
max = 65535

[[template.parameters]]
name = "tls"
type = "bool"
description = "Serve TLS"
default = false

[[template.parameters]]
name = "cloud"
type = "choice"
description = "Where it runs"
choices = ["aws", "gcp"]
"#;

    fn spec() -> TemplateSpec {
        PluginManifest::parse(SPEC)
            .unwrap()
            .template
            .expect("a [template] table")
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_are_typed_checked_and_defaulted() {
        let values = spec()
            .values(&set(&[
                ("name", "orders"),
                ("cloud", "gcp"),
                ("tls", "true"),
            ]))
            .unwrap();
        assert_eq!(values["port"], ParameterValue::Integer(8080));
        assert_eq!(values["tls"], ParameterValue::Bool(true));
        assert_eq!(values["cloud"], ParameterValue::String("gcp".to_owned()));
        for (pairs, message) in [
            (
                &[("name", "orders"), ("cloud", "gcp"), ("port", "80")][..],
                "template parameter `port`: 80 is below the minimum 1024",
            ),
            (
                &[("name", "Orders"), ("cloud", "gcp")],
                "template parameter `name`: `Orders` does not match the pattern `[a-z]+`",
            ),
            (
                &[("name", "a"), ("name", "b"), ("cloud", "gcp")],
                "template parameter `name`: given twice",
            ),
            (
                &[("tls", "false")],
                "missing template parameters: `name` (string: The service name), `cloud` (choice: Where it runs)",
            ),
        ] {
            let err = spec().values(&set(pairs)).unwrap_err().to_string();
            assert!(
                err.starts_with(message),
                "{err}\nshould start with\n{message}"
            );
        }
    }

    #[test]
    fn names_and_contents_render_and_escaping_paths_are_refused() {
        let files: &[(&str, &[u8])] = &[
            (
                "files/{{ name }}/app.toml",
                b"port = {{ port }}\ntls = {{ tls }}\n",
            ),
            ("files/logo.bin", &[0xff, 0xfe, b'{', b'{']),
            ("plugin.toml", b"{{ not rendered }}"),
        ];
        spec().check_files(files).unwrap();
        let values = spec()
            .values(&set(&[("name", "orders"), ("cloud", "aws")]))
            .unwrap();
        let rendered = spec().render(files, &values).unwrap();
        assert_eq!(rendered.len(), 2);
        assert_eq!(rendered[0].path, "orders/app.toml");
        assert_eq!(rendered[0].data, b"port = 8080\ntls = false\n");
        assert_eq!(rendered[1].data, [0xff, 0xfe, b'{', b'{']);

        let mut loose = spec();
        loose.parameters[0].pattern = None;
        for (name, why) in [
            ("../x", "which would leave the target folder"),
            ("/etc", "which is absolute"),
            ("a//b", "which has an empty component"),
            ("", "which is absolute"),
        ] {
            let values = loose
                .values(&set(&[("name", name), ("cloud", "aws")]))
                .unwrap();
            let err = loose.render(files, &values).unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
        }
        let err = spec()
            .check_files(&[("files/a.txt", b"{{ nme }}")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "template file `a.txt`: its contents uses `nme`, which is not a parameter; declare it in [[template.parameters]] or fix the name"
        );
        let err = spec().check_files(&[("other/a.txt", b"")]).unwrap_err();
        assert!(err.to_string().contains("holds no file"), "{err}");
    }

    #[test]
    fn a_template_cannot_loop_for_ever() {
        let files: &[(&str, &[u8])] = &[(
            "files/big.txt",
            b"{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
        )];
        let values = spec()
            .values(&set(&[("name", "orders"), ("cloud", "aws")]))
            .unwrap();
        let err = spec().render(files, &values).unwrap_err().to_string();
        assert!(
            err.starts_with("template file `big.txt`: its contents cannot be rendered"),
            "{err}"
        );
    }
}
