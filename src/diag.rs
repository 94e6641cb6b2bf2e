//! Findings about a topology: what is wrong, where (file, line, column, YAML path), with which
//! value, and a hint. Printed as `FILE:LINE:COL: path: message (hint)`.

use std::fmt;

use crate::yaml::Pos;

/// One finding. `pos` is filled in by the loader from the path index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub pos: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            pos: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the finding against a file name.
    pub fn display<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DisplayIn { diag: self, file }
    }
}

struct DisplayIn<'a> {
    diag: &'a Diagnostic,
    file: &'a str,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diag;
        match d.pos {
            Some(p) => write!(f, "{}:{}:{}: ", self.file, p.line, p.col)?,
            None => write!(f, "{}: ", self.file)?,
        }
        let path = if d.path.is_empty() {
            "(document)"
        } else {
            &d.path
        };
        write!(f, "{path}: {}", d.message)?;
        if let Some(h) = &d.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// Collects findings during validation.
#[derive(Debug, Default)]
pub struct Findings(pub Vec<Diagnostic>);

impl Findings {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Records `message` at `path`, with a hint.
    pub fn at(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Diagnostic::new(path, message).hint(hint));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
