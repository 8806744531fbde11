//! Errors on user input that name the file, the line and the field, and say what is allowed.
//!
//! Every YAML description goes through [`parse_yaml`]: serde reports type errors and unknown
//! fields with a path, and a [`SourceMap`] built from the YAML event stream maps any field path
//! back to its line, so that semantic checks made after parsing (N ≥ M, a tile that cannot fit)
//! point at the same place a syntax error would.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use yaml_rust2::parser::{Event, Parser};

/// An error in a user's input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or built-in name) the input came from.
    pub file: String,
    /// 1-based line of the offending field, when it is known.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `array.rows` or `layers[3].kernel`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What would be accepted instead.
    pub allowed: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(allowed) = &self.allowed {
            write!(f, " (allowed: {allowed})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Maps field paths (`a.b[2].c`) of one YAML document to their 1-based lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    file: String,
    lines: HashMap<String, usize>,
}

enum Frame {
    Map {
        key: Option<String>,
        expect_key: bool,
    },
    Seq {
        index: usize,
    },
}

impl SourceMap {
    /// Builds the map for `text`; a document that does not parse yields an empty map (serde then
    /// reports the syntax error with its own location).
    pub fn new(file: &str, text: &str) -> Self {
        let mut map = SourceMap {
            file: file.to_string(),
            lines: HashMap::new(),
        };
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        while let Ok((event, mark)) = parser.next_token() {
            let line = mark.line();
            // A node that is the value of a key or an element of a sequence gets a path.
            let at_value = |stack: &mut Vec<Frame>, map: &mut SourceMap| {
                let path = path_of(stack);
                if let Some(Frame::Seq { .. }) = stack.last() {
                    map.lines.entry(path).or_insert(line);
                }
            };
            match event {
                Event::StreamEnd => break,
                Event::Scalar(value, ..) => match stack.last_mut() {
                    Some(Frame::Map { key, expect_key }) if *expect_key => {
                        *key = Some(value);
                        *expect_key = false;
                        let path = path_of(&stack);
                        map.lines.entry(path).or_insert(line);
                    }
                    Some(Frame::Map { expect_key, .. }) => *expect_key = true,
                    Some(Frame::Seq { .. }) => {
                        map.lines.entry(path_of(&stack)).or_insert(line);
                        if let Some(Frame::Seq { index }) = stack.last_mut() {
                            *index += 1;
                        }
                    }
                    None => {}
                },
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    at_value(&mut stack, &mut map);
                    stack.push(match event {
                        Event::MappingStart(..) => Frame::Map {
                            key: None,
                            expect_key: true,
                        },
                        _ => Frame::Seq { index: 0 },
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    match stack.last_mut() {
                        Some(Frame::Map { expect_key, .. }) => *expect_key = true,
                        Some(Frame::Seq { index }) => *index += 1,
                        None => {}
                    }
                }
                _ => {}
            }
        }
        map
    }

    /// The file this map describes.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(&l) = self.lines.get(p) {
                return Some(l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// A diagnostic for `path` in this file.
    pub fn error(
        &self,
        path: &str,
        message: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Diagnostic {
        let allowed: String = allowed.into();
        Diagnostic {
            file: self.file.clone(),
            line: self.line(path),
            field: path.to_string(),
            message: message.into(),
            allowed: (!allowed.is_empty()).then_some(allowed),
        }
    }
}

fn path_of(stack: &[Frame]) -> String {
    let mut s = String::new();
    for frame in stack {
        match frame {
            Frame::Map { key: Some(k), .. } => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Frame::Map { key: None, .. } => {}
            Frame::Seq { index } => s.push_str(&format!("[{index}]")),
        }
    }
    s
}

/// Loads a description given as a built-in name (its embedded text, reported as
/// `<dir>/<name>.yaml`) or as a path, parsing it with `parse`.
pub fn load_named<T>(
    spec: &str,
    built_in: &[(&str, &str)],
    dir: &str,
    what: &str,
    parse: impl Fn(&str, &str) -> Result<T, Diagnostic>,
) -> Result<T, Diagnostic> {
    if let Some((name, text)) = built_in.iter().find(|(n, _)| *n == spec) {
        return parse(&format!("{dir}/{name}.yaml"), text);
    }
    match std::fs::read_to_string(spec) {
        Ok(text) => parse(spec, &text),
        Err(e) => Err(Diagnostic {
            file: spec.to_string(),
            line: None,
            field: String::new(),
            message: format!("cannot read {what}: {e}"),
            allowed: Some(format!(
                "a YAML file or one of {}",
                built_in
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }),
    }
}

/// Parses `text` (from `file`) into `T`, turning serde's errors into diagnostics with the line
/// and the dotted field path, and returns the source map for later semantic checks.
pub fn parse_yaml<T: DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<(T, SourceMap), Diagnostic> {
    let map = SourceMap::new(file, text);
    let de = serde_yaml::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok((v, map)),
        Err(e) => {
            let field = normalize_path(&e.path().to_string());
            let inner = e.inner();
            let line = inner
                .location()
                .map(|l| l.line())
                .or_else(|| map.line(&field));
            let raw = strip_location(&inner.to_string());
            // serde_yaml prefixes the message with the parent's path, which we report apart.
            let raw = match raw.split_once(": ") {
                Some((prefix, rest)) if field.starts_with(prefix) => rest.to_string(),
                _ => raw,
            };
            let (message, allowed) = split_expected(&raw);
            Err(Diagnostic {
                file: file.to_string(),
                line,
                field,
                message,
                allowed,
            })
        }
    }
}

/// serde_path_to_error writes `.` for the root and `layers[3].op`; we use `` for the root.
fn normalize_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

/// serde_yaml appends " at line L column C" to its messages; the line is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into message and allowed set.
fn split_expected(msg: &str) -> (String, Option<String>) {
    for marker in [", expected one of ", ", expected "] {
        if let Some(i) = msg.find(marker) {
            return (
                msg[..i].to_string(),
                Some(msg[i + marker.len()..].to_string()),
            );
        }
    }
    (msg.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        rows: u32,
        cols: u32,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        array: Inner,
        layers: Vec<Inner>,
    }

    const TEXT: &str = "name: x\narray:\n  rows: 4\n  cols: 4\nlayers:\n  - rows: 1\n    cols: 2\n  - {rows: 3, cols: 4}\n";

    #[test]
    fn source_map_finds_nested_keys_and_sequence_items() {
        let m = SourceMap::new("a.yaml", TEXT);
        assert_eq!(m.line("name"), Some(1));
        assert_eq!(m.line("array"), Some(2));
        assert_eq!(m.line("array.cols"), Some(4));
        assert_eq!(m.line("layers[0].cols"), Some(7));
        assert_eq!(m.line("layers[1].rows"), Some(8));
        assert_eq!(m.line("layers[1]"), Some(8));
        // Unknown children fall back to the nearest known ancestor.
        assert_eq!(m.line("array.depth"), Some(2));
    }

    fn check(text: &str, line: usize, field: &str, needle: &str) {
        let e = parse_yaml::<Doc>("a.yaml", text).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.field, field, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn serde_errors_carry_line_field_and_allowed() {
        check(
            &TEXT.replace("cols: 2", "colz: 2"),
            7,
            "layers[0].colz",
            "unknown field `colz` (allowed: `rows` or `cols`)",
        );
        check(
            &TEXT.replace("rows: 4", "rows: four"),
            3,
            "array.rows",
            "invalid type",
        );
        check(
            &TEXT.replace("rows: 4", "rows: -4"),
            3,
            "array.rows",
            "invalid type: integer `-4`",
        );
    }

    #[test]
    fn display_names_file_line_field() {
        let m = SourceMap::new("arch.yaml", TEXT);
        let d = m.error("array.rows", "must be at least 1", "1..=256");
        assert_eq!(
            d.to_string(),
            "arch.yaml:3: field `array.rows`: must be at least 1 (allowed: 1..=256)"
        );
    }
}
