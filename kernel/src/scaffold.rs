//! `jingxi plugin new`: writes a plugin crate that builds and passes its own tests at once.
//!
//! The files come from `kernel/templates/plugin/`, embedded in the binary, with `{{name}}`
//! placeholders filled in. There are two layouts:
//! - inside a Jingxi workspace (a `Cargo.toml` whose `[workspace]` lists members under
//!   `plugins/`), the crate goes to `plugins/<id>/`, its schemas to `schemas/<id>/`, it takes
//!   `jingxi-sdk` from the workspace, and it is added to the workspace members;
//! - anywhere else, the folder is a workspace of its own that depends on `jingxi-sdk` by path,
//!   keeps its schemas in `schemas/<id>/` beside a copy of the kernel's
//!   `schemas/manifest.schema.json`, which `jingxi_sdk::testing::PluginSchemas` looks for, and
//!   has the `plugin` build profile.
//!
//! **Invariant:** nothing is written unless every check passed, and nothing is ever overwritten;
//! a failed write removes what this run created.

use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Code, ErrorCode};

/// The longest plugin id: the role `<id>_editor` must stay within the 40 characters of an
/// identifier, and table names (`<id>__<entity>__<child>`) within PostgreSQL's 63.
pub const MAX_ID_LEN: usize = 32;

/// Names the generated code imports from `jingxi_sdk` (or `Self`): a plugin type of the same
/// name would not compile.
const TAKEN_TYPE_NAMES: &[&str] = &[
    "Context",
    "FieldError",
    "FieldErrors",
    "Manifest",
    "Plugin",
    "PluginSchemas",
    "Record",
    "RecordExt",
    "Self",
    "Value",
];

/// The kernel's manifest schema, copied into a standalone plugin for its native tests.
const MANIFEST_SCHEMA: &str = include_str!("../../schemas/manifest.schema.json");

/// The `Cargo.toml` of a workspace member. The templates are not named `Cargo.toml`, so that
/// cargo never takes their folder for a package.
const CARGO_WORKSPACE: &str = include_str!("../templates/plugin/Cargo.workspace.toml");
/// The `Cargo.toml` of a standalone plugin.
const CARGO_STANDALONE: &str = include_str!("../templates/plugin/Cargo.standalone.toml");
/// The `.gitignore` of a standalone plugin (not named `.gitignore`, which git would obey here).
const GITIGNORE: &str = include_str!("../templates/plugin/gitignore");
/// The `.cargo/config.toml` of a standalone plugin: the small guest stack the workspace uses.
const CARGO_CONFIG: &str = include_str!("../templates/plugin/cargo-config.toml");

/// Where a template goes: the crate folder, or the plugin's schema folder (`schemas/<id>/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Crate,
    Schemas,
}

