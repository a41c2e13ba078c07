//! OpenAPI schemas of the types whose JSON the derive cannot see: names validated by
//! hand (`ActorId`, `TaskList`) and raw JSON values. The patterns here are the rules
//! the parsers in [`super::ids`] apply, so a generated client (or schemathesis) makes
//! only ids the broker accepts; a test keeps them in step.

use super::{ActorId, JsonValue, TaskList};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// What [`ActorId::new`] accepts: `name#version`, both non-empty, no blanks or control
/// characters, one `#`.
pub const ACTOR_ID_PATTERN: &str = r"^[^#\s\x00-\x1f\x7f-\x9f]+#[^#\s\x00-\x1f\x7f-\x9f]+$";
/// What [`TaskList::new`] accepts: letters, digits and `- _ . : /` (empty = default).
pub const TASK_LIST_PATTERN: &str = r"^[A-Za-z0-9_.:/-]*$";

impl PartialSchema for ActorId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An actor: `name#version`, e.g. `billing.Charge#1.0`."))
            .pattern(Some(ACTOR_ID_PATTERN))
            .min_length(Some(3))
            .max_length(Some(super::ids::MAX_NAME_LEN))
            .examples(["billing.Charge#1.0"])
            .into()
    }
}
impl ToSchema for ActorId {}

impl PartialSchema for TaskList {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A task list of an actor; the empty name is the default list.",
            ))
            .pattern(Some(TASK_LIST_PATTERN))
            .max_length(Some(super::ids::MAX_NAME_LEN))
            .examples(["urgent"])
            .into()
    }
}
impl ToSchema for TaskList {}

impl PartialSchema for JsonValue {
    fn schema() -> RefOr<Schema> {
        // Any JSON value, `null` included: the broker never looks inside.
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some(
                "Any JSON value; the broker passes it through untouched.",
            ))
            .into()
    }
}
impl ToSchema for JsonValue {}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    #[test]
    fn the_patterns_accept_exactly_what_the_parsers_accept() {
        let actor = Regex::new(ACTOR_ID_PATTERN).unwrap();
        for s in [
            "a#1",
            "billing.Charge#1.0",
            "a#",
            "#1",
            "a#1#2",
            "a b#1",
            "a#1\n",
            "a\u{7}#1",
            "",
        ] {
            assert_eq!(actor.is_match(s), ActorId::new(s).is_ok(), "{s:?}");
        }
        let list = Regex::new(TASK_LIST_PATTERN).unwrap();
        for s in ["", "urgent", "a-b_c.d:e/f", "a b", "ä", "x!"] {
            assert_eq!(list.is_match(s), TaskList::new(s).is_ok(), "{s:?}");
        }
    }
}
