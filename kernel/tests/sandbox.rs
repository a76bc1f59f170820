//! Sandbox tests of the plugin host with real wasm: the fixture plugins and the crm plugin.

use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use jingxi_kernel::plugin_host::{
    Error, HookContext, LoadedPlugin, PluginHost, PluginHostConfig, RecordSource,
};

/// Built plugins: `JINGXI_TEST_PLUGINS` or `target/plugins` (see `cargo xtask plugins`).
fn plugins_dir() -> PathBuf {
    std::env::var_os("JINGXI_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"))
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}. Hint: run `cargo xtask plugins`",
            path.display()
        )
    })
}

/// A fixture plugin from `tests/fixtures/<name>`.
fn fixture(name: &str) -> Vec<u8> {
    read(plugins_dir().join("fixtures").join(format!("{name}.wasm")))
}

fn config(cache_dir: &std::path::Path) -> PluginHostConfig {
    PluginHostConfig {
        cache_dir: cache_dir.to_owned(),
        max_concurrent_calls: 8,
        ..Default::default()
    }
}

fn ctx() -> HookContext {
    HookContext {
        tenant: "acme".into(),
        user_id: "00000000-0000-0000-0000-000000000001".into(),
        roles: vec!["admin".into()],
        locale: "en".into(),
        now_ms: 1_700_000_000_000,
        records: None,
    }
}

fn hostile(host: &PluginHost) -> LoadedPlugin {
    host.load(&fixture("hostile"))
        .expect("the hostile fixture loads")
}

fn records(json: &str) -> Vec<String> {
    vec![json.to_owned()]
}

/// A good call after a bad one proves the failure stayed in its own call.
#[track_caller]
fn check_still_works(plugin: &LoadedPlugin) {
    let errors = plugin
        .validate(&ctx(), "ok", &records(r#"{"name": "Acme"}"#))
        .expect("a good call succeeds");
    assert_eq!(errors, vec![Vec::new()]);
}

#[track_caller]
fn check_validate_fails(plugin: &LoadedPlugin, entity: &str, expect: &str) -> Error {
    let error = plugin
        .validate(&ctx(), entity, &records("{}"))
        .expect_err("the call fails");
    assert!(
        error.to_string().contains(expect),
        "{error}\nshould contain: {expect}"
    );
    check_still_works(plugin);
    error
}

#[test]
fn loads_and_runs_a_well_behaved_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    assert_eq!(plugin.id(), "hostile");
    assert!(
        plugin.manifest_json().contains(r#""id":"hostile""#),
        "{}",
        plugin.manifest_json()
    );
    assert_eq!(plugin.sha256().len(), 64);
    assert!(
        plugin
            .denied_imports()
            .iter()
            .any(|name| name.starts_with("wasi:")),
        "{:?}",
        plugin.denied_imports()
    );

    let errors = plugin
        .validate(
            &ctx(),
            "ok",
            &[
                r#"{"name": "Acme"}"#.to_owned(),
                r#"{"name": "  "}"#.to_owned(),
            ],
        )
        .expect("validate");
    assert_eq!(errors[0], Vec::new());
    assert_eq!(errors[1][0].pointer, "/name");
    assert_eq!(errors[1][0].code, "blank");

    let computed = plugin
        .compute(&ctx(), "ok", &records(r#"{"name": "Acme"}"#))
        .expect("compute");
    assert_eq!(
        computed,
        vec![r#"{"name":"Acme","greeting":"hello Acme from acme"}"#.to_owned()]
    );

    let answer = plugin
        .kpi(&ctx(), "revenue", r#"{"period": "2026-11"}"#)
        .expect("kpi");
    assert_eq!(answer, r#"{"id":"revenue","params":{"period":"2026-11"}}"#);

    let effects = plugin
        .on_transition(&ctx(), "ok", "close", "{}", "done")
        .expect("on_transition");
    assert!(effects.is_empty());
}

#[test]
fn stops_an_endless_loop_at_the_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let started = Instant::now();
    let error = check_validate_fails(
        &plugin,
        "spin",
        "plugin hostile: validate exceeded its limit on time (50 ms)",
    );
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::LimitExceeded { .. }));
    // The deadline plus one 5 ms tick, with room for a busy shared machine.
    assert!(
        elapsed >= Duration::from_millis(50) && elapsed < Duration::from_millis(500),
        "{elapsed:?}"
    );
}

#[test]
fn refuses_memory_beyond_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Touching 64 MiB page by page takes longer than the default 50 ms; give it time, so the
    // memory limit is what stops it.
    let config = PluginHostConfig {
        hook_timeout_ms: 5000,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    check_validate_fails(
        &plugin,
        "grow",
        "plugin hostile: validate exceeded its limit on memory (64 MiB)",
    );
    check_validate_fails(
        &plugin,
        "grow_slowly",
        "plugin hostile: validate exceeded its limit on memory (64 MiB)",
    );
}

#[test]
fn reports_traps_as_plugin_failures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    // The SDK sends the panic message to the kernel's log; the call fails as a trap.
    let logs = captured_logs(|| {
        check_validate_fails(
            &plugin,
            "panic",
            "plugin hostile failed in validate: wasm trap: ",
        );
    });
    assert!(logs.contains("plugin panicked"), "{logs}");
    // The shadow stack in linear memory overflows below address 0.
    let error = check_validate_fails(
        &plugin,
        "recurse",
        "plugin hostile failed in validate: wasm trap: ",
    );
    eprintln!("recurse: {error}");
}

#[test]
fn gives_no_files_or_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let error = check_validate_fails(
        &plugin,
        "read_file",
        "the sandbox gives plugins no files, network, clock or environment",
    );
    assert!(error.to_string().contains("wasi:"), "{error}");
    eprintln!("read_file: {error}");
    let error = check_validate_fails(
        &plugin,
        "env",
        "the sandbox gives plugins no files, network, clock or environment",
    );
    eprintln!("env: {error}");
}

#[test]
fn caps_output_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Building 10 MiB touches fresh pages; on a busy machine that can outlast 50 ms.
    let config = PluginHostConfig {
        hook_timeout_ms: 5000,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    let error = plugin
        .compute(&ctx(), "big_output", &records("{}"))
        .expect_err("too big");
    assert_eq!(
        error.to_string(),
        "plugin hostile: compute exceeded its limit on output size (1 MiB)"
    );
    check_still_works(&plugin);
}

#[test]
fn caps_input_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(1 << 20));
    let error = plugin
        .validate(&ctx(), "ok", &records(&big))
        .expect_err("too big");
    assert!(
        matches!(
            error,
            Error::TooLarge {
                what: "hook input",
                ..
            }
        ),
        "{error}"
    );
}

