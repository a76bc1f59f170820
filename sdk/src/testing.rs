//! Support for a plugin's native tests: the schema-dialect checker, the example-file runner and a
//! helper for rule tests. Plain Rust on `std`, meant for `cargo test` of a plugin crate.
//!
//! A plugin keeps its entity schemas in `schemas/<plugin>/<entity>.schema.json` and example
//! documents in `schemas/<plugin>/examples/{valid,invalid}/<entity>-<name>.json`; an invalid example
//! has a sibling `.err` file whose first line is the error the kernel reports for it. One call
//! checks all of that, so a plugin's `tests/schemas.rs` holds only the plugin's own assertions:
//!
//! ```no_run
//! # use jingxi_sdk::{Manifest, Plugin};
//! # struct Org;
//! # impl Plugin for Org {
//! #     fn manifest() -> Manifest {
//! #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
//! #     }
//! # }
//! use jingxi_sdk::testing::PluginSchemas;
//!
//! // In `plugins/org/tests/schemas.rs`, inside a `#[test]` function:
//! PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR")).check();
//! ```

mod dialect;
mod manifest;

use std::{
    collections::BTreeSet,
    fs, io,
    path::{Path, PathBuf},
};

use serde_json::Value;

pub use dialect::{DECIMAL_PATTERN, Entity, MONEY_PATTERN, Shape, Table, is_identifier};
pub use manifest::manifest_problems;

use crate::{Context, FieldError, Plugin, Record};

/// Entities of the kernel that any plugin's references may name.
const KERNEL_ENTITIES: &[&str] = &["kernel.user", "kernel.org_unit"];

/// How many valid examples each entity needs at least.
const MIN_VALID_EXAMPLES: usize = 2;

/// The manifest of one plugin with its entity schemas read against the dialect, and the way to
/// its schema folder and example documents.
#[derive(Debug, Clone)]
pub struct PluginSchemas {
    root: PathBuf,
    plugin: String,
    manifest: Value,
    manifest_schema: Value,
    entities: Vec<Entity>,
    validate: fn(&Context, &str, &Record) -> Vec<FieldError>,
}

