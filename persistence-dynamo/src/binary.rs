//! [`S3BinaryStore`]: binary content as S3 objects, one bucket, reached by clients through
//! SigV4-presigned `PUT`/`GET` URLs.
//!
//! Presigned uploads sign only the host, so clients may send any `Content-Type`
//! (`application/octet-stream` is the safe choice: some S3 stand-ins store a form-encoded
//! body empty). With a custom endpoint (`AWS_ENDPOINT_URL`, local stand-ins) requests use
//! path-style addressing (`http://host/bucket/key`), which needs no DNS per bucket.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
};
use hearth_interface::binary::{BinaryKey, BinaryStore, PresignedUrl, UrlMethod};
use hearth_interface::instant::Instant;
use hearth_interface::jobs::after;
use hearth_interface::{Error, Result};

use crate::db::internal_sdk_error;

/// S3 deletes at most this many keys per `DeleteObjects` request.
const DELETE_BATCH: usize = 1000;

/// Binary content in one S3 bucket, keyed by [`BinaryKey`].
#[derive(Debug, Clone)]
pub struct S3BinaryStore {
    client: Client,
    bucket: String,
}

impl S3BinaryStore {
    /// A store on `bucket` through `client`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// A store on `bucket` with a client built from the shared AWS configuration; a custom
    /// endpoint (local stand-ins) gets path-style addressing.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self::new(Client::from_conf(s3), bucket)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it does not exist (`hearth init-aws`); an existing bucket of
    /// ours is fine.
    ///
    /// # Errors
    /// `Internal` when S3 refuses (for example, the name is taken by another account).
    pub async fn create_bucket(&self) -> Result<()> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        let region = self.client.config().region().map(|r| r.as_ref().to_owned());
        if let Some(region) = region.filter(|r| r != "us-east-1") {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(internal_sdk_error(
                format!("cannot create S3 bucket '{}'", self.bucket),
                e,
            )),
        }
    }

    /// Checks that the bucket exists and is reachable, for a clear failure at start-up.
    ///
    /// # Errors
    /// `Invalid` when the bucket does not exist; `Internal` when S3 cannot be reached or
    /// refuses access.
    pub async fn check(&self) -> Result<()> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                Err(Error::invalid(format!(
                    "S3 bucket '{}' does not exist: create it with `hearth init-aws` or set HEARTH_S3_BUCKET",
                    self.bucket
                )))
            }
            Err(e) => Err(internal_sdk_error(
                format!("cannot reach S3 bucket '{}'", self.bucket),
                e,
            )),
        }
    }

    async fn exists(&self, key: &BinaryKey) -> Result<bool> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(internal_sdk_error(format!("cannot look up {key} in S3"), e)),
        }
    }

    async fn delete_keys(&self, keys: Vec<String>) -> Result<()> {
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::internal("cannot build an S3 delete request", e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| Error::internal("cannot build an S3 delete request", e))?;
            let output = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| internal_sdk_error("cannot delete S3 objects", e))?;
            if let Some(failed) = output.errors().first() {
                return Err(Error::internal(
                    format!("cannot delete S3 object {}", failed.key().unwrap_or("?")),
                    std::io::Error::other(failed.message().unwrap_or("").to_owned()),
                ));
            }
        }
        Ok(())
    }

    fn presigning(ttl: Duration) -> Result<PresigningConfig> {
        PresigningConfig::expires_in(ttl).map_err(|e| Error::internal("invalid URL lifetime", e))
    }
}

#[async_trait]
impl BinaryStore for S3BinaryStore {
    fn backend_name(&self) -> &'static str {
        "s3"
    }

    async fn check(&self) -> Result<()> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                Err(Error::internal(
                    format!(
                        "the S3 bucket '{}' does not exist: create it with `hearth init-aws` \
                         or set HEARTH_S3_BUCKET",
                        self.bucket
                    ),
                    e,
                ))
            }
            Err(e) => {
                let message = format!(
                    "the S3 bucket '{}' is not reachable: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                );
                Err(Error::internal(message, e))
            }
        }
    }

    async fn presign_put(&self, key: &BinaryKey, ttl: Duration) -> Result<PresignedUrl> {
        let now = Instant::now();
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| internal_sdk_error("cannot presign an S3 upload", e))?;
        Ok(PresignedUrl {
            url: request.uri().to_owned(),
            method: UrlMethod::Put,
            expires_at: after(now, ttl),
        })
    }

    async fn presign_get(&self, key: &BinaryKey, ttl: Duration) -> Result<Option<PresignedUrl>> {
        if !self.exists(key).await? {
            return Ok(None);
        }
        let now = Instant::now();
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| internal_sdk_error("cannot presign an S3 download", e))?;
        Ok(Some(PresignedUrl {
            url: request.uri().to_owned(),
            method: UrlMethod::Get,
            expires_at: after(now, ttl),
        }))
    }

    async fn put(&self, key: &BinaryKey, content_type: &str, bytes: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| internal_sdk_error(format!("cannot store {key} in S3"), e))?;
        Ok(())
    }

    async fn delete(&self, key: &BinaryKey) -> Result<()> {
        let mut keys = vec![key.as_str().to_owned()];
        let prefix = format!("{key}/");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| internal_sdk_error(format!("cannot list {prefix} in S3"), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        self.delete_keys(keys).await
    }
}
