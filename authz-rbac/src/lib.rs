//! Role-based access control over Amazon Cognito user pools ([`CognitoRbac`]): a token's
//! `cognito:groups` select rules (group -> interactions x resource types) from a JSON file,
//! or the built-in defaults modelled on FHIR Works on AWS:
//!
//! | group | interactions | resource types |
//! |---|---|---|
//! | `practitioner` | every interaction, bulk export and import | every type |
//! | `non-practitioner` | read, search | financial resources (Account, Claim, Coverage, ...) |
//! | `auditor` | read, search | Patient |
//!
//! Tokens (ID or access tokens) are verified against the pool's JWK Set: signature,
//! issuer (`https://cognito-idp.<region>.amazonaws.com/<pool id>`), and the app client id
//! (`aud` of ID tokens, `client_id` of access tokens).

mod rules;

use std::sync::Arc;

use async_trait::async_trait;
use hearth_authz_jwt::{JwtVerifier, TokenCache, expiry, now};
use hearth_interface::authz::{Access, Authorizer, Interaction, TokenEndpoint};
use hearth_interface::search::Criterion;
use hearth_interface::{ResourceId, ResourceType, Result};
use serde_json::{Value, json};

pub use rules::{GroupRule, RbacRules, RulesError};

/// Where a Cognito user pool's tokens come from.
#[derive(Debug, Clone)]
pub struct RbacConfig {
    /// The pool's issuer URL.
    pub issuer: String,
    /// The pool's JWK Set URL (`<issuer>/.well-known/jwks.json` on AWS).
    pub jwks_url: String,
    /// App client ids whose tokens are accepted (empty: any client of the pool).
    pub client_ids: Vec<String>,
    /// The rules.
    pub rules: RbacRules,
}

/// Cognito group-based authorization.
#[derive(Debug)]
pub struct CognitoRbac {
    verifier: JwtVerifier,
    rules: Arc<RbacRules>,
    cache: TokenCache<Arc<dyn Access>>,
}

impl CognitoRbac {
    /// An authorizer for `config`.
    pub fn from_config(config: RbacConfig) -> Self {
        Self {
            verifier: JwtVerifier::new(config.issuer, config.jwks_url, config.client_ids),
            rules: Arc::new(config.rules),
            cache: TokenCache::default(),
        }
    }
}

#[async_trait]
impl Authorizer for CognitoRbac {
    async fn authenticate(&self, token: &str) -> Result<Arc<dyn Access>> {
        if let Some(access) = self.cache.get(token, now()) {
            return Ok(access);
        }
        let claims = self.verifier.verify(token).await?;
        let groups: Vec<String> = claims
            .get("cognito:groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let access: Arc<dyn Access> = Arc::new(RbacAccess {
            subject,
            rules: Arc::clone(&self.rules),
            groups,
        });
        self.cache
            .insert(token, expiry(&claims), Arc::clone(&access));
        Ok(access)
    }

    fn security(&self, _base: &str) -> Value {
        json!({
            "cors": true,
            "service": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "OAuth",
                "display": "OAuth"
            }]}],
            "description": format!(
                "Bearer tokens of the Amazon Cognito user pool {}; access by cognito:groups",
                self.verifier.issuer()
            )
        })
    }

    fn smart_configuration(&self, _base: &str) -> Option<Value> {
        None
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        None
    }
}

/// What one Cognito user may do: the union of their groups' rules.
#[derive(Debug)]
struct RbacAccess {
    subject: String,
    rules: Arc<RbacRules>,
    groups: Vec<String>,
}

impl Access for RbacAccess {
    fn allows(&self, interaction: Interaction, resource_type: ResourceType) -> bool {
        self.groups
            .iter()
            .filter_map(|g| self.rules.group(g))
            .any(|rule| rule.allows(interaction, resource_type))
    }

    fn compartment(&self, _: Interaction, _: ResourceType) -> Option<&ResourceId> {
        None
    }

    fn filters_resources(&self) -> bool {
        false
    }

    fn search_criterion(&self, _: ResourceType) -> Option<Criterion> {
        None
    }

    fn permits(&self, interaction: Interaction, resource_type: ResourceType, _: &Value) -> bool {
        self.allows(interaction, resource_type)
    }

    fn subject(&self) -> &str {
        &self.subject
    }
}
