//! Field paths as users read them: `spec.resources.gpu.types[1]`,
//! `metadata.labels["app.kubernetes.io/name"]`.

/// Appends a struct field or map key to a path.
pub(crate) fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Appends a list index to a path.
pub(crate) fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_yaml() {
        assert_eq!(join_key("", "spec"), "spec");
        assert_eq!(join_key("spec", "resources"), "spec.resources");
        assert_eq!(join_index("spec.data", 2), "spec.data[2]");
        assert_eq!(
            join_key("metadata.labels", "app.kubernetes.io/name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
    }
}
