//! Finishing touches on the rendered OpenAPI document that hold for every
//! schema, so no handler or wire type can forget them: what responses
//! always send is `required`, every integer has one format, and every GET
//! of the API is a conditional request.

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// Applies every rule of this module.
pub(crate) fn finish(doc: &mut Value) {
    require_sent_fields(doc);
    one_integer_format(doc);
    conditional_gets(doc);
    positive_ids(doc);
    typed_events(doc);
}

/// One schema per event type, joined in `Event` (a `oneOf` told apart by
/// `type`), so generated clients get typed events; the feed's page and the
/// stream refer to it.
fn typed_events(doc: &mut Value) {
    use fieldopt_domain::EventType;
    let mut variants = Vec::new();
    let mut mapping = serde_json::Map::new();
    for event_type in EventType::ALL {
        let data = match event_type {
            EventType::TechnicianDeleted | EventType::JobDeleted => "DeletedResource",
            EventType::PlanApplied => "PlanApplied",
            EventType::WebhookDisabled => "WebhookEndpoint",
            other => match other.resource() {
                "technician" => "Technician",
                "job" => "Job",
                _ => "Assignment",
            },
        };
        let name: String = event_type
            .as_str()
            .split(['.', '_'])
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<String>()
            + "Event";
        let reference = format!("#/components/schemas/{name}");
        let data_example = doc
            .pointer(&format!("/components/schemas/{data}/example"))
            .cloned()
            .unwrap_or_else(|| json!({"id": 7}));
        let example = json!({
            "id": 1042, "type": event_type.as_str(), "occurred_at": "2026-04-15T08:00:00.123456Z",
            "actor": "dispatcher@example.com", "data": data_example
        });
        if *event_type == EventType::AssignmentCreated {
            doc["components"]["schemas"]["Event"]["example"] = example.clone();
        }
        doc["components"]["schemas"][&name] = json!({
            "example": example,
            "type": "object",
            "description": format!("A `{}` event.", event_type.as_str()),
            "required": ["id", "type", "occurred_at", "actor", "data"],
            "properties": {
                "id": {"type": "integer", "format": "int64", "minimum": 1,
                       "description": "Grows in commit order; ids may skip numbers"},
                "type": {"type": "string", "enum": [event_type.as_str()]},
                "occurred_at": {"type": "string", "format": "date-time"},
                "actor": {"type": ["string", "null"],
                          "description": "Who made the change (the token's subject; `dev` without authentication)"},
                "data": {"$ref": format!("#/components/schemas/{data}")}
            }
        });
        mapping.insert(event_type.as_str().to_string(), json!(reference));
        variants.push(json!({"$ref": reference}));
    }
    let schemas = &mut doc["components"]["schemas"];
    let example = schemas["Event"]["example"].take();
    schemas["Event"] = json!({
        "example": example.clone(),
        "description": "One event of the change feed: `data` is the resource as the API returns it (for deletions, its id)",
        "oneOf": variants,
        "discriminator": {"propertyName": "type", "mapping": mapping}
    });
    schemas["DeletedResource"] = json!({
        "type": "object",
        "example": {"id": 7},
        "description": "What is left of a deleted resource: its id",
        "required": ["id"],
        "properties": {"id": {"type": "integer", "format": "int64", "minimum": 1}}
    });
    if schemas.get("WebhookEndpoint").is_none() {
        schemas["WebhookEndpoint"] = json!({"type": "object", "example": {}});
    }
    if let Some(events) = schemas.pointer_mut("/EventPage/properties/events") {
        *events = json!({"type": "array", "items": {"$ref": "#/components/schemas/Event"},
                         "description": "Events in id order"});
    }
    let page_example = json!({"events": [example], "last_id": 1042});
    if let Some(page) = schemas.get_mut("EventPage") {
        page["example"] = page_example;
    }
}

/// Every GET under `/api/v1` answers with an `ETag` and takes
/// `If-None-Match` (see `conditional.rs`), so the document says so on each.
fn conditional_gets(doc: &mut Value) {
    let tag_header = json!({
        "description": "Weak entity tag of this answer; send it back in `If-None-Match` to get 304 while nothing changed",
        "schema": {"type": "string"}
    });
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let gets = paths
        .iter_mut()
        .filter(|(path, _)| path.starts_with("/api/v1/") && !path.ends_with("/events/stream"))
        .filter_map(|(_, item)| item.get_mut("get"));
    let mut any = false;
    for operation in gets {
        any = true;
        let parameters = operation
            .as_object_mut()
            .expect("an operation is an object")
            .entry("parameters")
            .or_insert_with(|| json!([]));
        if let Some(parameters) = parameters.as_array_mut() {
            parameters.push(json!({
                "name": "If-None-Match",
                "in": "header",
                "required": false,
                "description": "Entity tags from earlier answers: 304 Not Modified while one still holds",
                "schema": {"type": "string"}
            }));
        }
        if let Some(ok) = operation.pointer_mut("/responses/200") {
            let headers = ok
                .as_object_mut()
                .expect("a response is an object")
                .entry("headers")
                .or_insert_with(|| json!({}));
            headers["ETag"] = tag_header.clone();
        }
        operation["responses"]["304"] = json!({"$ref": "#/components/responses/NotModified"});
    }
    if any {
        doc["components"]["responses"]["NotModified"] = json!({
            "description": "Not Modified: nothing this answer depends on changed since the entity tag in `If-None-Match`; no body",
            "headers": {"ETag": tag_header}
        });
    }
}

