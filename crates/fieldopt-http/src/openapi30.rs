//! The OpenAPI 3.1 document rendered as OpenAPI 3.0.3, for generators that
//! read only 3.0 (progenitor, older openapi-generator releases).
//!
//! A pure function on JSON: it walks the places where schemas live (never
//! example values, which are data) and rewrites each 3.1 construct into
//! its 3.0 spelling. What 3.0 cannot say at all is dropped; nothing the
//! server enforces is (every limit keyword exists in both versions).

use serde_json::{Map, Value, json};

/// The version written into the converted document.
pub const VERSION: &str = "3.0.3";

/// JSON Schema keywords of 3.1 that 3.0's schema object does not have.
const DROPPED_KEYWORDS: [&str; 22] = [
    "$schema",
    "$id",
    "$anchor",
    "$comment",
    "$defs",
    "$dynamicRef",
    "$dynamicAnchor",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "prefixItems",
    "unevaluatedItems",
    "unevaluatedProperties",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
];

/// The 3.0.3 rendering of a 3.1 document.
pub fn convert(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let Some(root) = doc.as_object_mut() else {
        return doc;
    };
    root.insert("openapi".to_string(), json!(VERSION));
    // 3.1 only: webhooks, the default dialect, a license by SPDX
    // identifier, an info summary.
    root.remove("webhooks");
    root.remove("jsonSchemaDialect");
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        paths.values_mut().for_each(path_item);
    }
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("pathItems");
        each_value(components.get_mut("schemas"), schema);
        each_value(components.get_mut("parameters"), parameter);
        each_value(components.get_mut("headers"), parameter);
        each_value(components.get_mut("requestBodies"), body);
        each_value(components.get_mut("responses"), response);
    }
    doc
}

/// Applies `f` to every value of a map, if `value` is one.
fn each_value(value: Option<&mut Value>, f: fn(&mut Value)) {
    if let Some(map) = value.and_then(Value::as_object_mut) {
        map.values_mut().for_each(f);
    }
}

/// Applies `f` to every item of an array, if `value` is one.
fn each_item(value: Option<&mut Value>, f: fn(&mut Value)) {
    if let Some(items) = value.and_then(Value::as_array_mut) {
        items.iter_mut().for_each(f);
    }
}

fn path_item(item: &mut Value) {
    let Some(item) = item.as_object_mut() else {
        return;
    };
    each_item(item.get_mut("parameters"), parameter);
    for method in [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ] {
        if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
            each_item(operation.get_mut("parameters"), parameter);
            if let Some(request) = operation.get_mut("requestBody") {
                body(request);
            }
            each_value(operation.get_mut("responses"), response);
        }
    }
}

/// A parameter or a header: a schema, or content.
fn parameter(value: &mut Value) {
    if let Some(schema_value) = value.get_mut("schema") {
        schema(schema_value);
    }
    content(value);
}

fn body(value: &mut Value) {
    content(value);
}

fn response(value: &mut Value) {
    content(value);
    each_value(value.get_mut("headers"), parameter);
}

/// The schema of every media type under `content`.
fn content(value: &mut Value) {
    if let Some(media_types) = value.get_mut("content").and_then(Value::as_object_mut) {
        for media_type in media_types.values_mut() {
            if let Some(schema_value) = media_type.get_mut("schema") {
                schema(schema_value);
            }
        }
    }
}

/// Rewrites one schema and, through it, every schema inside it.
fn schema(value: &mut Value) {
    // 3.0 has no boolean schemas: `true` is the empty schema, `false`
    // the one nothing matches.
    if let Value::Bool(accepts) = value {
        *value = if *accepts {
            json!({})
        } else {
            json!({"not": {}})
        };
        return;
    }
    let Some(map) = value.as_object_mut() else {
        return;
    };
    null_branches(map);
    each_value(map.get_mut("properties"), schema);
    for key in ["items", "not"] {
        if let Some(inner) = map.get_mut(key) {
            schema(inner);
        }
    }
    // `additionalProperties: false` stays a boolean: 3.0 has that form.
    if let Some(inner) = map.get_mut("additionalProperties")
        && inner.is_object()
    {
        schema(inner);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        each_item(map.get_mut(key), schema);
    }
    type_list(map);
    constant(map);
    examples(map);
    exclusive_bounds(map);
    for keyword in DROPPED_KEYWORDS {
        map.remove(keyword);
    }
}

/// `type: [X, "null"]` → `type: X, nullable: true`; several types besides
/// null become an `anyOf` of one type each.
fn type_list(map: &mut Map<String, Value>) {
    let kinds = match map.get("type") {
        Some(Value::Array(kinds)) => kinds.clone(),
        Some(Value::String(kind)) if kind == "null" => vec![json!("null")],
        _ => return,
    };
    let (nulls, others): (Vec<Value>, Vec<Value>) = kinds.into_iter().partition(|k| k == "null");
    map.remove("type");
    if !nulls.is_empty() {
        map.insert("nullable".to_string(), json!(true));
    }
    match others.as_slice() {
        // Only null: 3.0 says it as a nullable enum of null alone.
        [] => {
            map.insert("enum".to_string(), json!([null]));
        }
        [one] => {
            map.insert("type".to_string(), one.clone());
        }
        several => {
            let branches = several.iter().map(|kind| json!({"type": kind})).collect();
            map.insert("anyOf".to_string(), Value::Array(branches));
        }
    }
}

