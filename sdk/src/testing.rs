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
    ///   error that file names;
    /// - a workflow is inconsistent (see [`PluginSchemas::workflow_problems`]).
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
        problems.extend(self.workflow_problems());
        self.valid_example_problems(&mut problems);
        self.invalid_example_problems(&mut problems);
        problems
    }

    /// Problems of the manifest's `workflows` that `schemas/manifest.schema.json` cannot state,
    /// one sentence each, prefixed by `workflow of <entity>`:
    /// - the workflow names an entity the plugin does not declare, or a second one for it;
    /// - a workflow, state or transition holds a key the manifest schema does not list, or lacks
    ///   its Chinese or English title;
    /// - a state or transition id is not an identifier or is repeated;
    /// - the initial state, a `from`, a `to` or a route's `to` names an undeclared state, or a
    ///   transition leaves a final state;
    /// - a role is not declared in the manifest's `roles`, or has no `read` grant on the entity, so
    ///   it could not reach the record;
    /// - `assignee` is not a property referring to `kernel.user`; a name in `fields` is not a
    ///   property or is computed; a name in `required` is not a property;
    /// - a route's field is not a money, decimal or integer property, or the route does not hold
    ///   exactly one of `gt`, `gte`, `lt`, `lte` with a number or a decimal string;
    /// - a state that is not final has no outgoing transition, or a state cannot be reached from
    ///   the initial one.
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
    /// assert_eq!(schemas.workflow_problems(), Vec::<String>::new());
    /// ```
    pub fn workflow_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut governed = BTreeSet::new();
        for workflow in self.manifest["workflows"].as_array().into_iter().flatten() {
            let name = workflow["entity"].as_str().unwrap_or_default();
            let mut problem = |text: String| problems.push(format!("workflow of {name}: {text}"));
            if !governed.insert(name) {
                problem("the entity has a second workflow".into());
            }
            match self.entity(name) {
                Some(entity) => self.check_workflow(entity, workflow, &mut problem),
                None => problem("names no entity of the plugin".into()),
            }
        }
        problems
    }

    /// The checks of [`PluginSchemas::workflow_problems`] for one workflow of `entity`.
    fn check_workflow(&self, entity: &Entity, workflow: &Value, problem: &mut impl FnMut(String)) {
        let defs = &self.manifest_schema["$defs"];
        self.check_keys(workflow, &defs["workflow"], "the workflow", problem);
        let mut states: Vec<(&str, bool)> = Vec::new();
        for state in workflow["states"].as_array().into_iter().flatten() {
            let id = state["id"].as_str().unwrap_or_default();
            let what = format!("state {id}");
            self.check_keys(
                state,
                &defs["workflow"]["properties"]["states"]["items"],
                &what,
                problem,
            );
            check_titles(state, &what, problem);
            if !is_identifier(id) || states.iter().any(|(seen, _)| *seen == id) {
                problem(format!("bad or repeated state id {id:?}"));
            }
            states.push((id, state["final"] == true));
        }
        let is_state = |id: &str| states.iter().any(|(state, _)| *state == id);
        let is_final = |id: &str| states.iter().any(|(state, last)| *state == id && *last);
        let initial = workflow["initial"].as_str().unwrap_or_default();
        if !is_state(initial) {
            problem(format!("the initial state {initial} is not declared"));
        }

        let roles: BTreeSet<&str> = self.manifest["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|role| role["id"].as_str())
            .collect();
        let schema = self.entity_schema(&entity.name);
        let mut transition_ids: Vec<&str> = Vec::new();
        let mut edges: Vec<(&str, &str)> = Vec::new();
        for transition in workflow["transitions"].as_array().into_iter().flatten() {
            let id = transition["id"].as_str().unwrap_or_default();
            let what = format!("transition {id}");
            self.check_keys(transition, &defs["transition"], &what, problem);
            check_titles(transition, &what, problem);
            if !is_identifier(id) || transition_ids.contains(&id) {
                problem(format!("bad or repeated transition id {id:?}"));
            }
            transition_ids.push(id);

            let from = strings(&transition["from"]);
            if from.is_empty() {
                problem(format!("{what} leaves no state"));
            }
            let route_targets: Vec<&str> = transition["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|route| route["to"].as_str().unwrap_or_default())
                .collect();
            let targets: Vec<&str> = [transition["to"].as_str().unwrap_or_default()]
                .into_iter()
                .chain(route_targets)
                .collect();
            for state in from.iter().chain(&targets) {
                if !is_state(state) {
                    problem(format!("{what} names the undeclared state {state}"));
                }
            }
            for state in from.iter().filter(|state| is_final(state)) {
                problem(format!("{what} leaves the final state {state}"));
            }
            edges.extend(
                from.iter()
                    .flat_map(|from| targets.iter().map(move |to| (*from, *to))),
            );

            for role in strings(&transition["roles"]) {
                if !roles.contains(role) {
                    problem(format!("{what} names the undeclared role {role}"));
                } else if !self.may_read(role, &entity.name) {
                    problem(format!(
                        "{what} names the role {role}, which has no read grant on {}",
                        entity.name
                    ));
                }
            }
            if let Some(assignee) = transition.get("assignee") {
                let name = assignee.as_str().unwrap_or_default();
                if !matches!(entity.table.property(name), Some(Shape::Ref(target)) if target == "kernel.user")
                {
                    problem(format!(
                        "{what}: assignee {name} is not a property referring to kernel.user"
                    ));
                }
            }
            for name in strings(&transition["fields"]) {
                if entity.table.property(name).is_none() {
                    problem(format!("{what}: field {name} is not a property"));
                } else if schema["properties"][name]["x-jingxi"]["computed"] == true {
                    problem(format!("{what}: field {name} is computed"));
                }
            }
            for name in strings(&transition["required"]) {
                if entity.table.property(name).is_none() {
                    problem(format!("{what}: required field {name} is not a property"));
                }
            }
            for route in transition["routes"].as_array().into_iter().flatten() {
                check_route(entity, route, &what, problem);
            }
        }

        for (state, _) in states.iter().filter(|(_, last)| !last) {
            if !edges.iter().any(|(from, _)| from == state) {
                problem(format!(
                    "the state {state} is not final but no transition leaves it"
                ));
            }
        }
        if !is_state(initial) {
            return;
        }
        let mut reached: BTreeSet<&str> = BTreeSet::from([initial]);
        let mut frontier = vec![initial];
        while let Some(state) = frontier.pop() {
            for (_, to) in edges.iter().filter(|(from, _)| *from == state) {
                if reached.insert(to) {
                    frontier.push(to);
                }
            }
        }
        for (state, _) in &states {
            if !reached.contains(state) {
                problem(format!(
                    "the state {state} cannot be reached from {initial}"
                ));
            }
        }
    }

    /// Reports the keys of `value` that the manifest schema's `def` does not list, and those it
    /// requires that `value` lacks.
    fn check_keys(&self, value: &Value, def: &Value, what: &str, problem: &mut impl FnMut(String)) {
        let allowed = dialect::keys(&def["properties"]);
        for key in dialect::keys(value).difference(&allowed) {
            problem(format!("{what} has the unknown key {key}"));
        }
        for key in strings(&def["required"]) {
            if value.get(key).is_none() {
                problem(format!("{what} lacks {key}"));
            }
        }
    }

    /// The schema of the declared entity `name`, as the manifest holds it.
    fn entity_schema(&self, name: &str) -> &Value {
        self.manifest["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entity| entity["name"] == name)
            .map_or(&Value::Null, |entity| &entity["schema"])
    }

    /// Whether one of the manifest's grants gives `role` the `read` action on the plugin's
    /// entity `name` (written `name` or `<plugin>.name`).
    fn may_read(&self, role: &str, name: &str) -> bool {
        let qualified = format!("{}.{name}", self.plugin);
        self.manifest["grants"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|grant| {
                grant["role"] == role
                    && (grant["entity"] == name || grant["entity"] == qualified.as_str())
                    && strings(&grant["actions"]).contains(&"read")
            })
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

/// Whether `text` matches `^-?[0-9]+(\.[0-9]+)?$`, a threshold written as a decimal string.
fn is_decimal_text(text: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('.') {
        Some((integer, fraction)) => digits(integer) && digits(fraction),
        None => digits(unsigned),
    }
}

/// The strings of a JSON array; anything else holds none.
fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Reports a state or a transition (`what`) without a Chinese or an English title.
fn check_titles(value: &Value, what: &str, problem: &mut impl FnMut(String)) {
    if value["title"]
        .as_str()
        .is_none_or(|title| title.trim().is_empty())
        || dialect::en_title(value).is_none()
    {
        problem(format!("{what} lacks a Chinese or an English title"));
    }
}

/// Reports a route of the transition `what` whose field is not numeric or whose condition is not
/// exactly one comparison with a number or a decimal string.
fn check_route(entity: &Entity, route: &Value, what: &str, problem: &mut impl FnMut(String)) {
    let field = route["field"].as_str().unwrap_or_default();
    if !matches!(
        entity.table.property(field),
        Some(Shape::Decimal { .. } | Shape::Integer { .. })
    ) {
        problem(format!(
            "{what}: route field {field} is not a money, decimal or integer property"
        ));
    }
    let thresholds: Vec<&Value> = ["gt", "gte", "lt", "lte"]
        .iter()
        .filter_map(|key| route.get(*key))
        .collect();
    let is_threshold = |value: &Value| match value {
        Value::Number(_) => true,
        Value::String(text) => is_decimal_text(text),
        _ => false,
    };
    if thresholds.len() != 1 || !thresholds.iter().all(|value| is_threshold(value)) {
        problem(format!(
            "{what}: a route needs exactly one of gt, gte, lt, lte, with a number or a decimal string"
        ));
    }
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

    use serde_json::Value;

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
    fn checks_declared_kpis() {
        let manifest = |hooks: Value, kpis: Value| {
            json!({"contract": "0.1.0", "id": "hello", "title": "你好", "version": "0.1.0",
                "hooks": hooks, "entities": [], "kpis": kpis})
        };
        let good = json!([{"id": "greeting_rate", "title": "问候率", "unit": "percent",
            "description": "问候数 / 来访数", "better": "higher",
            "i18n": {"en": {"title": "Greeting rate", "description": "Greetings / visits"}}}]);
        let schema = workspace_manifest_schema();
        assert_eq!(
            super::manifest_problems(&manifest(json!(["kpi"]), good.clone()), &schema),
            Vec::<String>::new()
        );
        assert_eq!(
            super::manifest_problems(&manifest(json!([]), good.clone()), &schema),
            ["the manifest declares KPIs but not the kpi hook"]
        );
        let bad = json!([
            {"id": "Greeting", "title": "问候率", "unit": "ratio", "i18n": {"en": {"title": "Rate"}}},
            {"id": "rate", "title": "问候率", "unit": "percent", "better": "up", "owner": "x"},
            {"id": "rate", "title": " ", "unit": "count", "i18n": {"en": {"title": "Rate"}}}
        ]);
        assert_eq!(
            super::manifest_problems(&manifest(json!(["kpi"]), bad), &schema),
            [
                "bad or repeated KPI id \"Greeting\"",
                "KPI Greeting has no known unit",
                "KPI rate lacks a Chinese or an English title",
                "KPI rate has unknown keys",
                "KPI rate is better neither higher nor lower",
                "bad or repeated KPI id \"rate\"",
                "KPI rate lacks a Chinese or an English title",
            ]
        );
    }

    #[test]
    fn patches_a_record_key_by_key() {
        let record = super::patched(json!({"a": 1, "b": 2}), json!({"b": null, "c": 3}));
        assert_eq!(record, crate::record(json!({"a": 1, "c": 3})));
    }

    const REQUEST: &str = r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "申请",
        "additionalProperties": false, "required": ["note"],
        "properties": {
            "note": {"type": "string", "title": "说明", "maxLength": 200, "x-jingxi": {"i18n": {"en": {"title": "Note"}}}},
            "amount": {"type": "string", "title": "金额", "pattern": "^-?[0-9]{1,16}(\\.[0-9]{1,2})?$", "x-jingxi": {"i18n": {"en": {"title": "Amount"}}, "money": {"currency": "CNY"}, "level": 2}},
            "score": {"type": "integer", "title": "评分", "minimum": 1, "maximum": 5, "x-jingxi": {"i18n": {"en": {"title": "Score"}}}},
            "handler": {"type": "string", "title": "处理人", "format": "uuid", "x-jingxi": {"i18n": {"en": {"title": "Handler"}}, "ref": "kernel.user"}},
            "total": {"type": "string", "title": "合计", "pattern": "^-?[0-9]{1,16}(\\.[0-9]{1,2})?$", "readOnly": true, "x-jingxi": {"i18n": {"en": {"title": "Total"}}, "money": {"currency": "CNY"}, "computed": true}}
        },
        "x-jingxi": {"i18n": {"en": {"title": "Request"}}, "prefix": "REQ"}
    }"#;

    thread_local! {
        /// The manifest `Flow` returns on this thread, so each test states its own.
        static FLOW_MANIFEST: std::cell::RefCell<Value> = const { std::cell::RefCell::new(Value::Null) };
    }

    struct Flow;

    impl Plugin for Flow {
        fn manifest() -> Manifest {
            let manifest = FLOW_MANIFEST.with(|manifest| manifest.borrow().to_string());
            Manifest::new(&manifest).entity("request", REQUEST)
        }
    }

    fn en(title: &str) -> Value {
        json!({"en": {"title": title}})
    }

    /// A consistent manifest of the plugin `flow`: a request goes from draft to review, and to a
    /// second review above 5,000.
    fn flow_manifest() -> Value {
        json!({
            "id": "flow", "title": "流程", "version": "0.1.0",
            "roles": [
                {"id": "clerk", "title": "文员", "i18n": en("Clerk")},
                {"id": "boss", "title": "经理", "i18n": en("Boss")}
            ],
            "grants": [
                {"role": "clerk", "entity": "request", "actions": ["read", "create"], "scope": "own"},
                {"role": "boss", "entity": "flow.request", "actions": ["read", "read_level:2"], "scope": "all"}
            ],
            "workflows": [{
                "entity": "request", "initial": "draft",
                "states": [
                    {"id": "draft", "title": "草稿", "i18n": en("Draft")},
                    {"id": "review", "title": "审批中", "i18n": en("In review")},
                    {"id": "big_review", "title": "大额审批", "i18n": en("Large-amount review")},
                    {"id": "done", "title": "完成", "i18n": en("Done"), "final": true}
                ],
                "transitions": [
                    {"id": "submit", "title": "提交", "i18n": en("Submit"), "from": ["draft"], "to": "review",
                     "roles": ["clerk"], "assignee": "handler", "fields": ["note", "amount"], "required": ["note"]},
                    {"id": "approve", "title": "批准", "i18n": en("Approve"), "from": ["review"], "to": "done",
                     "roles": ["boss"], "routes": [{"field": "amount", "gt": "5000", "to": "big_review"}]},
                    {"id": "approve_big", "title": "大额批准", "i18n": en("Approve large"), "from": ["big_review"],
                     "to": "done", "roles": ["boss"]},
                    {"id": "return", "title": "退回", "i18n": en("Return"), "from": ["review", "big_review"],
                     "to": "draft", "roles": ["boss"], "routes": [{"field": "score", "lte": 2, "to": "draft"}]}
                ]
            }]
        })
    }

    fn flow_schemas(name: &str, manifest: Value) -> (Workspace, PluginSchemas) {
        let workspace = Workspace::new(name);
        workspace.write("schemas/flow/request.schema.json", REQUEST);
        FLOW_MANIFEST.with(|slot| *slot.borrow_mut() = manifest);
        let schemas = PluginSchemas::load::<Flow>(workspace.0.join("plugins/flow"));
        (workspace, schemas)
    }

    #[test]
    fn accepts_a_consistent_workflow_and_field_level_reads() {
        let (_workspace, schemas) = flow_schemas("flow-ok", flow_manifest());
        assert_eq!(schemas.workflow_problems(), Vec::<String>::new());
        let problems = schemas.problems();
        assert!(
            !problems
                .iter()
                .any(|problem| problem.contains("workflow") || problem.contains("grant")),
            "{problems:#?}"
        );
    }

    #[test]
    fn still_reports_bad_grant_actions() {
        let mut manifest = flow_manifest();
        manifest["grants"][1]["actions"] = json!(["read", "read_level:0"]);
        manifest["grants"][0]["actions"] = json!(["read_level:1", "read_level:1"]);
        let (_workspace, schemas) = flow_schemas("flow-grants", manifest);
        let bad: Vec<String> = schemas
            .problems()
            .into_iter()
            .filter(|problem| problem.contains("bad actions"))
            .collect();
        assert_eq!(bad.len(), 2, "{bad:#?}");
    }

    #[test]
    fn reports_what_is_wrong_with_a_workflow() {
        let mut manifest = flow_manifest();
        let workflow = &mut manifest["workflows"][0];
        workflow["initial"] = json!("start");
        workflow["states"][1]["i18n"] = json!({});
        workflow["states"][2]["colour"] = json!("red");
        workflow["transitions"][0] = json!({"id": "submit", "title": "提交", "i18n": en("Submit"),
            "from": ["draft", "done"], "to": "nowhere", "roles": ["clerk", "ghost"], "assignee": "note",
            "fields": ["total", "missing"], "required": ["absent"]});
        workflow["transitions"][1]["routes"] = json!([
            {"field": "note", "gt": "5000", "to": "big_review"},
            {"field": "amount", "gt": "5,000", "lt": 1, "to": "big_review"}
        ]);
        workflow["transitions"][2]["id"] = json!("approve");
        manifest["grants"]
            .as_array_mut()
            .expect("grants")
            .retain(|grant| grant["role"] != "boss");
        let end = json!({"id": "end", "title": "结束", "i18n": en("End"), "final": true});
        for entity in ["request", "greeting"] {
            manifest["workflows"]
                .as_array_mut()
                .expect("workflows")
                .push(
                    json!({"entity": entity, "initial": "end", "states": [end], "transitions": []}),
                );
        }
        let (_workspace, schemas) = flow_schemas("flow-bad", manifest);
        let approve_unreadable = "workflow of request: transition approve names the role boss, \
            which has no read grant on request";
        assert_eq!(
            schemas.workflow_problems(),
            [
                "workflow of request: state review lacks a Chinese or an English title",
                "workflow of request: state big_review has the unknown key colour",
                "workflow of request: the initial state start is not declared",
                "workflow of request: transition submit names the undeclared state nowhere",
                "workflow of request: transition submit leaves the final state done",
                "workflow of request: transition submit names the undeclared role ghost",
                "workflow of request: transition submit: assignee note is not a property referring to kernel.user",
                "workflow of request: transition submit: field total is computed",
                "workflow of request: transition submit: field missing is not a property",
                "workflow of request: transition submit: required field absent is not a property",
                approve_unreadable,
                "workflow of request: transition approve: route field note is not a money, decimal or integer property",
                "workflow of request: transition approve: a route needs exactly one of gt, gte, lt, lte, with a number or a decimal string",
                "workflow of request: bad or repeated transition id \"approve\"",
                approve_unreadable,
                "workflow of request: transition return names the role boss, which has no read grant on request",
                "workflow of request: the entity has a second workflow",
                "workflow of greeting: names no entity of the plugin",
            ]
        );
    }

    #[test]
    fn reports_dead_ends_and_unreachable_states() {
        let mut manifest = flow_manifest();
        let workflow = &mut manifest["workflows"][0];
        let states = workflow["states"].as_array_mut().expect("states");
        states.push(json!({"id": "lost", "title": "遗失", "i18n": en("Lost")}));
        states.push(json!({"id": "orphan", "title": "孤立", "i18n": en("Orphan")}));
        workflow["transitions"]
            .as_array_mut()
            .expect("transitions")
            .push(
                json!({"id": "adopt", "title": "收养", "i18n": en("Adopt"), "from": ["orphan"],
                "to": "done", "roles": ["boss"]}),
            );
        let (_workspace, schemas) = flow_schemas("flow-graph", manifest);
        assert_eq!(
            schemas.workflow_problems(),
            [
                "workflow of request: the state lost is not final but no transition leaves it",
                "workflow of request: the state lost cannot be reached from draft",
                "workflow of request: the state orphan cannot be reached from draft",
            ]
        );
    }
}
