//! `OperationOutcome` resources: how every error and informational message reaches a client.

use serde_json::{Value, json};

use crate::error::{Error, IssueKind};

/// Severity of one issue (`OperationOutcome.issue.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The request failed.
    Error,
    /// Worth knowing; the request went through.
    Warning,
    /// A plain report.
    Information,
}

impl Severity {
    fn code(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// The FHIR `IssueType` code (`invalid`, `not-found`, `processing`, ...).
    pub code: &'static str,
    /// Human-readable text (`diagnostics`).
    pub diagnostics: String,
    /// FHIRPath expressions of the elements concerned.
    pub expression: Vec<String>,
}

impl Issue {
    /// An issue with no expression.
    pub fn new(severity: Severity, code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }
}

/// The FHIR `IssueType` code for an error kind.
pub fn issue_code(kind: IssueKind) -> &'static str {
    match kind {
        IssueKind::Invalid | IssueKind::Unprocessable => "invalid",
        IssueKind::Unauthorized => "login",
        IssueKind::Forbidden => "forbidden",
        IssueKind::NotFound | IssueKind::Gone => "not-found",
        IssueKind::MethodNotAllowed | IssueKind::NotSupported => "not-supported",
        IssueKind::Conflict | IssueKind::PreconditionFailed => "conflict",
        IssueKind::TooLarge => "too-costly",
        IssueKind::NotAcceptable | IssueKind::UnsupportedMediaType => "not-supported",
        IssueKind::TooManyRequests => "throttled",
        IssueKind::Internal => "exception",
    }
}

impl From<&Error> for Issue {
    fn from(e: &Error) -> Self {
        let diagnostics = if e.kind() == IssueKind::Internal {
            "internal server error".to_owned()
        } else {
            e.message().to_owned()
        };
        Self {
            severity: Severity::Error,
            code: issue_code(e.kind()),
            diagnostics,
            expression: e
                .expression()
                .map(|x| vec![x.to_owned()])
                .unwrap_or_default(),
        }
    }
}

/// Builds an `OperationOutcome` resource from its issues.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut issue = json!({
                "severity": i.severity.code(),
                "code": i.code,
                "diagnostics": i.diagnostics,
            });
            if !i.expression.is_empty() {
                issue["expression"] = json!(i.expression);
            }
            issue
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// An `OperationOutcome` with one informational issue.
pub fn information(message: impl Into<String>) -> Value {
    operation_outcome(&[Issue::new(Severity::Information, "informational", message)])
}