/// Whether a schema is the null type, in either version's spelling.
fn is_null_schema(value: &Value) -> bool {
    match value.get("type") {
        Some(Value::String(kind)) => kind == "null",
        Some(Value::Array(kinds)) => kinds.iter().all(|k| k == "null"),
        _ => false,
    }
}

/// `oneOf`/`anyOf` with a `{"type": "null"}` branch → the other branches
/// and `nullable: true`. A single branch left is merged into the schema;
/// a `$ref` is wrapped in `allOf` first, since 3.0 ignores whatever stands
/// beside a `$ref` (`nullable` included).
fn null_branches(map: &mut Map<String, Value>) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(branches)) = map.get_mut(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|branch| !is_null_schema(branch));
        if branches.len() == before {
            continue;
        }
        map.insert("nullable".to_string(), json!(true));
        let Some(Value::Array(mut rest)) = map.remove(key) else {
            continue;
        };
        match rest.len() {
            0 => {
                map.insert("enum".to_string(), json!([null]));
            }
            1 => {
                let Some(Value::Object(mut branch)) = rest.pop() else {
                    continue;
                };
                if let Some(reference) = branch.remove("$ref") {
                    map.insert("allOf".to_string(), json!([{ "$ref": reference }]));
                }
                // The branch's own words (a description, a default) join
                // the schema unless it already has its own.
                for (name, inner) in branch {
                    map.entry(name).or_insert(inner);
                }
            }
            _ => {
                map.insert(key.to_string(), Value::Array(rest));
            }
        }
    }
}

/// `const: v` → `enum: [v]`.
fn constant(map: &mut Map<String, Value>) {
    if let Some(value) = map.remove("const") {
        map.insert("enum".to_string(), json!([value]));
    }
}

/// A schema's `examples` list → its first item as `example`.
fn examples(map: &mut Map<String, Value>) {
    if let Some(Value::Array(mut list)) = map.remove("examples")
        && !map.contains_key("example")
        && !list.is_empty()
    {
        map.insert("example".to_string(), list.swap_remove(0));
    }
}

