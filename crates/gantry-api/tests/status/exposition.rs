//! A strict parser of the Prometheus text exposition format 0.0.4, written
//! from the format's description (not from our encoder): every line is a
//! `# HELP`, a `# TYPE` or a sample; each family's HELP and TYPE come once,
//! before its samples, and its samples are contiguous; sample names belong
//! to their family (`_bucket`, `_sum`, `_count` for histograms); label names
//! and escapes are checked; no sample repeats; histograms are cumulative and
//! end with `+Inf` equal to `_count`.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
    /// Family names in the order they appear.
    pub order: Vec<String>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    /// The value of the one sample with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family_name = self.owner(name)?;
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.families
            .get(&family_name)?
            .samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    fn owner(&self, sample_name: &str) -> Option<String> {
        if self.families.contains_key(sample_name) {
            return Some(sample_name.to_owned());
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = sample_name.strip_suffix(suffix)?;
            self.families.contains_key(base).then(|| base.to_owned())
        })
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?} in help {text:?}")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            if !text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            {
                return Err(format!("bad value {text:?}"));
            }
            text.parse::<f64>()
                .map_err(|error| format!("bad value {text:?}: {error}"))
        }
    }
}

/// `name{a="x",b="y"} value` (no timestamps: we never write them).
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value in {line:?}"))?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        let consumed = loop {
            // label name
            let mut label = String::new();
            if let Some((index, '}')) = chars.peek().copied() {
                chars.next();
                break index + 1;
            }
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                label.push(c);
            }
            if !valid_label_name(&label) {
                return Err(format!("bad label name {label:?} in {line:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label} value not quoted in {line:?}"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape \\{other:?} in {line:?}")),
                    },
                    Some('"') => break,
                    Some('\n') => return Err("raw line feed in a label value".to_owned()),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated label value in {line:?}")),
                }
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(format!("label {label} twice in {line:?}"));
            }
            match chars.next() {
                Some((_, ',')) => continue,
                Some((index, '}')) => break index + 1,
                other => return Err(format!("expected , or }} got {other:?} in {line:?}")),
            }
        };
        rest = &after_brace[consumed..];
    }
    let value_text = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value in {line:?}"))?;
    if value_text.contains(' ') {
        return Err(format!("trailing fields (timestamp?) in {line:?}"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value_text)?,
    })
}

fn family_of(kind: &str, family: &str, sample: &str) -> bool {
    match kind {
        "histogram" => [
            format!("{family}_bucket"),
            format!("{family}_sum"),
            format!("{family}_count"),
        ]
        .iter()
        .any(|name| name == sample),
        "summary" => {
            sample == family
                || sample == format!("{family}_sum")
                || sample == format!("{family}_count")
        }
        _ => sample == family,
    }
}

fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let mut sum = None;
    let mut count = None;
    for sample in &family.samples {
        if sample.name.ends_with("_bucket") {
            let le = sample
                .labels
                .get("le")
                .ok_or_else(|| format!("{name}: bucket without le"))?;
            buckets.push((parse_value(le)?, sample.value));
        } else if sample.name.ends_with("_sum") {
            sum = Some(sample.value);
        } else {
            count = Some(sample.value);
        }
    }
    let count = count.ok_or_else(|| format!("{name}: no _count"))?;
    sum.ok_or_else(|| format!("{name}: no _sum"))?;
    let last = buckets
        .last()
        .ok_or_else(|| format!("{name}: no buckets"))?;
    if last.0 != f64::INFINITY {
        return Err(format!("{name}: last bucket is le={}, not +Inf", last.0));
    }
    if last.1 != count {
        return Err(format!("{name}: +Inf bucket {} != _count {count}", last.1));
    }
    for pair in buckets.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(format!("{name}: le not increasing: {pair:?}"));
        }
        if pair[1].1 < pair[0].1 {
            return Err(format!("{name}: buckets not cumulative: {pair:?}"));
        }
    }
    Ok(())
}

pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("the text does not end with a line feed".to_owned());
    }
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let at = |message: String| format!("line {}: {message}", number + 1);
        if line.is_empty() {
            return Err(at("empty line".to_owned()));
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let (keyword, rest) = comment.split_once(' ').unwrap_or((comment, ""));
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let (name, argument) = rest
                .split_once(' ')
                .ok_or_else(|| at(format!("{keyword} without text")))?;
            if !valid_metric_name(name) {
                return Err(at(format!("bad family name {name:?}")));
            }
            if current.as_deref() != Some(name) {
                if closed.contains(name) {
                    return Err(at(format!("family {name} appears twice")));
                }
                if let Some(previous) = current.replace(name.to_owned()) {
                    closed.insert(previous);
                }
                exposition.order.push(name.to_owned());
            }
            let family = exposition.families.entry(name.to_owned()).or_default();
            if keyword == "HELP" {
                if !family.help.is_empty() {
                    return Err(at(format!("second HELP for {name}")));
                }
                family.help = unescape_help(argument).map_err(at)?;
            } else {
                if !family.kind.is_empty() {
                    return Err(at(format!("second TYPE for {name}")));
                }
                if !family.samples.is_empty() {
                    return Err(at(format!("TYPE after samples for {name}")));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&argument) {
                    return Err(at(format!("bad type {argument:?}")));
                }
                family.kind = argument.to_owned();
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let family_name = current
            .clone()
            .ok_or_else(|| at(format!("sample {} before any TYPE", sample.name)))?;
        let family = exposition
            .families
            .get_mut(&family_name)
            .ok_or_else(|| at("no family".to_owned()))?;
        if family.kind.is_empty() {
            return Err(at(format!("sample of {family_name} before its TYPE")));
        }
        if !family_of(&family.kind, &family_name, &sample.name) {
            return Err(at(format!(
                "sample {} is not of family {family_name} ({})",
                sample.name, family.kind
            )));
        }
        let key = (
            sample.name.clone(),
            sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        if !seen.insert(key) {
            return Err(at(format!("sample {} repeats its labels", sample.name)));
        }
        family.samples.push(sample);
    }
    for (name, family) in &exposition.families {
        if family.kind.is_empty() {
            return Err(format!("family {name} has no TYPE"));
        }
        if family.help.is_empty() {
            return Err(format!("family {name} has no HELP"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(exposition)
}

#[test]
fn the_parser_refuses_what_the_format_forbids() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\\n\\\\\"} 3\n";
    let parsed = parse(good).unwrap();
    assert_eq!(
        parsed.value("a_total", &[("x", "1\"\n\\")]),
        Some(3.0),
        "escapes decode"
    );
    for (bad, why) in [
        ("a 1\n", "no TYPE"),
        (
            "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
            "bad escape",
        ),
        (
            "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
            "repeat",
        ),
        ("# HELP a A.\n# TYPE a gauge\na 1 1700000000\n", "timestamp"),
        ("# HELP a A.\n# TYPE a gauge\na 1", "no final line feed"),
        ("# HELP a A.\n# TYPE a gauge\nb 1\n", "foreign sample"),
        (
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "not cumulative",
        ),
        (
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "no +Inf",
        ),
        (
            "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n",
            "family twice",
        ),
    ] {
        assert!(parse(bad).is_err(), "accepted ({why}): {bad:?}");
    }
}
