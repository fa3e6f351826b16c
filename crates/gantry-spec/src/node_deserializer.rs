//! A serde `Deserializer` over a [`Node`] tree that never stops at the first
//! error: it records every error with its position and field path, hands the
//! visitor a harmless placeholder, and goes on.
//!
//! This is what lets one `#[derive(Deserialize)]` wire type both define the
//! format (and, through schemars, the JSON Schema) and report every mistake
//! in a file at once.
//!
//! Protocol the wire types must follow, for recovery to work:
//! - fields a user must give are `Option<T>` (absent reads as `None`) and are
//!   checked when converting to domain types (serde aborts on a missing
//!   non-`Option` field that has no `#[serde(default)]`);
//! - no `#[serde(untagged)]`, `#[serde(flatten)]` or fallible custom
//!   `Deserialize` impls (errors from those abort the document);
//! - scalars whose syntax is checked later (quantities, durations) are strings.
//!
//! Unknown fields are found here, from the field list serde passes to
//! `deserialize_struct`, and reported with a "did you mean".

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::field_path::{join_index, join_key};
use crate::yaml_tree::{Node, Value};

/// Deserializes `T` from `node`, returning it together with every error found.
/// When the diagnostics are not empty, the value holds placeholders and must
/// not be used for anything but further error reporting.
pub(crate) fn decode<'a, T: de::Deserialize<'a>>(
    node: &'a Node,
    path: &str,
) -> (Option<T>, Diagnostics) {
    let sink = RefCell::new(Diagnostics::new());
    let result = T::deserialize(NodeDeserializer {
        node,
        path: path.to_owned(),
        sink: &sink,
    });
    let mut diagnostics = sink.into_inner();
    match result {
        Ok(value) => (Some(value), diagnostics),
        Err(error) => {
            // Only a wire type breaking the protocol above gets here.
            diagnostics.push(Diagnostic::new(node.line, node.column, path, error.0));
            (None, diagnostics)
        }
    }
}

/// The error type; carries a message only (positions go into the sink).
#[derive(Debug)]
pub(crate) struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DecodeError(message.to_string())
    }
}

struct NodeDeserializer<'a, 's> {
    node: &'a Node,
    path: String,
    sink: &'s RefCell<Diagnostics>,
}

impl<'a, 's> NodeDeserializer<'a, 's> {
    fn report(&self, message: impl Into<String>) {
        self.sink.borrow_mut().push(Diagnostic::new(
            self.node.line,
            self.node.column,
            self.path.clone(),
            message,
        ));
    }

    fn expected(&self, what: &str) {
        self.report(format!(
            "expected {what}, found {}",
            self.node.kind_description()
        ));
    }

    fn integer<T: TryFrom<i128>>(&self, what: &str, minimum: i128, maximum: i128) -> Option<T> {
        let value = match &self.node.value {
            Value::Int(value) => *value,
            Value::Float(value)
                if value.fract() == 0.0 && value.is_finite() && value.abs() < 1e30 =>
            {
                *value as i128
            }
            Value::Float(value) => {
                self.report(format!("expected {what}, found the fraction {value}"));
                return None;
            }
            Value::Str(text) => {
                self.report(format!("expected {what}, found the string {text:?} (remove the quotes if it is meant as a number)"));
                return None;
            }
            _ => {
                self.expected(what);
                return None;
            }
        };
        if value < minimum {
            if minimum == 0 {
                self.report(format!("must not be negative, found {value}"));
            } else {
                self.report(format!("must be at least {minimum}, found {value}"));
            }
            return None;
        }
        if value > maximum {
            self.report(format!("must be at most {maximum}, found {value}"));
            return None;
        }
        T::try_from(value).ok()
    }

    /// The entries of a mapping node, first of each key (the loader reported
    /// duplicates). With `fields`, keys outside them are reported as unknown
    /// fields, with a did-you-mean, and left out.
    fn mapping_entries(&self, fields: Option<&[&str]>) -> Vec<(String, &'a Node)> {
        let mut entries = Vec::new();
        match &self.node.value {
            Value::Map(pairs) => {
                let mut seen = std::collections::BTreeSet::new();
                for (key, value) in pairs {
                    let Some(name) = key.as_key() else {
                        let what = if fields.is_some() {
                            "a field name"
                        } else {
                            "a string key"
                        };
                        self.child(key, self.path.clone()).expected(what);
                        continue;
                    };
                    if let Some(fields) = fields
                        && !fields.contains(&name.as_str())
                    {
                        self.child(key, join_key(&self.path, &name))
                            .report(unknown_field_message(&name, fields));
                        continue;
                    }
                    if seen.insert(name.clone()) {
                        entries.push((name, value));
                    }
                }
            }
            Value::Null => {}
            _ => self.expected("a mapping"),
        }
        entries
    }