/// The files every plugin gets, with paths relative to their [`Place`].
const TEMPLATES: &[(Place, &str, &str)] = &[
    (
        Place::Crate,
        "plugin.json",
        include_str!("../templates/plugin/plugin.json"),
    ),
    (
        Place::Crate,
        "README.md",
        include_str!("../templates/plugin/README.md"),
    ),
    (
        Place::Crate,
        "src/lib.rs",
        include_str!("../templates/plugin/src/lib.rs"),
    ),
    (
        Place::Crate,
        "src/rules.rs",
        include_str!("../templates/plugin/src/rules.rs"),
    ),
    (
        Place::Crate,
        "tests/schemas.rs",
        include_str!("../templates/plugin/tests/schemas.rs"),
    ),
    (
        Place::Schemas,
        "task.schema.json",
        include_str!("../templates/plugin/schemas/task.schema.json"),
    ),
    (
        Place::Schemas,
        "examples/valid/task-call-back.json",
        include_str!("../templates/plugin/schemas/examples/valid/task-call-back.json"),
    ),
    (
        Place::Schemas,
        "examples/valid/task-weekly-report.json",
        include_str!("../templates/plugin/schemas/examples/valid/task-weekly-report.json"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-bad-date.json",
        include_str!("../templates/plugin/schemas/examples/invalid/task-bad-date.json"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-bad-date.err",
        include_str!("../templates/plugin/schemas/examples/invalid/task-bad-date.err"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-bad-priority.json",
        include_str!("../templates/plugin/schemas/examples/invalid/task-bad-priority.json"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-bad-priority.err",
        include_str!("../templates/plugin/schemas/examples/invalid/task-bad-priority.err"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-missing-title.json",
        include_str!("../templates/plugin/schemas/examples/invalid/task-missing-title.json"),
    ),
    (
        Place::Schemas,
        "examples/invalid/task-missing-title.err",
        include_str!("../templates/plugin/schemas/examples/invalid/task-missing-title.err"),
    ),
];

/// Why no plugin was created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The id cannot name a plugin; `message` says why, in Chinese and English.
    #[error("{message}")]
    InvalidId { id: String, message: String },
    /// The plugin folder or its schema folder is already there.
    #[error(
        "{path} 已存在,不会覆盖 / {path} already exists; jingxi plugin new never overwrites. Hint: choose another id or --dir, or remove the folder first.",
        path = .path.display()
    )]
    Exists { path: PathBuf },
    /// The SDK folder a standalone plugin would depend on is not a `jingxi-sdk` crate.
    #[error(
        "在 {path} 找不到 jingxi-sdk / There is no jingxi-sdk crate at {path}. Hint: pass --sdk PATH with the sdk/ folder of a Jingxi checkout.",
        path = .path.display()
    )]
    SdkNotFound { path: PathBuf },
    /// Reading or writing a file failed.
    #[error("cannot access {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ErrorCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::InvalidId { .. } | Error::SdkNotFound { .. } => Code::BadRequest,
            Error::Exists { .. } => Code::Conflict,
            Error::Io { .. } => Code::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the new plugin relates to its surroundings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A member of the Jingxi workspace at `root`.
    Workspace { root: PathBuf, members: Members },
    /// A workspace of its own, depending on the SDK at `sdk`.
    Standalone { sdk: PathBuf },
}

/// What happened to the workspace's member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// `plugins/<id>` was added to `[workspace] members`.
    Added,
    /// A member entry (such as `plugins/*`) already covers the plugin.
    Covered,
    /// The member list could not be edited; the plugin must be added by hand.
    Manual,
}

/// A plugin that was created.
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub id: String,
    /// The crate folder.
    pub dir: PathBuf,
    pub layout: Layout,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// Checks that `id` can name a new plugin: a snake_case identifier of at most [`MAX_ID_LEN`]
/// characters, not `kernel`, whose type name does not clash with the SDK's.
pub fn check_id(id: &str) -> Result<()> {
    let invalid = |zh: String, en: String| {
        Err(Error::InvalidId {
            id: id.to_string(),
            message: format!("{zh} / {en}"),
        })
    };
    if !is_identifier(id) {
        let hint = snake_case(id)
            .filter(|suggestion| is_identifier(suggestion))
            .map(|suggestion| format!(" Hint: try `{suggestion}`."))
            .unwrap_or_default();
        return invalid(
            format!(
                "插件 id `{id}` 无效:只能使用小写字母、数字和单个下划线,以字母开头,不以下划线结尾"
            ),
            format!(
                "The plugin id `{id}` is not valid: use snake_case, that is lowercase letters, digits and single underscores, starting with a letter (like `key_accounts`).{hint}"
            ),
        );
    }
    if id.len() > MAX_ID_LEN {
        return invalid(
            format!("插件 id `{id}` 太长:最多 {MAX_ID_LEN} 个字符"),
            format!(
                "The plugin id `{id}` is too long: at most {MAX_ID_LEN} characters, so that the role and table names made from it stay within their limits. Hint: use the short English name of the module."
            ),
        );
    }
    if id == "kernel" {
        return invalid(
            "插件 id `kernel` 已保留".into(),
            "The plugin id `kernel` is reserved for the kernel's own entities (kernel.user, kernel.org_unit). Hint: choose another id.".into(),
        );
    }
    let type_name = pascal_case(id);
    if TAKEN_TYPE_NAMES.contains(&type_name.as_str()) {
        return invalid(
            format!("插件 id `{id}` 生成的类型名 `{type_name}` 与 SDK 中的名称冲突"),
            format!(
                "The plugin id `{id}` would name the plugin type `{type_name}`, which the generated code already imports from jingxi_sdk. Hint: choose another id."
            ),
        );
    }
    Ok(())
}

