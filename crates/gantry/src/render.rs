//! Human output: aligned tables and units people read (`$12.34/h`, `1000Gi`,
//! `6h30m`, `3m ago`), and the one place that writes `-o json` / `-o yaml`.
//!
//! Everything here is pure: values and `now` in, text out. Commands decide
//! what to show; this module only decides how it looks.

use std::io::Write;

use serde::Serialize;

/// `-o table|json|yaml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people (the default).
    #[default]
    Table,
    /// Pretty-printed JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Writes `value` as JSON or YAML. `Table` is the caller's business; asking
/// for it here is a bug, answered with JSON rather than a panic.
pub(crate) fn write_structured<T: Serialize>(
    out: &mut impl Write,
    format: OutputFormat,
    value: &T,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Yaml => {
            let text = serde_saphyr::to_string(value)?;
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
        OutputFormat::Json | OutputFormat::Table => {
            debug_assert!(
                format == OutputFormat::Json,
                "tables are rendered by the command"
            );
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Columns separated by two spaces, each as wide as its widest cell; no
/// trailing spaces. Numeric columns can be right-aligned.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<String>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|header| (*header).to_owned()).collect(),
            right_aligned: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns the columns with these headers.
    pub(crate) fn right_align(mut self, headers: &[&str]) -> Table {
        for (header, right) in self.headers.iter().zip(self.right_aligned.iter_mut()) {
            if headers.contains(&header.as_str()) {
                *right = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the header line and the rows, each line prefixed by `indent`.
    pub(crate) fn write(&self, out: &mut impl Write, indent: &str) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (cell, column_width) in row.iter().zip(widths.iter_mut()) {
                *column_width = (*column_width).max(width(cell));
            }
        }
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::from(indent);
            let last = line.len().saturating_sub(1);
            for (index, ((cell, column_width), right)) in line
                .iter()
                .zip(&widths)
                .zip(&self.right_aligned)
                .enumerate()
            {
                if index > 0 {
                    text.push_str("  ");
                }
                let padding = " ".repeat(column_width.saturating_sub(width(cell)));
                if *right {
                    text.push_str(&padding);
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if index != last {
                        text.push_str(&padding);
                    }
                }
            }
            writeln!(out, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// `$1,234.57`: rounded to the cent, half away from zero; `<$0.01` for a
/// positive amount that rounds to nothing.
pub(crate) fn dollars(micro_usd: i64) -> String {
    let negative = micro_usd < 0;
    let magnitude = micro_usd.unsigned_abs();
    let cents = magnitude / 10_000 + u64::from(magnitude % 10_000 >= 5_000);
    if cents == 0 && magnitude > 0 {
        return if negative { "-<$0.01" } else { "<$0.01" }.to_owned();
    }
    let whole = group_thousands(cents / 100);
    let sign = if negative && cents > 0 { "-" } else { "" };
    format!("{sign}${whole}.{:02}", cents % 100)
}

/// `$98.32/h`.
pub(crate) fn dollars_per_hour(micro_usd: i64) -> String {
    format!("{}/h", dollars(micro_usd))
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Bytes in binary units as Kubernetes writes them: `1000Gi`, `1Ti`,
/// `1536Mi`. Exact in the largest unit that keeps the number under
/// 100,000; otherwise one decimal in the largest unit reached (`3.9Ti`).
pub(crate) fn bytes(amount: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("Ei", 1 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    let exact = UNITS.iter().find(|(_, unit)| {
        amount >= *unit && amount.is_multiple_of(*unit) && amount / unit < 100_000
    });
    if let Some((suffix, unit)) = exact {
        return format!("{}{suffix}", amount / unit);
    }
    for (suffix, unit) in UNITS {
        if amount >= unit {
            let tenths = (u128::from(amount) * 10 + u128::from(unit) / 2) / u128::from(unit);
            return if tenths.is_multiple_of(10) {
                format!("{}{suffix}", tenths / 10)
            } else {
                format!("{}.{}{suffix}", tenths / 10, tenths % 10)
            };
        }
    }
    amount.to_string()
}

/// CPU in cores: `96`, `1.5`, `250m`.
pub(crate) fn cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else if millis < 1000 {
        format!("{millis}m")
    } else {
        let text = format!("{}.{:03}", millis / 1000, millis % 1000);
        text.trim_end_matches('0').to_owned()
    }
}

/// A duration in its two largest units: `6h30m`, `2d3h`, `1m30s`, `45m`, `0s`.
pub(crate) fn duration(seconds: u64) -> String {
    let parts = [
        (seconds / 86_400, "d"),
        (seconds % 86_400 / 3_600, "h"),
        (seconds % 3_600 / 60, "m"),
        (seconds % 60, "s"),
    ];
    let Some(first) = parts.iter().position(|(value, _)| *value > 0) else {
        return "0s".to_owned();
    };
    parts
        .iter()
        .skip(first)
        .take(2)
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect()
}

/// How long ago, in one unit: `12s ago`, `3m ago`, `5h ago`, `2d ago`; `-`
/// for an unset time (0), `just now` for a time ahead of the local clock.
pub(crate) fn age(then_unix_ms: i64, now_unix_ms: i64) -> String {
    if then_unix_ms <= 0 {
        return "-".to_owned();
    }
    let Ok(seconds) = u64::try_from(now_unix_ms.saturating_sub(then_unix_ms) / 1000) else {
        return "just now".to_owned();
    };
    let (value, unit) = match seconds {
        0..60 => (seconds, "s"),
        60..3_600 => (seconds / 60, "m"),
        3_600..86_400 => (seconds / 3_600, "h"),
        _ => (seconds / 86_400, "d"),
    };
    format!("{value}{unit} ago")
}

/// A Unix-ms time as RFC 3339 in UTC (`2025-06-01T12:00:01Z`); `None` when unset.
pub(crate) fn rfc3339(unix_ms: i64) -> Option<String> {
    if unix_ms <= 0 {
        return None;
    }
    jiff::Timestamp::from_millisecond(unix_ms)
        .ok()
        .map(|timestamp| timestamp.to_string())
}

/// A time for a table: `2025-06-01 12:00:01 UTC (3m ago)`.
pub(crate) fn time_and_age(unix_ms: i64, now_unix_ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(unix_ms) {
        Ok(timestamp) if unix_ms > 0 => format!(
            "{} ({})",
            timestamp.strftime("%Y-%m-%d %H:%M:%S UTC"),
            age(unix_ms, now_unix_ms)
        ),
        _ => "-".to_owned(),
    }
}

/// `used/limit` with `∞` for no limit.
pub(crate) fn used_of(used: String, limit: Option<String>) -> String {
    format!("{used}/{}", limit.unwrap_or_else(|| "∞".to_owned()))
}

/// A dash for empty text, so table cells are never blank.
pub(crate) fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn money_is_rounded_to_cents_with_grouping() {
        assert_eq!(dollars(12_345_000), "$12.35");
        assert_eq!(dollars(12_344_999), "$12.34");
        assert_eq!(dollars(1_234_567_890_000), "$1,234,567.89");
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(3_000), "<$0.01");
        assert_eq!(dollars(-1_500_000), "-$1.50");
        assert_eq!(dollars(i64::MIN), "-$9,223,372,036,854.78");
        assert_eq!(dollars_per_hour(98_320_000), "$98.32/h");
    }

    #[test]
    fn bytes_use_the_largest_binary_unit() {
        assert_eq!(bytes(1000 << 30), "1000Gi");
        assert_eq!(bytes(1 << 40), "1Ti");
        assert_eq!(bytes(3 << 29), "1536Mi");
        assert_eq!(bytes(7200 << 30), "7200Gi");
        assert_eq!(bytes((4000 << 30) + (1 << 20)), "3.9Ti");
        assert_eq!(bytes(512), "512");
        assert_eq!(bytes(u64::MAX), "16Ei");
    }

    #[test]
    fn cpu_durations_and_ages_read_like_kubectl() {
        assert_eq!(cpu(96_000), "96");
        assert_eq!(cpu(1_500), "1.5");
        assert_eq!(cpu(250), "250m");
        assert_eq!(duration(6 * 3600 + 30 * 60), "6h30m");
        assert_eq!(duration(6 * 3600 + 59), "6h");
        assert_eq!(duration(2 * 86_400 + 3 * 3600 + 5), "2d3h");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(0), "0s");
        let now = 1_750_000_000_000;
        assert_eq!(age(now - 180_000, now), "3m ago");
        assert_eq!(age(now - 12_000, now), "12s ago");
        assert_eq!(age(now - 5 * 3_600_000, now), "5h ago");
        assert_eq!(age(now + 5_000, now), "just now");
        assert_eq!(age(0, now), "-");
        assert_eq!(rfc3339(now).as_deref(), Some("2025-06-15T15:06:40Z"));
        assert_eq!(rfc3339(0), None);
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let mut table = Table::new(&["NAME", "COST", "NOTE"]).right_align(&["COST"]);
        table.row(vec!["a".into(), "$1.00".into(), "x".into()]);
        table.row(vec!["longer".into(), "$100.00".into(), String::new()]);
        let mut out = Vec::new();
        table.write(&mut out, "").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME       COST  NOTE\na         $1.00  x\nlonger  $100.00\n"
        );
    }
}
