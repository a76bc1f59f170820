//! Plugin host benchmark: a hook call in a fresh sandbox, instantiation alone, a batch call, and
//! cold (compile) versus warm (cached artifact) loading, with p50 and p99.
//!
//! Run with `cargo bench -p jingxi-kernel --bench plugin_host` after `cargo xtask plugins`.
#![allow(clippy::print_stdout)] // A benchmark reports on standard output.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jingxi_kernel::plugin_host::{HookContext, PluginHost, PluginHostConfig};

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, usize) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.50), at(0.99), samples.len())
}

fn report(name: &str, samples: Vec<Duration>) {
    let (p50, p99, n) = percentiles(samples);
    println!(
        "{name:<48} p50 {:>9.1} µs   p99 {:>9.1} µs   (n = {n})",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}

fn measure(iterations: usize, mut run: impl FnMut()) -> Vec<Duration> {
    (0..iterations)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect()
}

fn main() {
    let plugins = std::env::var_os("JINGXI_TEST_PLUGINS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|dir| PathBuf::from(dir).join("plugins"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"));
    let wasm = std::fs::read(plugins.join("crm.wasm"))
        .expect("target/plugins/crm.wasm (run `cargo xtask plugins`)");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |cache: PathBuf| PluginHostConfig {
        cache_dir: cache,
        hook_timeout_ms: 1000,
        ..PluginHostConfig::default()
    };

    let cold = measure(5, || {
        let cache = tempfile::tempdir().expect("temp dir");
        let host = PluginHost::new(config(cache.path().to_path_buf())).expect("host");
        host.load(&wasm).expect("crm compiles");
    });
    let host = PluginHost::new(config(dir.path().to_path_buf())).expect("host");
    host.load(&wasm).expect("crm compiles");
    let warm = measure(50, || {
        let host = PluginHost::new(config(dir.path().to_path_buf())).expect("host");
        host.load(&wasm).expect("crm loads from the cache");
    });
    let plugin = host.load(&wasm).expect("crm loads");

    let ctx = HookContext {
        tenant: "bench".into(),
        user_id: "00000000-0000-0000-0000-000000000001".into(),
        roles: vec!["admin".into()],
        locale: "zh-CN".into(),
        now_ms: 1_700_000_000_000,
        records: None,
    };
    let customer = r#"{"customer_no": "CUS-0001", "name": "杭州恒达电器商场有限公司", "customer_type": "经销商/渠道",
        "region": "0190b5a2-0000-7000-8000-000000000001", "address": "杭州市上城区解放路 168 号", "source": "招商会",
        "stage": "忠诚客户", "tax_id": "91330102MA27XK2L3D", "annual_potential": "15000000.00",
        "contacts": [{"name": "王海涛", "phone": "13800001024", "is_primary": true}]}"#
        .to_string();
    let one = vec![customer.clone()];
    let batch: Vec<String> = (0..500).map(|_| customer.clone()).collect();
    for _ in 0..200 {
        plugin.validate(&ctx, "customer", &one).expect("warm-up");
    }
    let instantiate = measure(20_000, || plugin.instantiate().expect("instantiates"));
    let validate = measure(20_000, || {
        let errors = plugin.validate(&ctx, "customer", &one).expect("validates");
        assert!(errors[0].is_empty(), "{errors:?}");
    });
    let batch_calls = measure(200, || {
        plugin
            .validate(&ctx, "customer", &batch)
            .expect("validates a batch");
    });

    println!("crm plugin, {} KiB of wasm", wasm.len() / 1024);
    report("cold load (compile + describe)", cold);
    report("warm load (cached artifact + describe)", warm);
    report("instantiation alone (fresh sandbox)", instantiate);
    report("validate 1 record, fresh sandbox", validate);
    let (p50, p99, n) = percentiles(batch_calls);
    println!(
        "{:<48} p50 {:>9.1} µs   p99 {:>9.1} µs   (n = {n}; {:.0} records/s at p50)",
        "validate 500 records in one call",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        500.0 / p50.as_secs_f64()
    );
}
