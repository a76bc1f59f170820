//! Build orchestration: `cargo xtask build | plugins | demo | test`.
//!
//! - `build`: the release binary `target/release/jingxi` and every plugin as `target/plugins/<id>.wasm`;
//! - `plugins`: only the plugins;
//! - `demo`: build, then `jingxi demo` (embedded SQLite, demo tenant, prints a token, serves);
//! - `test`: plugins, then the whole test suite on SQLite and again on PostgreSQL;
//! - `reliability`: the long versions of the crash, soak, isolation and fuzz tests, on both
//!   databases (`--rounds N --soak-seconds S --cases N` to change their sizes);
//! - `bench`: release server, realistic data, HTTP load (see `bench.rs`).

mod bench;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const WASM_TARGET: &str = "wasm32-wasip2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = output
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET)
        })
        .unwrap_or(false);
    if !installed {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

/// Plugin ids: the folders under `plugins/`.
fn plugin_ids() -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(root().join("plugins"))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").exists() {
            ids.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    ids.sort();
    Ok(ids)
}

fn build_plugins() -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let ids = plugin_ids()?;
    let mut command = cargo();
    command.args(["build", "--target", WASM_TARGET, "--profile", "plugin"]);
    for id in &ids {
        command.args(["-p", &format!("jingxi-plugin-{id}")]);
    }
    run(&mut command)?;
    let out = target_dir().join("plugins");
    std::fs::create_dir_all(&out)?;
    for id in &ids {
        let built = target_dir()
            .join(WASM_TARGET)
            .join("plugin")
            .join(format!("jingxi_plugin_{id}.wasm"));
        let dest = out.join(format!("{id}.wasm"));
        std::fs::copy(&built, &dest).with_context(|| format!("cannot copy {}", built.display()))?;
        eprintln!(
            "plugin {id}: {} ({} KiB)",
            dest.display(),
            std::fs::metadata(&dest)?.len() / 1024
        );
    }
    Ok(out)
}

/// Test fixtures: (folder name, package name) of each crate under `tests/fixtures/`.
fn fixtures() -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let dir = root().join("tests/fixtures");
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let entry = entry?;
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|line| {
                line.strip_prefix("name = ")
                    .map(|v| v.trim_matches('"').to_string())
            })
            .with_context(|| format!("no package name in {}", manifest.display()))?;
        found.push((entry.file_name().to_string_lossy().into_owned(), package));
    }
    found.sort();
    Ok(found)
}

/// Builds the test fixture plugins into `target/plugins/fixtures/<folder>.wasm`.
fn build_fixtures() -> anyhow::Result<()> {
    let fixtures = fixtures()?;
    let mut command = cargo();
    command.args(["build", "--target", WASM_TARGET, "--profile", "plugin"]);
    for (_, package) in &fixtures {
        command.args(["-p", package]);
    }
    run(&mut command)?;
    let out = target_dir().join("plugins").join("fixtures");
    std::fs::create_dir_all(&out)?;
    for (folder, package) in &fixtures {
        let built = target_dir()
            .join(WASM_TARGET)
            .join("plugin")
            .join(format!("{}.wasm", package.replace('-', "_")));
        std::fs::copy(&built, out.join(format!("{folder}.wasm")))
            .with_context(|| format!("cannot copy {}", built.display()))?;
    }
    Ok(())
}

fn build() -> anyhow::Result<()> {
    build_plugins()?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "jingxi-kernel",
        "--bin",
        "jingxi",
    ]))
}

