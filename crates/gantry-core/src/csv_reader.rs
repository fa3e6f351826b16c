//! A small RFC 4180 CSV reader, for the data tables Gantry ships and loads
//! (price tables, egress prices, GPU throughput).
//!
//! What it accepts:
//! - Fields separated by `,`, records ended by `\n`, `\r\n` or a lone `\r`; the
//!   last record may end without a line break.
//! - Quoted fields (`"a, b"`) that may hold commas, line breaks and doubled quotes
//!   (`"say ""hi"""` is `say "hi"`).
//! - Empty fields anywhere, including trailing ones (`a,b,` has three fields).
//! - A leading UTF-8 byte-order mark, which is skipped.
//! - Empty lines, which are skipped (they hold no record).
//!
//! What it refuses, as a [`CsvError`] naming the line: a quote inside an unquoted
//! field, text after a closing quote, and a quoted field that never ends.
//!
//! Invariants:
//! - Every record carries the 1-based line it starts on, counting every line
//!   break in the text (also those inside quoted fields), so errors about a
//!   record can point at the line an editor shows.
//! - [`CsvTable`] finds columns by header name, ignoring ASCII case and
//!   surrounding whitespace; column order is free and extra columns are ignored.
//! - Nothing here panics, whatever the input.

use std::fmt;

/// One record (line) of a CSV text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRecord {
    /// The 1-based line the record starts on.
    pub line: usize,
    /// The fields, unquoted.
    pub fields: Vec<String>,
}

impl CsvRecord {
    /// The field at `index`, or `""` when the record is shorter.
    pub fn field(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", String::as_str)
    }
}

/// Why a text is not CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field is still open at the end of the text.
    #[error(
        "line {line}: a quoted field starts here and never ends; close it with `\"` (write a quote inside it as `\"\"`)"
    )]
    UnterminatedQuote {
        /// Where the quoted field starts.
        line: usize,
    },
    /// A `"` inside a field that does not start with one.
    #[error(
        "line {line}: a `\"` inside an unquoted field; quote the whole field and double the quote, e.g. `\"5\"\" disk\"`"
    )]
    QuoteInUnquotedField {
        /// The line of the quote.
        line: usize,
    },
    /// Text between a closing quote and the next `,` or line break.
    #[error(
        "line {line}: text after the closing quote of a field; a field is either all quoted or not quoted at all"
    )]
    TextAfterClosingQuote {
        /// The line of the closing quote.
        line: usize,
    },
    /// There is no header line.
    #[error("the file is empty; the first line must be a header naming the columns")]
    NoHeader,
    /// Two header fields have the same name.
    #[error("line {line}: column `{name}` appears twice in the header")]
    DuplicateColumn {
        /// The header's line.
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// Columns a reader needs are not in the header.
    #[error("missing column{} {}; the header has {}", plural(missing.len()), quoted_list(missing), quoted_list(found))]
    MissingColumns {
        /// The required names that are absent, in the order they were asked for.
        missing: Vec<String>,
        /// The header's names, in file order.
        found: Vec<String>,
    },
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no columns".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the reader is inside the current field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldState {
    /// At the start of a field: nothing read yet.
    Start,
    /// Inside a field that did not start with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: either the closing quote or the
    /// first half of a doubled one.
    QuoteInQuoted,
}