impl PluginSchemas {
    /// Assembles the manifest of `P` and reads its entity schemas. `manifest_dir` is the plugin
    /// crate's folder (`env!("CARGO_MANIFEST_DIR")`); the workspace is the nearest folder above it
    /// that holds `schemas/manifest.schema.json`. A reference may name the kernel's entities, the
    /// plugin's own and those of the plugins it `requires`.
    ///
    /// # Panics
    /// If no such workspace is found, the manifest has no `id`, or a schema file cannot be read.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Crm;
    /// # impl Plugin for Crm {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "crm", "title": "客户"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Crm>(env!("CARGO_MANIFEST_DIR"));
    /// assert_eq!(schemas.manifest()["id"], "crm");
    /// ```
    pub fn load<P: Plugin>(manifest_dir: impl AsRef<Path>) -> Self {
        let manifest_dir = manifest_dir.as_ref();
        let root = manifest_dir
            .ancestors()
            .find(|dir| dir.join("schemas/manifest.schema.json").is_file())
            .unwrap_or_else(|| {
                panic!(
                    "no schemas/manifest.schema.json in {} or above",
                    manifest_dir.display()
                )
            })
            .to_path_buf();
        let manifest = P::manifest().to_value();
        let manifest_schema = read_json(&root.join("schemas/manifest.schema.json"));
        let plugin = manifest["id"]
            .as_str()
            .expect("the manifest has an id")
            .to_string();
        let mut schemas = PluginSchemas {
            root,
            plugin,
            manifest,
            manifest_schema,
            entities: Vec::new(),
            validate: P::validate,
        };
        let mut known_refs: BTreeSet<String> = KERNEL_ENTITIES
            .iter()
            .map(|name| name.to_string())
            .collect();
        let required = schemas.manifest["requires"]
            .as_array()
            .into_iter()
            .flatten();
        for plugin in required
            .filter_map(Value::as_str)
            .chain([schemas.plugin.as_str()])
        {
            known_refs.extend(
                schemas
                    .schema_files(plugin)
                    .into_iter()
                    .map(|name| format!("{plugin}.{name}")),
            );
        }
        schemas.entities = schemas.manifest["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entity| {
                Entity::read(
                    entity["name"].as_str().unwrap_or_default(),
                    &entity["schema"],
                    &schemas.manifest_schema,
                    &known_refs,
                )
            })
            .collect();
        schemas
    }

    /// The assembled manifest, as the plugin's `describe` hook returns it.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Org;
    /// # impl Plugin for Org {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR"));
    /// assert_eq!(schemas.manifest()["contract"], jingxi_sdk::CONTRACT_VERSION);
    /// ```
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// The entities the manifest declares, in its order.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Org;
    /// # impl Plugin for Org {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR"));
    /// let n_problems: usize = schemas.entities().iter().map(|entity| entity.problems.len()).sum();
    /// assert_eq!(n_problems, 0);
    /// ```
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The names of the entities the manifest declares, in its order.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Crm;
    /// # impl Plugin for Crm {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "crm", "title": "客户"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Crm>(env!("CARGO_MANIFEST_DIR"));
    /// assert_eq!(schemas.entity_names(), ["customer", "visit_record", "complaint"]);
    /// ```
    pub fn entity_names(&self) -> Vec<&str> {
        self.entities
            .iter()
            .map(|entity| entity.name.as_str())
            .collect()
    }

    /// The declared entity `name`, if there is one.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Org;
    /// # impl Plugin for Org {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
    /// #     }
    /// # }
    /// use jingxi_sdk::testing::{PluginSchemas, Shape};
    ///
    /// let schemas = PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR"));
    /// let position = schemas.entity("position").expect("position is declared");
    /// assert!(matches!(position.table.property("role"), Some(Shape::Enum(_))));
    /// ```
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|entity| entity.name == name)
    }

    /// The example documents of `kind` (`"valid"` or `"invalid"`), sorted by file name; a missing
    /// folder holds none.
    ///
    /// # Panics
    /// If the folder or an example cannot be read, or an example is not JSON.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Crm;
    /// # impl Plugin for Crm {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "crm", "title": "客户"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Crm>(env!("CARGO_MANIFEST_DIR"));
    /// for example in schemas.examples("valid") {
    ///     assert!(schemas.entity(&example.entity).is_some());
    /// }
    /// ```
    pub fn examples(&self, kind: &str) -> Vec<Example> {
        let dir = self
            .root
            .join("schemas")
            .join(&self.plugin)
            .join("examples")
            .join(kind);
        let mut paths: Vec<PathBuf> = list_dir(&dir)
            .into_iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let stem = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .unwrap_or_default();
                let entity = stem.split('-').next().unwrap_or_default().to_string();
                let expected_error = fs::read_to_string(path.with_extension("err"))
                    .ok()
                    .map(|text| text.lines().next().unwrap_or_default().trim().to_string());
                Example {
                    document: read_json(&path),
                    path,
                    entity,
                    expected_error,
                }
            })
            .collect()
    }

    /// Everything wrong with the plugin's files, one sentence each:
    /// - the manifest breaks `schemas/manifest.schema.json` or its own cross-references;
    /// - a schema file is not declared, or a declared entity has no schema file;
    /// - an entity schema steps outside the dialect;
    /// - an entity has fewer than two valid examples, or a valid example fails the schema or the
    ///   plugin's `validate` hook;
    /// - there is no invalid example, or one lacks its `.err` file or is not rejected with the
    ///   error that file names.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Org;
    /// # impl Plugin for Org {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
    /// #     }
    /// # }
    /// let schemas = jingxi_sdk::testing::PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR"));
    /// for problem in schemas.problems() {
    ///     eprintln!("{problem}");
    /// }
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let mut problems = manifest_problems(&self.manifest, &self.manifest_schema);
        let declared: BTreeSet<String> = self
            .entities
            .iter()
            .map(|entity| entity.name.clone())
            .collect();
        let files = self.schema_files(&self.plugin);
        let plugin = &self.plugin;
        for name in files.difference(&declared) {
            problems.push(format!(
                "schemas/{plugin}/{name}.schema.json is not declared in the manifest"
            ));
        }
        for name in declared.difference(&files) {
            problems.push(format!(
                "entity {name} has no file schemas/{plugin}/{name}.schema.json"
            ));
        }
        for entity in &self.entities {
            problems.extend(entity.problems.iter().cloned());
        }
        self.valid_example_problems(&mut problems);
        self.invalid_example_problems(&mut problems);
        problems
    }

    /// Asserts that [`PluginSchemas::problems`] finds nothing, and lists every problem otherwise.
    ///
    /// ```no_run
    /// # use jingxi_sdk::{Manifest, Plugin};
    /// # struct Org;
    /// # impl Plugin for Org {
    /// #     fn manifest() -> Manifest {
    /// #         Manifest::new(r#"{"id": "org", "title": "组织"}"#)
    /// #     }
    /// # }
    /// jingxi_sdk::testing::PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR")).check();
    /// ```
    #[track_caller]
    pub fn check(&self) {
        let problems = self.problems();
        assert!(
            problems.is_empty(),
            "plugin {} has {} problem(s): {problems:#?}",
            self.plugin,
            problems.len()
        );
    }

    fn valid_example_problems(&self, problems: &mut Vec<String>) {
        let examples = self.examples("valid");
        for entity in &self.entities {
            let n_examples = examples
                .iter()
                .filter(|example| example.entity == entity.name)
                .count();
            if n_examples < MIN_VALID_EXAMPLES {
                problems.push(format!(
                    "{} has {n_examples} valid examples; it needs {MIN_VALID_EXAMPLES}",
                    entity.name
                ));
            }
        }
        let ctx = Context::for_test();
        for example in examples {
            let Some(entity) = self.example_entity(&example, problems) else {
                continue;
            };
            let errors = entity.validate(&example.document);
            if !errors.is_empty() {
                problems.push(format!("{}: {errors:?}", self.display(&example.path)));
            }
            let hook_errors = (self.validate)(&ctx, &entity.name, &crate::record(example.document));
            if !hook_errors.is_empty() {
                problems.push(format!(
                    "{}: validate reports {hook_errors:?}",
                    self.display(&example.path)
                ));
            }
        }
    }

    fn invalid_example_problems(&self, problems: &mut Vec<String>) {
        let examples = self.examples("invalid");
        if examples.is_empty() {
            problems.push(format!(
                "schemas/{}/examples/invalid holds no example",
                self.plugin
            ));
        }
        for example in examples {
            let Some(entity) = self.example_entity(&example, problems) else {
                continue;
            };
            let path = self.display(&example.path);
            let Some(expected) = &example.expected_error else {
                problems.push(format!("{path} has no .err file"));
                continue;
            };
            let errors = entity.validate(&example.document);
            if !errors.contains(expected) {
                problems.push(format!("{path}: expected {expected:?}, got {errors:?}"));
            }
        }
    }

    /// The entity an example is named after, or a problem if the plugin declares none such.
    fn example_entity(&self, example: &Example, problems: &mut Vec<String>) -> Option<&Entity> {
        let entity = self.entity(&example.entity);
        if entity.is_none() {
            problems.push(format!(
                "{} names no entity of the plugin",
                self.display(&example.path)
            ));
        }
        entity
    }

    /// The entity names of `plugin` as its schema files name them.
    fn schema_files(&self, plugin: &str) -> BTreeSet<String> {
        list_dir(&self.root.join("schemas").join(plugin))
            .iter()
            .filter_map(|path| {
                path.file_name()?
                    .to_str()?
                    .strip_suffix(".schema.json")
                    .map(String::from)
            })
            .collect()
    }

    /// `path` relative to the workspace, for messages.
    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// One example document: `schemas/<plugin>/examples/<kind>/<entity>-<name>.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The file.
    pub path: PathBuf,
    /// The entity, from the file name up to the first `-`.
    pub entity: String,
    /// The document.
    pub document: Value,
    /// The first line of the sibling `.err` file, if there is one.
    pub expected_error: Option<String>,
}

