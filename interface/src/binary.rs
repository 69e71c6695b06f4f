//! The [`BinaryStore`] trait: the content of `Binary` resources (and other large files)
//! kept beside the resource store and reached by clients through presigned URLs, so the
//! bytes never pass through the FHIR server.
//!
//! A `Binary` resource keeps only its metadata (`contentType`, `securityContext`) in the
//! [`ResourceStore`](crate::store::ResourceStore); its content is one object per write,
//! under [`BinaryKey::for_binary`].

use std::fmt::{self, Debug};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::id::{ResourceId, truncate_for_message};
use crate::instant::Instant;

/// The longest key accepted, in bytes (S3 allows 1,024).
const MAX_KEY_LEN: usize = 1024;

/// The name of an object: segments of `A-Z a-z 0-9 . _ -` separated by `/`.
///
/// No segment is empty or starts with `.`, so a key is never `..`, never absolute and
/// never hidden: joined to a directory it always names a path inside that directory, and
/// it needs no escaping in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinaryKey(String);

impl BinaryKey {
    /// Validates `key`.
    ///
    /// # Errors
    /// [`crate::IssueKind::Invalid`] for an empty or too long key, an empty segment, a
    /// segment starting with `.`, or any other character than letters, digits, `.`, `_`,
    /// `-` and the `/` separator.
    pub fn parse(key: &str) -> Result<Self> {
        let valid = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if valid {
            Ok(Self(key.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "invalid binary key '{}'",
                truncate_for_message(key)
            )))
        }
    }

    /// The key of one content of a `Binary`: `Binary/{id}/{content}`, where `content`
    /// names one upload (a UUID).
    ///
    /// # Errors
    /// [`crate::IssueKind::Invalid`] when `content` is not one valid key segment.
    pub fn for_binary(id: &ResourceId, content: &str) -> Result<Self> {
        // Resource ids are letters, digits, `-` and `.`, but may start with `.`.
        let key = format!("Binary/{}/{content}", escape_leading_dot(id.as_str()));
        match Self::parse(&key) {
            Ok(key) if !content.contains('/') => Ok(key),
            _ => Err(Error::invalid(format!(
                "invalid Binary content id '{}'",
                truncate_for_message(content)
            ))),
        }
    }

    /// The prefix of every version's content of a `Binary`: `Binary/{id}`.
    pub fn binary_prefix(id: &ResourceId) -> Self {
        Self(format!("Binary/{}", escape_leading_dot(id.as_str())))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn escape_leading_dot(id: &str) -> String {
    match id.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => id.to_owned(),
    }
}

impl fmt::Display for BinaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The HTTP method a presigned URL is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlMethod {
    /// Downloading the content.
    Get,
    /// Uploading the content (the body is the raw bytes).
    Put,
}

impl UrlMethod {
    /// The method's name: `GET` or `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// A URL that lets its holder read or write one object until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    /// Either absolute (`https://bucket.s3.amazonaws.com/...`) or relative to the FHIR base
    /// (`_binary/...`, served by the router itself); see [`PresignedUrl::resolve`].
    pub url: String,
    /// The method it is valid for.
    pub method: UrlMethod,
    /// When it stops working.
    pub expires_at: Instant,
}

impl PresignedUrl {
    /// The absolute URL: [`PresignedUrl::url`] itself when absolute, else joined to `base`
    /// (the FHIR base URL, without trailing slash).
    pub fn resolve(&self, base: &str) -> String {
        if self.url.contains("://") {
            self.url.clone()
        } else {
            format!("{}/{}", base.trim_end_matches('/'), self.url)
        }
    }
}

