//! Plugins and solution templates: packages whose root holds a `plugin.toml` instead of a
//! `Cargo.toml`. The manifest format, its rules, the publish metadata derived from it and
//! the check that an upload's metadata agrees with its manifest. The registry and the
//! `wharf plugin` commands run exactly this code, so both give the same messages.

mod capabilities;
mod manifest;
mod metadata;
mod pack;
mod template_render;
mod template_spec;
mod validate;

pub use capabilities::{Capabilities, StorageAccess};
pub use manifest::{
    PLUGIN_MANIFEST_FILE, PluginDependency, PluginKind, PluginManifest, PluginSection,
};
pub(crate) use metadata::check_metadata_agrees;
pub use metadata::{PluginInfo, TemplateInfo};
pub use pack::{PACK_MTIME, PackFile, pack_plugin};
pub use template_render::{MAX_RENDERED_FILE_BYTES, RenderedFile, TemplateValues};
pub use template_spec::{
    MAX_PARAMETER_CHOICES, MAX_PARAMETER_TEXT, MAX_TEMPLATE_PARAMETERS, ParameterType,
    ParameterValue, TemplateParameter, TemplateSpec,
};

/// The package name of the platform's API, which every plugin depends on and a host pins.
pub const HOST_API_PACKAGE: &str = "host-api";