/// Creates the plugin `id` in `dir` (relative to `cwd`), or in the default folder: `plugins/<id>`
/// of the Jingxi workspace around `cwd`, else `<cwd>/<id>`. A standalone plugin depends on the
/// SDK at `sdk`, by default the one this binary was built from.
pub fn generate(id: &str, dir: Option<&Path>, sdk: Option<&Path>, cwd: &Path) -> Result<Scaffold> {
    check_id(id)?;
    let dir = match dir {
        Some(dir) => absolute(cwd, dir),
        None => match workspace_root(cwd) {
            Some(root) => root.join("plugins").join(id),
            None => cwd.join(id),
        },
    };
    let workspace = dir
        .parent()
        .filter(|parent| parent.file_name().is_some_and(|name| name == "plugins"))
        .and_then(Path::parent)
        .filter(|root| is_jingxi_workspace(root))
        .map(Path::to_path_buf);
    let (schemas, layout) = match workspace {
        Some(root) => (
            root.join("schemas").join(id),
            Layout::Workspace {
                root,
                members: Members::Manual,
            },
        ),
        None => {
            let sdk = find_sdk(&sdk.map_or_else(default_sdk, |sdk| absolute(cwd, sdk)))?;
            (dir.join("schemas").join(id), Layout::Standalone { sdk })
        }
    };
    for path in [&dir, &schemas] {
        if path.exists() {
            return Err(Error::Exists { path: path.clone() });
        }
    }

    let files = render_files(id, &dir, &schemas, &layout);
    let created_roots: Vec<&PathBuf> = match &layout {
        Layout::Workspace { .. } => vec![&dir, &schemas],
        Layout::Standalone { .. } => vec![&dir],
    };
    if let Err(error) = write_files(&files) {
        for root in created_roots {
            // Only folders this run found missing are removed, so nothing else is lost.
            let _ = fs::remove_dir_all(root);
        }
        return Err(error);
    }
    format_rust(&files);

    let mut scaffold = Scaffold {
        id: id.to_string(),
        dir,
        layout,
        files: files.into_iter().map(|(path, _)| path).collect(),
    };
    if let Layout::Workspace { root, members } = &mut scaffold.layout {
        *members = add_to_workspace(root, &format!("plugins/{id}"))?;
    }
    Ok(scaffold)
}