/// Splits `text` into records. Empty lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut state = FieldState::Start;
    let mut line = 1_usize;
    let mut record_line = 1_usize;
    let mut quote_line = 1_usize;
    let mut characters = text.chars().peekable();

    while let Some(character) = characters.next() {
        let is_line_break = character == '\n' || character == '\r';
        if character == '\r' && characters.peek() == Some(&'\n') {
            // `\r\n` is one line break; let the `\n` end the record.
            if state == FieldState::Quoted {
                field.push('\r');
            }
            continue;
        }
        match state {
            FieldState::Quoted => match character {
                '"' => state = FieldState::QuoteInQuoted,
                _ => field.push(character),
            },
            FieldState::QuoteInQuoted => match character {
                '"' => {
                    field.push('"');
                    state = FieldState::Quoted;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    state = FieldState::Start;
                }
                _ if is_line_break => {
                    fields.push(std::mem::take(&mut field));
                    end_record(&mut records, &mut fields, record_line);
                    state = FieldState::Start;
                }
                _ => return Err(CsvError::TextAfterClosingQuote { line }),
            },
            FieldState::Start | FieldState::Unquoted => match character {
                '"' if state == FieldState::Start => {
                    state = FieldState::Quoted;
                    quote_line = line;
                }
                '"' => return Err(CsvError::QuoteInUnquotedField { line }),
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    state = FieldState::Start;
                }
                _ if is_line_break => {
                    if !(fields.is_empty() && field.is_empty() && state == FieldState::Start) {
                        fields.push(std::mem::take(&mut field));
                        end_record(&mut records, &mut fields, record_line);
                    }
                    state = FieldState::Start;
                }
                _ => {
                    field.push(character);
                    state = FieldState::Unquoted;
                }
            },
        }
        if is_line_break {
            line += 1;
            if state == FieldState::Start && fields.is_empty() {
                record_line = line;
            }
        }
    }
    match state {
        FieldState::Quoted => return Err(CsvError::UnterminatedQuote { line: quote_line }),
        FieldState::Start if fields.is_empty() => {}
        FieldState::Start | FieldState::Unquoted | FieldState::QuoteInQuoted => {
            fields.push(field);
            end_record(&mut records, &mut fields, record_line);
        }
    }
    Ok(records)
}

fn end_record(records: &mut Vec<CsvRecord>, fields: &mut Vec<String>, line: usize) {
    records.push(CsvRecord {
        line,
        fields: std::mem::take(fields),
    });
}

/// A CSV text with a header line: records addressed by column name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvTable {
    header: CsvRecord,
    records: Vec<CsvRecord>,
}

impl CsvTable {
    /// Parses `text`, whose first record is the header. Refuses a text with no
    /// header and a header that names a column twice.
    pub fn parse(text: &str) -> Result<CsvTable, CsvError> {
        let mut records = parse_csv(text)?.into_iter();
        let header = records.next().ok_or(CsvError::NoHeader)?;
        for (index, name) in header.fields.iter().enumerate() {
            let repeated = header
                .fields
                .iter()
                .skip(index + 1)
                .any(|other| same_column_name(name, other));
            if repeated {
                return Err(CsvError::DuplicateColumn {
                    line: header.line,
                    name: name.trim().to_owned(),
                });
            }
        }
        Ok(CsvTable {
            header,
            records: records.collect(),
        })
    }

    /// The header's column names, as written.
    pub fn column_names(&self) -> &[String] {
        &self.header.fields
    }

