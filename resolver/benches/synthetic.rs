//! Synthetic resolver benchmarks, index in memory (no parsing):
//!
//! - pubgrub's pathological backtracking families, re-expressed with semver versions: a chain
//!   of exact pins that only fails at its far end (`singletons`), many packages pinning one
//!   shared package to disjoint versions (`disjoint`), and chains of lower bounds (`ranges`);
//! - a plugin ecosystem of 10,000 plugins over 500 shared libraries, every plugin version
//!   declaring the host API it needs, resolved for 50 plugins under a host pin.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wharf_index_format::IndexEntry;
use wharf_resolver::{HostPin, MemoryIndex, ResolveOptions, RootManifest, Version, resolve};
use wharf_test_support::{dep, pkg};

fn entry(name: &str, vers: &str, deps: &[(&str, String)]) -> IndexEntry {
    deps.iter()
        .fold(pkg(name, vers), |entry, (name, req)| {
            entry.with(dep(name, req))
        })
        .entry()
}

fn root(deps: &[(String, String)]) -> RootManifest {
    let mut text =
        String::from("[package]\nname = \"bench\"\nversion = \"0.1.0\"\n[dependencies]\n");
    for (name, req) in deps {
        let _ = writeln!(text, "{name} = \"{req}\"");
    }
    RootManifest::from_toml_str(&text, std::path::Path::new(".")).expect("bench manifests parse")
}

/// `p1` … `pN`; version `1.v.0` of `pn` pins `p(n+1)` to `=1.v.0`; the last package only has
/// `1.0.0`, so every chain but the one starting at `1.0.0` fails at its end.
fn singletons(packages: usize, versions: usize) -> (MemoryIndex, RootManifest) {
    let mut index = MemoryIndex::default();
    for n in 1..packages {
        for v in 0..versions {
            let next = format!("p{}", n + 1);
            index.add(entry(
                &format!("p{n}"),
                &format!("1.{v}.0"),
                &[(&next, format!("=1.{v}.0"))],
            ));
        }
    }
    index.add(entry(&format!("p{packages}"), "1.0.0", &[]));
    (index, root(&[("p1".to_owned(), "1".to_owned())]))
}

/// The root needs `p1` … `pN`; version `1.v.0` of each pins `shared` to `=1.v.0` for v > 0,
/// and `shared` has only `1.0.0`.
fn disjoint(packages: usize, versions: usize) -> (MemoryIndex, RootManifest) {
    let mut index = MemoryIndex::default();
    for n in 1..=packages {
        index.add(entry(&format!("p{n}"), "1.0.0", &[]));
        for v in 1..versions {
            index.add(entry(
                &format!("p{n}"),
                &format!("1.{v}.0"),
                &[("shared", format!("=1.{v}.0"))],
            ));
        }
    }
    index.add(entry("shared", "1.0.0", &[]));
    let deps: Vec<(String, String)> = (1..=packages)
        .map(|n| (format!("p{n}"), "1".to_owned()))
        .collect();
    (index, root(&deps))
}

/// `pn` version `1.v.0` needs `p(n+1) >= 1.(versions - v).0`: newer versions ask for ever
/// newer successors that do not exist at the end of the chain.
fn ranges(packages: usize, versions: usize) -> (MemoryIndex, RootManifest) {
    let mut index = MemoryIndex::default();
    for n in 1..packages {
        for v in 0..versions {
            let next = format!("p{}", n + 1);
            index.add(entry(
                &format!("p{n}"),
                &format!("1.{v}.0"),
                &[(&next, format!(">=1.{}.0, <2", versions - v - 1))],
            ));
        }
    }
    index.add(entry(&format!("p{packages}"), "1.0.0", &[]));
    (index, root(&[("p1".to_owned(), "1".to_owned())]))
}

/// 10,000 plugins × 3 versions over 500 libraries × 4 versions in two majors; host API
/// `2.4.1`, some plugin versions needing `^3` (which the host does not provide).
fn ecosystem() -> (MemoryIndex, RootManifest, ResolveOptions) {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut index = MemoryIndex::default();
    for v in ["2.0.0", "2.3.0", "2.4.1", "3.0.0"] {
        index.add(entry("host-api", v, &[]));
    }
    for lib in 0..500 {
        for (i, v) in ["1.0.0", "1.4.2", "2.0.0", "2.1.0"].iter().enumerate() {
            let deps: Vec<(String, String)> = if lib > 0 && i % 2 == 1 {
                vec![(
                    format!("lib{}", next() % lib),
                    format!("^{}", 1 + next() % 2),
                )]
            } else {
                Vec::new()
            };
            let deps: Vec<(&str, String)> =
                deps.iter().map(|(n, r)| (n.as_str(), r.clone())).collect();
            index.add(entry(&format!("lib{lib}"), v, &deps));
        }
    }
    for plugin in 0..10_000 {
        for (i, v) in ["0.9.0", "1.0.0", "1.1.0"].iter().enumerate() {
            let host = if i == 2 && next() % 3 == 0 {
                "^3"
            } else {
                "^2.3"
            };
            let libs: Vec<String> = (0..2).map(|_| format!("lib{}", next() % 500)).collect();
            let mut deps: Vec<(&str, String)> = vec![("host-api", host.to_owned())];
            for lib in &libs {
                deps.push((lib.as_str(), format!("^{}", 1 + next() % 2)));
            }
            index.add(entry(&format!("plugin{plugin}"), v, &deps));
        }
    }
    let wanted: Vec<(String, String)> = (0..50)
        .map(|k| (format!("plugin{}", k * 199), "1".to_owned()))
        .collect();
    let options = ResolveOptions {
        host_api: Some(HostPin::new(Version::new(2, 4, 1))),
        ..ResolveOptions::default()
    };
    (index, root(&wanted), options)
}

fn pathological(c: &mut Criterion) {
    let mut group = c.benchmark_group("backtracking");
    group.sample_size(10);
    let cases = [
        ("singletons_50x50", singletons(50, 50)),
        ("disjoint_50x50", disjoint(50, 50)),
        ("ranges_5x100", ranges(5, 100)),
    ];
    for (name, (index, manifest)) in &cases {
        assert!(
            resolve(index, manifest, &ResolveOptions::default()).is_ok(),
            "`{name}` is solvable after backtracking"
        );
        group.bench_function(*name, |b| {
            b.iter(|| black_box(resolve(index, manifest, &ResolveOptions::default()).is_ok()));
        });
    }
    group.finish();
}

fn plugin_ecosystem(c: &mut Criterion) {
    let (index, manifest, options) = ecosystem();
    let resolution = resolve(&index, &manifest, &options).expect("the ecosystem resolves");
    assert!(
        resolution.install_set().len() > 50,
        "every wanted plugin is installed"
    );
    let mut group = c.benchmark_group("ecosystem");
    group.sample_size(20);
    group.bench_function("plugins_10000_host_pinned", |b| {
        b.iter(|| black_box(resolve(&index, &manifest, &options).map(|r| r.packages.len())));
    });
    group.finish();
}

criterion_group!(benches, pathological, plugin_ecosystem);
criterion_main!(benches);