/// A record source that records what it is asked and answers `groups` to every aggregate and
/// count, and one record to every query.
#[derive(Default)]
struct FakeSource {
    groups: String,
    asked: Mutex<Vec<String>>,
}

impl RecordSource for FakeSource {
    fn query(&self, entity: &str, filter: &str, limit: u32) -> Result<Vec<String>, String> {
        self.asked
            .lock()
            .expect("lock")
            .push(format!("query {entity} {filter} {limit}"));
        Ok(vec![r#"{"name": "杭州恒达"}"#.to_owned()])
    }

    fn aggregate(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> Result<String, String> {
        self.asked.lock().expect("lock").push(format!(
            "aggregate {entity} {filter} {group_by:?} {max_groups}"
        ));
        Ok(self.groups.clone())
    }

    fn count(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> Result<String, String> {
        self.asked
            .lock()
            .expect("lock")
            .push(format!("count {entity} {filter} {group_by:?} {max_groups}"));
        Ok(self.groups.clone())
    }
}

fn aggregating(plugin: &LoadedPlugin, source: &Arc<FakeSource>, params: &str) -> serde_json::Value {
    let ctx = HookContext {
        records: Some(source.clone() as Arc<dyn RecordSource>),
        ..ctx()
    };
    let answer = plugin.kpi(&ctx, "aggregate", params).expect("kpi answers");
    serde_json::from_str(&answer).expect("JSON")
}

#[test]
fn forwards_aggregates_within_the_query_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let groups = r#"[{"key": {"severity": "紧急"}, "count": 2, "sum": {"compensation": "6000.00"}, "avg": {}, "min": {}, "max": {}}]"#;
    let source = Arc::new(FakeSource {
        groups: groups.to_owned(),
        ..FakeSource::default()
    });
    let answer = aggregating(
        &plugin,
        &source,
        r#"{"entity": "crm.complaint", "filter": {"state": {"ne": "invalid"}}, "group_by": ["severity"]}"#,
    );
    assert_eq!(answer["succeeded"], 2, "{answer}");
    assert_eq!(answer["error"], serde_json::Value::Null);
    assert_eq!(answer["groups"][0]["key"]["severity"], "紧急");
    assert_eq!(answer["groups"][0]["count"], 2);
    assert_eq!(answer["groups"][0]["sum"]["compensation"], "6000.00");
    assert_eq!(
        *source.asked.lock().expect("lock"),
        [
            r#"aggregate crm.complaint {"state":{"ne":"invalid"}} ["severity"] 1000"#,
            r#"query crm.complaint {"state":{"ne":"invalid"}} 1"#,
        ]
    );

    // Aggregates and queries share one budget of 100 per call; the next call has its own.
    for _ in 0..2 {
        let source = Arc::new(FakeSource {
            groups: "[]".to_owned(),
            ..FakeSource::default()
        });
        let answer = aggregating(
            &plugin,
            &source,
            r#"{"entity": "crm.complaint", "filter": {}, "times": 60}"#,
        );
        assert_eq!(answer["succeeded"], 100, "{answer}");
        assert_eq!(
            answer["error"],
            "limit exceeded: at most 100 queries per hook call"
        );
        let asked = source.asked.lock().expect("lock");
        assert_eq!(asked.len(), 100);
        assert_eq!(
            asked.iter().filter(|a| a.starts_with("aggregate")).count(),
            60
        );
    }

    let too_many_fields = aggregating(
        &plugin,
        &Arc::new(FakeSource::default()),
        r#"{"entity": "crm.complaint", "filter": {}, "group_by": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}"#,
    );
    assert_eq!(
        too_many_fields["error"],
        "limit exceeded: at most 8 fields to group by"
    );

    let answer = plugin
        .kpi(
            &ctx(),
            "aggregate",
            r#"{"entity": "crm.complaint", "filter": {}}"#,
        )
        .expect("kpi answers");
    assert!(
        answer.contains("aggregate is not available in this hook"),
        "{answer}"
    );
}

#[test]
fn forwards_counts_within_the_same_budget_as_aggregates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let source = Arc::new(FakeSource {
        groups: r#"[{"key": {"accepted_in_time": true}, "count": 7}]"#.to_owned(),
        ..FakeSource::default()
    });
    let answer = aggregating(
        &plugin,
        &source,
        r#"{"import": "count", "entity": "crm.complaint", "filter": {"state": {"ne": "invalid"}}, "group_by": ["accepted_in_time"]}"#,
    );
    assert_eq!(answer["succeeded"], 2, "{answer}");
    assert_eq!(
        answer["groups"],
        serde_json::json!([{"key": {"accepted_in_time": true}, "count": 7,
            "sum": {}, "avg": {}, "min": {}, "max": {}}])
    );
    assert_eq!(
        *source.asked.lock().expect("lock"),
        [
            r#"count crm.complaint {"state":{"ne":"invalid"}} ["accepted_in_time"] 1000"#,
            r#"query crm.complaint {"state":{"ne":"invalid"}} 1"#,
        ]
    );
    let source = Arc::new(FakeSource {
        groups: "[]".to_owned(),
        ..FakeSource::default()
    });
    let answer = aggregating(
        &plugin,
        &source,
        r#"{"import": "count", "entity": "crm.complaint", "filter": {}, "times": 60}"#,
    );
    assert_eq!(answer["succeeded"], 100, "{answer}");
    assert_eq!(
        answer["error"],
        "limit exceeded: at most 100 queries per hook call"
    );
    let too_many_fields = aggregating(
        &plugin,
        &Arc::new(FakeSource::default()),
        r#"{"import": "count", "entity": "crm.complaint", "filter": {}, "group_by": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}"#,
    );
    assert_eq!(
        too_many_fields["error"],
        "limit exceeded: at most 8 fields to group by"
    );
    let answer = plugin
        .kpi(
            &ctx(),
            "aggregate",
            r#"{"import": "count", "entity": "crm.complaint", "filter": {}}"#,
        )
        .expect("kpi answers");
    assert!(
        answer.contains("count is not available in this hook"),
        "{answer}"
    );
}

#[test]
fn counts_aggregate_answers_against_the_output_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PluginHostConfig {
        max_output_bytes: 4096,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    let group = r#"{"key": {"name": "杭州恒达电器商场有限公司"}, "count": 1}"#;
    let groups = format!("[{}]", vec![group; 100].join(","));
    let source = Arc::new(FakeSource {
        groups,
        ..FakeSource::default()
    });
    let answer = aggregating(
        &plugin,
        &source,
        r#"{"entity": "crm.customer", "filter": {}, "group_by": ["name"]}"#,
    );
    assert_eq!(answer["succeeded"], 0, "{answer}");
    assert_eq!(
        answer["error"],
        "limit exceeded: query results of this hook call are too large"
    );
}

#[test]
fn reports_the_plugins_own_refusal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    let error = plugin
        .compute(&ctx(), "refuse", &records("{}"))
        .expect_err("refused");
    assert!(
        matches!(
            &error,
            Error::Refused { plugin, hook: "compute", message }
                if plugin == "hostile" && message == "no such entity"
        ),
        "{error:?}"
    );
    let error = plugin
        .validate(&ctx(), "ok", &records("[1, 2]"))
        .expect_err("not an object");
    assert!(
        matches!(
            &error,
            Error::Refused { hook: "validate", message, .. }
                if message == "a record must be a JSON object"
        ),
        "{error:?}"
    );
}

#[test]
fn gives_every_call_a_fresh_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);
    for _ in 0..3 {
        let errors = plugin
            .validate(&ctx(), "count", &records("{}"))
            .expect("count");
        assert_eq!(errors[0][0].code, "1");
    }
}

