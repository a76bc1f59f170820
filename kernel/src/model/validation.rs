//! JSON Schema validation of records with one message per bad field, in Chinese or English.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::{EntityDef, FieldKind};

/// The languages the API speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    ZhCn,
    En,
}

impl Locale {
    /// Reads `en`, `en-US`, `zh-CN`, …; anything unknown is Chinese, the default.
    pub fn parse(text: &str) -> Locale {
        if text.trim().to_ascii_lowercase().starts_with("en") {
            Locale::En
        } else {
            Locale::ZhCn
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn pick(self, zh: impl Into<String>, en: impl Into<String>) -> String {
        match self {
            Locale::ZhCn => zh.into(),
            Locale::En => en.into(),
        }
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    /// JSON Pointer into the submitted record (schema field names).
    pub pointer: String,
    pub code: String,
    pub message: String,
}

impl FieldIssue {
    pub fn new(
        pointer: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldIssue {
            pointer: pointer.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

pub(super) fn check(
    validator: &jsonschema::Validator,
    entity: &EntityDef,
    record: &Value,
    locale: Locale,
) -> Vec<FieldIssue> {
    let mut issues: Vec<FieldIssue> = validator
        .iter_errors(record)
        .take(100)
        .map(|error| {
            let mut pointer = error.instance_path().as_str().to_string();
            let (code, message) = describe(error.kind(), locale);
            if let ValidationErrorKind::Required { property } = error.kind() {
                pointer = format!("{pointer}/{}", property.as_str().unwrap_or_default());
            }
            let label = field_label(entity, &pointer, locale);
            FieldIssue {
                message: format!("{label}{message}"),
                pointer,
                code,
            }
        })
        .collect();
    // Decimal bounds a pattern cannot state precisely: at most 18 significant digits.
    if let Value::Object(map) = record {
        for field in &entity.fields {
            if let (FieldKind::Decimal { scale }, Some(Value::String(text))) =
                (&field.kind, map.get(&field.name))
                && parse_decimal(text, *scale).is_none()
                && !issues
                    .iter()
                    .any(|issue| issue.pointer == format!("/{}", field.name))
            {
                issues.push(FieldIssue::new(
                    format!("/{}", field.name),
                    "decimal",
                    locale.pick(
                        format!("{}必须是最多 {scale} 位小数、不超过 18 位数字的十进制数。", field.title),
                        format!("{} must be a decimal with at most {scale} fraction digits and 18 digits in all.", field.title_en),
                    ),
                ));
            }
        }
    }
    issues
}

/// Parses a decimal string with at most `scale` fraction digits and 18 digits in all.
pub fn parse_decimal(text: &str, scale: u32) -> Option<rust_decimal::Decimal> {
    let value: rust_decimal::Decimal = text.trim().parse().ok()?;
    if value.scale() > scale {
        return None;
    }
    let digits = value
        .abs()
        .trunc()
        .to_string()
        .trim_start_matches('0')
        .len() as u32
        + scale;
    (digits <= 18).then_some(value)
}

fn field_label(entity: &EntityDef, pointer: &str, locale: Locale) -> String {
    let mut segments = pointer.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    let child_field = segments.nth(1);
    let title = if let Some(child) = entity.children.iter().find(|child| child.name == first) {
        match child_field.and_then(|name| child.fields.iter().find(|field| field.name == name)) {
            Some(field) => Some(locale.pick(
                format!("{}·{}", child.title, field.title),
                format!("{} {}", child.title_en, field.title_en),
            )),
            None => Some(locale.pick(child.title.clone(), child.title_en.clone())),
        }
    } else {
        entity
            .field(first)
            .map(|field| locale.pick(field.title.clone(), field.title_en.clone()))
    };
    match (title, locale) {
        (Some(title), Locale::ZhCn) => format!("「{title}」"),
        (Some(title), Locale::En) => format!("{title}: "),
        (None, _) => String::new(),
    }
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn describe(kind: &ValidationErrorKind, locale: Locale) -> (String, String) {
    use ValidationErrorKind as K;
    let (code, zh, en) = match kind {
        K::Required { .. } => (
            "required",
            "为必填项。".to_string(),
            "is required.".to_string(),
        ),
        K::Type { kind } => {
            let t = type_name(kind);
            (
                "type",
                format!("类型应为 {t}。"),
                format!("must be of type {t}."),
            )
        }
        K::Enum { options } => (
            "enum",
            format!("必须是以下之一:{options}。"),
            format!("must be one of {options}."),
        ),
        K::MaxLength { limit } => (
            "max_length",
            format!("最多 {limit} 个字符。"),
            format!("must be at most {limit} characters."),
        ),
        K::MinLength { limit } => (
            "min_length",
            format!("至少 {limit} 个字符。"),
            format!("must be at least {limit} characters."),
        ),
        K::Maximum { limit } => (
            "maximum",
            format!("不能大于 {limit}。"),
            format!("must be at most {limit}."),
        ),
        K::Minimum { limit } => (
            "minimum",
            format!("不能小于 {limit}。"),
            format!("must be at least {limit}."),
        ),
        K::ExclusiveMaximum { limit } => (
            "maximum",
            format!("必须小于 {limit}。"),
            format!("must be less than {limit}."),
        ),
        K::ExclusiveMinimum { limit } => (
            "minimum",
            format!("必须大于 {limit}。"),
            format!("must be greater than {limit}."),
        ),
        K::Pattern { .. } => (
            "pattern",
            "格式不正确。".to_string(),
            "has the wrong format.".to_string(),
        ),
        K::Format { format } => (
            "format",
            format!("不是有效的 {format} 格式。"),
            format!("is not a valid {format}."),
        ),
        K::AdditionalProperties { unexpected } => (
            "unknown_field",
            format!("包含未定义的字段:{}。", unexpected.join(", ")),
            format!(
                "has fields the form does not define: {}.",
                unexpected.join(", ")
            ),
        ),
        K::MinItems { limit } => (
            "min_items",
            format!("至少需要 {limit} 项。"),
            format!("needs at least {limit} items."),
        ),
        K::MaxItems { limit } => (
            "max_items",
            format!("最多 {limit} 项。"),
            format!("allows at most {limit} items."),
        ),
        K::UniqueItems => (
            "unique_items",
            "包含重复项。".to_string(),
            "has duplicate items.".to_string(),
        ),
        other => (
            "invalid",
            format!("无效:{other:?}。"),
            format!("is invalid: {other:?}."),
        ),
    };
    (code.to_string(), locale.pick(zh, en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_respect_scale_and_precision() {
        assert!(parse_decimal("15000000.00", 2).is_some());
        assert!(parse_decimal("1.005", 2).is_none());
        assert!(parse_decimal("1234567890123456.78", 2).is_some());
        assert!(parse_decimal("12345678901234567.8", 2).is_none());
        assert!(parse_decimal("abc", 2).is_none());
    }
}