impl Scaffold {
    /// What to tell the user: where the plugin is, its files and the commands to try next.
    pub fn report(&self) -> Vec<String> {
        let id = &self.id;
        let mut lines = Vec::new();
        let (base, commands) = match &self.layout {
            Layout::Workspace { root, members } => {
                lines.push(format!(
                    "created plugin {id} in {} (a member of the workspace {})",
                    self.dir.display(),
                    root.display()
                ));
                match members {
                    Members::Added => lines.push(format!(
                        "added \"plugins/{id}\" to [workspace] members in Cargo.toml"
                    )),
                    Members::Covered => {}
                    Members::Manual => lines.push(format!(
                        "Hint: add \"plugins/{id}\" to [workspace] members in {}",
                        root.join("Cargo.toml").display()
                    )),
                }
                (
                    root.clone(),
                    vec![
                        format!("cd {}", root.display()),
                        format!("cargo test -p jingxi-plugin-{id}"),
                        "cargo xtask plugins".to_string(),
                        format!("jingxi plugin install target/plugins/{id}.wasm"),
                    ],
                )
            }
            Layout::Standalone { sdk } => {
                lines.push(format!(
                    "created plugin {id} in {} (standalone; jingxi-sdk from {})",
                    self.dir.display(),
                    sdk.display()
                ));
                (
                    self.dir.clone(),
                    vec![
                        format!("cd {}", self.dir.display()),
                        "cargo test".to_string(),
                        "cargo build --target wasm32-wasip2 --profile plugin".to_string(),
                        format!(
                            "jingxi plugin install target/wasm32-wasip2/plugin/jingxi_plugin_{id}.wasm"
                        ),
                    ],
                )
            }
        };
        for file in &self.files {
            lines.push(format!(
                "  {}",
                file.strip_prefix(&base).unwrap_or(file).display()
            ));
        }
        lines.push("next:".to_string());
        lines.extend(commands.into_iter().map(|command| format!("  {command}")));
        lines.push(format!("  jingxi tenant enable TENANT {id}"));
        lines
    }
}

/// Every file of the plugin with its final text.
fn render_files(id: &str, dir: &Path, schemas: &Path, layout: &Layout) -> Vec<(PathBuf, String)> {
    let schemas_relative = match layout {
        Layout::Workspace { .. } => format!("../../schemas/{id}"),
        Layout::Standalone { .. } => format!("schemas/{id}"),
    };
    let type_name = pascal_case(id);
    let title_en = title_case(id);
    let package = format!("jingxi-plugin-{id}");
    let crate_name = package.replace('-', "_");
    let mut values = vec![
        ("id", id.to_string()),
        ("type_name", type_name),
        ("title_en", title_en),
        ("package", package),
        ("crate_name", crate_name.clone()),
        ("prefix", prefix(id)),
        ("schemas", schemas_relative.clone()),
    ];
    let mut files = Vec::new();
    match layout {
        Layout::Workspace { root, .. } => {
            values.extend([
                ("extra_files", String::new()),
                ("where", "From the root of the workspace:".to_string()),
                ("test_command", format!("cargo test -p jingxi-plugin-{id}")),
                ("build_command", "cargo xtask plugins".to_string()),
                ("wasm_path", format!("target/plugins/{id}.wasm")),
            ]);
            files.push((dir.join("Cargo.toml"), render(CARGO_WORKSPACE, &values)));
            let manifest_schema = root.join("schemas/manifest.schema.json");
            if !manifest_schema.exists() {
                files.push((manifest_schema, MANIFEST_SCHEMA.to_string()));
            }
        }
        Layout::Standalone { sdk } => {
            values.extend([
                (
                    "extra_files",
                    "\n| `schemas/manifest.schema.json` | A copy of the kernel's manifest schema, which the tests check `plugin.json` against. |".to_string(),
                ),
                ("where", "From this folder:".to_string()),
                ("test_command", "cargo test".to_string()),
                (
                    "build_command",
                    "cargo build --target wasm32-wasip2 --profile plugin".to_string(),
                ),
                (
                    "wasm_path",
                    format!("target/wasm32-wasip2/plugin/{crate_name}.wasm"),
                ),
                ("sdk_path", toml_string(&sdk.display().to_string())),
                ("rust_version", env!("CARGO_PKG_RUST_VERSION").to_string()),
            ]);
            files.push((dir.join("Cargo.toml"), render(CARGO_STANDALONE, &values)));
            files.push((dir.join(".gitignore"), GITIGNORE.to_string()));
            files.push((dir.join(".cargo/config.toml"), CARGO_CONFIG.to_string()));
            files.push((
                dir.join("schemas/manifest.schema.json"),
                MANIFEST_SCHEMA.to_string(),
            ));
        }
    }
    for (place, path, text) in TEMPLATES {
        let base = match place {
            Place::Crate => dir,
            Place::Schemas => schemas,
        };
        files.push((base.join(path), render(text, &values)));
    }
    files
}

