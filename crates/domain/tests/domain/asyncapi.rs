//! `schemas/asyncapi.yaml` publishes the Kafka side of the contract (AsyncAPI
//! 3.0). These tests fail when a command type (`Command::TYPES`) or an event
//! type (`upcast::EVENT_TYPES`) has no message there whose payload `$ref`s its
//! JSON Schema, or that its channel and operations leave out; when a `$ref` of
//! the document points to a file or a place that does not exist; and when one
//! of the three topics is missing. The lists come from the code, so a new type
//! fails here until the document names it.
use std::{fs, path::PathBuf};

use ledger_domain::{Command, upcast};
use serde_json::Value;

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn document() -> Value {
    let path = schemas().join("asyncapi.yaml");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// Every `$ref` under `v` (not following any), with where it stands.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push((at.to_owned(), r.clone())),
                    _ => refs(child, &format!("{at}/{k}"), out),
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn refs_of(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    refs(v, "", &mut out);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Every `properties.<name>.const` under `v`.
fn consts<'a>(v: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            if let Some(c) = map.get("properties").and_then(|p| p.get(name)).and_then(|p| p.get("const")) {
                out.push(c);
            }
            map.values().for_each(|child| consts(child, name, out));
        }
        Value::Array(items) => items.iter().for_each(|child| consts(child, name, out)),
        _ => {}
    }
}

fn consts_of<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    consts(v, name, &mut out);
    out
}

/// The channel (by key) whose address is `address`.
fn channel<'a>(doc: &'a Value, address: &str) -> (&'a str, &'a Value) {
    doc["channels"]
        .as_object()
        .expect("channels")
        .iter()
        .find(|(_, c)| c["address"] == address)
        .map(|(k, c)| (k.as_str(), c))
        .unwrap_or_else(|| panic!("no channel with address {address}"))
}

/// The `$ref`s listed by each operation on `channel_key`, by operation id.
fn operations_on<'a>(doc: &'a Value, channel_key: &str) -> Vec<(&'a str, Vec<String>)> {
    let ops: Vec<_> = doc["operations"]
        .as_object()
        .expect("operations")
        .iter()
        .filter(|(_, op)| op["channel"]["$ref"] == format!("#/channels/{channel_key}"))
        .map(|(id, op)| (id.as_str(), refs_of(&op["messages"])))
        .collect();
    assert!(!ops.is_empty(), "no operation on channel {channel_key}");
    ops
}

/// Checks that `ty` has a message whose payload fixes `type` and `$ref`s
/// `schema` (a path relative to `schemas/`), listed by its channel and by
/// every operation on that channel; what is wrong goes to `failures`.
fn check_message(doc: &Value, ty: &str, channel_key: &str, schema: &str, failures: &mut Vec<String>) {
    let Some(message) = doc["components"]["messages"].get(ty) else {
        failures.push(format!("{ty}: no message in components.messages"));
        return;
    };
    let payload = &message["payload"];
    let wanted = format!("./{schema}");
    if !refs_of(payload).contains(&wanted) {
        failures.push(format!("{ty}: the payload does not $ref {wanted}"));
    }
    if !schemas().join(schema).is_file() {
        failures.push(format!("{ty}: schemas/{schema} does not exist"));
    }
    if !consts_of(payload, "type").contains(&&Value::from(ty)) {
        failures.push(format!("{ty}: the payload does not fix `type` to {ty}"));
    }
    let in_channel = &doc["channels"][channel_key]["messages"][ty]["$ref"];
    if *in_channel != format!("#/components/messages/{ty}") {
        failures.push(format!("{ty}: channel {channel_key} does not list it"));
    }
    for (op, listed) in operations_on(doc, channel_key) {
        if !listed.contains(&format!("#/channels/{channel_key}/messages/{ty}")) {
            failures.push(format!("{ty}: operation {op} does not list it"));
        }
    }
}

#[test]
fn the_document_is_asyncapi_3_with_the_three_topics() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    for section in ["info", "channels", "operations", "components"] {
        assert!(doc[section].is_object(), "no {section}");
    }
    for address in ["{prefix}commands", "{prefix}events", "{prefix}dead-letter"] {
        let (key, c) = channel(&doc, address);
        assert!(c["parameters"]["prefix"].is_object(), "channel {key}: no prefix parameter");
        assert!(c["messages"].as_object().is_some_and(|m| !m.is_empty()), "channel {key}: no messages");
    }
    let (key, dead) = channel(&doc, "{prefix}dead-letter");
    let dead_letter = &doc["components"]["messages"]["DeadLetter"];
    assert_eq!(dead["messages"]["DeadLetter"]["$ref"], "#/components/messages/DeadLetter", "channel {key}");
    let headers = refs_of(&dead_letter["headers"]);
    let schema = doc.pointer(headers[0].trim_start_matches('#')).expect("dead-letter headers");
    for h in ["cl-dlq-topic", "cl-dlq-partition", "cl-dlq-offset", "cl-dlq-error"] {
        assert!(schema["properties"][h].is_object(), "dead-letter headers lack {h}");
    }
}

#[test]
fn every_command_type_has_a_message_whose_payload_refs_its_schema() {
    let doc = document();
    let (commands, _) = channel(&doc, "{prefix}commands");
    let mut failures = Vec::new();
    for ty in Command::TYPES {
        check_message(&doc, ty, commands, &format!("commands/{ty}.v1.json"), &mut failures);
    }
    assert!(failures.is_empty(), "schemas/asyncapi.yaml is behind the commands: {failures:#?}");
}

#[test]
fn every_event_type_has_a_message_whose_payload_refs_its_current_schema() {
    let doc = document();
    let (events, _) = channel(&doc, "{prefix}events");
    let batch = refs_of(&doc["components"]["messages"]["DecisionBatch"]["payload"]);
    let mut failures = Vec::new();
    for ty in upcast::EVENT_TYPES {
        let version = upcast::current_version(ty).expect("a current version");
        check_message(&doc, ty, events, &format!("events/{ty}.v{version}.json"), &mut failures);
        let payload = &doc["components"]["messages"][ty]["payload"];
        if !consts_of(payload, "eventversion").contains(&&Value::from(version)) {
            failures.push(format!("{ty}: the payload does not fix `eventversion` to {version}"));
        }
        if !batch.contains(&format!("#/components/messages/{ty}/payload")) {
            failures.push(format!("{ty}: DecisionBatch does not list it"));
        }
    }
    assert!(failures.is_empty(), "schemas/asyncapi.yaml is behind the events: {failures:#?}");
}

#[test]
fn every_ref_of_the_document_points_to_something_that_exists() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, "", &mut all);
    assert!(all.iter().any(|(_, r)| !r.starts_with('#')), "no file is referenced");
    let mut failures = Vec::new();
    for (at, r) in &all {
        let (file, fragment) = r.split_once('#').unwrap_or((r, ""));
        let target = if file.is_empty() {
            Some(doc.clone())
        } else {
            let path = schemas().join(file);
            fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str::<Value>(&text).ok())
        };
        let Some(target) = target else {
            failures.push(format!("{at}: {r}: no such JSON file under schemas/"));
            continue;
        };
        if !fragment.is_empty() && target.pointer(fragment).is_none() {
            failures.push(format!("{at}: {r}: nothing there"));
        }
    }
    assert!(failures.is_empty(), "dangling $refs in schemas/asyncapi.yaml: {failures:#?}");
}