    /// The index of the column called `name` (ignoring ASCII case and
    /// surrounding whitespace), if there is one.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header
            .fields
            .iter()
            .position(|column| same_column_name(column, name))
    }

    /// The indexes of every column in `names`, in that order, or an error that
    /// lists all the missing ones.
    pub fn require_columns(&self, names: &[&str]) -> Result<Vec<usize>, CsvError> {
        let found: Vec<Option<usize>> = names.iter().map(|name| self.column(name)).collect();
        let missing: Vec<String> = names
            .iter()
            .zip(&found)
            .filter(|(_, index)| index.is_none())
            .map(|(name, _)| (*name).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(CsvError::MissingColumns {
                missing,
                found: self.header.fields.clone(),
            });
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// The records after the header, in file order.
    pub fn records(&self) -> &[CsvRecord] {
        &self.records
    }
}

fn same_column_name(left: &str, right: &str) -> bool {
    left.trim().eq_ignore_ascii_case(right.trim())
}

impl fmt::Display for CsvRecord {
    /// The record written back as one CSV line (without a line break), quoting
    /// fields that need it.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, field) in self.fields.iter().enumerate() {
            if index > 0 {
                formatter.write_str(",")?;
            }
            if field.contains([',', '"', '\n', '\r']) {
                write!(formatter, "\"{}\"", field.replace('"', "\"\""))?;
            } else {
                formatter.write_str(field)?;
            }
        }
        Ok(())
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

    use super::*;
    use proptest::prelude::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse_csv(text)
            .unwrap()
            .into_iter()
            .map(|record| record.fields)
            .collect()
    }

    fn lines(text: &str) -> Vec<usize> {
        parse_csv(text)
            .unwrap()
            .into_iter()
            .map(|record| record.line)
            .collect()
    }

    #[test]
    fn splits_plain_records() {
        assert_eq!(
            fields("a,b,c\n1,2,3\n"),
            vec![vec!["a", "b", "c"], vec!["1", "2", "3"]]
        );
        assert_eq!(fields("a,b"), vec![vec!["a", "b"]]);
        assert_eq!(fields(""), Vec::<Vec<String>>::new());
    }

    #[test]
    fn keeps_empty_and_trailing_empty_fields() {
        assert_eq!(fields("a,,c,\n"), vec![vec!["a", "", "c", ""]]);
        assert_eq!(fields(",\n"), vec![vec!["", ""]]);
        assert_eq!(fields("a,b,,"), vec![vec!["a", "b", "", ""]]);
        assert_eq!(fields("\"\",x"), vec![vec!["", "x"]]);
    }

    #[test]
    fn reads_quoted_fields() {
        assert_eq!(
            fields("\"a, b\",\"say \"\"hi\"\"\",c\n"),
            vec![vec!["a, b", "say \"hi\"", "c"]]
        );
        assert_eq!(
            fields("\"two\nlines\",x\r\ny,z"),
            vec![vec!["two\nlines", "x"], vec!["y", "z"]]
        );
        assert_eq!(fields("\"crlf\r\ninside\""), vec![vec!["crlf\r\ninside"]]);
        assert_eq!(fields("\"\"\"\""), vec![vec!["\""]]);
    }

    #[test]
    fn accepts_crlf_lone_cr_and_skips_blank_lines_and_bom() {
        assert_eq!(
            fields("\u{feff}a,b\r\n\r\n1,2\r\n"),
            vec![vec!["a", "b"], vec!["1", "2"]]
        );
        assert_eq!(fields("a\rb\r"), vec![vec!["a"], vec!["b"]]);
        assert_eq!(lines("h\n\n\nx\r\ny"), vec![1, 4, 5]);
    }

    #[test]
    fn numbers_records_by_their_first_line() {
        assert_eq!(lines("h\n\"a\nb\nc\",d\ne\n"), vec![1, 2, 5]);
    }

    #[test]
    fn refuses_what_is_not_csv() {
        assert_eq!(
            parse_csv("a,b\n\"open,c\n"),
            Err(CsvError::UnterminatedQuote { line: 2 })
        );
        assert_eq!(
            parse_csv("a,b\nx,5\" disk\n"),
            Err(CsvError::QuoteInUnquotedField { line: 2 })
        );
        assert_eq!(
            parse_csv("a\n\n\"quoted\"tail\n"),
            Err(CsvError::TextAfterClosingQuote { line: 3 })
        );
        let message = CsvError::QuoteInUnquotedField { line: 7 }.to_string();
        assert!(message.starts_with("line 7: a `\"` inside an unquoted field"));
    }

    #[test]
    fn table_finds_columns_by_name_in_any_order() {
        let table = CsvTable::parse("Price, region ,Extra\n1.5,us-east-1,x\n2").unwrap();
        assert_eq!(table.column("Region"), Some(1));
        assert_eq!(table.column("price"), Some(0));
        assert_eq!(table.column("Zone"), None);
        assert_eq!(table.require_columns(&["region", "PRICE"]).unwrap(), [1, 0]);
        let short = &table.records()[1];
        assert_eq!((short.line, short.field(0), short.field(1)), (3, "2", ""));
    }

    #[test]
    fn table_reports_every_missing_column_and_duplicates() {
        let table = CsvTable::parse("A,B\n").unwrap();
        let error = table.require_columns(&["A", "C", "D"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing columns `C`, `D`; the header has `A`, `B`"
        );
        assert_eq!(
            CsvTable::parse("a,B,b\n"),
            Err(CsvError::DuplicateColumn {
                line: 1,
                name: "B".to_owned()
            })
        );
        assert_eq!(CsvTable::parse("\n\n"), Err(CsvError::NoHeader));
    }

    proptest! {
        #[test]
        fn never_panics(text in "[a-c,\"\r\n ]{0,40}") {
            let _ = parse_csv(&text);
            let _ = CsvTable::parse(&text);
        }

        #[test]
        fn display_round_trips(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-c,\"\r\n ]{0,6}", 2..4), 1..4)
        ) {
            let text: String = rows
                .iter()
                .map(|fields| CsvRecord { line: 0, fields: fields.clone() }.to_string() + "\n")
                .collect();
            let parsed: Vec<Vec<String>> = parse_csv(&text)
                .unwrap()
                .into_iter()
                .map(|record| record.fields)
                .collect();
            prop_assert_eq!(parsed, rows);
        }
    }
}
