//! Errors of loading a scenario file. Each names the file, the line and the field path, and
//! says what to do.

use std::fmt;
use std::path::PathBuf;

/// Why a scenario file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read. Check the path, the permissions, and that it is UTF-8 text.
    #[error(
        "{}: cannot read scenario file: {source}; check the path and that the file is readable UTF-8 text",
        path.display()
    )]
    Io {
        /// The path as given.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is larger than any scenario needs to be.
    #[error(
        "{origin}: scenario file is larger than {max} bytes; a scenario describes its population \
         with counts and distributions: use [[groups]] classes with `count` instead of listing \
         groups one by one"
    )]
    TooLarge {
        /// The file name (or other label).
        origin: String,
        /// The largest size accepted, in bytes.
        max: u64,
    },
    /// The text is not valid TOML. Fix the syntax at `line`.
    #[error(
        "{}: TOML syntax error: {message}; fix the TOML syntax on this line (strings need quotes, each key may appear once per table)",
        at(origin, *line)
    )]
    Syntax {
        /// The file name (or other label) the text came from.
        origin: String,
        /// 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        /// The parser's description.
        message: String,
    },
    /// The TOML is valid but a field does not fit the scenario format: an unknown field, a
    /// missing required field, a value of the wrong type, or a bad value (e.g. a duration
    /// without a unit). Fix the field at `path` on `line`.
    #[error("{origin}:{line}: {path}: {message}; {hint}")]
    Field {
        /// The file name (or other label) the text came from.
        origin: String,
        /// 1-based line of the field, or of its nearest enclosing table when it is missing.
        line: usize,
        /// Field path such as `groups[1].size.max`.
        path: String,
        /// Which kind of problem.
        kind: FieldErrorKind,
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// Every field parsed but some values are out of range or contradict each other. All
    /// problems found are listed; fix each at its line.
    #[error("{}", show_problems(origin, problems))]
    Invalid {
        /// The file name (or other label) the text came from.
        origin: String,
        /// The problems found, in file order of the checks (never empty).
        problems: Vec<Invalid>,
    },
}

/// The kind of a [`ScenarioError::Field`] problem.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A key the format does not know (misspelt or misplaced).
    Unknown,
    /// A required key is absent.
    Missing,
    /// A value of the wrong TOML type (e.g. a number where a string is expected).
    WrongType,
    /// A value of the right type that cannot be used (unknown variant, bad duration,
    /// integer out of its type's range).
    BadValue,
}

/// One semantic problem found by [`validate`](super::validate).
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Field path such as `groups[1].size.max`.
    pub path: String,
    /// What is wrong, with the value found.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// 1-based line of the field in the file; `None` from [`validate`](super::validate) alone
    /// and when neither the field nor any enclosing table is written in the file.
    pub line: Option<usize>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.path, self.message, self.hint)
    }
}

impl ScenarioError {
    /// 1-based line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Io { .. } | ScenarioError::TooLarge { .. } => None,
            ScenarioError::Syntax { line, .. } => *line,
            ScenarioError::Field { line, .. } => Some(*line),
            ScenarioError::Invalid { problems, .. } => problems.first().and_then(|p| p.line),
        }
    }

    /// Field path the error points at (the first problem's, for `Invalid`).
    pub fn field_path(&self) -> Option<&str> {
        match self {
            ScenarioError::Io { .. }
            | ScenarioError::Syntax { .. }
            | ScenarioError::TooLarge { .. } => None,
            ScenarioError::Field { path, .. } => Some(path),
            ScenarioError::Invalid { problems, .. } => problems.first().map(|p| p.path.as_str()),
        }
    }

    /// The kind of field problem, for `Field` errors.
    pub fn field_kind(&self) -> Option<FieldErrorKind> {
        match self {
            ScenarioError::Field { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// All validation problems, for `Invalid` errors (empty otherwise).
    pub fn problems(&self) -> &[Invalid] {
        match self {
            ScenarioError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn at(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{origin}:{l}"),
        None => origin.to_string(),
    }
}

fn show_problems(origin: &str, problems: &[Invalid]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {p}", at(origin, p.line)))
        .collect();
    lines.join("\n")
}
