//! Container image references: `[host[:port]/]path[:tag][@algorithm:hex]`,
//! after the OCI distribution spec's grammar.

/// Checks an image reference; the error says which part is wrong.
pub(crate) fn check_image_reference(reference: &str) -> Result<(), String> {
    if reference.is_empty() {
        return Err("image must not be empty".into());
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("image `{reference}` contains whitespace"));
    }
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    // A tag is after the last ':' that comes after the last '/'.
    let last_slash = name_and_tag.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match name_and_tag
        .get(last_slash..)
        .and_then(|tail| tail.rfind(':'))
    {
        Some(colon) => {
            let split = last_slash + colon;
            (
                name_and_tag.get(..split).unwrap_or_default(),
                name_and_tag.get(split + 1..),
            )
        }
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(format!(
                "image tag `{tag}` is invalid; tags are up to 128 letters, digits, `_`, `.` and `-`"
            ));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components.first().copied().unwrap_or_default();
        if first.contains(['.', ':']) || first == "localhost" {
            components.remove(0); // a registry host: its own rules, loosely checked
        }
    }
    for component in components {
        let valid = !component.is_empty()
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && component
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && component
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !valid {
            let hint = if component.chars().any(|c| c.is_ascii_uppercase()) {
                format!(
                    " (repository names are lowercase: `{}`)",
                    component.to_ascii_lowercase()
                )
            } else {
                String::new()
            };
            return Err(format!(
                "image `{reference}`: `{component}` is not a valid repository path component{hint}"
            ));
        }
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "image digest `{digest}` must look like sha256:<64 hex digits>"
        ));
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "image digest algorithm `{algorithm}` is not supported; use sha256"
            ));
        }
    };
    if hex.len() != expected_len
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(format!(
            "image digest `{digest}` must be {algorithm}: followed by {expected_len} lowercase hex digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn real_references_are_accepted() {
        for reference in [
            "ubuntu",
            "ubuntu:22.04",
            "ghcr.io/acme/trainer:1.0",
            "ghcr.io/acme/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "localhost:5000/team/image:latest",
            "nvcr.io/nvidia/pytorch:24.05-py3",
            "vllm/vllm-openai:v0.6.3",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:abc",
        ] {
            assert_eq!(check_image_reference(reference), Ok(()), "{reference}");
        }
    }

    #[test]
    fn broken_references_say_which_part() {
        for (reference, fragment) in [
            ("", "empty"),
            ("Ubuntu", "lowercase"),
            ("ghcr.io/acme/trainer:", "tag"),
            ("ghcr.io/acme/trainer@sha256:abc", "64"),
            ("ghcr.io/acme/trainer@md5:abc", "not supported"),
            ("my image", "whitespace"),
            ("acme//trainer", "component"),
        ] {
            let error = check_image_reference(reference).unwrap_err();
            assert!(error.contains(fragment), "{reference}: {error}");
        }
    }
}
