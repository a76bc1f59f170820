//! Compiling plugins in the `jingxi compile-plugin` worker: under a memory cap, with signed
//! artifacts, and with stale artifacts swept from the cache.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use jingxi_kernel::plugin_host::{Error, PluginHost, PluginHostConfig};
use sha2::{Digest, Sha256};

fn plugin(id: &str) -> Vec<u8> {
    let dir = std::env::var_os("JINGXI_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"));
    let path = dir.join(format!("{id}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}. Hint: run `cargo xtask plugins`",
            path.display()
        )
    })
}

fn config(cache_dir: &std::path::Path, memory_mib: u64, key: &str) -> PluginHostConfig {
    PluginHostConfig {
        cache_dir: cache_dir.to_owned(),
        max_concurrent_calls: 8,
        compile_worker: Some(PathBuf::from(env!("CARGO_BIN_EXE_jingxi"))),
        compile_memory_limit_mib: memory_mib,
        artifact_key: Some(key.to_string()),
        ..Default::default()
    }
}

const KEY: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn a_plugin_compiled_in_the_worker_runs_and_loads_from_the_cache_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = plugin("crm");
    let host = PluginHost::new(config(dir.path(), 2048, KEY)).expect("host");
    let loaded = host.load(&wasm).expect("crm compiles in the worker");
    assert_eq!(loaded.id(), "crm");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (1, 0));
    let restarted = PluginHost::new(config(dir.path(), 2048, KEY)).expect("host");
    let cached = restarted.load(&wasm).expect("crm loads from the cache");
    assert_eq!(cached.manifest_json(), loaded.manifest_json());
    assert_eq!(
        (restarted.stats().compiled, restarted.stats().cache_hits),
        (0, 1)
    );
}

#[test]
fn a_plugin_that_needs_too_much_memory_to_compile_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = plugin("crm");
    let stingy = PluginHost::new(config(dir.path(), 8, KEY)).expect("host");
    let error = stingy.load(&wasm).expect_err("8 MiB is too little");
    assert!(
        matches!(&error, Error::LimitExceeded { hook: "compile", limit, .. } if limit == "compile memory (8 MiB)"),
        "{error:?}"
    );
    // This process is untouched, and nothing half-written is left to load.
    let generous = PluginHost::new(config(dir.path(), 2048, KEY)).expect("host");
    generous.load(&wasm).expect("compiles with enough memory");
    assert_eq!(generous.stats().compiled, 1);
}

#[test]
fn an_artifact_signed_with_another_key_is_compiled_again_not_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = plugin("org");
    PluginHost::new(config(dir.path(), 2048, KEY))
        .expect("host")
        .load(&wasm)
        .expect("org compiles");
    let other = PluginHost::new(config(
        dir.path(),
        2048,
        "another key, another kernel........",
    ))
    .expect("host");
    other.load(&wasm).expect("org compiles again");
    assert_eq!((other.stats().compiled, other.stats().cache_hits), (1, 0));
}

#[test]
fn stale_artifacts_are_swept_and_current_ones_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path(), 2048, KEY)).expect("host");
    let (org, crm) = (plugin("org"), plugin("crm"));
    host.load(&org).expect("org");
    host.load(&crm).expect("crm");
    let artifacts = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".cwasm"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(artifacts().len(), 4, "an artifact and a tag each");
    let keep = hex::encode(Sha256::digest(&crm));
    assert_eq!(host.sweep_cache(&[&keep]), 0, "fresh files are never swept");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.path())
            .unwrap();
        file.set_modified(an_hour_ago).unwrap();
    }
    assert_eq!(host.sweep_cache(&[&keep]), 2);
    let left = artifacts();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|name| name.starts_with(&keep)), "{left:?}");
}
