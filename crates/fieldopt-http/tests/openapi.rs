//! The committed OpenAPI documents (3.1 and its 3.0 rendering) must match
//! the ones the code builds. Run with `UPDATE_OPENAPI=1` to rewrite both
//! after an intended change.

use std::path::PathBuf;

use fieldopt_http::SpecVersion;

/// Compares (or, with `UPDATE_OPENAPI` set, rewrites) one committed file.
fn check_committed(file: &str, version: SpecVersion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../openapi")
        .join(file);
    let built = fieldopt_http::openapi_pretty_json(version).expect("serialises") + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &built).unwrap_or_else(|e| panic!("write openapi/{file}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == built,
        "openapi/{file} is stale: run `UPDATE_OPENAPI=1 cargo test -p fieldopt-http --test openapi` and commit it"
    );
}

#[test]
fn committed_openapi_document_is_current() {
    check_committed("fieldopt.json", SpecVersion::V3_1);
}

#[test]
fn committed_openapi_3_0_document_is_current() {
    check_committed("fieldopt-3.0.json", SpecVersion::V3_0);
}

/// The 3.0 rendering says nothing only 3.1 can say: no type lists, no
/// null type, no 3.1 keyword, and every nullable field kept nullable.
#[test]
fn the_3_0_document_speaks_3_0_only() {
    let doc: serde_json::Value = serde_json::from_str(
        &fieldopt_http::openapi_pretty_json(SpecVersion::V3_0).expect("serialises"),
    )
    .expect("JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    fn walk(value: &serde_json::Value, path: &str, nullable: &mut usize) {
        match value {
            serde_json::Value::Object(map) => {
                // (A `type` that is an object is a property named so.)
                match map.get("type") {
                    Some(serde_json::Value::Array(_)) => panic!("{path}: a type list"),
                    Some(kind) if kind == "null" => panic!("{path}: the null type"),
                    _ => {}
                }
                for keyword in ["const", "contentMediaType", "$schema"] {
                    assert!(!map.contains_key(keyword), "{path}: {keyword}");
                }
                // A media type's `examples` (a map) is 3.0 too; a schema's
                // (a list) is not.
                assert!(
                    !map.get("examples").is_some_and(serde_json::Value::is_array),
                    "{path}: examples"
                );
                if map.get("nullable") == Some(&serde_json::Value::Bool(true)) {
                    *nullable += 1;
                }
                for (key, inner) in map {
                    if key != "example" {
                        walk(inner, &format!("{path}/{key}"), nullable);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{path}/{i}"), nullable);
                }
            }
            _ => {}
        }
    }
    let mut nullable = 0;
    walk(&doc, "", &mut nullable);
    // As many nullable fields as the 3.1 document has null types.
    let source = fieldopt_http::openapi_pretty_json(SpecVersion::V3_1).expect("serialises");
    let nulls = source.matches("\"null\"").count();
    assert_eq!(nullable, nulls, "a nullable field was lost");
    assert_eq!(
        doc["components"]["schemas"]["Job"]["properties"]["assigned_technician"]["nullable"],
        true
    );
}

#[test]
fn every_operation_has_a_stable_id_a_tag_and_error_responses() {
    let doc = fieldopt_http::openapi();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        for op in [&item.get, &item.post, &item.patch, &item.put, &item.delete]
            .into_iter()
            .flatten()
        {
            let id = op.operation_id.clone().unwrap_or_default();
            assert!(
                id.contains('_'),
                "{path}: operationId {id:?} is not <verb>_<resource>"
            );
            assert!(ids.insert(id.clone()), "duplicate operationId {id}");
            assert!(
                op.tags.as_ref().is_some_and(|t| !t.is_empty()),
                "{path} {id}: no tag"
            );
            assert!(
                op.responses.responses.contains_key("500"),
                "{path} {id}: no 500"
            );
            for (code, response) in &op.responses.responses {
                if let utoipa::openapi::RefOr::T(response) = response {
                    assert!(
                        !response.description.is_empty(),
                        "{path} {id} {code}: no description"
                    );
                }
            }
        }
    }
    assert!(ids.len() >= 30, "only {} operations", ids.len());
}

