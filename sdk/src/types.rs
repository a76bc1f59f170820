//! Plain Rust types a plugin works with; the WIT types never leave `glue`.

use serde_json::{Map, Value};

/// A record as the plugin sees it: the entity's fields by their schema names, plus the system
/// fields `id`, `state` and `version` when the record already exists.
pub type Record = Map<String, Value>;

/// Turns a JSON object into a [`Record`]; anything else becomes an empty record.
///
/// ```
/// let record = jingxi_sdk::record(serde_json::json!({"name": "杭州恒达"}));
/// assert_eq!(record["name"], "杭州恒达");
/// ```
pub fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Who is calling and when: the only source of identity, locale and time a plugin has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The tenant's slug.
    pub tenant: String,
    /// The calling user's id.
    pub user_id: String,
    /// The calling user's role ids.
    pub roles: Vec<String>,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// Milliseconds since the Unix epoch, fixed for the whole request.
    pub now_ms: i64,
}

impl Context {
    /// A context for native unit tests: tenant `test`, role `admin`, locale `zh-CN`, time 0.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// assert_eq!(ctx.locale, "zh-CN");
    /// ```
    pub fn for_test() -> Self {
        Context {
            tenant: "test".into(),
            user_id: "00000000-0000-0000-0000-000000000000".into(),
            roles: vec!["admin".into()],
            locale: "zh-CN".into(),
            now_ms: 0,
        }
    }

    /// Returns the same context with another locale.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test().with_locale("en");
    /// assert_eq!(ctx.text("你好", "hello"), "hello");
    /// ```
    pub fn with_locale(mut self, locale: &str) -> Self {
        self.locale = locale.into();
        self
    }

    /// Picks the Chinese or the English text by the caller's locale.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// assert_eq!(ctx.text("你好", "hello"), "你好");
    /// ```
    pub fn text(&self, zh: &str, en: &str) -> String {
        if self.locale.starts_with("en") {
            en.into()
        } else {
            zh.into()
        }
    }

    /// Whether the caller holds `role`.
    ///
    /// ```
    /// assert!(jingxi_sdk::Context::for_test().has_role("admin"));
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// One problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON Pointer to the field, e.g. `/resolved_at`.
    pub pointer: String,
    /// A stable machine-readable code.
    pub code: String,
    /// A sentence for people, in the caller's locale.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    ///
    /// ```
    /// let error = jingxi_sdk::FieldError::new("/name", "blank", "名称不能为空白。");
    /// assert_eq!(error.pointer, "/name");
    /// ```
    pub fn new(
        pointer: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            pointer: pointer.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The plugin's own failure; a trap or a panic is reported by the host instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// The plugin does not implement the hook.
    Unsupported,
    /// The input did not make sense to the plugin.
    InvalidInput(String),
    /// Anything else.
    Internal(String),
}

/// Whether an [`Effect`] creates or updates a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectKind {
    /// Create a new record.
    Create,
    /// Merge-patch an existing record.
    Update,
}

/// A record change the kernel applies in the caller's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// Create or update.
    pub kind: EffectKind,
    /// Qualified entity, e.g. `crm.visit_record`.
    pub entity: String,
    /// The record to update; `None` for a create.
    pub id: Option<String>,
    /// The new record, or the merge patch.
    pub record: Record,
}
