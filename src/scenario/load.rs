//! Loading: TOML text -> `Scenario`, with errors that name the line and the field path.
//!
//! The field path comes from `serde_path_to_error`. The line comes from walking that path
//! through a `toml_edit` document, which keeps the span of every key and value; a path that
//! is not written in the file (a missing field) falls back to its nearest enclosing table.
//!
//! Serde's internally tagged enums (`SizeDist`, `DelayDist`, tagged by `dist`) buffer their
//! input, so an error inside one loses its inner path (`groups[1].size` instead of
//! `groups[1].size.max`). [`refine_tagged`] recovers it by deserializing that table again
//! into a plain struct mirroring the chosen variant.

use super::error::{FieldErrorKind, Invalid, ScenarioError};
use super::estimate::Estimate;
use super::types::{Dur, Scenario};
use super::validate::validate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml_edit::{Item, Table, TableLike, Value};

/// Largest scenario file (or text) accepted: far above any hand-written scenario, far below
/// what takes the parser seconds and gigabytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads and parses the scenario file at `path`, then validates it. Errors name the file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = read_text(path)?;
    parse_str(&text, &path.display().to_string())
}

/// Reads the scenario file at `path` as text, refusing one larger than [`MAX_FILE_BYTES`]
/// without reading it all.
pub fn read_text(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let io = |source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(&path.display().to_string()));
    }
    String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

fn too_large(origin: &str) -> ScenarioError {
    ScenarioError::TooLarge {
        origin: origin.to_string(),
        max: MAX_FILE_BYTES,
    }
}

/// Refuses a run of `scenario` (parsed from `text`) whose [`Estimate`] does not fit
/// `budget` bytes of memory or the operation cap; each problem names the field that drives
/// it and its line in `text`. `budget_hint` says how to raise the budget.
pub fn check_budget(
    text: &str,
    origin: &str,
    scenario: &Scenario,
    budget: u64,
    budget_hint: &str,
) -> Result<Estimate, ScenarioError> {
    let estimate = Estimate::of(scenario);
    let mut problems = estimate.exceeds(budget, budget_hint);
    if problems.is_empty() {
        return Ok(estimate);
    }
    let doc = toml_edit::Document::parse(text).ok();
    locate_problems(text, doc.as_ref(), &mut problems);
    for p in &mut problems {
        p.hint.push_str(&format!(" ({})", estimate.describe()));
    }
    Err(ScenarioError::Invalid {
        origin: origin.to_string(),
        problems,
    })
}

/// Parses scenario TOML `text`, then validates it. `origin` labels the text in errors
/// (usually the file name).
pub fn parse_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(origin));
    }
    let de = toml::Deserializer::parse(text).map_err(|e| ScenarioError::Syntax {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_string(),
    })?;
    let doc = toml_edit::Document::parse(text).ok();
    let scenario: Scenario = serde_path_to_error::deserialize(de)
        .map_err(|e| field_error(text, doc.as_ref(), origin, e))?;
    if let Err(mut problems) = validate(&scenario) {
        locate_problems(text, doc.as_ref(), &mut problems);
        return Err(ScenarioError::Invalid {
            origin: origin.to_string(),
            problems,
        });
    }
    Ok(scenario)
}

/// Gives each problem the line of its field in `text` (or of its nearest written table,
/// saying the value is the default).
fn locate_problems(text: &str, doc: Option<&toml_edit::Document<&str>>, problems: &mut [Invalid]) {
    for p in problems {
        let segs = parse_path(&p.path);
        match doc.map(|d| locate(d, &segs)) {
            Some(Found::Exact(span)) => p.line = Some(line_of(text, span.start)),
            Some(Found::Parent(span)) => {
                p.line = span.map(|s| line_of(text, s.start));
                p.message
                    .push_str(" (the default; the field is not set in the file)");
            }
            None => {}
        }
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Formats a path as `groups[1].size.max`, quoting keys that are not bare TOML keys.
struct PathDisplay<'a>(&'a [Seg]);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Splits a path written by `validate` (bare keys only) into steps.
fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            segs.push(Seg::Key(rest[..open].to_string()));
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(n) = rest[1..close].parse() {
                    segs.push(Seg::Index(n));
                }
                rest = &rest[close + 1..];
            }
        } else {
            segs.push(Seg::Key(rest.to_string()));
        }
    }
    segs
}