#[test]
fn refuses_an_incompatible_contract_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let error = host
        .load(&fixture("wrong_version"))
        .expect_err("wrong version");
    assert_eq!(
        error.to_string(),
        "invalid plugin: plugin was built against jingxi:plugin@2.0.0; this kernel supports 0.1.x"
    );
}

#[test]
fn keeps_loading_plugins_built_against_an_earlier_compatible_contract() {
    // Built against jingxi:plugin@0.1.0 before the `count` import: it loads and its `aggregate`
    // import answers. (Bumping the kernel's contract to 0.1.1 fails here: see the WIT header.)
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = host
        .load(&fixture("contract_0_1_0"))
        .expect("a 0.1.0 plugin loads");
    assert_eq!(plugin.id(), "contract_0_1_0");
    let source = Arc::new(FakeSource {
        groups: r#"[{"key": {}, "count": 3}]"#.to_owned(),
        ..FakeSource::default()
    });
    let answer = aggregating(
        &plugin,
        &source,
        r#"{"entity": "crm.complaint", "filter": {}, "group_by": ["state"]}"#,
    );
    assert_eq!(answer, serde_json::json!([{"key": {}, "count": 3}]));
    assert_eq!(
        *source.asked.lock().expect("lock"),
        [r#"aggregate crm.complaint {} ["state"] 1000"#]
    );
}

#[test]
fn refuses_a_core_module_and_garbage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let error = host.load(b"\0asm\x01\0\0\0").expect_err("core module");
    assert!(
        error
            .to_string()
            .starts_with("invalid plugin: not a WebAssembly component but a core module"),
        "{error}"
    );
    let error = host.load(b"\x01\x02\x03").expect_err("garbage");
    assert!(
        error
            .to_string()
            .starts_with("invalid plugin: not a WebAssembly component"),
        "{error}"
    );
    let mut truncated = fixture("hostile");
    truncated.truncate(truncated.len() / 2);
    let error = host.load(&truncated).expect_err("truncated");
    assert!(
        error
            .to_string()
            .starts_with("invalid plugin: cannot compile"),
        "{error}"
    );
}