/// Object storage for binary content.
///
/// # Contract
/// - Presigned URLs need no other credentials: whoever holds one may `PUT` (upload) or
///   `GET` (download) the raw bytes of that one key until it expires.
/// - A `PUT` through a presigned URL, or [`BinaryStore::put`], replaces the object whole;
///   readers see the old or the new content, never a mix.
/// - [`BinaryStore::delete`] is idempotent.
///
/// # Errors
/// Backends report their own failures (and a missing bucket or directory) as `Internal`.
///
/// # Example
/// ```ignore
/// let key = BinaryKey::for_binary(&id, &content_id)?;
/// let upload = store.presign_put(&key, Duration::from_secs(300)).await?;
/// // the client PUTs its bytes to upload.resolve(base)
/// let download = store.presign_get(&key, Duration::from_secs(300)).await?;
/// ```
#[async_trait]
pub trait BinaryStore: Send + Sync + Debug + 'static {
    /// A short name of the backend, for logs.
    fn backend_name(&self) -> &'static str;

    /// Checks that the storage exists and is reachable, for a clear failure at start-up.
    async fn check(&self) -> Result<()>;

    /// A URL to upload the content of `key`, valid for `ttl`.
    async fn presign_put(&self, key: &BinaryKey, ttl: Duration) -> Result<PresignedUrl>;

    /// A URL to download the content of `key`, valid for `ttl`; `None` when nothing was
    /// uploaded under `key`.
    async fn presign_get(&self, key: &BinaryKey, ttl: Duration) -> Result<Option<PresignedUrl>>;

    /// Stores `bytes` under `key` directly (small content sent inline as `Binary.data`).
    async fn put(&self, key: &BinaryKey, content_type: &str, bytes: Vec<u8>) -> Result<()>;

    /// Deletes the object `key` and every object under `key/`; nothing to delete is fine.
    async fn delete(&self, key: &BinaryKey) -> Result<()>;
}

/// The server side of presigned URLs that point at the FHIR server itself (the embedded
/// backend's `_binary/{key}?expires=..&signature=..`): the router checks each request with
/// [`SignedUrlServer::verify`] and then reads or writes the object.
#[async_trait]
pub trait SignedUrlServer: Send + Sync + Debug + 'static {
    /// Checks that `signature` signs `method` on `key` until `expires` (Unix seconds) and
    /// that this time has not passed.
    ///
    /// # Errors
    /// [`crate::IssueKind::Forbidden`] for a wrong signature or an expired URL.
    fn verify(
        &self,
        method: UrlMethod,
        key: &BinaryKey,
        expires: i64,
        signature: &str,
    ) -> Result<()>;

    /// The content of `key`; `None` when nothing was uploaded.
    async fn read(&self, key: &BinaryKey) -> Result<Option<Vec<u8>>>;

    /// Replaces the content of `key`.
    async fn write(&self, key: &BinaryKey, bytes: Vec<u8>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_escape_their_root() {
        for good in ["Binary/abc/1", "export/job-1/Patient.1.ndjson", "a_b"] {
            assert!(BinaryKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", ".hidden", "a/", "a\\b", "a b", "a%2fb",
            "é",
        ] {
            assert!(BinaryKey::parse(bad).is_err(), "{bad}");
        }
        assert!(BinaryKey::parse(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn binary_keys_are_valid_even_for_dotted_ids() {
        let id = ResourceId::parse(".x").expect("id");
        let key = BinaryKey::for_binary(&id, "c-2").expect("key");
        assert_eq!(BinaryKey::parse(key.as_str()).ok(), Some(key.clone()));
        assert_eq!(key.as_str(), "Binary/_x/c-2");
        assert!(BinaryKey::for_binary(&id, "../x").is_err());
        assert!(BinaryKey::for_binary(&id, "a/b").is_err());
        assert!(
            key.as_str()
                .starts_with(BinaryKey::binary_prefix(&id).as_str())
        );
    }

    #[test]
    fn relative_urls_resolve_against_the_base() {
        let url = |u: &str| PresignedUrl {
            url: u.into(),
            method: UrlMethod::Get,
            expires_at: Instant(0),
        };
        assert_eq!(
            url("_binary/k?x=1").resolve("http://h/fhir/"),
            "http://h/fhir/_binary/k?x=1"
        );
        assert_eq!(url("http://s3/b/k").resolve("http://h"), "http://s3/b/k");
    }
}
