//! One-line config errors: `FILE: FIELD: what is wrong`.
//!
//! Operators read these in a terminal or a unit's journal, so each error is a single
//! line naming the file and the field path (`actors[2].pollerz`) or, for syntax
//! errors, the line and column. The binary prints it and exits with code 2.

use std::fmt;
use std::path::{Path, PathBuf};
use suslik_client::ActorId;

/// Which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Unreadable,
    /// Not valid TOML.
    Syntax,
    /// A field name the format does not have (usually a typo).
    UnknownField,
    /// A field with a wrong type or value (including malformed actor ids).
    Invalid,
    /// An actor id this build has no implementation for.
    UnknownActor,
}

/// A config error, displayed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file (or a label for a built-in config).
    pub file: PathBuf,
    /// The field path (`actors[2].pollers`) or `line L, column C`; none for the file.
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Which check failed.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn new(file: &Path, location: Option<String>, message: String, kind: ConfigErrorKind) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            location,
            message: one_line(&message),
            kind,
        }
    }

    pub(crate) fn unreadable(file: &Path, e: &std::io::Error) -> Self {
        ConfigError::new(
            file,
            None,
            format!("cannot read: {e}"),
            ConfigErrorKind::Unreadable,
        )
    }

    pub(crate) fn syntax(file: &Path, text: &str, e: &toml::de::Error) -> Self {
        let location = e.span().map(|s| line_col(text, s.start));
        ConfigError::new(
            file,
            location,
            format!("invalid TOML: {}", e.message()),
            ConfigErrorKind::Syntax,
        )
    }

    pub(crate) fn invalid(file: &Path, field: String, message: String) -> Self {
        ConfigError::new(file, Some(field), message, ConfigErrorKind::Invalid)
    }

    pub(crate) fn unknown_actor(
        file: &Path,
        field: String,
        id: &ActorId,
        known: &[String],
    ) -> Self {
        let known = if known.is_empty() {
            "this build knows no actors".to_string()
        } else {
            format!("known actors: {}", known.join(", "))
        };
        ConfigError::new(
            file,
            Some(field),
            format!("unknown actor {id} ({known})"),
            ConfigErrorKind::UnknownActor,
        )
    }

    /// A decoding error with the path serde was at. Serde's unknown-field message
    /// (``unknown field `x`, expected one of `a`, `b` ``) is reworded so that the path
    /// carries the name and the list of valid names reads plainly.
    pub(crate) fn from_serde(
        file: &Path,
        text: &str,
        e: serde_path_to_error::Error<toml::de::Error>,
    ) -> Self {
        let path = e.path().to_string();
        let inner = e.inner();
        let raw = inner.message();
        let (kind, message) = match raw.strip_prefix("unknown field `") {
            Some(rest) => {
                let expected = rest.split_once('`').map(|(_, tail)| tail).unwrap_or("");
                let expected = expected.trim_start_matches(',').trim().replace('`', "");
                let message = if expected.is_empty() {
                    "unknown field".to_string()
                } else {
                    format!("unknown field, {expected}")
                };
                (ConfigErrorKind::UnknownField, message)
            }
            None => (ConfigErrorKind::Invalid, raw.to_string()),
        };
        let location = if path.is_empty() || path == "." {
            inner.span().map(|s| line_col(text, s.start))
        } else {
            Some(path)
        };
        ConfigError::new(file, location, message, kind)
    }
}

/// `line L, column C` (both 1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// Collapses a multi-line message into one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