#[test]
fn loads_from_the_cache_and_recompiles_a_tampered_artifact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = fixture("hostile");

    let host = PluginHost::new(config(dir.path())).expect("host");
    host.load(&wasm).expect("first load");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (1, 0));

    // A second host (a restart) maps the artifact instead of compiling.
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = host.load(&wasm).expect("cached load");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (0, 1));
    check_still_works(&plugin);

    // Flip one byte of the artifact: it is compiled again, not loaded.
    let artifact = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .expect("an artifact");
    let mut bytes = std::fs::read(&artifact).expect("artifact");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).expect("tamper");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = host.load(&wasm).expect("recompiled load");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (1, 0));
    check_still_works(&plugin);

    // An artifact without our tag (copied in from elsewhere) is never loaded either.
    let tag = artifact.with_extension("cwasm.tag");
    std::fs::remove_file(&tag).expect("remove tag");
    let host = PluginHost::new(config(dir.path())).expect("host");
    host.load(&wasm).expect("recompiled load");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (1, 0));

    // The recompiled artifact is trusted again.
    let host = PluginHost::new(config(dir.path())).expect("host");
    host.load(&wasm).expect("cached load");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (0, 1));
}

#[test]
fn answers_busy_at_once_when_every_slot_is_taken() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PluginHostConfig {
        max_concurrent_calls: 2,
        hook_timeout_ms: 300,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    let barrier = Arc::new(Barrier::new(3));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (plugin, barrier) = (plugin.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                plugin.validate(&ctx(), "spin", &records("{}"))
            })
        })
        .collect();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let error = plugin
        .validate(&ctx(), "ok", &records(r#"{"name": "x"}"#))
        .expect_err("busy");
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error.to_string(),
        "plugin hostile: cannot run validate, all 2 sandbox slots are busy"
    );
    for spinner in spinners {
        let error = spinner.join().expect("thread").expect_err("spin stops");
        assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
    }
    check_still_works(&plugin);
}