/// Response schemas list every property as `required`: the server always
/// sends each field, `null` included (no field is ever skipped), and
/// generated clients should not have to guess. Schemas also used in
/// request bodies keep their own `required`, where absent means "not
/// given".
fn require_sent_fields(doc: &mut Value) {
    let (mut in_requests, mut in_responses) = (BTreeSet::new(), BTreeSet::new());
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for operation in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
        {
            if let Some(body) = operation.get("requestBody") {
                referenced_schemas(doc, body, &mut in_requests);
            }
            if let Some(responses) = operation.get("responses") {
                referenced_schemas(doc, responses, &mut in_responses);
            }
        }
    }
    for name in in_responses.difference(&in_requests) {
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else {
            continue;
        };
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let every: Vec<Value> = properties
            .keys()
            .filter(|key| !SOMETIMES_SENT.contains(&(name.as_str(), key.as_str())))
            .map(|key| json!(key))
            .collect();
        schema["required"] = Value::Array(every);
    }
}

/// The response fields sent only in some answers: a problem document's
/// extension members (`oldest_id` of the event feed's 410).
const SOMETIMES_SENT: [(&str, &str); 1] = [("Problem", "oldest_id")];

/// Names of the component schemas `value` refers to, directly or through
/// other schemas.
fn referenced_schemas(doc: &Value, value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && found.insert(name.to_string())
                && let Some(schema) = doc.pointer(&format!("/components/schemas/{name}"))
            {
                referenced_schemas(doc, schema, found);
            }
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/responses/"))
                && let Some(response) = doc.pointer(&format!("/components/responses/{name}"))
            {
                referenced_schemas(doc, response, found);
            }
            for inner in map.values() {
                referenced_schemas(doc, inner, found);
            }
        }
        Value::Array(items) => {
            for inner in items {
                referenced_schemas(doc, inner, found);
            }
        }
        _ => {}
    }
}

/// Every integer is `int64`: ids, counts, minutes and limits alike, in
/// requests and responses, so a field never changes width between the two
/// (their ranges are stated by `minimum` and `maximum`).
fn one_integer_format(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let integer = match map.get("type") {
                Some(Value::String(kind)) => kind == "integer",
                Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "integer"),
                _ => false,
            };
            if integer {
                map.insert("format".to_string(), json!("int64"));
            }
            for inner in map.values_mut() {
                one_integer_format(inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(one_integer_format),
        _ => {}
    }
}

/// Whether a property names a record's id: `id`, `*_id`, `*_ids`, or the
/// job's `assigned_technician`.
fn is_identifier(name: &str) -> bool {
    name == "id" || name.ends_with("_id") || name.ends_with("_ids") || name == "assigned_technician"
}

/// Ids are positive everywhere (the server assigns them from 1): the ids
/// responses carry say `minimum: 1` like the ids requests take, so a
/// generated client gives both one type (progenitor: `NonZeroU64`) and an
/// id read from one answer goes into the next request as it is.
fn positive_ids(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            if !is_identifier(name) {
                continue;
            }
            // A list of ids: its items.
            let target = match property.get_mut("items") {
                Some(items) => items,
                None => property,
            };
            let integer = target.get("format").is_some_and(|f| f == "int64");
            if let Some(target) = target.as_object_mut()
                && integer
            {
                target.entry("minimum").or_insert(json!(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_schemas_require_every_field_and_request_schemas_keep_theirs() {
        let mut doc = json!({
            "paths": {"/x": {"post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}},
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}},
                    "400": {"$ref": "#/components/responses/Bad"}
                }
            }}},
            "components": {
                "schemas": {
                    "In": {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"]},
                    "Out": {"type": "object", "properties": {"a": {}, "inner": {"$ref": "#/components/schemas/Inner"}}},
                    "Inner": {"type": "object", "properties": {"c": {}}},
                    "Problem": {"type": "object", "properties": {"d": {}}}
                },
                "responses": {"Bad": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
            }
        });
        finish(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["In"]["required"], json!(["a"]));
        assert_eq!(schemas["Out"]["required"], json!(["a", "inner"]));
        assert_eq!(schemas["Inner"]["required"], json!(["c"]));
        assert_eq!(schemas["Problem"]["required"], json!(["d"]));
    }

    #[test]
    fn ids_are_positive_in_responses_too() {
        let mut doc = json!({"components": {"schemas": {"Out": {"properties": {
            "id": {"type": "integer"},
            "job_id": {"type": ["integer", "null"]},
            "job_ids": {"type": "array", "items": {"type": "integer"}},
            "assigned_technician": {"type": "integer"},
            "tech_id": {"type": "integer", "minimum": 1, "maximum": 9},
            "count": {"type": "integer"},
            "external_id": {"type": "string"}
        }}}}});
        finish(&mut doc);
        let properties = &doc["components"]["schemas"]["Out"]["properties"];
        assert_eq!(properties["id"]["minimum"], 1);
        assert_eq!(properties["job_id"]["minimum"], 1);
        assert_eq!(properties["job_ids"]["items"]["minimum"], 1);
        assert_eq!(properties["assigned_technician"]["minimum"], 1);
        assert_eq!(properties["tech_id"]["maximum"], 9);
        assert!(properties["count"].get("minimum").is_none());
        assert!(properties["external_id"].get("minimum").is_none());
    }

    #[test]
    fn every_integer_is_int64() {
        let mut doc = json!({"a": {"type": "integer", "format": "int32"},
            "b": {"type": ["integer", "null"]}, "c": {"type": "string"}});
        finish(&mut doc);
        assert_eq!(doc["a"]["format"], "int64");
        assert_eq!(doc["b"]["format"], "int64");
        assert!(doc["c"].get("format").is_none());
    }
}
