//! Mapping errors to HTTP answers: every failure becomes an `OperationOutcome`.
//!
//! | [`IssueKind`] | status |
//! |---|---|
//! | `Invalid` | 400 Bad Request |
//! | `Unauthorized` | 401 Unauthorized |
//! | `Forbidden` | 403 Forbidden |
//! | `NotFound` | 404 Not Found |
//! | `MethodNotAllowed` | 405 Method Not Allowed |
//! | `NotAcceptable` | 406 Not Acceptable |
//! | `Conflict` | 409 Conflict |
//! | `Gone` | 410 Gone |
//! | `PreconditionFailed` | 412 Precondition Failed |
//! | `TooLarge` | 413 Content Too Large |
//! | `UnsupportedMediaType` | 415 Unsupported Media Type |
//! | `Unprocessable` | 422 Unprocessable Content |
//! | `TooManyRequests` | 429 Too Many Requests |
//! | `NotSupported` | 501 Not Implemented |
//! | `Internal` | 500 Internal Server Error (generic message; the cause is logged) |

use axum::response::{IntoResponse, Response};
use hearth_interface::outcome::{Issue, operation_outcome};
use hearth_interface::{Error, IssueKind};
use http::StatusCode;

use crate::respond::json_response;

/// An error on its way to the client as an `OperationOutcome`.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    extra_issues: Vec<Issue>,
}

impl ApiError {
    /// Adds issues (validation findings) after the main one.
    pub fn with_issues(mut self, issues: Vec<Issue>) -> Self {
        self.extra_issues = issues;
        self
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        status_of(self.error.kind())
    }

    /// The `OperationOutcome` issues describing this error.
    pub fn issues(&self) -> Vec<Issue> {
        let mut issues = vec![Issue::from(&self.error)];
        issues.extend(self.extra_issues.iter().cloned());
        issues
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self {
            error,
            extra_issues: Vec::new(),
        }
    }
}

/// The HTTP status for an error kind; see the module table.
pub fn status_of(kind: IssueKind) -> StatusCode {
    match kind {
        IssueKind::Invalid => StatusCode::BAD_REQUEST,
        IssueKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        IssueKind::Unauthorized => StatusCode::UNAUTHORIZED,
        IssueKind::Forbidden => StatusCode::FORBIDDEN,
        IssueKind::NotFound => StatusCode::NOT_FOUND,
        IssueKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        IssueKind::Gone => StatusCode::GONE,
        IssueKind::Conflict => StatusCode::CONFLICT,
        IssueKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        IssueKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        IssueKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        IssueKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        IssueKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        IssueKind::NotSupported => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self.error, source = ?std::error::Error::source(&self.error), "request failed");
        }
        let body = operation_outcome(&self.issues());
        json_response(status, &body, false, None)
    }
}