    fn child(&self, node: &'a Node, path: String) -> NodeDeserializer<'a, 's> {
        NodeDeserializer {
            node,
            path,
            sink: self.sink,
        }
    }
}

macro_rules! deserialize_integer {
    ($method:ident, $visit:ident, $type:ty, $what:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let value: $type = self
                .integer($what, i128::from(<$type>::MIN), i128::from(<$type>::MAX))
                .unwrap_or_default();
            visitor.$visit(value)
        }
    };
}

impl<'de, 'a: 'de, 's> de::Deserializer<'de> for NodeDeserializer<'a, 's> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Int(value) => match i64::try_from(*value) {
                Ok(value) => visitor.visit_i64(value),
                Err(_) => visitor.visit_i128(*value),
            },
            Value::Float(value) => visitor.visit_f64(*value),
            Value::Str(text) => visitor.visit_str(text),
            Value::Seq(_) => self.deserialize_seq(visitor),
            Value::Map(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Str(text) => {
                self.report(format!("expected true or false, found {text:?}"));
                visitor.visit_bool(false)
            }
            _ => {
                self.expected("true or false");
                visitor.visit_bool(false)
            }
        }
    }

    deserialize_integer!(deserialize_i8, visit_i8, i8, "an integer");
    deserialize_integer!(deserialize_i16, visit_i16, i16, "an integer");
    deserialize_integer!(deserialize_i32, visit_i32, i32, "an integer");
    deserialize_integer!(deserialize_i64, visit_i64, i64, "an integer");
    deserialize_integer!(deserialize_u8, visit_u8, u8, "a whole number");
    deserialize_integer!(deserialize_u16, visit_u16, u16, "a whole number");
    deserialize_integer!(deserialize_u32, visit_u32, u32, "a whole number");
    deserialize_integer!(deserialize_u64, visit_u64, u64, "a whole number");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Int(value) => visitor.visit_f64(*value as f64),
            Value::Float(value) if value.is_finite() => visitor.visit_f64(*value),
            _ => {
                self.expected("a number");
                visitor.visit_f64(0.0)
            }
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Str(text) => visitor.visit_str(text),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                visitor.visit_str(self.node.raw_scalar_text().unwrap_or_default())
            }
            _ => {
                self.expected("a string");
                visitor.visit_str("")
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.node.value != Value::Null {
            self.expected("nothing (null)");
        }
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let items: &'a [Node] = match &self.node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.expected("a list");
                &[]
            }
        };
        visitor.visit_seq(SeqAccess {
            items: items.iter().enumerate(),
            parent: self,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let entries = self.mapping_entries(None);
        visitor.visit_map(MapAccess {
            entries: entries.into_iter(),
            pending_value: None,
            parent: self,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let entries = self.mapping_entries(Some(fields));
        visitor.visit_map(MapAccess {
            entries: entries.into_iter(),
            pending_value: None,
            parent: self,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let text = match &self.node.value {
            Value::Str(text) => Some(text.as_str()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => self.node.raw_scalar_text(),
            _ => None,
        };
        let placeholder = variants.first().copied().unwrap_or_default();
        let chosen = match text {
            Some(text) if variants.contains(&text) => text,
            Some(text) => {
                self.report(unknown_variant_message(text, variants));
                placeholder
            }
            None => {
                self.expected(&format!("one of {}", variants.join(", ")));
                placeholder
            }
        };
        let variant: StrDeserializer<'_, DecodeError> = chosen.into_deserializer();
        visitor.visit_enum(variant)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

fn unknown_field_message(name: &str, fields: &[&str]) -> String {
    let suggestions = gantry_core::nearest(name, fields.iter().copied());
    match suggestions.first() {
        Some(best) => format!("unknown field `{name}`; did you mean `{best}`?"),
        None if fields.is_empty() => {
            format!("unknown field `{name}`; this mapping takes no fields")
        }
        None => format!(
            "unknown field `{name}`; expected one of: {}",
            fields.join(", ")
        ),
    }
}

fn unknown_variant_message(text: &str, variants: &[&str]) -> String {
    let suggestions = gantry_core::nearest(text, variants.iter().copied());
    match suggestions.first() {
        Some(best) => format!(
            "unknown value `{text}`; did you mean `{best}`? (expected one of: {})",
            variants.join(", ")
        ),
        None => format!(
            "unknown value `{text}`; expected one of: {}",
            variants.join(", ")
        ),
    }
}

struct SeqAccess<'a, 's, I> {
    items: I,
    parent: NodeDeserializer<'a, 's>,
}

impl<'de, 'a: 'de, 's, I> de::SeqAccess<'de> for SeqAccess<'a, 's, I>
where
    I: Iterator<Item = (usize, &'a Node)>,
{
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            Some((index, node)) => {
                let child = self
                    .parent
                    .child(node, join_index(&self.parent.path, index));
                seed.deserialize(child).map(Some)
            }
            None => Ok(None),
        }
    }
}

struct MapAccess<'a, 's, I> {
    entries: I,
    pending_value: Option<(String, &'a Node)>,
    parent: NodeDeserializer<'a, 's>,
}

impl<'de, 'a: 'de, 's, I> de::MapAccess<'de> for MapAccess<'a, 's, I>
where
    I: Iterator<Item = (String, &'a Node)>,
{
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            Some((name, value)) => {
                let key: StrDeserializer<'_, DecodeError> = name.as_str().into_deserializer();
                let key_value = seed.deserialize(key)?;
                self.pending_value = Some((name, value));
                Ok(Some(key_value))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        match self.pending_value.take() {
            Some((name, node)) => {
                let child = self.parent.child(node, join_key(&self.parent.path, &name));
                seed.deserialize(child)
            }
            None => Err(DecodeError("value requested before its key".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml_tree::load_documents;

    #[derive(Debug, Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        kind: Option<Mode>,
    }

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Mode {
        #[default]
        Never,
        Allowed,
        Required,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        inner: Inner,
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        enabled: bool,
    }

    fn run(text: &str) -> (Option<Outer>, Vec<Diagnostic>) {
        let documents = load_documents(text).unwrap();
        let (value, diagnostics) = decode::<Outer>(&documents[0], "");
        (value, diagnostics.into_sorted())
    }

    #[test]
    fn a_valid_document_decodes_without_diagnostics() {
        let (value, errors) = run(
            "name: x\ninner: {count: 3, kind: allowed}\nlabels: {a: b, n: 1.10}\nenabled: true\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let value = value.unwrap();
        assert_eq!(value.name.as_deref(), Some("x"));
        assert!(value.items.is_empty());
        assert_eq!(value.inner.count, Some(3));
        assert_eq!(value.inner.kind, Some(Mode::Allowed));
        assert_eq!(value.labels["n"], "1.10");
        assert!(value.enabled);
    }

    #[test]
    fn every_error_is_reported_with_path_and_position() {
        let text = "nmae: x\ninner:\n  count: -1\n  kind: Allowed\nitems:\n  - count: eight\n  - cont: 1\nenabled: yes\n";
        let (_, errors) = run(text);
        let rendered: Vec<String> = errors.iter().map(|error| error.render("f.yaml")).collect();
        assert_eq!(
            rendered,
            vec![
                "f.yaml:1:1: error: nmae: unknown field `nmae`; did you mean `name`?",
                "f.yaml:3:10: error: inner.count: must not be negative, found -1",
                "f.yaml:4:9: error: inner.kind: unknown value `Allowed`; did you mean `allowed`? (expected one of: never, allowed, required)",
                "f.yaml:6:12: error: items[0].count: expected a whole number, found the string \"eight\" (remove the quotes if it is meant as a number)",
                "f.yaml:7:5: error: items[1].cont: unknown field `cont`; did you mean `count`?",
                "f.yaml:8:10: error: enabled: expected true or false, found \"yes\"",
            ]
        );
    }

    #[test]
    fn wrong_shapes_are_reported_and_decoding_goes_on() {
        let (value, errors) = run("inner: 5\nitems: {a: 1}\nlabels: [x]\nname: [1]\n");
        assert!(value.is_some());
        let messages: Vec<&str> = errors.iter().map(|error| error.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "expected a mapping, found an integer",
                "expected a list, found a mapping",
                "expected a mapping, found a list",
                "expected a string, found a list",
            ]
        );
    }
}