fn postgres_ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the machine's PostgreSQL cluster when it is not answering.
fn ensure_postgres() -> anyhow::Result<()> {
    if postgres_ready() {
        return Ok(());
    }
    eprintln!("PostgreSQL is not answering on 127.0.0.1:5432; starting it");
    let versions = std::fs::read_dir("/etc/postgresql")
        .context("PostgreSQL is not installed (/etc/postgresql missing)")?;
    for version in versions.flatten() {
        let version = version.file_name().to_string_lossy().into_owned();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status();
    }
    for _ in 0..30 {
        if postgres_ready() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    bail!("PostgreSQL did not start on 127.0.0.1:5432")
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    let plugins = build_plugins()?;
    build_fixtures()?;
    let mut sqlite = cargo();
    sqlite
        .args(["test", "--workspace"])
        .args(extra)
        .env("JINGXI_TEST_PLUGINS", &plugins)
        .env_remove("DATABASE_URL");
    eprintln!("== test suite on SQLite");
    run(&mut sqlite)?;
    ensure_postgres()?;
    let url = std::env::var("JINGXI_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    eprintln!("== end-to-end tests on PostgreSQL ({url})");
    let mut postgres = cargo();
    postgres
        .args(["test", "-p", "jingxi-tests"])
        .args(extra)
        .env("JINGXI_TEST_PLUGINS", &plugins)
        .env("DATABASE_URL", &url);
    run(&mut postgres)?;
    // Store-level tests that also speak to PostgreSQL when it is named.
    let mut store = cargo();
    store
        .args(["test", "-p", "jingxi-kernel"])
        .args(["--test", "written_records", "--test", "daily_counts"])
        .args(extra)
        .env("DATABASE_URL", &url);
    run(&mut store)
}

/// The long versions of the reliability tests: more kill/restart rounds, a longer soak, more
/// random worlds and cases. CI runs the short ones as part of `test`.
fn reliability(args: &[String]) -> anyhow::Result<()> {
    let value = |flag: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let (rounds, soak, cases) = (
        value("--rounds", "20"),
        value("--soak-seconds", "300"),
        value("--cases", "5000"),
    );
    let plugins = build_plugins()?;
    build_fixtures()?;
    ensure_postgres()?;
    let postgres = std::env::var("JINGXI_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut fuzz = cargo();
    fuzz.args([
        "test",
        "-p",
        "jingxi-kernel",
        "--test",
        "fuzz_filter",
        "--test",
        "fuzz_validation",
    ])
    .env("PROPTEST_CASES", &cases);
    eprintln!("== fuzzing the filter builder and record validation ({cases} cases)");
    run(&mut fuzz)?;
    for database in [None, Some(postgres.as_str())] {
        let name = if database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        eprintln!(
            "== crash ({rounds} rounds), soak ({soak} s) and isolation ({cases} cases) on {name}"
        );
        let mut long = cargo();
        long.args(["test", "-p", "jingxi-tests", "--test", "api", "--"])
            .args(["crash::", "soak::", "isolation_props::", "--nocapture"])
            .env("JINGXI_TEST_PLUGINS", &plugins)
            .env("JINGXI_CRASH_ROUNDS", &rounds)
            .env("JINGXI_SOAK_SECONDS", &soak)
            .env("JINGXI_PROPTEST_CASES", &cases);
        match database {
            Some(url) => long.env("DATABASE_URL", url),
            None => long.env_remove("DATABASE_URL"),
        };
        run(&mut long)?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // reqwest is built with rustls and no default crypto provider (the kernel picks ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => build(),
        Some("plugins") => build_plugins().and_then(|_| build_fixtures()),
        Some("demo") => {
            build()?;
            let binary = target_dir().join("release").join("jingxi");
            run(Command::new(binary)
                .current_dir(root())
                .args(["demo", "--plugins-dir"])
                .arg(target_dir().join("plugins")))
        }
        Some("test") => test(&args[1..]),
        Some("reliability") => reliability(&args[1..]),
        Some("bench") => bench::bench(bench::Options::parse(&args[1..])?),
        Some("ceiling-server") => bench::ceiling_server(),
        _ => {
            eprintln!(
                "usage: cargo xtask <build|plugins|demo|test [cargo test args]|reliability [--rounds N --soak-seconds S --cases N]|bench [--records N --seconds S --clients C --db sqlite,postgres --only 1,5 --write-docs]>"
            );
            std::process::exit(2);
        }
    }
}
