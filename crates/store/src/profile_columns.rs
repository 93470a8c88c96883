//! The profile's columns in `contacts`: the one list the projection writes
//! and the read model reads. A column holds the `Profile` field of the same
//! name as serde gives it (the Rust field list lives only in `Profile`), or a
//! value derived from the profile that is written and never read back.
//! Adding a profile field is a line here and a migration.
use std::sync::LazyLock;

use ledger_domain::{Profile, normalize_email};
use serde_json::{Map, Value};
use sqlx::{Postgres, Row, postgres::PgArguments, postgres::PgRow, query::Query};

use crate::error::{Error, Result};

/// Every profile column of `contacts`, in bind order.
pub(crate) const PROFILE_COLUMNS: &[ProfileColumn] = &[
    field("external_id", Kind::Text),
    field("email", Kind::Text),
    derived("email_normalized", Kind::Text, email_normalized),
    field("first_name", Kind::Text),
    field("last_name", Kind::Text),
    field("name", Kind::Text),
    field("company", Kind::Text),
    field("title", Kind::Text),
    field("department", Kind::Text),
    field("phone", Kind::Text),
    field("mobile", Kind::Text),
    field("avatar_url", Kind::Text),
    field("purchase_order_number", Kind::Text),
    field("address", Kind::Json),
    field("tags", Kind::TextArray),
    field("metadata", Kind::Json),
];

/// Emails are found by their normalised form (`ContactFilter::email`).
fn email_normalized(profile: &Map<String, Value>) -> Option<Value> {
    profile.get("email")?.as_str().map(|email| Value::String(normalize_email(email)))
}

pub(crate) struct ProfileColumn {
    pub name: &'static str,
    pub kind: Kind,
    pub source: Source,
}

/// How a column is stored, bound and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `text`: a string, NULL when the field is absent.
    Text,
    /// `jsonb`: the field's JSON, NULL when absent.
    Json,
    /// `text[]`: a JSON array of strings. Bound as `jsonb` (an array per row
    /// cannot travel in a `text[]` parameter of rows) and unnested into the column.
    TextArray,
}

#[derive(Clone, Copy)]
pub(crate) enum Source {
    /// The profile's field of the column's name.
    Field,
    /// Computed from the profile's serde object; not part of `Profile`.
    Derived(fn(&Map<String, Value>) -> Option<Value>),
}

const fn field(name: &'static str, kind: Kind) -> ProfileColumn {
    ProfileColumn { name, kind, source: Source::Field }
}

const fn derived(name: &'static str, kind: Kind, derive: fn(&Map<String, Value>) -> Option<Value>) -> ProfileColumn {
    ProfileColumn { name, kind, source: Source::Derived(derive) }
}

impl Kind {
    /// The column's type in the table (the tests check it against the
    /// migrated table).
    #[cfg(feature = "test-support")]
    pub(crate) fn column_type(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Json => "jsonb",
            Kind::TextArray => "text[]",
        }
    }

    /// The element type of the array a batch of values is bound as.
    pub(crate) fn bind_type(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Json | Kind::TextArray => "jsonb",
        }
    }
}

impl ProfileColumn {
    pub(crate) fn is_field(&self) -> bool {
        matches!(self.source, Source::Field)
    }

    /// The column's value from the unnested row `u` of bound arrays.
    pub(crate) fn unnested_value(&self) -> String {
        match self.kind {
            Kind::Text | Kind::Json => format!("u.{}", self.name),
            Kind::TextArray => format!("ARRAY(SELECT jsonb_array_elements_text(u.{}))", self.name),
        }
    }
}

/// The columns a `Profile` is read back from, comma-separated.
pub(crate) static READ_COLUMNS: LazyLock<String> =
    LazyLock::new(|| PROFILE_COLUMNS.iter().filter(|c| c.is_field()).map(|c| c.name).collect::<Vec<_>>().join(", "));

/// The profile columns of many contacts, as arrays to bind in the order of
/// `PROFILE_COLUMNS`.
pub(crate) struct ProfileArrays(Vec<Array>);

enum Array {
    Text(Vec<Option<String>>),
    Json(Vec<Option<Value>>),
}

impl Default for ProfileArrays {
    fn default() -> Self {
        ProfileArrays(
            PROFILE_COLUMNS
                .iter()
                .map(|c| match c.kind {
                    Kind::Text => Array::Text(Vec::new()),
                    Kind::Json | Kind::TextArray => Array::Json(Vec::new()),
                })
                .collect(),
        )
    }
}

impl ProfileArrays {
    /// Adds a profile's values: one serde object, whose values move into
    /// the arrays.
    pub(crate) fn push(&mut self, profile: &Profile) -> Result<()> {
        let Value::Object(mut fields) = serde_json::to_value(profile)? else {
            return Err(encoding("a profile does not serialise to an object"));
        };
        // Derived values first, while every field is still in the object.
        for (column, array) in PROFILE_COLUMNS.iter().zip(&mut self.0) {
            if let Source::Derived(derive) = column.source {
                array.push(column.name, derive(&fields))?;
            }
        }
        for (column, array) in PROFILE_COLUMNS.iter().zip(&mut self.0) {
            if column.is_field() {
                array.push(column.name, fields.remove(column.name))?;
            }
        }
        debug_assert!(fields.is_empty(), "profile fields without a column: {:?}", fields.keys().collect::<Vec<_>>());
        Ok(())
    }

    pub(crate) fn bind<'q>(self, mut q: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        for array in self.0 {
            q = match array {
                Array::Text(values) => q.bind(values),
                Array::Json(values) => q.bind(values),
            };
        }
        q
    }
}

impl Array {
    fn push(&mut self, column: &str, value: Option<Value>) -> Result<()> {
        let value = value.filter(|v| !v.is_null());
        match self {
            Array::Text(values) => values.push(match value {
                None => None,
                Some(Value::String(s)) => Some(s),
                Some(other) => return Err(encoding(format!("profile field {column} is not a string: {other}"))),
            }),
            Array::Json(values) => values.push(value),
        }
        Ok(())
    }
}

fn encoding(reason: impl std::fmt::Display) -> Error {
    Error::Json(<serde_json::Error as serde::ser::Error>::custom(reason))
}

/// The profile of a row that has the columns of `READ_COLUMNS`: each
/// column's value under its name, deserialised as a `Profile`.
pub(crate) fn profile_from_row(row: &PgRow) -> Result<Profile> {
    let mut fields = Map::new();
    for column in PROFILE_COLUMNS.iter().filter(|c| c.is_field()) {
        let value = match column.kind {
            Kind::Text => row.try_get::<Option<String>, _>(column.name)?.map(Value::String),
            Kind::Json => row.try_get::<Option<Value>, _>(column.name)?,
            Kind::TextArray => row
                .try_get::<Option<Vec<String>>, _>(column.name)?
                .map(|items| Value::Array(items.into_iter().map(Value::String).collect())),
        };
        if let Some(value) = value {
            fields.insert(column.name.to_owned(), value);
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| Error::corrupt("contacts", format!("profile: {e}")))
}
