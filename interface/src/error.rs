//! The error model shared by every component.
//!
//! Each component has its own error enum; all of them convert into [`Error`], and each
//! error names its [`IssueKind`]. Only the router turns an [`IssueKind`] into an HTTP
//! status and an `OperationOutcome`.

use std::fmt;

/// What went wrong, in the terms the router needs to answer with the right status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueKind {
    /// The request is malformed or names something invalid (400).
    Invalid,
    /// The request's body failed validation against the FHIR definitions (400 or 422).
    Unprocessable,
    /// No authentication or a bad token (401).
    Unauthorized,
    /// Authenticated, but not allowed (403).
    Forbidden,
    /// The resource or type does not exist (404).
    NotFound,
    /// The interaction is not allowed on this target (405).
    MethodNotAllowed,
    /// The resource was deleted (410).
    Gone,
    /// A write conflicted with another write (409).
    Conflict,
    /// A precondition (`If-Match`, conditional criteria) failed (412).
    PreconditionFailed,
    /// The body is larger than the configured limit (413).
    TooLarge,
    /// The requested or supplied format is not supported (406 for answers, 415 for bodies).
    NotAcceptable,
    /// The body's media type is not supported (415).
    UnsupportedMediaType,
    /// The server is busy; try again later (429).
    TooManyRequests,
    /// The operation is not supported by this backend or configuration (501).
    NotSupported,
    /// Anything else; the details are logged, not shown (500).
    Internal,
}

/// Result alias used throughout Hearth.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure with its kind, a message meant for the client, and optionally the
/// FHIRPath expression of the offending element.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: IssueKind,
    message: String,
    expression: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// Creates an error of `kind` with a client-facing `message`.
    pub fn new(kind: IssueKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            expression: None,
            source: None,
        }
    }

    /// A 400: the request is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(IssueKind::Invalid, message)
    }

    /// A 404: the target does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(IssueKind::NotFound, message)
    }

    /// A 412: a precondition failed.
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(IssueKind::PreconditionFailed, message)
    }

    /// A 409: a write lost a race with another write.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(IssueKind::Conflict, message)
    }

    /// A 500 wrapping an internal failure. The message shown to clients is generic;
    /// `context` and the source are for the logs.
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind: IssueKind::Internal,
            message: context.into(),
            expression: None,
            source: Some(source.into()),
        }
    }

    /// Attaches the FHIRPath expression of the element the error is about.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> IssueKind {
        self.kind
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The FHIRPath expression of the offending element, if known.
    pub fn expression(&self) -> Option<&str> {
        self.expression.as_deref()
    }
}
