//! A small RFC 4180 CSV record splitter: commas, double-quoted fields with
//! `""` escapes, quoted line breaks, `\n` or `\r\n` record ends.
//!
//! It never panics and never stops at a bad record: each record comes back
//! with the 1-based line it starts on, and a record with an unterminated
//! quote is an error for that record only (it runs to the end of the input,
//! so it is the last one).

use std::borrow::Cow;

/// One record: its first line, and its fields or why it is malformed.
pub type Record<'a> = (usize, Result<Vec<Cow<'a, str>>, String>);

/// Splits `text` into records. Blank lines are skipped.
pub fn records(text: &str) -> Records<'_> {
    Records {
        text,
        position: 0,
        line: 1,
    }
}

/// Iterator over the records of a CSV text.
#[derive(Debug)]
pub struct Records<'a> {
    text: &'a str,
    position: usize,
    line: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            let rest = self.text.get(self.position..)?;
            if rest.is_empty() {
                return None;
            }
            // Skip blank lines.
            if let Some(after) = rest.strip_prefix("\r\n") {
                self.position = self.text.len() - after.len();
                self.line += 1;
                continue;
            }
            if let Some(after) = rest.strip_prefix('\n') {
                self.position = self.text.len() - after.len();
                self.line += 1;
                continue;
            }
            let start_line = self.line;
            let (fields, consumed, lines) = split_record(rest);
            self.position += consumed;
            self.line += lines;
            return Some((start_line, fields));
        }
    }
}

/// Splits one record off the front of `text`: the fields (or an error), the
/// bytes consumed including the line end, and the line breaks consumed.
fn split_record(text: &str) -> (Result<Vec<Cow<'_, str>>, String>, usize, usize) {
    let bytes = text.as_bytes();
    let mut fields: Vec<Cow<'_, str>> = Vec::new();
    let mut index = 0usize;
    let mut line_breaks = 0usize;
    let mut error: Option<String> = None;
    loop {
        // At the start of a field.
        if bytes.get(index) == Some(&b'"') {
            let mut value = String::new();
            let mut segment_start = index + 1;
            let mut cursor = index + 1;
            let mut closed = false;
            while let Some(&byte) = bytes.get(cursor) {
                if byte == b'"' {
                    value.push_str(text.get(segment_start..cursor).unwrap_or(""));
                    if bytes.get(cursor + 1) == Some(&b'"') {
                        value.push('"');
                        cursor += 2;
                        segment_start = cursor;
                        continue;
                    }
                    closed = true;
                    cursor += 1;
                    break;
                }
                if byte == b'\n' {
                    line_breaks += 1;
                }
                cursor += 1;
            }
            if !closed {
                let consumed = text.len();
                return (
                    Err("unterminated quoted field".to_owned()),
                    consumed,
                    line_breaks,
                );
            }
            fields.push(Cow::Owned(value));
            index = cursor;
            // After a closing quote: a separator, a line end, or the end.
            match bytes.get(index) {
                Some(b',') => {
                    index += 1;
                    continue;
                }
                Some(b'\n') => {
                    return (finish(fields, error), index + 1, line_breaks + 1);
                }
                Some(b'\r') if bytes.get(index + 1) == Some(&b'\n') => {
                    return (finish(fields, error), index + 2, line_breaks + 1);
                }
                None => return (finish(fields, error), index, line_breaks),
                Some(_) => {
                    error.get_or_insert_with(|| {
                        format!("text after a closing quote in field {}", fields.len())
                    });
                    // Skip to the next separator or line end.
                    while let Some(&byte) = bytes.get(index) {
                        if byte == b',' || byte == b'\n' {
                            break;
                        }
                        index += 1;
                    }
                    if bytes.get(index) == Some(&b',') {
                        index += 1;
                        continue;
                    }
                    let consumed = if index < bytes.len() {
                        index + 1
                    } else {
                        index
                    };
                    let breaks = usize::from(index < bytes.len());
                    return (finish(fields, error), consumed, line_breaks + breaks);
                }
            }
        }
        // An unquoted field runs to the next comma or line end.
        let start = index;
        while let Some(&byte) = bytes.get(index) {
            if byte == b',' || byte == b'\n' {
                break;
            }
            index += 1;
        }
        let mut field = text.get(start..index).unwrap_or("");
        if let Some(stripped) = field.strip_suffix('\r') {
            field = stripped;
        }
        fields.push(Cow::Borrowed(field));
        match bytes.get(index) {
            Some(b',') => index += 1,
            Some(_) => return (finish(fields, error), index + 1, line_breaks + 1),
            None => return (finish(fields, error), index, line_breaks),
        }
    }
}

fn finish(fields: Vec<Cow<'_, str>>, error: Option<String>) -> Result<Vec<Cow<'_, str>>, String> {
    match error {
        Some(error) => Err(error),
        None => Ok(fields),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn all(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
        records(text)
            .map(|(line, fields)| {
                (
                    line,
                    fields.map(|fields| fields.into_iter().map(|f| f.into_owned()).collect()),
                )
            })
            .collect()
    }

    #[test]
    fn splits_plain_and_quoted_fields() {
        let parsed = all("a,b,c\n1,\"x, \"\"y\"\"\",\n\n\"multi\nline\",2,3\r\n4,5,6");
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[0], (1, Ok(vec!["a".into(), "b".into(), "c".into()])));
        assert_eq!(
            parsed[1],
            (2, Ok(vec!["1".into(), "x, \"y\"".into(), String::new()]))
        );
        assert_eq!(
            parsed[2],
            (4, Ok(vec!["multi\nline".into(), "2".into(), "3".into()]))
        );
        assert_eq!(parsed[3], (6, Ok(vec!["4".into(), "5".into(), "6".into()])));
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let parsed = all("a,\"b\"x,c\nok,1,2\n\"open,3");
        assert_eq!(parsed.len(), 3);
        assert!(parsed[0].1.is_err());
        assert_eq!(
            parsed[1],
            (2, Ok(vec!["ok".into(), "1".into(), "2".into()]))
        );
        assert_eq!(parsed[2].0, 3);
        assert!(parsed[2].1.as_ref().unwrap_err().contains("unterminated"));
    }
}
