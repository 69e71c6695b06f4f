//! [`FsBinaryStore`]: binary content as files under the data directory, reached through
//! expiring URLs the server signs with HMAC-SHA256 and serves itself
//! (`_binary/{key}?expires=..&signature=..`).
//!
//! The signing secret is 32 random bytes kept in `binary-url.key` in the data directory,
//! made once (atomically, so concurrent processes agree on it) and readable by its owner
//! only. A signature covers the method, the key and the expiry, so a download URL cannot
//! be used to upload, nor for another object, nor later.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_interface::binary::{BinaryKey, BinaryStore, PresignedUrl, SignedUrlServer, UrlMethod};
use hearth_interface::instant::Instant;
use hearth_interface::{Error, IssueKind, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The directory of the objects, inside the data directory.
pub const BINARY_DIR: &str = "binaries";
/// The file of the URL signing secret, inside the data directory.
pub const SECRET_FILE: &str = "binary-url.key";
/// Temporary files of uploads in progress, inside [`BINARY_DIR`] (keys never start with
/// `.`, so no key names it).
const TMP_DIR: &str = ".tmp";
const SECRET_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Binary content in files under `{data_dir}/binaries/{key}`.
#[derive(Clone)]
pub struct FsBinaryStore {
    root: PathBuf,
    secret: Arc<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for FsBinaryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsBinaryStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl FsBinaryStore {
    /// Opens the store in `data_dir`, creating its directory and signing secret when
    /// missing.
    ///
    /// # Errors
    /// `Internal` when the directory or secret cannot be created or read.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let root = data_dir.join(BINARY_DIR);
        std::fs::create_dir_all(root.join(TMP_DIR))
            .map_err(|e| Error::internal(format!("cannot create {}", root.display()), e))?;
        let secret = load_or_create_secret(&data_dir.join(SECRET_FILE))?;
        Ok(Self {
            root,
            secret: Arc::new(secret),
        })
    }

    fn path(&self, key: &BinaryKey) -> PathBuf {
        // Keys are relative paths of plain segments (never `..`, never absolute).
        self.root.join(key.as_str())
    }

    fn mac(&self, method: UrlMethod, key: &BinaryKey, expires: i64) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = HmacSha256::new_from_slice(self.secret.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(format!("{}\n{key}\n{expires}", method.as_str()).as_bytes());
        mac
    }

    fn sign(&self, method: UrlMethod, key: &BinaryKey, ttl: Duration) -> PresignedUrl {
        let now = Instant::now().0 / 1_000_000;
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let expires = now.saturating_add(ttl);
        let signature =
            URL_SAFE_NO_PAD.encode(self.mac(method, key, expires).finalize().into_bytes());
        PresignedUrl {
            url: format!("_binary/{key}?expires={expires}&signature={signature}"),
            method,
            expires_at: Instant(expires.saturating_mul(1_000_000)),
        }
    }

    async fn write_file(&self, key: &BinaryKey, bytes: Vec<u8>) -> Result<()> {
        let target = self.path(key);
        let tmp = self.root.join(TMP_DIR).join(random_name()?);
        blocking(move || {
            let result = (|| {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                // Readers see the old or the new file whole.
                std::fs::rename(&tmp, &target)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result.map_err(|e| Error::internal(format!("cannot write {}", target.display()), e))
        })
        .await
    }
}

#[async_trait]
impl BinaryStore for FsBinaryStore {
    fn backend_name(&self) -> &'static str {
        "filesystem"
    }

    async fn check(&self) -> Result<()> {
        let root = self.root.clone();
        blocking(move || {
            std::fs::create_dir_all(root.join(TMP_DIR))
                .map_err(|e| Error::internal(format!("cannot create {}", root.display()), e))
        })
        .await
    }

    async fn presign_put(&self, key: &BinaryKey, ttl: Duration) -> Result<PresignedUrl> {
        Ok(self.sign(UrlMethod::Put, key, ttl))
    }

    async fn presign_get(&self, key: &BinaryKey, ttl: Duration) -> Result<Option<PresignedUrl>> {
        let path = self.path(key);
        let exists = blocking(move || Ok(path.is_file())).await?;
        Ok(exists.then(|| self.sign(UrlMethod::Get, key, ttl)))
    }

    async fn put(&self, key: &BinaryKey, _content_type: &str, bytes: Vec<u8>) -> Result<()> {
        self.write_file(key, bytes).await
    }

    async fn delete(&self, key: &BinaryKey) -> Result<()> {
        let path = self.path(key);
        blocking(move || {
            let result = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::internal(
                    format!("cannot delete {}", path.display()),
                    e,
                )),
                _ => Ok(()),
            }
        })
        .await
    }
}

