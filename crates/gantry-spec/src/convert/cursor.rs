//! A position in the YAML tree, used while converting wire types to domain
//! types: it knows the field path and the line and column to blame.

use std::cell::RefCell;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::field_path::{join_index, join_key};
use crate::yaml_tree::{Node, Value};

/// Collects diagnostics during one conversion.
#[derive(Debug, Default)]
pub(crate) struct Report {
    diagnostics: RefCell<Diagnostics>,
}

impl Report {
    pub(crate) fn into_diagnostics(self) -> Diagnostics {
        self.diagnostics.into_inner()
    }

    pub(crate) fn add(&self, diagnostics: Diagnostics) {
        self.diagnostics.borrow_mut().extend(diagnostics);
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.diagnostics.borrow().is_empty()
    }
}

/// A field or list item, present in the file or not.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    /// The node, when the field is present.
    node: Option<&'a Node>,
    /// The position to blame: the node, or for an absent field its parent.
    line: u64,
    column: u64,
    path: String,
    report: &'a Report,
}

impl<'a> Cursor<'a> {
    pub(crate) fn root(node: &'a Node, report: &'a Report) -> Self {
        Self {
            node: Some(node),
            line: node.line,
            column: node.column,
            path: String::new(),
            report,
        }
    }

    /// The value of field `name`.
    pub(crate) fn field(&self, name: &str) -> Cursor<'a> {
        let node = self.node.and_then(|node| node.get(name));
        self.descend(node, join_key(&self.path, name))
    }

    /// The key node of field `name` (for errors about a map key itself).
    pub(crate) fn key(&self, name: &str) -> Cursor<'a> {
        let node = match self.node.map(|node| &node.value) {
            Some(Value::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key.as_key().as_deref() == Some(name))
                .map(|(key, _)| key),
            _ => None,
        };
        self.descend(node, join_key(&self.path, name))
    }

    /// Item `index` of a list.
    pub(crate) fn index(&self, index: usize) -> Cursor<'a> {
        let node = match self.node.map(|node| &node.value) {
            Some(Value::Seq(items)) => items.get(index),
            _ => None,
        };
        self.descend(node, join_index(&self.path, index))
    }

    fn descend(&self, node: Option<&'a Node>, path: String) -> Cursor<'a> {
        let (line, column) = node.map_or((self.line, self.column), |node| (node.line, node.column));
        Cursor {
            node,
            line,
            column,
            path,
            report: self.report,
        }
    }

    /// Records an error at this place.
    pub(crate) fn error(&self, message: impl Into<String>) {
        self.report.diagnostics.borrow_mut().push(Diagnostic::new(
            self.line,
            self.column,
            self.path.clone(),
            message,
        ));
    }

    /// Records that this required field is absent, saying what it is for.
    pub(crate) fn missing(&self, what: &str) {
        let name = self.path.rsplit(['.', '[']).next().unwrap_or(&self.path);
        self.error(format!("required field `{name}` is missing: {what}"));
    }

    /// Records an error and returns `None`, for `?`-free conversion code.
    pub(crate) fn fail<T>(&self, message: impl Into<String>) -> Option<T> {
        self.error(message);
        None
    }

    /// The report errors go to.
    pub(crate) fn report(&self) -> &'a Report {
        self.report
    }
}
