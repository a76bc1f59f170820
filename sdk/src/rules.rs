//! Collecting the [`FieldError`]s of one record, with messages in the caller's locale and the
//! checks that every plugin's rules share.

use crate::{Context, FieldError, Record, RecordExt, values::Amount};

/// The field errors of one record, collected while its rules run.
///
/// Messages are written in Chinese and English at once; the caller's locale picks one, as
/// [`Context::text`] does.
///
/// ```
/// use jingxi_sdk::{Context, FieldErrors, RecordExt};
///
/// let ctx = Context::for_test().with_locale("en");
/// let record = jingxi_sdk::record(jingxi_sdk::json!({"name": " ", "price": "-1", "seq": 0}));
/// let mut errors = FieldErrors::new(&ctx);
/// errors.not_blank(&record, &["name"]);
/// errors.not_negative(&record, &["price"]);
/// if record.get("seq").and_then(|seq| seq.as_i64()) == Some(0) {
///     errors.add("/seq", "zero_seq", "序号不能为 0。", "The number must not be 0.");
/// }
/// let errors = errors.into_vec();
/// let codes: Vec<&str> = errors.iter().map(|error| error.code.as_str()).collect();
/// assert_eq!(codes, ["blank", "negative_amount", "zero_seq"]);
/// assert_eq!(errors[2].message, "The number must not be 0.");
/// ```
#[derive(Debug, Clone)]
pub struct FieldErrors<'a> {
    ctx: &'a Context,
    errors: Vec<FieldError>,
}

impl<'a> FieldErrors<'a> {
    /// An empty collection whose messages follow the locale of `ctx`.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// assert!(jingxi_sdk::FieldErrors::new(&ctx).into_vec().is_empty());
    /// ```
    pub fn new(ctx: &'a Context) -> Self {
        FieldErrors {
            ctx,
            errors: Vec::new(),
        }
    }

    /// The caller's context, for rules that depend on who asks or when.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// assert!(jingxi_sdk::FieldErrors::new(&ctx).context().has_role("admin"));
    /// ```
    pub fn context(&self) -> &'a Context {
        self.ctx
    }

    /// Adds an error at `pointer` with the stable `code` and the message in the caller's locale.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// let mut errors = jingxi_sdk::FieldErrors::new(&ctx);
    /// errors.add("/name", "taken", "名称已被使用。", "The name is taken.");
    /// assert_eq!(
    ///     errors.into_vec(),
    ///     [jingxi_sdk::FieldError::new("/name", "taken", "名称已被使用。")]
    /// );
    /// ```
    pub fn add(&mut self, pointer: impl Into<String>, code: &str, zh: &str, en: &str) {
        self.errors
            .push(FieldError::new(pointer, code, self.ctx.text(zh, en)));
    }

    /// Reports, with code `blank`, each of `names` that holds only whitespace: the schema cannot
    /// say "not blank".
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"code": "  ", "name": "杭州"}));
    /// let mut errors = jingxi_sdk::FieldErrors::new(&ctx);
    /// errors.not_blank(&record, &["code", "name", "missing"]);
    /// let errors = errors.into_vec();
    /// assert_eq!((errors.len(), errors[0].pointer.as_str()), (1, "/code"));
    /// ```
    pub fn not_blank(&mut self, record: &Record, names: &[&str]) {
        for name in names {
            if record.is_blank(name) {
                self.add(
                    format!("/{name}"),
                    "blank",
                    "此项不能只包含空白字符。",
                    "This field must not be blank.",
                );
            }
        }
    }

    /// Reports, with code `negative_amount`, each money field of `names` that is below zero; a
    /// missing or malformed value is the schema's concern.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"list_price": "-0.01", "cost_price": "0"}));
    /// let mut errors = jingxi_sdk::FieldErrors::new(&ctx);
    /// errors.not_negative(&record, &["list_price", "cost_price", "dealer_price"]);
    /// let errors = errors.into_vec();
    /// assert_eq!((errors.len(), errors[0].code.as_str()), (1, "negative_amount"));
    /// ```
    pub fn not_negative(&mut self, record: &Record, names: &[&str]) {
        for name in names {
            if record.amount(name).is_some_and(Amount::is_negative) {
                self.add(
                    format!("/{name}"),
                    "negative_amount",
                    "金额不能为负数。",
                    "The amount must not be negative.",
                );
            }
        }
    }

    /// The errors in the order they were added, as [`Plugin::validate`](crate::Plugin::validate)
    /// returns them.
    ///
    /// ```
    /// let ctx = jingxi_sdk::Context::for_test();
    /// let mut errors = jingxi_sdk::FieldErrors::new(&ctx);
    /// errors.add("/a", "first", "一", "one");
    /// errors.add("/b", "second", "二", "two");
    /// let codes: Vec<String> = errors.into_vec().into_iter().map(|error| error.code).collect();
    /// assert_eq!(codes, ["first", "second"]);
    /// ```
    pub fn into_vec(self) -> Vec<FieldError> {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::FieldErrors;
    use crate::{Context, record};

    #[test]
    fn speaks_the_callers_locale() {
        let record = record(json!({"name": "\n", "price": "-5"}));
        let messages = |ctx: &Context| {
            let mut errors = FieldErrors::new(ctx);
            errors.not_blank(&record, &["name"]);
            errors.not_negative(&record, &["price"]);
            errors
                .into_vec()
                .into_iter()
                .map(|error| (error.pointer, error.code, error.message))
                .collect::<Vec<_>>()
        };
        let strings = |list: [(&str, &str, &str); 2]| {
            list.map(|(pointer, code, message)| (pointer.into(), code.into(), message.into()))
        };
        assert_eq!(
            messages(&Context::for_test()),
            strings([
                ("/name", "blank", "此项不能只包含空白字符。"),
                ("/price", "negative_amount", "金额不能为负数。"),
            ])
        );
        assert_eq!(
            messages(&Context::for_test().with_locale("en")),
            strings([
                ("/name", "blank", "This field must not be blank."),
                (
                    "/price",
                    "negative_amount",
                    "The amount must not be negative."
                ),
            ])
        );
    }
}
