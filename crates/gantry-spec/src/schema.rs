//! JSON Schema (draft 2020-12) of the job spec and of the config, generated
//! from the wire types the parser reads.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::v1;

/// The schema of a job spec file: a `TrainingJob` or an `InferenceService`.
pub fn job_schema() -> Value {
    let mut generator = generator();
    let training = generator.subschema_for::<v1::TrainingJob>();
    let inference = generator.subschema_for::<v1::InferenceService>();
    document(
        &mut generator,
        "https://gantry.dev/schemas/v1/job.json",
        "Gantry job spec (gantry.dev/v1)",
        json!([training, inference]),
    )
}

/// The schema of the daemon's config file.
pub fn config_schema() -> Value {
    let mut generator = generator();
    let config = generator.subschema_for::<v1::GantryConfig>();
    document(
        &mut generator,
        "https://gantry.dev/schemas/v1/config.json",
        "Gantry daemon config (gantry.dev/v1)",
        json!([config]),
    )
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

fn document(generator: &mut SchemaGenerator, id: &str, title: &str, one_of: Value) -> Value {
    let definitions: Map<String, Value> = generator.take_definitions(true);
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": id,
        "title": title,
        "oneOf": one_of,
        "$defs": definitions,
    });
    close_objects(&mut root);
    root
}

/// Unknown fields are errors in the parser; say so in the schema too. And
/// optional fields are absent in our YAML, never null: drop the `null`
/// schemars adds for `Option`.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if let Some(Value::Array(types)) = map.get_mut("type")
                && types.iter().any(|kind| kind == "null")
            {
                types.retain(|kind| kind != "null");
                if let [single] = types.as_slice() {
                    let single = single.clone();
                    map.insert("type".into(), single);
                }
            }
            for combinator in ["anyOf", "oneOf"] {
                if let Some(Value::Array(branches)) = map.get_mut(combinator) {
                    branches.retain(|branch| {
                        branch.get("type").and_then(Value::as_str) != Some("null")
                    });
                    if let [single] = branches.as_slice() {
                        let single = single.clone();
                        map.remove(combinator);
                        if let Value::Object(inner) = single {
                            map.extend(inner);
                        }
                    }
                }
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}
