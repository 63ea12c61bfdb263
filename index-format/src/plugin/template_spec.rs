//! The `[template]` table of a solution template's `plugin.toml`: the folder of files to
//! render, the template it was forked from, and its parameters (`[[template.parameters]]`),
//! with the rules a registry applies at publish.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{FormatError, PackageName};

/// The most parameters one template may declare.
pub const MAX_TEMPLATE_PARAMETERS: usize = 64;
/// The most choices one `choice` parameter may list.
pub const MAX_PARAMETER_CHOICES: usize = 64;
/// The longest value (in bytes) a string parameter may be given, and the longest pattern.
pub const MAX_PARAMETER_TEXT: usize = 4096;
/// The compiled size a `pattern` may reach (the `regex` crate's size limit), so a pattern
/// cannot make the registry or a client build a huge automaton.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Names a parameter cannot take: the template language's own words.
const RESERVED_PARAMETER_NAMES: &[&str] = &[
    "true",
    "false",
    "none",
    "loop",
    "self",
    "super",
    "varargs",
    "kwargs",
    "caller",
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "for",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// `[template]`: what a solution template renders and from which parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TemplateSpec {
    /// The folder (relative to the package root) whose files are rendered into the target
    /// folder; `files` by default.
    #[serde(default = "default_files_folder")]
    pub files: String,
    /// The template this one was forked from, `NAME@VERSION` (its lineage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<String>,
    /// The parameters, in the order they are asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<TemplateParameter>,
}

fn default_files_folder() -> String {
    "files".to_owned()
}

/// One `[[template.parameters]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TemplateParameter {
    /// The variable name the files use (`[a-z][a-z0-9_]*`, at most 64 characters).
    pub name: String,
    /// `string`, `bool`, `integer` or `choice`.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// What the value means, shown to the person instantiating the template.
    pub description: String,
    /// The value used when none is given; a parameter without one is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ParameterValue>,
    /// `string` only: a regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `integer` only: the smallest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// `integer` only: the largest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// `choice` only (and required there): the values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// The type of a template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterType {
    /// Any text (optionally matching `pattern`).
    String,
    /// `true` or `false`.
    Bool,
    /// A signed 64-bit integer (optionally within `min`..=`max`).
    Integer,
    /// One of `choices`.
    Choice,
}

impl fmt::Display for ParameterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "string",
            Self::Bool => "bool",
            Self::Integer => "integer",
            Self::Choice => "choice",
        })
    }
}

/// A parameter's value: a default in `plugin.toml`, or a value given when rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// A `bool` parameter's value.
    Bool(bool),
    /// An `integer` parameter's value.
    Integer(i64),
    /// A `string` or `choice` parameter's value.
    String(String),
}

impl fmt::Display for ParameterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(value) => write!(f, "{value}"),
            Self::Integer(value) => write!(f, "{value}"),
            Self::String(value) => f.write_str(value),
        }
    }
}

