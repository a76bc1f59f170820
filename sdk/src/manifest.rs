//! The plugin manifest, assembled from the plugin's `plugin.json` and its schema files.

use serde_json::{Map, Value, json};

/// A plugin manifest under construction. The kernel checks the result against
/// `schemas/manifest.schema.json` when the plugin is installed.
///
/// ```
/// let manifest = jingxi_sdk::Manifest::new(r#"{"id": "hello", "title": "你好"}"#)
///     .entity("greeting", r#"{"type": "object", "title": "问候", "properties": {}}"#);
/// let json: serde_json::Value = serde_json::from_str(&manifest.to_json()).unwrap();
/// assert_eq!(json["entities"][0]["name"], "greeting");
/// ```
#[derive(Debug, Clone)]
pub struct Manifest {
    value: Map<String, Value>,
}

impl Manifest {
    /// Starts from the JSON of `plugin.json` (usually `include_str!("../plugin.json")`).
    ///
    /// # Panics
    /// If the text is not a JSON object: a build-time mistake that the plugin's own tests catch.
    pub fn new(plugin_json: &str) -> Self {
        let value = match serde_json::from_str(plugin_json) {
            Ok(Value::Object(map)) => map,
            Ok(_) => panic!("plugin.json must hold a JSON object"),
            Err(error) => panic!("plugin.json is not valid JSON: {error}"),
        };
        Manifest { value }
    }

    /// Adds an entity with its JSON Schema (usually `include_str!` of a file under `schemas/`).
    ///
    /// # Panics
    /// If the schema is not valid JSON.
    pub fn entity(mut self, name: &str, schema_json: &str) -> Self {
        let schema: Value = serde_json::from_str(schema_json)
            .unwrap_or_else(|error| panic!("schema of entity {name} is not valid JSON: {error}"));
        let entities = self.value.entry("entities").or_insert_with(|| json!([]));
        if let Value::Array(list) = entities {
            list.push(json!({"name": name, "schema": schema}));
        }
        self
    }

    /// Sets the version when `plugin.json` has none (usually `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: &str) -> Self {
        self.value
            .entry("version")
            .or_insert_with(|| json!(version));
        self
    }

    /// The manifest as a JSON value, with `contract` set to the SDK's contract version.
    pub fn to_value(&self) -> Value {
        let mut value = self.value.clone();
        value.insert("contract".into(), json!(crate::CONTRACT_VERSION));
        Value::Object(value)
    }

    /// The manifest as JSON text.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}
