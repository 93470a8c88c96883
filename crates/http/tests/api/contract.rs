//! The published OpenAPI document as a test oracle: finds the operation a
//! request is for and checks an answer (or a request body) against it, with
//! the document's own schemas (JSON Schema 2020-12, `$ref`s resolved in the
//! document).
use serde_json::{Value, json};

pub struct Contract {
    pub doc: Value,
}

/// A media type without its parameters, lowercase.
fn essence(media: &str) -> String {
    media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

impl Contract {
    pub fn new(doc: Value) -> Self {
        Self { doc }
    }

    /// Every documented (method, path template), methods uppercase.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                all.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        all.sort();
        all
    }

    /// The template a concrete path (without its query) falls under: the one
    /// with the most literal segments, as the router picks it.
    pub fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    pub fn operation(&self, method: &str, path: &str) -> Option<&Value> {
        let template = self.template(path)?;
        self.doc["paths"][&template].get(method.to_ascii_lowercase())
    }

    /// The schema of `media` in a `content` map, if the map lists it.
    fn media<'a>(content: &'a Value, media: &str) -> Result<&'a Value, String> {
        let wanted = essence(media);
        content.as_object().and_then(|c| c.iter().find(|(k, _)| essence(k) == wanted)).map(|(_, v)| v).ok_or_else(
            || format!("{wanted} is not among {:?}", content.as_object().map(|c| c.keys().collect::<Vec<_>>())),
        )
    }

    /// Checks an answer: its status is documented for the operation, its
    /// media type among that response's, and a JSON body valid against the
    /// schema documented for it.
    pub fn check_answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &Value,
    ) -> Result<(), String> {
        let operation =
            self.operation(method, path).ok_or_else(|| format!("{method} {path} is not in the document"))?;
        let response = operation["responses"]
            .get(status.to_string())
            .ok_or_else(|| format!("{method} {path}: {status} is not a documented answer"))?;
        let Some(content) = response.get("content") else {
            return match content_type {
                None => Ok(()),
                Some(media) => Err(format!("{method} {path} {status}: documented without a body, answered {media}")),
            };
        };
        let media = content_type.ok_or_else(|| format!("{method} {path} {status}: no content type"))?;
        let documented = Self::media(content, media).map_err(|e| format!("{method} {path} {status}: {e}"))?;
        match documented.get("schema") {
            Some(schema) if essence(media).ends_with("json") => {
                self.validate(schema, body).map_err(|e| format!("{method} {path} {status}: {e}"))
            }
            _ => Ok(()),
        }
    }

    /// Checks a request body against the operation's documented body.
    pub fn check_request(&self, method: &str, path: &str, content_type: &str, body: &Value) -> Result<(), String> {
        let operation =
            self.operation(method, path).ok_or_else(|| format!("{method} {path} is not in the document"))?;
        let content = operation
            .pointer("/requestBody/content")
            .ok_or_else(|| format!("{method} {path}: no request body is documented"))?;
        let documented = Self::media(content, content_type).map_err(|e| format!("{method} {path}: {e}"))?;
        let schema = documented.get("schema").ok_or_else(|| format!("{method} {path}: no schema"))?;
        self.validate(schema, body).map_err(|e| format!("{method} {path} request: {e}"))
    }

    /// `schema` as a JSON Schema 2020-12 document of its own, its `$ref`s
    /// into the document's components resolved there.
    pub fn standalone(&self, schema: &Value) -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        })
    }

    /// Validates `instance` against `schema` as it stands in the document.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&self.standalone(schema))
            .map_err(|e| format!("the schema does not compile: {e}"))?;
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(format!("{errors:#?} in {instance}")) }
    }
}