#[async_trait]
impl SignedUrlServer for FsBinaryStore {
    fn verify(
        &self,
        method: UrlMethod,
        key: &BinaryKey,
        expires: i64,
        signature: &str,
    ) -> Result<()> {
        let forbidden = |m: &str| Error::new(IssueKind::Forbidden, m.to_owned());
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| forbidden("the URL signature is malformed"))?;
        // Constant-time comparison.
        self.mac(method, key, expires)
            .verify_slice(&signature)
            .map_err(|_| {
                forbidden("the URL signature does not match: it is for another object or method")
            })?;
        if Instant::now().0 / 1_000_000 > expires {
            return Err(forbidden("the URL has expired"));
        }
        Ok(())
    }

    async fn read(&self, key: &BinaryKey) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::internal(
                format!("cannot read {}", path.display()),
                e,
            )),
        })
        .await
    }

    async fn write(&self, key: &BinaryKey, bytes: Vec<u8>) -> Result<()> {
        self.write_file(key, bytes).await
    }
}

async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("file task failed", e))?
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal("no randomness", std::io::Error::other(e.to_string())))?;
    Ok(bytes)
}

fn random_name() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<12>()?))
}

/// Reads the secret, or makes it: written to a temporary file and linked into place, so
/// that of two processes starting at once both end up with the one that got there first.
fn load_or_create_secret(path: &Path) -> Result<[u8; SECRET_LEN]> {
    let io = |e: std::io::Error| Error::internal(format!("cannot set up {}", path.display()), e);
    if !path.exists() {
        let tmp = path.with_extension(format!("tmp-{}", random_name()?));
        let mut file = owner_only(&tmp).map_err(io)?;
        file.write_all(&random_bytes::<SECRET_LEN>()?).map_err(io)?;
        file.sync_all().map_err(io)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
            _ => {}
        }
    }
    let bytes = std::fs::read(path).map_err(io)?;
    bytes.try_into().map_err(|_| {
        Error::internal(
            format!("{} is corrupt: delete it to make a new one", path.display()),
            std::io::Error::other("wrong secret length"),
        )
    })
}

#[cfg(unix)]
fn owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> BinaryKey {
        BinaryKey::parse(k).expect("key")
    }

    fn query(url: &PresignedUrl) -> (i64, String) {
        let (_, query) = url.url.split_once('?').expect("query");
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse().expect("number"),
                Some(("signature", v)) => signature = v.to_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[tokio::test]
    async fn signatures_bind_method_key_and_expiry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBinaryStore::open(dir.path()).expect("open");
        let k = key("Binary/a/1");
        let put = store
            .presign_put(&k, Duration::from_secs(60))
            .await
            .expect("put url");
        assert!(
            put.url.starts_with("_binary/Binary/a/1?expires="),
            "{}",
            put.url
        );
        let (expires, signature) = query(&put);
        store
            .verify(UrlMethod::Put, &k, expires, &signature)
            .expect("valid");
        let denied =
            |r: Result<()>| assert_eq!(r.expect_err("denied").kind(), IssueKind::Forbidden);
        denied(store.verify(UrlMethod::Get, &k, expires, &signature));
        denied(store.verify(UrlMethod::Put, &key("Binary/a/2"), expires, &signature));
        denied(store.verify(UrlMethod::Put, &k, expires + 1, &signature));
        denied(store.verify(UrlMethod::Put, &k, expires, "not base64!"));

        let past = Instant::now().0 / 1_000_000 - 1;
        let old =
            URL_SAFE_NO_PAD.encode(store.mac(UrlMethod::Put, &k, past).finalize().into_bytes());
        denied(store.verify(UrlMethod::Put, &k, past, &old));
    }

    #[tokio::test]
    async fn content_round_trips_and_deletes_by_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBinaryStore::open(dir.path()).expect("open");
        let (v1, v2) = (key("Binary/b/1"), key("Binary/b/2"));
        assert!(
            store
                .presign_get(&v1, Duration::from_secs(5))
                .await
                .expect("get")
                .is_none()
        );
        store
            .put(&v1, "text/plain", b"one".to_vec())
            .await
            .expect("put");
        store.write(&v2, b"two".to_vec()).await.expect("write");
        assert!(
            store
                .presign_get(&v1, Duration::from_secs(5))
                .await
                .expect("get")
                .is_some()
        );
        assert_eq!(
            store.read(&v2).await.expect("read").as_deref(),
            Some(&b"two"[..])
        );
        store.delete(&key("Binary/b")).await.expect("delete");
        assert!(store.read(&v1).await.expect("read").is_none());
        assert!(store.read(&v2).await.expect("read").is_none());
        store
            .delete(&key("Binary/b"))
            .await
            .expect("deleting nothing is fine");
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = FsBinaryStore::open(dir.path()).expect("open");
        let b = FsBinaryStore::open(dir.path()).expect("reopen");
        assert_eq!(a.secret, b.secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