/// No endpoint can be added unguarded: every operation of the document is
/// either open on purpose or named in the domain's access table, and every
/// guarded one says so (bearer security, 401, 403, 429).
#[test]
fn every_operation_has_an_explicit_access_policy() {
    use fieldopt_domain::access::Operation;
    let doc = fieldopt_http::openapi();
    let json: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(
        json["components"]["securitySchemes"][fieldopt_http::BEARER_SCHEME],
        serde_json::json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": json["components"]["securitySchemes"]["bearer"]["description"]})
    );
    assert!(
        json["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"].is_object(),
        "429 without Retry-After"
    );
    let mut guarded = std::collections::HashSet::new();
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let security = &op["security"];
            if fieldopt_http::OPEN_OPERATIONS.contains(&id) {
                assert_eq!(security, &serde_json::json!([]), "{id} is open");
                continue;
            }
            let operation = fieldopt_http::policy(id)
                .unwrap_or_else(|| panic!("{method} {path} ({id}) has no access policy"));
            // The webhook operations share one policy; others have their own.
            let shared = fieldopt_http::webhooks::OPERATION_IDS.contains(&id);
            assert!(guarded.insert(operation) || shared, "{id} twice");
            assert_eq!(security, &serde_json::json!([{"bearer": []}]), "{id}");
            for code in ["401", "403", "429"] {
                assert!(op["responses"][code].is_object(), "{id}: no {code}");
            }
            assert_eq!(
                op["responses"]["429"]["$ref"], "#/components/responses/TooManyRequests",
                "{id}"
            );
        }
    }
    assert_eq!(
        guarded.len(),
        Operation::ALL.len(),
        "an operation of the table is not served"
    );
}

/// What client generators rely on: a description on every operation, an
/// example on every schema, `servers`, shared error responses by
/// reference, one integer format, and response fields marked required.
#[test]
fn the_document_gives_generators_what_they_need() {
    let doc = serde_json::to_value(fieldopt_http::openapi()).expect("serialises");
    assert!(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "no servers"
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let description = op["description"].as_str().unwrap_or_default();
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty() && description.contains("**Access:**"),
                "{method} {path}: summary {summary:?}, description {description:?}"
            );
            // Beyond the generated access line, a handler's own words.
            assert!(
                description
                    .split("**Access:**")
                    .next()
                    .is_some_and(|own| own.trim().len() > 20),
                "{method} {path} has no description of its own"
            );
            for (code, response) in op["responses"].as_object().expect("responses") {
                if ["401", "403", "429", "500"].contains(&code.as_str()) {
                    assert!(
                        response.get("$ref").is_some(),
                        "{method} {path} {code} is not the shared response"
                    );
                }
                if code == "503" {
                    assert!(
                        response.get("$ref").is_some()
                            || response["headers"]["Retry-After"].is_object(),
                        "{method} {path}: 503 without Retry-After"
                    );
                }
            }
        }
    }
    let responses = doc["components"]["responses"]
        .as_object()
        .expect("components/responses");
    assert!(responses["Unavailable"]["headers"]["Retry-After"].is_object());
    assert!(responses["MethodNotAllowed"]["headers"]["Allow"].is_object());
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            schema.get("example").is_some() || schema.get("examples").is_some(),
            "schema {name} has no example"
        );
    }
    for name in ["Job", "Technician", "Assignment", "JobEvent", "DayPlan"] {
        let schema = &doc["components"]["schemas"][name];
        let properties = schema["properties"].as_object().expect("properties");
        let required = schema["required"].as_array().expect("required");
        assert_eq!(properties.len(), required.len(), "{name}: {required:?}");
    }
    let rendered = doc.to_string();
    assert!(
        !rendered.contains(r#""format":"int32""#),
        "an int32 is left"
    );
}
