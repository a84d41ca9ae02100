//! The HTTP API's contract as JSON, so the function parses it without a YAML parser.

fn main() {
    let spec = "../../api/openapi.yaml";
    println!("cargo:rerun-if-changed={spec}");
    let text = std::fs::read_to_string(spec).expect("api/openapi.yaml is readable");
    let value: serde_json::Value = serde_yaml::from_str(&text).expect("api/openapi.yaml is YAML");
    let out =
        std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("openapi.json");
    std::fs::write(out, value.to_string()).expect("OUT_DIR is writable");
}
