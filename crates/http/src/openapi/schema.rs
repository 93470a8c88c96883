//! The bridge from schemars to utoipa. Every body schema of the document is
//! written by schemars (the domain types derive `JsonSchema`, and so do the
//! HTTP-facing types in `bodies` and in the vendor modules); utoipa only
//! places them. [`bridge!`](crate::openapi::bridge) gives a type utoipa's
//! `ToSchema` from its `JsonSchema`.
//!
//! schemars writes JSON Schema 2020-12, which is OpenAPI 3.1's dialect, with
//! its definitions under `#/components/schemas/`. The schemas are read into
//! utoipa's model; `const` is written as a one-value `enum` first, the one
//! keyword of ours that model does not hold. Anything else it could not hold
//! would be lost silently, so every conversion is checked to write back the
//! very JSON schemars wrote (a panic in debug builds, so in every test that
//! builds the router), and a name may not stand for two different schemas.
use std::{borrow::Cow, collections::BTreeMap, sync::Mutex};

use schemars::{
    JsonSchema,
    generate::{Contract, SchemaSettings},
    transform::{ReplaceConstValue, Transform},
};
use serde_json::Value;
use utoipa::openapi::{RefOr, schema::Schema};

/// Which way a body travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Read from a client: schemars' deserialize contract (a field with a
    /// default may be left out), and every subschema inlined, so that each
    /// request body is one self-contained component.
    Request,
    /// Written to a client: the serialize contract (a field is required
    /// unless it is skipped when empty), shared named components.
    Response,
}

const DEFINITIONS: &str = "/components/schemas";

fn settings(side: Side) -> SchemaSettings {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = DEFINITIONS.into();
    settings.meta_schema = None;
    match side {
        Side::Request => {
            settings.contract = Contract::Deserialize;
            settings.inline_subschemas = true;
        }
        Side::Response => settings.contract = Contract::Serialize,
    }
    settings
}

/// `T`'s own schema (inline) and the named schemas it refers to.
fn generate<T: JsonSchema>(side: Side) -> (Value, Vec<(String, Value)>) {
    let mut generator = settings(side).into_generator();
    let mut own = generator.subschema_for::<T>();
    let mut named = generator.take_definitions(false);
    // A named `T` comes back as a `$ref`; its schema is among the definitions.
    if let Some(schema) = named.remove(T::schema_name().as_ref())
        && own.get("$ref").is_some()
    {
        own = serde_json::from_value(schema).unwrap_or(own);
    }
    let own = written(own.to_value());
    let named = named.into_iter().map(|(name, schema)| (name, written(schema))).collect();
    (own, named)
}

/// A schema as the document carries it: `const` as a one-value `enum`.
fn written(schema: Value) -> Value {
    match schemars::Schema::try_from(schema.clone()) {
        Ok(mut s) => {
            ReplaceConstValue::default().transform(&mut s);
            s.to_value()
        }
        Err(_) => schema,
    }
}

/// `T`'s own schema as the document carries it.
#[cfg(test)]
pub fn generate_for_test<T: JsonSchema>(side: Side) -> Value {
    generate::<T>(side).0
}

/// The schema of `T` for utoipa.
pub fn own<T: JsonSchema>(side: Side) -> RefOr<Schema> {
    let (own, _) = generate::<T>(side);
    convert(&T::schema_name(), own)
}

/// The named schemas `T` refers to, for utoipa to put in the components.
pub fn referenced<T: JsonSchema>(side: Side, out: &mut Vec<(String, RefOr<Schema>)>) {
    let (_, named) = generate::<T>(side);
    for (name, schema) in named {
        let converted = convert(&name, schema);
        out.push((name, converted));
    }
}

/// The name `T` has among the components.
pub fn name<T: JsonSchema>() -> Cow<'static, str> {
    T::schema_name()
}

/// Reads a schemars schema into utoipa's model, checking that nothing was lost.
fn convert(name: &str, schema: Value) -> RefOr<Schema> {
    let converted: RefOr<Schema> = match serde_json::from_value(schema.clone()) {
        Ok(converted) => converted,
        Err(e) => {
            debug_assert!(false, "the schema of {name} cannot be read as an OpenAPI schema: {e}");
            return RefOr::T(Schema::default());
        }
    };
    if cfg!(debug_assertions) {
        let back = serde_json::to_value(&converted).unwrap_or_default();
        assert_eq!(back, schema, "the OpenAPI schema of {name} lost some of what schemars wrote");
        one_schema_per_name(name, &schema);
    }
    converted
}

/// Two types with one schema name would share one component, the last
/// written: refused, so a doc type cannot shadow a domain type.
fn one_schema_per_name(name: &str, schema: &Value) {
    static SEEN: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let first = seen.entry(name.to_owned()).or_insert_with(|| schema.clone());
    assert_eq!(first, schema, "two different schemas are both named {name}");
}

/// Gives types utoipa's `ToSchema` from their schemars `JsonSchema`, for
/// one [`Side`]: `bridge!(Response: Listed, Marker = some::ForeignType)`.
/// A type of this crate stands for itself; a type of another crate (orphan
/// rules) through a unit marker struct of this crate, named like it.
macro_rules! bridge {
    ($side:ident: $($ty:ident $(= $foreign:ty)?),+ $(,)?) => {
        $( $crate::openapi::bridge!(@one $side, $ty, $crate::openapi::bridge!(@schema $ty $(= $foreign)?)); )+
    };
    (@schema $ty:ident = $foreign:ty) => { $foreign };
    (@schema $ty:ident) => { $ty };
    (@one $side:ident, $ty:ident, $schema:ty) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::schema::own::<$schema>($crate::openapi::schema::Side::$side)
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                $crate::openapi::schema::name::<$schema>()
            }
            fn schemas(
                out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                $crate::openapi::schema::referenced::<$schema>($crate::openapi::schema::Side::$side, out)
            }
        }
    };
}
pub(crate) use bridge;

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_domain::{Contact, Rejection};
    use serde_json::json;

    #[test]
    fn a_response_schema_refers_to_named_components_and_keeps_its_required_fields() {
        let (own, named) = generate::<Contact>(Side::Response);
        let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        for dependency in ["Address", "ContactId", "ContactKind"] {
            assert!(names.contains(&dependency), "{names:?}");
        }
        assert_eq!(own["properties"]["kind"], json!({"$ref": "#/components/schemas/ContactKind"}));
        // Serialised always, so required in an answer (the serialize contract).
        let required = own["required"].as_array().unwrap();
        for field in ["id", "version", "tags", "metadata", "type_id"] {
            assert!(required.contains(&json!(field)), "{field}: {required:?}");
        }
        assert!(!required.contains(&json!("email")), "{required:?}");
    }

    #[test]
    fn a_request_schema_stands_alone() {
        let (own, named) = generate::<Contact>(Side::Request);
        assert!(named.is_empty(), "{named:?}");
        assert!(!own.to_string().contains("$ref"), "{own}");
    }

    #[test]
    fn const_is_written_as_a_one_value_enum_and_survives_the_conversion() {
        let (own, _) = generate::<Rejection>(Side::Response);
        assert!(!own.to_string().contains("\"const\""), "{own}");
        assert!(own.to_string().contains(r#""enum":["validation"]"#), "{own}");
        let converted = convert("Rejection", own.clone());
        assert_eq!(serde_json::to_value(converted).unwrap(), own);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "lost some of what schemars wrote")]
    fn a_keyword_the_model_cannot_hold_is_refused() {
        convert("Lossy", json!({"type": "object", "dependentRequired": {"a": ["b"]}}));
    }
}
