//! Generates the client from the committed OpenAPI 3.0 document with
//! progenitor (which reads only 3.0). The generated code lives in
//! `OUT_DIR`, never in the repository: the document is the source, and its
//! drift test keeps it equal to what the server serves.

use std::path::Path;

use serde_json::Value;

/// The document, relative to this crate (inside the repository).
const DOCUMENT: &str = "../../openapi/fieldopt-3.0.json";

fn main() {
    println!("cargo::rerun-if-changed={DOCUMENT}");
    let text = std::fs::read_to_string(DOCUMENT).unwrap_or_else(|e| {
        panic!("read {DOCUMENT}: {e} (run `fieldopt openapi --spec-version 3.0`)")
    });
    let mut doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not JSON: {e}"));
    problem_documents_as_json(&mut doc);
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc)
        .unwrap_or_else(|e| panic!("{DOCUMENT} is not an OpenAPI 3.0 document: {e}"));

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {DOCUMENT}: {e}"));

    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = Path::new(&out).join("fieldopt_api.rs");
    std::fs::write(&path, tokens.to_string())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Error bodies are `application/problem+json`, which is JSON, but
/// progenitor types only bodies labelled `application/json` and hands
/// every other media type back as raw bytes. Relabelling them in the copy
/// it reads makes every error a typed `Problem`; the server's bytes and
/// headers stay what they are (progenitor decodes a body by the document,
/// not by the answer's `Content-Type`).
fn problem_documents_as_json(doc: &mut Value) {
    match doc {
        Value::Object(map) => {
            if let Some(Value::Object(content)) = map.get_mut("content")
                && let Some(problem) = content.remove("application/problem+json")
            {
                content.entry("application/json").or_insert(problem);
            }
            map.values_mut().for_each(problem_documents_as_json);
        }
        Value::Array(items) => items.iter_mut().for_each(problem_documents_as_json),
        _ => {}
    }
}
