//! The plugin ecosystem generator: a seeded, reproducible set of plugins and templates for
//! installer and resolver benchmarks ([`generate`], [`Ecosystem::write_to`]).
//!
//! Popularity follows a power law (a plugin is chosen as a dependency in proportion to
//! rank^-1.2, earlier plugins ranking higher), so dependency chains form over the popular
//! core; host API ranges span three majors (1.0–1.9, 2.0–2.6, 3.0–3.2, some ranges spanning
//! two); versions move to a new host major with their own new major; some versions are
//! yanked (always with a later version of the same major); and some versions are
//! deliberately uninstallable: they need a dependency that only exists for another host API
//! major, or two dependencies holding the same exclusive resource (published as `links`).

mod files;
mod plan;
mod random;

pub use files::GeneratedFile;
pub use plan::{
    Conflict, EXCLUSIVE_RESOURCES, Ecosystem, EcosystemParams, GeneratedVersion, HOST_MINORS,
    generate,
};