#[test]
fn keeps_good_calls_working_while_others_misbehave() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Six threads share two cores here: the deadline is wall-clock, so leave room for waiting.
    let config = PluginHostConfig {
        hook_timeout_ms: 300,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    let workers: Vec<_> = ["spin", "grow", "panic", "ok", "ok", "ok"]
        .into_iter()
        .map(|entity| {
            let plugin = plugin.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let result = plugin.validate(&ctx(), entity, &records(r#"{"name": "x"}"#));
                    assert_eq!(result.is_ok(), entity == "ok", "{entity}: {result:?}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("no assertion failed");
    }
}

#[test]
fn counts_fuel_when_configured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PluginHostConfig {
        fuel: Some(10_000_000),
        hook_timeout_ms: 5000,
        ..config(dir.path())
    };
    let host = PluginHost::new(config).expect("host");
    let plugin = hostile(&host);
    let started = Instant::now();
    check_validate_fails(
        &plugin,
        "spin",
        "plugin hostile: validate exceeded its limit on fuel (10000000)",
    );
    eprintln!("fuel 10M exhausted in {:?}", started.elapsed());
}

/// Collects what tracing writes, to check plugin log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs(run: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, run);
    let bytes = captured.0.lock().expect("lock").clone();
    String::from_utf8(bytes).expect("utf-8 logs")
}

#[test]
fn escapes_and_caps_plugin_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = hostile(&host);

    let logs = captured_logs(|| {
        plugin
            .validate(&ctx(), "log_forge", &records("{}"))
            .expect("log_forge");
    });
    assert!(
        logs.contains(r"line one\nERROR forged line \u{1b}[31mred\u{202e}"),
        "{logs}"
    );
    assert!(
        logs.contains("plugin=\"hostile\"") || logs.contains("plugin=hostile"),
        "{logs}"
    );
    assert!(!logs.contains('\u{1b}'), "{logs}");

    let logs = captured_logs(|| {
        plugin
            .validate(&ctx(), "log_flood", &records("{}"))
            .expect("log_flood");
    });
    let plugin_text: usize = logs
        .lines()
        .filter_map(|line| line.split_once("INFO jingxi::plugin: "))
        .map(|(_, message)| message.matches('x').count())
        .sum();
    assert_eq!(
        plugin_text, 4096,
        "the budget is 4 KiB of plugin text, the last line cut short"
    );
    assert!(
        logs.contains("plugin log over 4096 bytes in one call"),
        "{logs}"
    );
}

#[test]
fn runs_the_crm_plugin_and_reuses_its_compiled_artifact() {
    let wasm = read(plugins_dir().join("crm.wasm"));
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(config(dir.path())).expect("host");
    let plugin = host.load(&wasm).expect("crm loads");
    assert_eq!(plugin.id(), "crm");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (1, 0));

    // A new host (a restart) with the same cache folder loads without compiling.
    let host = PluginHost::new(config(dir.path())).expect("host");
    let cached = host.load(&wasm).expect("crm loads from cache");
    assert_eq!((host.stats().compiled, host.stats().cache_hits), (0, 1));
    assert_eq!(plugin.manifest_json(), cached.manifest_json());

    let record =
        vec![r#"{"name": "杭州恒达", "customer_type": "企业客户", "contacts": []}"#.to_owned()];
    let errors = cached
        .validate(&ctx(), "customer", &record)
        .expect("validate runs");
    let pointers: Vec<&str> = errors[0].iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"/contacts") && pointers.contains(&"/tax_id"),
        "{pointers:?}"
    );
}

#[test]
fn refuses_a_plugin_that_compiles_too_slowly_and_keeps_working() {
    let wasm = read(plugins_dir().join("crm.wasm"));
    let dir = tempfile::tempdir().expect("temp dir");
    let impatient = PluginHost::new(PluginHostConfig {
        compile_timeout_ms: 1,
        ..config(dir.path())
    })
    .expect("host");
    let Err(error) = impatient.load(&wasm) else {
        panic!("compiling takes longer than 1 ms, so the load must fail");
    };
    assert!(matches!(error, Error::LimitExceeded { .. }), "{error}");
    assert!(error.to_string().contains("compile time (1 ms)"), "{error}");
    // Nothing half-done is left behind: a patient host compiles it from scratch and runs it.
    let patient = PluginHost::new(config(dir.path())).expect("host");
    let plugin = patient.load(&wasm).expect("crm compiles");
    assert_eq!((plugin.id(), patient.stats().compiled), ("crm", 1));
}