fn segs_of(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A node of the `toml_edit` tree while walking a path.
#[derive(Copy, Clone)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn index(self, n: usize) -> Option<Node<'a>> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(n).map(Node::Table),
            Node::Item(Item::Value(v)) => Node::Value(v).index(n),
            Node::Value(Value::Array(a)) => a.get(n).map(Node::Value),
            _ => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }
}

/// Where a path points in the document.
#[derive(Debug)]
enum Found {
    /// The path is written in the file: the span of its last key (or array element).
    Exact(Range<usize>),
    /// Only a prefix is written: the span of the deepest written part, `None` if not even
    /// the first step is.
    Parent(Option<Range<usize>>),
}

/// Walks `segs` through the document. Keys report the key's span (the line a reader looks
/// at), array elements their own span.
fn locate<S>(doc: &toml_edit::Document<S>, segs: &[Seg]) -> Found {
    let mut node = Node::Item(doc.as_item());
    let mut best: Option<Range<usize>> = None;
    for seg in segs {
        let step = match seg {
            Seg::Key(k) => node
                .table_like()
                .and_then(|t| t.get_key_value(k))
                .map(|(key, item)| (key.span().or_else(|| item.span()), Node::Item(item))),
            Seg::Index(n) => node.index(*n).map(|next| (next.span(), next)),
        };
        match step {
            Some((span, next)) => {
                if span.is_some() {
                    best = span;
                }
                node = next;
            }
            None => return Found::Parent(best),
        }
    }
    match best {
        Some(span) => Found::Exact(span),
        None => Found::Parent(None),
    }
}

/// Turns a deserialization error into `ScenarioError::Field` with path, line and hint.
fn field_error(
    text: &str,
    doc: Option<&toml_edit::Document<&str>>,
    origin: &str,
    e: serde_path_to_error::Error<toml::de::Error>,
) -> ScenarioError {
    let mut segs = segs_of(e.path());
    let mut message = e.inner().message().to_string();
    let mut refined = false;
    if let Some((inner, inner_message)) = refine_tagged(text, &segs, &message) {
        segs.extend(inner);
        message = inner_message;
        refined = true;
    }
    let kind = classify(&message);
    if kind == FieldErrorKind::Missing
        && let Some(name) = backticked(&message)
    {
        segs.push(Seg::Key(name.to_string()));
    }
    // Prefer the span of the path in the document; fall back to the toml error's own span
    // (unless a refinement moved the path deeper than that span describes).
    let line = match doc.map(|d| locate(d, &segs)) {
        Some(Found::Exact(span)) | Some(Found::Parent(Some(span))) => line_of(text, span.start),
        _ => match e.inner().span() {
            Some(span) if !refined => line_of(text, span.start),
            _ => 1,
        },
    };
    let path = PathDisplay(&segs).to_string();
    let hint = hint_for(kind, &message, &path);
    ScenarioError::Field {
        origin: origin.to_string(),
        line,
        path,
        kind,
        message,
        hint,
    }
}

fn classify(message: &str) -> FieldErrorKind {
    if message.starts_with("unknown field") {
        FieldErrorKind::Unknown
    } else if message.starts_with("missing field") {
        FieldErrorKind::Missing
    } else if message.starts_with("invalid type") {
        FieldErrorKind::WrongType
    } else {
        FieldErrorKind::BadValue
    }
}

