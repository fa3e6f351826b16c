//! Diagnostics: one error each, with the line, column and field path a person
//! needs to fix it.
//!
//! Rendered as `FILE:LINE:COLUMN: error: <field path>: <message>`, the shape
//! compilers and editors already understand.

use std::fmt;

/// One thing wrong with an input file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// 1-based line of the offending node (0 when the file as a whole is at fault).
    pub line: u64,
    /// 1-based column of the offending node (0 when the file as a whole is at fault).
    pub column: u64,
    /// Dotted field path, e.g. `spec.resources.gpu.types[1]`; empty for the document.
    pub path: String,
    /// What is wrong and, where we can tell, how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a known position.
    pub fn new(
        line: u64,
        column: u64,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            column,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Renders the diagnostic for a file: `FILE:LINE:COLUMN: error: path: message`.
    pub fn render(&self, file: &str) -> String {
        let position = if self.line == 0 {
            file.to_owned()
        } else {
            format!("{file}:{}:{}", self.line, self.column)
        };
        if self.path.is_empty() {
            format!("{position}: error: {}", self.message)
        } else {
            format!("{position}: error: {}: {}", self.path, self.message)
        }
    }
}

/// Every diagnostic found in one file, sorted by position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds all diagnostics of another set.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics in position order (line, then column), duplicates removed.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort();
        self.items.dedup();
        self.items
    }

    /// Borrowing iterator, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Renders every diagnostic for `file`, one line each, in position order.
    pub fn render(&self, file: &str) -> String {
        let mut sorted = self.items.clone();
        sorted.sort();
        sorted.dedup();
        let mut out = String::new();
        for diagnostic in &sorted {
            out.push_str(&diagnostic.render(file));
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.render("<input>"))
    }
}

impl std::error::Error for Diagnostics {}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Self {
        Self {
            items: iter.into_iter().collect(),
        }
    }
}
