//! `jingxi plugin new`: the crate it writes passes its own tests, builds to wasm, installs, and
//! its rule refuses a bad record through the API; bad ids are refused before anything is written.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jingxi_tests::{TestServer, error_code, workspace};
use serde_json::json;

const CREATE: &str = "mutation($input: SampleNotesTaskInput!) { createSampleNotesTask(input: $input) { id title priority startDate dueDate } }";

/// The folder of this test binary: `target/<profile>/deps`.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().expect("target/<profile>/deps").to_path_buf()
}

/// `target/<profile>/jingxi`, next to the folder of this test binary.
fn jingxi() -> PathBuf {
    let binary = deps_dir()
        .parent()
        .expect("target/<profile>")
        .join("jingxi");
    assert!(
        binary.exists(),
        "{} is missing. Hint: `cargo build -p jingxi-kernel` builds it",
        binary.display()
    );
    binary
}

/// `target/scaffold`: the generated crate's own target folder, kept between runs so that only
/// the crate itself is compiled again.
fn scaffold_target_dir() -> PathBuf {
    deps_dir()
        .ancestors()
        .nth(2)
        .expect("target/")
        .join("scaffold")
}

fn jingxi_plugin_new(cwd: &Path, args: &[&str]) -> Output {
    Command::new(jingxi())
        .args(["plugin", "new"])
        .args(args)
        .current_dir(cwd)
        .env("JINGXI_LOG", "warn")
        .output()
        .expect("jingxi runs")
}

/// Runs cargo in `dir` with the scaffold target folder, at the lowest CPU priority where `nice`
/// exists, so that the tests running beside it keep their time limits.
#[track_caller]
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let run = |program: &std::ffi::OsStr, prefix: &[&std::ffi::OsStr]| {
        Command::new(program)
            .args(prefix)
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", scaffold_target_dir())
            .output()
    };
    let output = match run("nice".as_ref(), &["-n".as_ref(), "19".as_ref(), &cargo]) {
        Err(error) if error.kind() == ErrorKind::NotFound => run(&cargo, &[]),
        other => other,
    }
    .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_plugin_passes_its_tests_installs_and_enforces_its_rule() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path().join("sample_notes");
    let dir_arg = dir.to_str().expect("UTF-8 temp path");
    let output = jingxi_plugin_new(scratch.path(), &["sample_notes", "--dir", dir_arg]);
    assert!(
        output.status.success(),
        "jingxi plugin new failed: {}. Hint: `cargo build -p jingxi-kernel` rebuilds the binary",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(report.contains("created plugin sample_notes"), "{report}");
    assert!(dir.join("schemas/manifest.schema.json").is_file());

    // The workspace's lock file pins the dependencies to the versions the workspace is tested
    // with, which are already downloaded; cargo drops the entries the plugin does not use.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    cargo(&dir, &["test", "--quiet"]);
    cargo(
        &dir,
        &["build", "--target", "wasm32-wasip2", "--profile", "plugin"],
    );
    let wasm_path =
        scaffold_target_dir().join("wasm32-wasip2/plugin/jingxi_plugin_sample_notes.wasm");
    let wasm = std::fs::read(&wasm_path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", wasm_path.display()));

    let server = TestServer::new().await;
    let installed = server
        .kernel
        .install_plugin(wasm)
        .await
        .expect("the plugin installs");
    assert_eq!(
        (installed.def.id.as_str(), installed.def.version.as_str()),
        ("sample_notes", "0.1.0")
    );
    let acme = server.tenant("acme", &[]).await;
    let enabled = server
        .ok(
            &acme.admin,
            "mutation { enablePlugin(id: \"sample_notes\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(enabled["enablePlugin"], json!([{"id": "sample_notes"}]));

    let editor = server
        .user(&acme, "editor@acme.test", &["sample_notes_editor"], None)
        .await;
    let task = json!({"title": "整理本周销售周报", "priority": "中", "startDate": "2025-07-07", "dueDate": "2025-07-11"});
    let created = server.ok(&editor, CREATE, json!({"input": task})).await;
    assert_eq!(
        created["createSampleNotesTask"]["title"],
        "整理本周销售周报"
    );
    assert_eq!(created["createSampleNotesTask"]["dueDate"], "2025-07-11");

    let mut late = task.clone();
    late["dueDate"] = json!("2025-07-01");
    let (body, _) = server
        .graphql_with(Some(&editor), CREATE, json!({"input": late}), Some("en"))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let details = &body["errors"][0]["extensions"]["details"];
    assert_eq!(
        details,
        &json!([{"pointer": "/due_date", "code": "due_before_start", "message": "The due date must not be before the start date."}])
    );
    let count = server
        .ok(&editor, "{ sampleNotesTasks { totalCount } }", json!({}))
        .await;
    assert_eq!(
        count["sampleNotesTasks"]["totalCount"], 1,
        "the refused task is not stored"
    );
}

#[test]
fn refuses_bad_ids_and_existing_folders_before_writing() {
    let scratch = tempfile::tempdir().expect("temp dir");
    for (id, expect) in [
        ("Notes", "use snake_case"),
        ("key-accounts", "use snake_case"),
        ("kernel", "reserved"),
    ] {
        let output = jingxi_plugin_new(scratch.path(), &[id]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{id} was accepted");
        assert!(
            stderr.contains(expect) && stderr.contains("插件 id"),
            "{id}: {stderr}"
        );
    }
    std::fs::create_dir(scratch.path().join("notes")).expect("create folder");
    let output = jingxi_plugin_new(scratch.path(), &["notes"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("already exists"),
        "{stderr}"
    );
    let entries = std::fs::read_dir(scratch.path()).expect("list").count();
    assert_eq!(entries, 1, "nothing but the existing folder");
}