/// `base` with `patch` applied key by key, where a `null` removes the key: the usual way to state
/// a rule test as a change to a valid record.
///
/// ```
/// use jingxi_sdk::json;
///
/// let record = jingxi_sdk::testing::patched(
///     json!({"name": "杭州", "parent": "0190a4c2-1d7e-7b3a-9c41-000000000001"}),
///     json!({"name": "宁波", "parent": null}),
/// );
/// assert_eq!(record, jingxi_sdk::record(json!({"name": "宁波"})));
/// ```
pub fn patched(base: Value, patch: Value) -> Record {
    let mut record = crate::record(base);
    for (key, value) in crate::record(patch) {
        if value.is_null() {
            record.remove(&key);
        } else {
            record.insert(key, value);
        }
    }
    record
}

/// Runs `P::validate` on `base` changed by `patch` (see [`patched`]), as the caller of
/// [`Context::for_test`], and asserts that it reports exactly the `(pointer, code)` pairs of
/// `expect`, in order.
///
/// ```
/// use jingxi_sdk::{Context, FieldError, FieldErrors, Manifest, Plugin, Record, json};
///
/// struct Hello;
///
/// impl Plugin for Hello {
///     fn manifest() -> Manifest {
///         Manifest::new(r#"{"id": "hello", "title": "你好"}"#)
///     }
///
///     fn validate(ctx: &Context, _entity: &str, record: &Record) -> Vec<FieldError> {
///         let mut errors = FieldErrors::new(ctx);
///         errors.not_blank(record, &["text"]);
///         errors.into_vec()
///     }
/// }
///
/// let greeting = json!({"text": "你好"});
/// jingxi_sdk::testing::check_validate::<Hello>("greeting", greeting.clone(), json!({}), &[]);
/// jingxi_sdk::testing::check_validate::<Hello>(
///     "greeting",
///     greeting,
///     json!({"text": " "}),
///     &[("/text", "blank")],
/// );
/// ```
#[track_caller]
pub fn check_validate<P: Plugin>(entity: &str, base: Value, patch: Value, expect: &[(&str, &str)]) {
    let errors = P::validate(&Context::for_test(), entity, &patched(base, patch));
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|error| (error.pointer.as_str(), error.code.as_str()))
        .collect();
    assert_eq!(got, expect);
}

