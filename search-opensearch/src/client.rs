//! [`OpenSearchClient`]: the connection to the cluster, the index names, index creation
//! and the start-up check.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_interface::id::all_resource_types;
use hearth_interface::{Error, ResourceType, Result};
use opensearch::OpenSearch;
use opensearch::auth::Credentials;
use opensearch::http::response::Response;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{StatusCode, Url};
use opensearch::indices::{IndicesCreateParts, IndicesPutMappingParts};
use serde_json::Value;

use crate::mapping;

/// How long one request may take before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the cluster is and how the indexes are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSearchConfig {
    /// The cluster's base URL (`HEARTH_OPENSEARCH_URL`), `http://127.0.0.1:9200` or an
    /// `https://` domain endpoint.
    pub url: String,
    /// The prefix of every index name: indexes are `{prefix}-{type}` (`hearth-patient`),
    /// in the alias `{prefix}-all`. Lowercase letters, digits and `-`.
    pub index_prefix: String,
}

impl OpenSearchConfig {
    /// A configuration for `url` with the default index prefix `hearth`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            index_prefix: "hearth".to_owned(),
        }
    }

    /// The same with another index prefix.
    #[must_use]
    pub fn with_index_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.index_prefix = prefix.into();
        self
    }
}

/// A connection to an OpenSearch cluster, shared (cheaply cloned) by the search engine
/// and the indexer.
#[derive(Debug, Clone)]
pub struct OpenSearchClient {
    pub(crate) os: OpenSearch,
    url: String,
    prefix: String,
    /// The types whose index is known to exist.
    created: Arc<Mutex<HashSet<ResourceType>>>,
}

impl OpenSearchClient {
    /// A client for the configured cluster, sending unsigned requests. Nothing is sent
    /// yet: see [`Self::check`].
    ///
    /// # Errors
    /// `Invalid` when the URL or the index prefix is malformed.
    pub fn from_config(config: &OpenSearchConfig) -> Result<Self> {
        Self::build(config, None)
    }

    /// A client whose requests are signed with AWS SigV4 (service `es`) with the
    /// credentials and region of `aws`: for Amazon OpenSearch Service domains whose
    /// access policy names IAM principals.
    ///
    /// # Errors
    /// `Invalid` when the URL or the index prefix is malformed, or `aws` has no
    /// credentials provider or region.
    pub fn from_config_with_aws(
        config: &OpenSearchConfig,
        aws: &aws_types::SdkConfig,
    ) -> Result<Self> {
        let credentials = Credentials::try_from(aws)
            .map_err(|e| Error::invalid(format!("cannot sign OpenSearch requests: {e}")))?;
        Self::build(config, Some(credentials))
    }

    fn build(config: &OpenSearchConfig, auth: Option<Credentials>) -> Result<Self> {
        let prefix = &config.index_prefix;
        let prefix_ok = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !prefix.starts_with('-');
        if !prefix_ok {
            return Err(Error::invalid(format!(
                "invalid OpenSearch index prefix '{prefix}': use lowercase letters, digits and '-'"
            )));
        }
        let url = Url::parse(&config.url)
            .map_err(|e| Error::invalid(format!("invalid OpenSearch URL '{}': {e}", config.url)))?;
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .disable_proxy()
            .timeout(REQUEST_TIMEOUT);
        if let Some(credentials) = auth {
            builder = builder.auth(credentials).service_name("es");
        }
        let transport = builder
            .build()
            .map_err(|e| Error::internal("cannot build the OpenSearch client", e))?;
        Ok(Self {
            os: OpenSearch::new(transport),
            url: config.url.clone(),
            prefix: prefix.clone(),
            created: Arc::default(),
        })
    }

    /// Checks that the cluster answers, for a clear failure at start-up.
    ///
    /// # Errors
    /// `Internal` naming the URL when the cluster is unreachable or answers an error.
    pub async fn check(&self) -> Result<()> {
        let response = self.os.info().send().await.map_err(|e| {
            Error::internal(format!("OpenSearch at {} is unreachable: {e}", self.url), e)
        })?;
        let status = response.status_code();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::internal(
                format!("OpenSearch at {} answered {status}", self.url),
                body,
            ));
        }
        Ok(())
    }

    /// Creates the index of every resource type with its mapping, in the alias; indexes
    /// that exist get the fields this version's mapping adds (existing fields are left as
    /// they are). For `hearth init-aws`, first deployments and upgrades: documents indexed
    /// before an upgrade get values in the new fields when reindexed (`hearth reindex`).
    ///
    /// # Errors
    /// `Internal` when an index cannot be created.
    pub async fn create_indexes(&self) -> Result<()> {
        for name in all_resource_types() {
            if let Some(ty) = ResourceType::parse(name) {
                self.ensure_index(ty).await?;
            }
        }
        Ok(())
    }

    /// Creates the index of `ty` (or adds the fields of this version's mapping to it)
    /// unless it is known to be up to date.
    pub(crate) async fn ensure_index(&self, ty: ResourceType) -> Result<()> {
        if self.lock_created().contains(&ty) {
            return Ok(());
        }
        let index = self.index(ty);
        let response = self
            .os
            .indices()
            .create(IndicesCreateParts::Index(&index))
            .body(mapping::index_body(&self.alias(), ty))
            .send()
            .await;
        match read(response, "creating an index").await {
            Ok(_) => {}
            Err(e) if e.message().contains("resource_already_exists_exception") => {
                let response = self
                    .os
                    .indices()
                    .put_mapping(IndicesPutMappingParts::Index(&[&index]))
                    .body(mapping::mapping_body(ty))
                    .send()
                    .await;
                read(response, "updating an index mapping").await?;
            }
            Err(e) => return Err(e),
        }
        self.lock_created().insert(ty);
        Ok(())
    }

    fn lock_created(&self) -> std::sync::MutexGuard<'_, HashSet<ResourceType>> {
        self.created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The index of a resource type.
    pub fn index(&self, ty: ResourceType) -> String {
        mapping::index_name(&self.prefix, ty)
    }

    /// The alias of every index.
    pub fn alias(&self) -> String {
        format!("{}-all", self.prefix)
    }
}

/// The JSON body of a successful response; an error naming `what` and the cluster's
/// reason otherwise.
pub(crate) async fn read(
    response: std::result::Result<Response, opensearch::Error>,
    what: &str,
) -> Result<Value> {
    let response = response.map_err(|e| Error::internal(format!("OpenSearch {what}: {e}"), e))?;
    let status = response.status_code();
    let body: Value = response
        .json()
        .await
        .map_err(|e| Error::internal(format!("OpenSearch {what}: unreadable answer"), e))?;
    if status.is_success() {
        return Ok(body);
    }
    Err(answer_error(what, status, &body))
}

/// An error for a non-success answer, with the cluster's error type and reason.
pub(crate) fn answer_error(what: &str, status: StatusCode, body: &Value) -> Error {
    let error = &body["error"];
    let kind = error["type"].as_str().unwrap_or("error");
    let reason = error["reason"].as_str().unwrap_or_default();
    Error::internal(
        format!("OpenSearch {what}: {status} {kind}: {reason}"),
        body.to_string(),
    )
}