/// `exclusiveMinimum: n` (a number in 3.1) → `minimum: n` and
/// `exclusiveMinimum: true`; the same for the maximum. When both an
/// inclusive and an exclusive bound are given, the stricter one stays.
fn exclusive_bounds(map: &mut Map<String, Value>) {
    for (exclusive, inclusive, stricter) in [
        ("exclusiveMinimum", "minimum", std::cmp::Ordering::Greater),
        ("exclusiveMaximum", "maximum", std::cmp::Ordering::Less),
    ] {
        let Some(bound) = map.get(exclusive).filter(|v| v.is_number()).cloned() else {
            continue;
        };
        map.remove(exclusive);
        let wins = match map.get(inclusive).and_then(Value::as_f64) {
            Some(current) => bound
                .as_f64()
                .and_then(|b| b.partial_cmp(&current))
                .is_some_and(|order| order == stricter || order.is_eq()),
            None => true,
        };
        if wins {
            map.insert(inclusive.to_string(), bound);
            map.insert(exclusive.to_string(), json!(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts `schema` as a component schema and returns it.
    fn converted(schema: Value) -> Value {
        let doc = json!({"openapi": "3.1.0", "components": {"schemas": {"S": schema}}});
        convert(&doc)["components"]["schemas"]["S"].clone()
    }

    #[test]
    fn the_version_and_3_1_only_document_fields() {
        let doc = json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "webhooks": {},
            "info": {"title": "t", "summary": "s", "version": "1",
                     "license": {"name": "MIT", "identifier": "MIT"}},
            "components": {"pathItems": {}}
        });
        let out = convert(&doc);
        assert_eq!(out["openapi"], "3.0.3");
        assert_eq!(
            out["info"],
            json!({"title": "t", "version": "1", "license": {"name": "MIT"}})
        );
        assert!(out.get("webhooks").is_none() && out.get("jsonSchemaDialect").is_none());
        assert_eq!(out["components"], json!({}));
    }

    #[test]
    fn type_lists_with_null_become_nullable() {
        assert_eq!(
            converted(json!({"type": ["string", "null"], "maxLength": 3})),
            json!({"type": "string", "nullable": true, "maxLength": 3})
        );
        assert_eq!(
            converted(json!({"type": ["integer"]})),
            json!({"type": "integer"})
        );
        assert_eq!(
            converted(json!({"type": ["integer", "string", "null"]})),
            json!({"anyOf": [{"type": "integer"}, {"type": "string"}], "nullable": true})
        );
        assert_eq!(
            converted(json!({"type": "null"})),
            json!({"nullable": true, "enum": [null]})
        );
    }

    #[test]
    fn a_null_branch_makes_the_other_branch_nullable() {
        assert_eq!(
            converted(
                json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/T", "description": "d"}]})
            ),
            json!({"allOf": [{"$ref": "#/components/schemas/T"}], "nullable": true, "description": "d"})
        );
        assert_eq!(
            converted(json!({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]})),
            json!({"type": "integer", "minimum": 1, "nullable": true})
        );
        assert_eq!(
            converted(
                json!({"oneOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]})
            ),
            json!({"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": true})
        );
        // Without a null branch nothing changes.
        let plain = json!({"oneOf": [{"type": "integer"}, {"type": "string"}]});
        assert_eq!(converted(plain.clone()), plain);
    }

    #[test]
    fn schemas_inside_schemas_are_converted() {
        let out = converted(json!({
            "type": "object",
            "properties": {"a": {"type": ["array", "null"], "items": {"type": ["number", "null"]}}},
            "additionalProperties": {"const": 1},
            "allOf": [{"examples": [1]}],
            "not": {"type": ["boolean", "null"]}
        }));
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {"a": {"type": "array", "nullable": true,
                                     "items": {"type": "number", "nullable": true}}},
                "additionalProperties": {"enum": [1]},
                "allOf": [{"example": 1}],
                "not": {"type": "boolean", "nullable": true}
            })
        );
    }

    #[test]
    fn const_becomes_an_enum_of_one() {
        assert_eq!(converted(json!({"const": "x"})), json!({"enum": ["x"]}));
    }

    #[test]
    fn examples_become_one_example() {
        assert_eq!(
            converted(json!({"examples": [3, 4]})),
            json!({"example": 3})
        );
        assert_eq!(
            converted(json!({"example": 1, "examples": [3]})),
            json!({"example": 1})
        );
    }

    #[test]
    fn exclusive_bounds_take_the_boolean_form() {
        assert_eq!(
            converted(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 90.5})),
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true,
                   "maximum": 90.5, "exclusiveMaximum": true})
        );
        // An inclusive bound that is stricter than the exclusive one wins.
        assert_eq!(
            converted(json!({"minimum": 5, "exclusiveMinimum": 1})),
            json!({"minimum": 5})
        );
        assert_eq!(
            converted(json!({"maximum": 5, "exclusiveMaximum": 1})),
            json!({"maximum": 1, "exclusiveMaximum": true})
        );
    }

    #[test]
    fn keywords_3_0_lacks_are_dropped_and_boolean_schemas_spelled_out() {
        assert_eq!(
            converted(json!({"type": "string", "contentMediaType": "text/plain",
                             "$schema": "x", "$comment": "c", "propertyNames": {}})),
            json!({"type": "string"})
        );
        let doc = json!({"components": {"schemas": {"T": true, "F": false,
            "O": {"additionalProperties": false}}}});
        let out = convert(&doc);
        assert_eq!(out["components"]["schemas"]["T"], json!({}));
        assert_eq!(out["components"]["schemas"]["F"], json!({"not": {}}));
        assert_eq!(
            out["components"]["schemas"]["O"],
            json!({"additionalProperties": false})
        );
    }

    #[test]
    fn schemas_in_parameters_bodies_responses_and_headers_are_converted_but_examples_are_not() {
        let nullable = json!({"type": ["string", "null"]});
        let doc = json!({
            "paths": {"/x": {
                "parameters": [{"name": "a", "in": "query", "schema": nullable}],
                "post": {
                    "parameters": [{"name": "b", "in": "query", "schema": nullable}],
                    "requestBody": {"content": {"application/json": {
                        "schema": nullable,
                        "example": {"type": ["kept", "null"]}
                    }}},
                    "responses": {"200": {
                        "headers": {"H": {"schema": nullable}},
                        "content": {"application/json": {"schema": nullable}}
                    }}
                }
            }},
            "components": {
                "responses": {"R": {"content": {"application/problem+json": {"schema": nullable}}}},
                "parameters": {"P": {"name": "p", "in": "query", "schema": nullable}},
                "headers": {"H": {"schema": nullable}},
                "requestBodies": {"B": {"content": {"application/json": {"schema": nullable}}}}
            }
        });
        let out = convert(&doc);
        let want = json!({"type": "string", "nullable": true});
        let post = &out["paths"]["/x"]["post"];
        for converted in [
            &out["paths"]["/x"]["parameters"][0]["schema"],
            &post["parameters"][0]["schema"],
            &post["requestBody"]["content"]["application/json"]["schema"],
            &post["responses"]["200"]["headers"]["H"]["schema"],
            &post["responses"]["200"]["content"]["application/json"]["schema"],
            &out["components"]["responses"]["R"]["content"]["application/problem+json"]["schema"],
            &out["components"]["parameters"]["P"]["schema"],
            &out["components"]["headers"]["H"]["schema"],
            &out["components"]["requestBodies"]["B"]["content"]["application/json"]["schema"],
        ] {
            assert_eq!(converted, &want);
        }
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["example"],
            json!({"type": ["kept", "null"]})
        );
    }
}
