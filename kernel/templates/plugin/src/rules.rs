//! Rules of the `{{id}}` entities that a JSON Schema cannot state.

use jingxi_sdk::{Context, FieldError, FieldErrors, Record, RecordExt};

/// Checks one record of `entity` (`task` or `{{id}}.task`); unknown entities pass.
pub fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
    let mut errors = FieldErrors::new(ctx);
    if entity.strip_prefix("{{id}}.").unwrap_or(entity) == "task" {
        task(record, &mut errors);
    }
    errors.into_vec()
}

/// A task has a title that is not blank, and it is not due before it starts.
fn task(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["title"]);
    if let (Some(start_date), Some(due_date)) =
        (record.date("start_date"), record.date("due_date"))
        && due_date < start_date
    {
        errors.add(
            "/due_date",
            "due_before_start",
            "截止日期不能早于开始日期。",
            "The due date must not be before the start date.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Context, Value, json};

    use crate::{{type_name}};

    fn task() -> Value {
        json!({"title": "整理本周销售周报", "priority": "中", "start_date": "2025-07-07", "due_date": "2025-07-11"})
    }

    /// Runs `validate` on `task()` changed by `patch` and compares the `(pointer, code)` pairs.
    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<{{type_name}}>("task", task(), patch, expect);
    }

    #[test]
    fn accepts_a_due_date_on_or_after_the_start() {
        check(json!({}), &[]);
        check(json!({"due_date": "2025-07-07"}), &[]);
        check(json!({"start_date": null}), &[]);
        check(json!({"due_date": null}), &[]);
    }

    #[test]
    fn rejects_a_due_date_before_the_start() {
        check(
            json!({"due_date": "2025-07-06"}),
            &[("/due_date", "due_before_start")],
        );
        check(
            json!({"start_date": "2025-12-31", "due_date": "2025-02-01"}),
            &[("/due_date", "due_before_start")],
        );
    }

    #[test]
    fn rejects_a_blank_title() {
        check(json!({"title": "  "}), &[("/title", "blank")]);
    }

    #[test]
    fn speaks_the_callers_locale() {
        let record = jingxi_sdk::testing::patched(task(), json!({"due_date": "2025-07-01"}));
        let zh = super::validate(&Context::for_test(), "{{id}}.task", &record);
        let en = super::validate(&Context::for_test().with_locale("en"), "task", &record);
        assert_eq!(zh[0].message, "截止日期不能早于开始日期。");
        assert_eq!(en[0].message, "The due date must not be before the start date.");
    }
}