impl TemplateSpec {
    /// Checks the table: the files folder is a relative path, `forked-from` is
    /// `NAME@VERSION`, and each parameter is well formed (see [`TemplateParameter::check`]);
    /// names are unique. Errors are [`FormatError::InvalidPluginManifest`] naming the key.
    pub fn check(&self) -> Result<(), FormatError> {
        let bad_folder = self.files.is_empty()
            || self.files.starts_with('/')
            || self.files.contains('\\')
            || self
                .files
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..");
        if bad_folder {
            return Err(FormatError::plugin(
                "[template] files",
                format!(
                    "`{}` is not a relative folder inside the package (use `/`, no `..`)",
                    self.files
                ),
            ));
        }
        if let Some(lineage) = &self.forked_from {
            check_lineage(lineage)?;
        }
        if self.parameters.len() > MAX_TEMPLATE_PARAMETERS {
            return Err(FormatError::plugin(
                "[[template.parameters]]",
                format!(
                    "{} given; at most {MAX_TEMPLATE_PARAMETERS} are allowed",
                    self.parameters.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for parameter in &self.parameters {
            parameter.check()?;
            if !seen.insert(parameter.name.as_str()) {
                return Err(FormatError::plugin(
                    &parameter.field(),
                    "the name is declared twice; give each parameter its own name",
                ));
            }
        }
        Ok(())
    }

    /// The parameter named `name`.
    pub fn parameter(&self, name: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

/// `forked-from` is `NAME@VERSION`: a package name and an exact semver version.
fn check_lineage(lineage: &str) -> Result<(), FormatError> {
    let field = "[template] forked-from";
    let Some((name, version)) = lineage.split_once('@') else {
        return Err(FormatError::plugin(
            field,
            format!("`{lineage}` is not NAME@VERSION (e.g. `api-integration@1.0.0`)"),
        ));
    };
    PackageName::new(name).map_err(|e| {
        FormatError::plugin(
            field,
            format!("`{name}` is not a package name: {}", e.reason()),
        )
    })?;
    semver::Version::parse(version).map_err(|e| {
        FormatError::plugin(field, format!("`{version}` is not an exact version: {e}"))
    })?;
    Ok(())
}

impl TemplateParameter {
    /// `[[template.parameters]] NAME`, the key errors about this parameter name.
    pub(crate) fn field(&self) -> String {
        format!("[[template.parameters]] {}", self.name)
    }

    /// Checks one parameter: its name, a non-empty description, only the validation keys
    /// its type has (`pattern` for string, `min`/`max` for integer, `choices` for choice and
    /// required there), a pattern that compiles, `min` ≤ `max`, and a default of the right
    /// type that passes the validation.
    pub fn check(&self) -> Result<(), FormatError> {
        let valid_name = (1..=64).contains(&self.name.len())
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(FormatError::plugin(
                &self.field(),
                "a parameter name is 1 to 64 of `a-z`, `0-9` and `_`, starting with a letter",
            ));
        }
        if RESERVED_PARAMETER_NAMES.contains(&self.name.as_str()) {
            return Err(FormatError::plugin(
                &self.field(),
                "the name is a word of the template language; choose another",
            ));
        }
        if self.description.trim().is_empty() {
            return Err(FormatError::plugin(
                &self.field(),
                "description: it is empty; say what the value is for",
            ));
        }
        let misplaced = [
            ("pattern", self.pattern.is_some(), ParameterType::String),
            ("min", self.min.is_some(), ParameterType::Integer),
            ("max", self.max.is_some(), ParameterType::Integer),
            ("choices", !self.choices.is_empty(), ParameterType::Choice),
        ]
        .into_iter()
        .find(|(_, given, owner)| *given && *owner != self.kind);
        if let Some((key, _, owner)) = misplaced {
            return Err(FormatError::plugin(
                &self.field(),
                format!(
                    "{key}: only a `{owner}` parameter has it; this one is `{}`",
                    self.kind
                ),
            ));
        }
        if let Some(pattern) = &self.pattern {
            self.compiled_pattern(pattern)?;
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(FormatError::plugin(
                &self.field(),
                format!("min {min} is above max {max}"),
            ));
        }
        if self.kind == ParameterType::Choice {
            self.check_choices()?;
        }
        if let Some(default) = &self.default {
            self.check_value(default).map_err(|reason| {
                FormatError::plugin(&self.field(), format!("default: {reason}"))
            })?;
        }
        Ok(())
    }

    fn check_choices(&self) -> Result<(), FormatError> {
        if self.choices.is_empty() || self.choices.len() > MAX_PARAMETER_CHOICES {
            return Err(FormatError::plugin(
                &self.field(),
                format!("choices: a `choice` parameter lists 1 to {MAX_PARAMETER_CHOICES} values"),
            ));
        }
        let mut seen = BTreeSet::new();
        for choice in &self.choices {
            if choice.is_empty() || choice.len() > 64 || !seen.insert(choice.as_str()) {
                return Err(FormatError::plugin(
                    &self.field(),
                    format!("choices: `{choice}` is empty, longer than 64 bytes or listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// The pattern anchored at both ends, compiled with a size limit.
    fn compiled_pattern(&self, pattern: &str) -> Result<regex::Regex, FormatError> {
        if pattern.len() > MAX_PARAMETER_TEXT {
            return Err(FormatError::plugin(
                &self.field(),
                format!("pattern: longer than {MAX_PARAMETER_TEXT} bytes"),
            ));
        }
        regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or_default().trim().to_owned();
                FormatError::plugin(
                    &self.field(),
                    format!("pattern: `{pattern}` is not a regular expression ({last})"),
                )
            })
    }

    /// Whether `value` has this parameter's type and passes its validation; the reason
    /// (for the person giving the value) when not.
    pub fn check_value(&self, value: &ParameterValue) -> Result<(), String> {
        match (self.kind, value) {
            (ParameterType::Bool, ParameterValue::Bool(_)) => Ok(()),
            (ParameterType::Integer, ParameterValue::Integer(number)) => {
                if let Some(min) = self.min
                    && *number < min
                {
                    return Err(format!("{number} is below the minimum {min}"));
                }
                if let Some(max) = self.max
                    && *number > max
                {
                    return Err(format!("{number} is above the maximum {max}"));
                }
                Ok(())
            }
            (ParameterType::Choice, ParameterValue::String(text)) => {
                if self.choices.iter().any(|choice| choice == text) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{text}` is not one of {}",
                        self.choices
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
            (ParameterType::String, ParameterValue::String(text)) => {
                if text.len() > MAX_PARAMETER_TEXT {
                    return Err(format!(
                        "the value is longer than {MAX_PARAMETER_TEXT} bytes"
                    ));
                }
                if let Some(pattern) = &self.pattern {
                    let regex = self.compiled_pattern(pattern).map_err(|e| e.to_string())?;
                    if !regex.is_match(text) {
                        return Err(format!("`{text}` does not match the pattern `{pattern}`"));
                    }
                }
                Ok(())
            }
            (kind, other) => Err(format!("`{other}` is not a {kind} value")),
        }
    }

    /// Reads the text given on a command line (`--set NAME=TEXT`) as this parameter's type
    /// and checks it: `true`/`false` for a bool, a decimal integer, one of the choices, or
    /// any text for a string. The reason when it is not a valid value.
    pub fn parse_value(&self, text: &str) -> Result<ParameterValue, String> {
        let value = match self.kind {
            ParameterType::Bool => match text {
                "true" => ParameterValue::Bool(true),
                "false" => ParameterValue::Bool(false),
                _ => return Err(format!("`{text}` is not a bool; give `true` or `false`")),
            },
            ParameterType::Integer => ParameterValue::Integer(text.parse().map_err(|_| {
                format!("`{text}` is not an integer; give a whole number such as `8080`")
            })?),
            ParameterType::String | ParameterType::Choice => {
                ParameterValue::String(text.to_owned())
            }
        };
        self.check_value(&value)?;
        Ok(value)
    }
}