/// `template` with every `{{name}}` replaced by its value.
fn render(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), value)
        })
}

fn write_files(files: &[(PathBuf, String)]) -> Result<()> {
    for (path, text) in files {
        let io_error = |source| Error::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error)?;
        }
        fs::write(path, text).map_err(io_error)?;
    }
    Ok(())
}

/// Runs `rustfmt` over the Rust files, when it is installed, so that a long id does not leave
/// lines that `cargo fmt --check` would change. The templates are formatted for ids of usual
/// length, so a missing rustfmt costs nothing more.
fn format_rust(files: &[(PathBuf, String)]) {
    let rust_files = files
        .iter()
        .map(|(path, _)| path)
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"));
    let _ = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(rust_files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The SDK folder this binary was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

/// `path`, resolved, if it holds the `jingxi-sdk` crate.
fn find_sdk(path: &Path) -> Result<PathBuf> {
    let not_found = || Error::SdkNotFound {
        path: path.to_path_buf(),
    };
    let sdk = path.canonicalize().map_err(|_| not_found())?;
    let manifest = fs::read_to_string(sdk.join("Cargo.toml")).map_err(|_| not_found())?;
    let is_sdk = manifest
        .lines()
        .any(|line| line.replace(' ', "") == "name=\"jingxi-sdk\"");
    if is_sdk { Ok(sdk) } else { Err(not_found()) }
}

/// `path` made absolute against `cwd`, without `.` components.
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    cwd.join(path)
        .components()
        .filter(|component| *component != Component::CurDir)
        .collect()
}

/// The Jingxi workspace at or above `start`.
fn workspace_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| is_jingxi_workspace(dir))
        .map(Path::to_path_buf)
}

/// Whether `dir` holds a `Cargo.toml` whose `[workspace]` lists members under `plugins/`.
fn is_jingxi_workspace(dir: &Path) -> bool {
    let Ok(manifest) = fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
    members_array(&manifest).is_some_and(|array| {
        string_literals(&manifest, array)
            .iter()
            .any(|(member, _)| member.starts_with("plugins/"))
    })
}

/// Adds `member` to the `[workspace] members` of the `Cargo.toml` in `root`.
fn add_to_workspace(root: &Path, member: &str) -> Result<Members> {
    let path = root.join("Cargo.toml");
    let io_error = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let manifest = fs::read_to_string(&path).map_err(io_error)?;
    match with_member(&manifest, member) {
        Some(updated) if updated == manifest => Ok(Members::Covered),
        Some(updated) => {
            fs::write(&path, updated).map_err(io_error)?;
            Ok(Members::Added)
        }
        None => Ok(Members::Manual),
    }
}

/// `manifest` with `member` in its `[workspace] members`, after the last entry under the same
/// folder; the text is unchanged when an entry already covers `member`, and `None` when there is
/// no member list to edit.
fn with_member(manifest: &str, member: &str) -> Option<String> {
    let array = members_array(manifest)?;
    let entries = string_literals(manifest, array.clone());
    let covers = |entry: &str| {
        entry == member
            || entry.strip_suffix('*').is_some_and(|folder| {
                member
                    .strip_prefix(folder)
                    .is_some_and(|rest| !rest.contains('/'))
            })
    };
    if entries.iter().any(|(entry, _)| covers(entry)) {
        return Some(manifest.to_string());
    }
    let folder = member.rsplit_once('/').map_or("", |(folder, _)| folder);
    let (_, after) = entries
        .iter()
        .rev()
        .find(|(entry, _)| entry.starts_with(&format!("{folder}/")))
        .or(entries.last())?;
    let end = after.end;
    let quoted = format!("\"{member}\"");
    let mut updated = manifest.to_string();
    let rest = &manifest[end..array.end];
    match rest.find('\n') {
        // One entry per line: a new line below, indented alike, with a comma if the entry has one.
        Some(newline) => {
            let line_start = manifest[..end].rfind('\n').map_or(0, |newline| newline + 1);
            let indent: String = manifest[line_start..]
                .chars()
                .take_while(|ch| *ch == ' ' || *ch == '\t')
                .collect();
            let has_comma = rest.trim_start_matches([' ', '\t']).starts_with(',');
            let comma = if has_comma { "," } else { "" };
            updated.insert_str(end + newline + 1, &format!("{indent}{quoted}{comma}\n"));
            if !has_comma {
                updated.insert(end, ',');
            }
        }
        None => updated.insert_str(end, &format!(", {quoted}")),
    }
    Some(updated)
}

