//! Reading untrusted JSON into typed input while collecting every failing
//! field, so a client learns about all of its mistakes in one answer. Used for
//! command payloads from Kafka and (by the HTTP adapter) for request bodies.
use serde_json::{Map, Value};

use crate::error::FieldError;

pub struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    seen: Vec<&'a str>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self::nested(obj, String::new())
    }

    fn nested(obj: &'a Map<String, Value>, prefix: String) -> Self {
        Self { obj, prefix, seen: Vec::new(), errors: Vec::new() }
    }

    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    pub fn error(&mut self, key: &str, code: &str, message: impl Into<String>) {
        let field = self.path(key);
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Fields that already failed (so rules do not pile on a parse error).
    pub fn failed_fields(&self) -> std::collections::HashSet<String> {
        self.errors.iter().map(|e| e.field.clone()).collect()
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Marks a key as known without reading it.
    pub fn allow(&mut self, key: &'a str) {
        self.seen.push(key);
    }

    /// The value, treating JSON null as absent.
    pub fn raw(&mut self, key: &'a str) -> Option<&'a Value> {
        self.seen.push(key);
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// The value, JSON null included (a merge patch's "clear this").
    pub fn raw_or_null(&mut self, key: &'a str) -> Option<&'a Value> {
        self.seen.push(key);
        self.obj.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// A string, trimmed; empty strings count as absent (vendors send `""`
    /// for fields they leave blank).
    pub fn string(&mut self, key: &'a str) -> Option<String> {
        self.exact_string(key).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// A string as given, empty or not.
    pub fn exact_string(&mut self, key: &'a str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.error(key, "invalid_type", "must be a string");
                None
            }
        }
    }

    pub fn int(&mut self, key: &'a str) -> Option<i64> {
        let v = self.raw(key)?;
        match v.as_i64() {
            Some(n) => Some(n),
            None => {
                self.error(key, "invalid_type", "must be an integer");
                None
            }
        }
    }

    pub fn bool(&mut self, key: &'a str) -> Option<bool> {
        match self.raw(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(key, "invalid_type", "must be true or false");
                None
            }
        }
    }

    pub fn object(&mut self, key: &'a str) -> Option<&'a Map<String, Value>> {
        match self.raw(key)? {
            Value::Object(m) => Some(m),
            _ => {
                self.error(key, "invalid_type", "must be an object");
                None
            }
        }
    }

    pub fn array(&mut self, key: &'a str) -> Option<&'a Vec<Value>> {
        match self.raw(key)? {
            Value::Array(a) => Some(a),
            _ => {
                self.error(key, "invalid_type", "must be an array");
                None
            }
        }
    }

    /// A reader for a nested object; its errors come back through `absorb`.
    pub fn child(&self, key: &str, obj: &'a Map<String, Value>) -> Reader<'a> {
        Reader::nested(obj, self.path(key))
    }

    pub fn absorb(&mut self, errors: Vec<FieldError>) {
        self.errors.extend(errors);
    }

    /// Errors to list where the `at`-th error stands (in reading order).
    pub fn absorb_at(&mut self, at: usize, errors: Vec<FieldError>) {
        let at = at.min(self.errors.len());
        self.errors.splice(at..at, errors);
    }

    /// Every error so far, plus one per key nobody asked for.
    pub fn finish(mut self) -> Vec<FieldError> {
        let unknown: Vec<String> = self.obj.keys().filter(|k| !self.seen.contains(&k.as_str())).cloned().collect();
        for key in unknown {
            self.error(&key, "unknown_field", "is not a known field");
        }
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_wrong_and_unknown_field_at_once() {
        let v = json!({"a": 1, "b": "x", "c": {"d": true}, "zzz": 1, "yyy": 2});
        let obj = v.as_object().unwrap();
        let mut r = Reader::new(obj);
        assert_eq!(r.string("a"), None);
        assert_eq!(r.int("b"), None);
        let c = r.object("c").unwrap();
        let mut child = r.child("c", c);
        assert_eq!(child.string("d"), None);
        let child_errors = child.finish();
        r.absorb(child_errors);
        let fields: Vec<String> = r.finish().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["a", "b", "c.d", "yyy", "zzz"]);
    }
}
