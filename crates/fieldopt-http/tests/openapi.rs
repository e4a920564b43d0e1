//! The committed OpenAPI document must match the one the code builds.
//! Run with `UPDATE_OPENAPI=1` to rewrite it after an intended change.

use std::path::PathBuf;

#[test]
fn committed_openapi_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/fieldopt.json");
    let built = fieldopt_http::openapi()
        .to_pretty_json()
        .expect("serialises")
        + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &built).expect("write openapi/fieldopt.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == built,
        "openapi/fieldopt.json is stale: run `UPDATE_OPENAPI=1 cargo test -p fieldopt-http --test openapi` and commit it"
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
            let operation = Operation::from_name(id)
                .unwrap_or_else(|| panic!("{method} {path} ({id}) has no access policy"));
            assert!(guarded.insert(operation), "{id} twice");
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