/// The byte range inside the brackets of `members = [...]` in the `[workspace]` table.
fn members_array(manifest: &str) -> Option<Range<usize>> {
    let mut offset = 0;
    let mut in_workspace = false;
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_workspace = trimmed == "[workspace]";
        } else if in_workspace
            && let Some(value) = trimmed.strip_prefix("members")
            && value.trim_start().starts_with('=')
        {
            let open = offset + line.find('[')?;
            let close = closing_bracket(manifest, open)?;
            return Some(open + 1..close);
        }
        offset += line.len();
    }
    None
}

/// The position of the `]` that closes the array opened at `open`, skipping strings and comments.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut in_comment = false;
    for (idx, ch) in text[open + 1..].char_indices() {
        match ch {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '"' => in_string = !in_string,
            '#' if !in_string => in_comment = true,
            ']' if !in_string => return Some(open + 1 + idx),
            _ => {}
        }
    }
    None
}

/// The basic strings in `range` of `text` with the byte range of each, quotes included.
fn string_literals(text: &str, range: Range<usize>) -> Vec<(String, Range<usize>)> {
    let mut literals = Vec::new();
    let mut start = None;
    let mut in_comment = false;
    for (idx, ch) in text[range.clone()].char_indices() {
        let idx = range.start + idx;
        match (ch, start) {
            ('\n', None) => in_comment = false,
            (_, None) if in_comment => {}
            ('#', None) => in_comment = true,
            ('"', None) => start = Some(idx),
            ('"', Some(open)) => {
                literals.push((text[open + 1..idx].to_string(), open..idx + 1));
                start = None;
            }
            _ => {}
        }
    }
    literals
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether `text` matches `^[a-z][a-z0-9]*(_[a-z0-9]+)*$` and is at most 40 long, as plugin ids
/// must (`schemas/manifest.schema.json`, `$defs/identifier`).
fn is_identifier(text: &str) -> bool {
    text.len() <= 40
        && text
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_lowercase())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        && !text.contains("__")
        && !text.ends_with('_')
}

/// `Key-Accounts` → `key_accounts`: the id someone probably meant, if there is one.
fn snake_case(text: &str) -> Option<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            word.push(ch.to_ascii_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    (!words.is_empty()).then(|| words.join("_"))
}

/// `key_accounts` → `KeyAccounts`, the name of the plugin type.
fn pascal_case(id: &str) -> String {
    id.split('_').map(capitalized).collect()
}

