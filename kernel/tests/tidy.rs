//! Checks of the code base itself: every Rust file opens with a `//!` line, kernel layers only use
//! the layers before them, and each framework stays inside the one layer that owns it.

use std::path::{Path, PathBuf};

/// Kernel layers in order; a layer may use only those before it (and `error`, shared by all).
const LAYERS: &[&str] = &[
    "config",
    "model",
    "store",
    "plugin_host",
    "permissions",
    "runtime",
    "demo",
    "graphql",
    "http",
    "scaffold",
    "cli",
];

/// Frameworks and the one layer allowed to import each.
const OWNERS: &[(&str, &str)] = &[
    ("sea_orm", "store"),
    ("wasmtime", "plugin_host"),
    ("async_graphql", "graphql"),
    ("actix_web", "http"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kernel/ is in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The layer a kernel source file belongs to (`store/records.rs` → `store`).
fn layer_of(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root().join("kernel/src")).ok()?;
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    Some(first.trim_end_matches(".rs").to_string())
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let mut files = Vec::new();
    for dir in ["kernel", "migrations", "sdk", "plugins", "tests", "xtask"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` first line: {missing:#?}"
    );
}

#[test]
fn kernel_layers_only_use_earlier_layers() {
    let mut files = Vec::new();
    rust_files(&root().join("kernel/src"), &mut files);
    let mut problems = Vec::new();
    for path in &files {
        let Some(layer) = layer_of(path) else {
            continue;
        };
        let Some(position) = LAYERS.iter().position(|l| *l == layer) else {
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().map(str::trim) {
            for (used_position, used) in LAYERS.iter().enumerate() {
                let uses = line.contains(&format!("crate::{used}::"))
                    || line.contains(&format!("crate::{used};"));
                if uses && used_position > position {
                    problems.push(format!(
                        "{}: `{layer}` uses the later layer `{used}`: {line}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn each_framework_stays_in_its_layer() {
    let mut files = Vec::new();
    rust_files(&root().join("kernel/src"), &mut files);
    let mut problems = Vec::new();
    for path in &files {
        let layer = layer_of(path).unwrap_or_default();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (framework, owner) in OWNERS {
            if layer != *owner && text.contains(&format!("{framework}::")) {
                problems.push(format!(
                    "{} uses {framework}, which belongs to `{owner}`",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