/// The first `name` quoted in backticks in serde's messages ("missing field `count`").
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn hint_for(kind: FieldErrorKind, message: &str, path: &str) -> String {
    const EXAMPLE: &str = "scenarios/smoke.toml shows every section";
    match kind {
        FieldErrorKind::Unknown => format!("remove it or correct its spelling; {EXAMPLE}"),
        FieldErrorKind::Missing if path.ends_with("dist") => {
            "add dist = \"fixed\", \"uniform\", \"exp\" or \"lognormal\" to this table".into()
        }
        FieldErrorKind::Missing => {
            let name = path.rsplit('.').next().unwrap_or(path);
            if name == path {
                format!("add `{name} = ...` at the top of the file, before any [table]; it has no default")
            } else {
                format!("add `{name} = ...` to the table at this line; it has no default ({EXAMPLE})")
            }
        }
        FieldErrorKind::WrongType if message.contains("internally tagged enum") => {
            "write a table naming the distribution, e.g. { dist = \"exp\", mean = \"5s\", max = \"60s\" } \
             or { dist = \"uniform\", min = 3, max = 30 }"
                .into()
        }
        FieldErrorKind::WrongType if message.contains("expected a string") => {
            "write it in quotes; durations are strings with a unit, e.g. \"5s\"".into()
        }
        FieldErrorKind::WrongType if message.contains("expected u") => {
            "write a whole number without quotes".into()
        }
        FieldErrorKind::WrongType if message.contains("expected f64") => {
            "write a number without quotes, e.g. 0.5".into()
        }
        FieldErrorKind::WrongType => "write a value of the expected type".into(),
        FieldErrorKind::BadValue if message.starts_with("unknown variant") => {
            "use one of the listed names (they are case-sensitive)".into()
        }
        FieldErrorKind::BadValue if message.starts_with("invalid duration") => {
            let name = path.rsplit('.').next().unwrap_or(path);
            format!("e.g. {name} = \"5s\" or \"1m 30s\"")
        }
        FieldErrorKind::BadValue if message.contains("too long") => {
            "use a shorter duration".into()
        }
        FieldErrorKind::BadValue if message.starts_with("invalid value: integer") => {
            "write a whole number >= 0 that fits the field".into()
        }
        FieldErrorKind::BadValue => "fix this value".into(),
    }
}

/// Which tagged distribution enum a table at a path holds, by the key naming it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum DistKind {
    Size,
    Delay,
}

fn dist_kind(key: &str) -> Option<DistKind> {
    match key {
        "size" => Some(DistKind::Size),
        "delay" | "latency" => Some(DistKind::Delay),
        _ => None,
    }
}

/// If `segs` points at a `dist`-tagged table, deserializes that table again into the plain
/// struct of its variant and returns the inner path and message.
fn refine_tagged(text: &str, segs: &[Seg], message: &str) -> Option<(Vec<Seg>, String)> {
    if message.starts_with("unknown variant") || message == "missing field `dist`" {
        return None;
    }
    let Some(Seg::Key(last)) = segs.last() else {
        return None;
    };
    let kind = dist_kind(last)?;
    let root: toml::Table = toml::from_str(text).ok()?;
    let mut value: &toml::Value = root.get(match segs.first()? {
        Seg::Key(k) => k.as_str(),
        Seg::Index(_) => return None,
    })?;
    for seg in &segs[1..] {
        value = match seg {
            Seg::Key(k) => value.as_table()?.get(k)?,
            Seg::Index(n) => value.as_array()?.get(*n)?,
        };
    }
    let mut table = value.as_table()?.clone();
    let dist = table.remove("dist")?;
    let fields = toml::Value::Table(table);
    match (kind, dist.as_str()?) {
        (DistKind::Size, "fixed") => first_error::<shadow::SizeFixed>(fields),
        (DistKind::Size, "uniform") => first_error::<shadow::SizeUniform>(fields),
        (DistKind::Size, "zipf") => first_error::<shadow::SizeZipf>(fields),
        (DistKind::Delay, "fixed") => first_error::<shadow::DelayFixed>(fields),
        (DistKind::Delay, "uniform") => first_error::<shadow::DelayUniform>(fields),
        (DistKind::Delay, "exp") => first_error::<shadow::DelayExp>(fields),
        (DistKind::Delay, "lognormal") => first_error::<shadow::DelayLognormal>(fields),
        _ => None,
    }
}

pub(super) fn first_error<T: DeserializeOwned>(fields: toml::Value) -> Option<(Vec<Seg>, String)> {
    match serde_path_to_error::deserialize::<_, T>(fields) {
        Ok(_) => None,
        Err(e) => Some((segs_of(e.path()), e.inner().message().to_string())),
    }
}

/// Plain structs with the fields of each variant of `SizeDist` and `DelayDist` (without the
/// `dist` tag), used only to locate errors. Keep them in step with `types.rs`; a unit test
/// round-trips every variant through them.
#[allow(dead_code)]
pub(super) mod shadow {
    use super::{Deserialize, Dur};

    fn one() -> f64 {
        1.0
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SizeFixed {
        value: u32,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SizeUniform {
        min: u32,
        max: u32,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SizeZipf {
        min: u32,
        max: u32,
        #[serde(default = "one")]
        exponent: f64,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DelayFixed {
        value: Dur,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DelayUniform {
        min: Dur,
        max: Dur,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DelayExp {
        mean: Dur,
        max: Dur,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DelayLognormal {
        median: Dur,
        sigma: f64,
        max: Dur,
    }
}
