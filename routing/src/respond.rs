//! Building FHIR HTTP answers: JSON bodies, resource headers and `Prefer` handling.

use axum::body::Body;
use axum::response::Response;
use hearth_interface::outcome::information;
use hearth_interface::store::StoredResource;
use http::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::negotiate::{FHIR_JSON, Presentation, ReturnPreference};
use crate::summary;

/// A JSON answer with the FHIR media type (or `content_type` when given).
pub fn json_response(
    status: StatusCode,
    body: &Value,
    pretty: bool,
    content_type: Option<&'static str>,
) -> Response {
    let text = if pretty {
        serde_json::to_string_pretty(body).unwrap_or_default()
    } else {
        body.to_string()
    };
    raw_response(status, text, content_type.unwrap_or(FHIR_JSON))
}

fn raw_response(status: StatusCode, text: String, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(charset(content_type)),
    );
    response
}

fn charset(content_type: &'static str) -> &'static str {
    if content_type == FHIR_JSON {
        "application/fhir+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    }
}

/// A body-less answer.
pub fn empty_response(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// Sends a stored resource version as presented: verbatim when nothing asks for changes.
pub fn resource_body(status: StatusCode, stored: &StoredResource, p: &Presentation) -> Response {
    let body = stored.body.clone().unwrap_or_default();
    let mut response = if p.is_verbatim() {
        raw_response(status, body, p.content_type)
    } else {
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        json_response(
            status,
            &summary::apply(value, p),
            p.pretty,
            Some(p.content_type),
        )
    };
    add_version_headers(&mut response, stored);
    response
}

/// Adds `ETag` and `Last-Modified` for a version.
pub fn add_version_headers(response: &mut Response, stored: &StoredResource) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&stored.etag()) {
        headers.insert(ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&stored.last_updated.to_http_date()) {
        headers.insert(LAST_MODIFIED, v);
    }
}

/// The answer to a create or update: status, version headers, `Location` for creates,
/// and the body the client's `Prefer: return=` asks for.
pub fn write_response(
    status: StatusCode,
    stored: &StoredResource,
    base: &str,
    prefer: ReturnPreference,
    p: &Presentation,
    message: &str,
) -> Response {
    let mut response = match prefer {
        ReturnPreference::Minimal => {
            let mut r = empty_response(status);
            add_version_headers(&mut r, stored);
            r
        }
        ReturnPreference::Representation => resource_body(status, stored, p),
        ReturnPreference::OperationOutcome => {
            let mut r = json_response(
                status,
                &information(message),
                p.pretty,
                Some(p.content_type),
            );
            add_version_headers(&mut r, stored);
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/{}", stored.versioned_path())) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A JSON answer whose body is already serialized.
pub fn text_response(status: StatusCode, text: String, content_type: &'static str) -> Response {
    raw_response(status, text, content_type)
}