/// `key_accounts` → `Key Accounts`, the English title to start from.
fn title_case(id: &str) -> String {
    id.split('_').map(capitalized).collect::<Vec<_>>().join(" ")
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The document-number prefix of the entity, 2–5 capitals: the initials of a multi-word id
/// (`sample_notes` → `SN`), else its first three letters (`crm` → `CRM`).
fn prefix(id: &str) -> String {
    let words: Vec<&str> = id.split('_').collect();
    let letters: String = if words.len() > 1 {
        words
            .iter()
            .filter_map(|word| word.chars().next())
            .collect()
    } else {
        id.chars().take(3).collect()
    };
    let mut prefix: String = letters
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|letter| letter.to_ascii_uppercase())
        .take(5)
        .collect();
    while prefix.len() < 2 {
        prefix.push('X');
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_refused(id: &str, expect: &str) {
        let message = check_id(id).expect_err("refused").to_string();
        assert!(message.contains(expect), "{id}: {message}");
        assert!(
            message.contains(" / "),
            "{id}: Chinese and English: {message}"
        );
    }

    #[test]
    fn accepts_snake_case_ids() {
        for id in [
            "notes",
            "key_accounts",
            "crm2",
            "a_1b",
            &"x".repeat(MAX_ID_LEN),
        ] {
            assert!(check_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_ids_that_cannot_name_a_plugin() {
        for id in [
            "",
            "Notes",
            "key-accounts",
            "key__accounts",
            "notes_",
            "_notes",
            "2notes",
            "笔记",
            "notes.v2",
        ] {
            check_refused(id, "use snake_case");
        }
        check_refused(&"x".repeat(MAX_ID_LEN + 1), "too long");
        check_refused("Key-Accounts", "Hint: try `key_accounts`");
        check_refused("kernel", "reserved");
        check_refused("plugin", "`Plugin`");
        check_refused("field_error", "`FieldError`");
    }

    #[test]
    fn derives_names_from_the_id() {
        assert_eq!(pascal_case("sample_notes"), "SampleNotes");
        assert_eq!(title_case("key_accounts"), "Key Accounts");
        assert_eq!(prefix("sample_notes"), "SN");
        assert_eq!(prefix("crm"), "CRM");
        assert_eq!(prefix("a_1"), "AX");
        assert_eq!(prefix("a_b_c_d_e_f"), "ABCDE");
    }

    #[test]
    fn fills_every_placeholder_in_both_layouts() {
        let layouts = [
            Layout::Workspace {
                root: PathBuf::from("/repo"),
                members: Members::Manual,
            },
            Layout::Standalone {
                sdk: PathBuf::from("/opt/jingxi \"sdk\""),
            },
        ];
        for layout in layouts {
            let files = render_files(
                "sample_notes",
                Path::new("/x/sample_notes"),
                Path::new("/x/schemas/sample_notes"),
                &layout,
            );
            for (path, text) in &files {
                assert!(
                    !text.contains("{{"),
                    "{} keeps a placeholder",
                    path.display()
                );
                if path.extension().is_some_and(|extension| extension == "rs") {
                    assert!(text.starts_with("//!"), "{}", path.display());
                }
                if path
                    .extension()
                    .is_some_and(|extension| extension == "json")
                {
                    serde_json::from_str::<serde_json::Value>(text)
                        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                }
            }
            let cargo = &files[0].1;
            match layout {
                Layout::Workspace { .. } => {
                    assert!(cargo.contains("jingxi-sdk.workspace = true"), "{cargo}");
                }
                Layout::Standalone { .. } => {
                    assert!(
                        cargo.contains(r#"jingxi-sdk = { path = "/opt/jingxi \"sdk\"" }"#),
                        "{cargo}"
                    );
                    assert!(cargo.contains("[workspace]") && cargo.contains("[profile.plugin]"));
                }
            }
        }
    }

    /// A folder under the system's temporary folder, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("jingxi-scaffold-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create scratch folder");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn writes_a_standalone_plugin_and_never_overwrites() {
        let scratch = Scratch::new("standalone");
        let scaffold = generate("sample_notes", None, None, &scratch.0).expect("plugin created");
        let dir = scratch.0.join("sample_notes");
        assert_eq!(scaffold.dir, dir);
        assert!(matches!(scaffold.layout, Layout::Standalone { .. }));
        for file in [
            "Cargo.toml",
            ".cargo/config.toml",
            "schemas/manifest.schema.json",
            "schemas/sample_notes/task.schema.json",
            "schemas/sample_notes/examples/invalid/task-missing-title.err",
            "src/lib.rs",
        ] {
            assert!(dir.join(file).is_file(), "{file} missing");
        }
        let lib = fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("include_str!(\"../schemas/sample_notes/task.schema.json\")"));
        let report = scaffold.report().join("\n");
        assert!(report.contains("cargo build --target wasm32-wasip2 --profile plugin"));

        let again = generate("sample_notes", None, None, &scratch.0).expect_err("exists");
        assert!(matches!(again, Error::Exists { .. }), "{again}");
        let missing_sdk = generate(
            "other_notes",
            None,
            Some(Path::new("no-such-sdk")),
            &scratch.0,
        )
        .expect_err("no SDK");
        assert!(
            matches!(missing_sdk, Error::SdkNotFound { .. }),
            "{missing_sdk}"
        );
        assert!(!scratch.0.join("other_notes").exists());
    }

    #[test]
    fn adds_a_workspace_plugin_to_the_members() {
        let scratch = Scratch::new("workspace");
        let root = &scratch.0;
        let manifest = "[workspace]\nresolver = \"3\"\nmembers = [\n    \"kernel\",\n    \"plugins/org\", # chapter 1\n    \"tests\",\n]\n\n[workspace.dependencies]\njingxi-sdk = { path = \"sdk\" }\n";
        fs::write(root.join("Cargo.toml"), manifest).expect("write Cargo.toml");
        fs::create_dir_all(root.join("plugins/org")).expect("plugins/");
        fs::create_dir_all(root.join("schemas/taken")).expect("schemas/taken");
        let cwd = root.join("plugins/org");

        let scaffold = generate("key_accounts", None, None, &cwd).expect("plugin created");
        assert_eq!(scaffold.dir, root.join("plugins/key_accounts"));
        assert_eq!(
            scaffold.layout,
            Layout::Workspace {
                root: root.clone(),
                members: Members::Added
            }
        );
        assert!(root.join("schemas/key_accounts/task.schema.json").is_file());
        assert!(root.join("schemas/manifest.schema.json").is_file());
        let cargo = fs::read_to_string(root.join("plugins/key_accounts/Cargo.toml")).expect("read");
        assert!(cargo.contains("jingxi-sdk.workspace = true"));
        let lib = fs::read_to_string(root.join("plugins/key_accounts/src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("include_str!(\"../../../schemas/key_accounts/task.schema.json\")"));
        assert_eq!(
            fs::read_to_string(root.join("Cargo.toml")).expect("read"),
            manifest.replace(
                "\"plugins/org\", # chapter 1\n",
                "\"plugins/org\", # chapter 1\n    \"plugins/key_accounts\",\n"
            )
        );

        let taken = generate("taken", None, None, &cwd).expect_err("schemas/taken exists");
        assert!(matches!(taken, Error::Exists { .. }), "{taken}");
        assert!(!root.join("plugins/taken").exists());
    }

    #[test]
    fn edits_member_lists_of_every_shape() {
        let one_line = "[workspace]\nmembers = [\"kernel\", \"plugins/org\", \"xtask\"]\n";
        assert_eq!(
            with_member(one_line, "plugins/crm").as_deref(),
            Some(
                "[workspace]\nmembers = [\"kernel\", \"plugins/org\", \"plugins/crm\", \"xtask\"]\n"
            )
        );
        let last = "[workspace]\nmembers = [\n  \"plugins/org\"\n]\n";
        assert_eq!(
            with_member(last, "plugins/crm").as_deref(),
            Some("[workspace]\nmembers = [\n  \"plugins/org\",\n  \"plugins/crm\"\n]\n")
        );
        let glob = "[workspace]\nmembers = [\"plugins/*\"]\n";
        assert_eq!(with_member(glob, "plugins/crm").as_deref(), Some(glob));
        let package = "[package]\nname = \"x\"\nmembers = [\"plugins/org\"]\n";
        assert_eq!(with_member(package, "plugins/crm"), None);
    }
}