/// The files in `dir`; a missing folder holds none.
fn list_dir(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| match entry {
                Ok(entry) => entry.path(),
                Err(error) => panic!("cannot list {}: {error}", dir.display()),
            })
            .collect(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => panic!("cannot list {}: {error}", dir.display()),
    }
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// The workspace's `schemas/manifest.schema.json`, for the SDK's own tests.
#[cfg(test)]
fn workspace_manifest_schema() -> Value {
    read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/manifest.schema.json"))
}

#[cfg(test)]
mod tests {
    use std::{fs, path::PathBuf};

    use serde_json::json;

    use super::{PluginSchemas, workspace_manifest_schema};
    use crate::{Context, FieldError, FieldErrors, Manifest, Plugin, Record};

    const GREETING: &str = r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "问候",
        "additionalProperties": false, "required": ["text"],
        "properties": {
            "text": {"type": "string", "title": "内容", "maxLength": 200, "x-jingxi": {"i18n": {"en": {"title": "Text"}}}},
            "author": {"type": "string", "title": "作者", "format": "uuid", "x-jingxi": {"i18n": {"en": {"title": "Author"}}, "ref": "kernel.user"}}
        },
        "x-jingxi": {"i18n": {"en": {"title": "Greeting"}}, "prefix": "GR"}
    }"#;

    struct Hello;

    impl Plugin for Hello {
        fn manifest() -> Manifest {
            Manifest::new(
                r#"{"id": "hello", "title": "你好", "version": "0.1.0", "hooks": ["validate"]}"#,
            )
            .entity("greeting", GREETING)
        }

        fn validate(ctx: &Context, _entity: &str, record: &Record) -> Vec<FieldError> {
            let mut errors = FieldErrors::new(ctx);
            errors.not_blank(record, &["text"]);
            errors.into_vec()
        }
    }

    /// A workspace in a temporary folder with the plugin `hello`; removed when dropped.
    struct Workspace(PathBuf);

    impl Workspace {
        fn new(name: &str) -> Workspace {
            let root = std::env::temp_dir()
                .join(format!("jingxi-sdk-testing-{}-{name}", std::process::id()));
            let workspace = Workspace(root);
            workspace.write(
                "schemas/manifest.schema.json",
                &workspace_manifest_schema().to_string(),
            );
            workspace.write("schemas/hello/greeting.schema.json", GREETING);
            workspace.write("plugins/hello/Cargo.toml", "");
            workspace.write(
                "schemas/hello/examples/valid/greeting-a.json",
                r#"{"text": "早上好"}"#,
            );
            workspace.write(
                "schemas/hello/examples/valid/greeting-b.json",
                r#"{"text": "晚上好"}"#,
            );
            workspace.write("schemas/hello/examples/invalid/greeting-no-text.json", "{}");
            workspace.write(
                "schemas/hello/examples/invalid/greeting-no-text.err",
                "/text: required property missing\n",
            );
            workspace
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            fs::create_dir_all(path.parent().expect("a file has a folder")).expect("create folder");
            fs::write(path, text).expect("write file");
        }

        fn problems(&self) -> Vec<String> {
            PluginSchemas::load::<Hello>(self.0.join("plugins/hello")).problems()
        }
    }

    impl Drop for Workspace {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn accepts_a_plugin_whose_files_agree() {
        let workspace = Workspace::new("agree");
        assert_eq!(workspace.problems(), Vec::<String>::new());
        let schemas = PluginSchemas::load::<Hello>(workspace.0.join("plugins/hello"));
        assert_eq!(schemas.entity_names(), ["greeting"]);
        assert_eq!(schemas.examples("valid").len(), 2);
        assert_eq!(
            schemas.examples("invalid")[0].expected_error.as_deref(),
            Some("/text: required property missing")
        );
    }

    #[test]
    fn reports_examples_that_disagree() {
        let workspace = Workspace::new("disagree");
        workspace.write(
            "schemas/hello/examples/valid/greeting-b.json",
            r#"{"text": " "}"#,
        );
        workspace.write(
            "schemas/hello/examples/invalid/greeting-no-text.err",
            "/text: wrong type",
        );
        workspace.write("schemas/hello/examples/invalid/greeting-long.json", "{}");
        workspace.write("schemas/hello/examples/valid/farewell-a.json", "{}");
        workspace.write("schemas/hello/farewell.schema.json", GREETING);
        let valid = "schemas/hello/examples/valid";
        let invalid = "schemas/hello/examples/invalid";
        assert_eq!(
            workspace.problems(),
            [
                "schemas/hello/farewell.schema.json is not declared in the manifest".to_string(),
                format!("{valid}/farewell-a.json names no entity of the plugin"),
                format!(
                    r#"{valid}/greeting-b.json: validate reports [FieldError {{ pointer: "/text", code: "blank", message: "此项不能只包含空白字符。" }}]"#
                ),
                format!("{invalid}/greeting-long.json has no .err file"),
                format!(
                    r#"{invalid}/greeting-no-text.json: expected "/text: wrong type", got ["/text: required property missing"]"#
                ),
            ]
        );
    }

    #[test]
    fn needs_two_valid_and_one_invalid_example() {
        let workspace = Workspace::new("few");
        fs::remove_dir_all(workspace.0.join("schemas/hello/examples/invalid")).expect("remove");
        fs::remove_file(
            workspace
                .0
                .join("schemas/hello/examples/valid/greeting-b.json"),
        )
        .expect("remove");
        assert_eq!(
            workspace.problems(),
            [
                "greeting has 1 valid examples; it needs 2",
                "schemas/hello/examples/invalid holds no example",
            ]
        );
    }

    #[test]
    fn patches_a_record_key_by_key() {
        let record = super::patched(json!({"a": 1, "b": 2}), json!({"b": null, "c": 3}));
        assert_eq!(record, crate::record(json!({"a": 1, "c": 3})));
    }
}
