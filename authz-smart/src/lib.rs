//! SMART on FHIR authorization ([`SmartAuthorizer`]): access tokens from an external SMART
//! authorization server (issuer + JWK Set URL) and/or from Hearth's built-in SMART Backend
//! Services token endpoint ([`builtin`]), with v1 and v2 clinical scopes ([`scopes`]),
//! patient-compartment confinement for `patient/` scopes and patient users ([`context`]),
//! the `/.well-known/smart-configuration` document and the CapabilityStatement security
//! element.
//!
//! # Launch context and `fhirUser`
//!
//! - `fhirUser` must reference a Patient, Practitioner, PractitionerRole, RelatedPerson or
//!   Person (relative or absolute URL), and `patient` must be a resource id, else the token
//!   is invalid (401).
//! - `patient/` scopes are confined to the compartment of the `patient` claim, or of the
//!   `fhirUser` when it is a Patient and there is no `patient` claim; with neither, they
//!   grant nothing and a request needing them is a 403 that says so.
//! - A Patient user sees only their own data: all their scopes are confined to their
//!   compartment like `patient/` scopes, and a `patient` claim naming another patient makes
//!   the token invalid (401). Practitioners, other users and tokens without `fhirUser` get
//!   what their scopes grant.
//!
//! # Granular scopes and search
//! When every scope granting search on a type is granular on the same token parameter
//! (`patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs`),
//! searches of the type get that parameter as one more criterion (values ORed), so pages are
//! full and `total` counts only what the token may see. Combinations one FHIR query cannot
//! express (granular scopes on different parameters, or patient-confined and unconfined
//! granular scopes on one type) fall back to filtering each page's matches: pages may then be
//! short and `total` is left out when something was hidden. Reads, history and includes of
//! resources outside the granted slice are hidden in every case.

mod access;
pub mod builtin;
pub mod context;
pub mod scopes;

use std::sync::Arc;

use async_trait::async_trait;
use hearth_authz_jwt::{JwtVerifier, TokenCache, expiry, now};
use hearth_interface::Result;
use hearth_interface::authz::{Access, Authorizer, TokenEndpoint, unauthorized};
use serde_json::{Map, Value, json};

pub use access::SmartAccess;
pub use builtin::{BuiltinServer, ClientRegistry};
pub use context::{FhirUser, LaunchContext};

/// An external SMART authorization server.
#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    /// Its issuer (`iss` of its tokens).
    pub issuer: String,
    /// Its JWK Set URL.
    pub jwks_url: String,
    /// The audience its tokens must name (usually this server's FHIR base URL).
    pub audience: Option<String>,
    /// Its authorization endpoint, for the discovery document.
    pub authorize_url: Option<String>,
    /// Its token endpoint, for the discovery document.
    pub token_url: Option<String>,
}

/// SMART configuration: at least one of the two token sources.
#[derive(Debug)]
pub struct SmartConfig {
    /// Tokens from an external authorization server.
    pub external: Option<ExternalIssuer>,
    /// The built-in Backend Services token endpoint.
    pub builtin: Option<BuiltinServer>,
}

/// SMART on FHIR authorization.
#[derive(Debug)]
pub struct SmartAuthorizer {
    external: Option<(JwtVerifier, ExternalIssuer)>,
    builtin: Option<BuiltinServer>,
    cache: TokenCache<Arc<dyn Access>>,
}

impl SmartAuthorizer {
    /// An authorizer for `config`.
    pub fn from_config(config: SmartConfig) -> Self {
        let external = config.external.map(|e| {
            let verifier = JwtVerifier::new(
                e.issuer.clone(),
                e.jwks_url.clone(),
                e.audience.clone().into_iter().collect(),
            );
            (verifier, e)
        });
        Self {
            external,
            builtin: config.builtin,
            cache: TokenCache::default(),
        }
    }

    async fn verify(&self, token: &str) -> Result<Map<String, Value>> {
        if let Some(builtin) = &self.builtin
            && builtin.issued(token)
        {
            return builtin.verify(token);
        }
        match &self.external {
            Some((verifier, _)) => Ok(verifier.verify(token).await?),
            None => Err(unauthorized(
                "the access token was not issued by this server",
            )),
        }
    }
}

/// The access a verified token's claims grant.
fn access_of(claims: &Map<String, Value>) -> Result<SmartAccess> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let scope = match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let context = LaunchContext::of(claims)?;
    let subject = text("sub")
        .or_else(|| text("client_id"))
        .unwrap_or("unknown")
        .to_owned();
    Ok(SmartAccess::new(
        subject,
        scopes::parse_all(&scope),
        context,
    ))
}

#[async_trait]
impl Authorizer for SmartAuthorizer {
    async fn authenticate(&self, token: &str) -> Result<Arc<dyn Access>> {
        if let Some(access) = self.cache.get(token, now()) {
            return Ok(access);
        }
        let claims = self.verify(token).await?;
        let access: Arc<dyn Access> = Arc::new(access_of(&claims)?);
        self.cache
            .insert(token, expiry(&claims), Arc::clone(&access));
        Ok(access)
    }

    fn security(&self, base: &str) -> Value {
        let (authorize, token) = self.endpoints(base);
        let mut uris = vec![json!({ "url": "token", "valueUri": token })];
        if let Some(authorize) = authorize {
            uris.push(json!({ "url": "authorize", "valueUri": authorize }));
        }
        json!({
            "cors": true,
            "service": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR",
                "display": "SMART-on-FHIR"
            }]}],
            "extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": uris
            }],
            "description": "SMART App Launch v1/v2 scopes and SMART Backend Services; see /.well-known/smart-configuration"
        })
    }

    fn smart_configuration(&self, base: &str) -> Option<Value> {
        let (authorize, token) = self.endpoints(base);
        let (issuer, jwks_uri) = match (&self.external, &self.builtin) {
            (Some((v, _)), _) => (v.issuer().to_owned(), v.jwks_url().to_owned()),
            (None, _) => (builtin::ISSUER.to_owned(), format!("{base}/auth/jwks")),
        };
        let mut grants = vec!["client_credentials"];
        let mut capabilities = vec![
            "permission-v1",
            "permission-v2",
            "permission-patient",
            "permission-user",
            "client-confidential-asymmetric",
        ];
        if authorize.is_some() {
            grants.insert(0, "authorization_code");
            capabilities.extend(["launch-standalone", "context-standalone-patient"]);
        }
        let mut document = json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "token_endpoint": token,
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": [
                "system/*.rs", "system/*.cruds", "system/*.read", "system/*.write",
                "patient/*.rs", "patient/*.read", "user/*.rs", "user/*.read",
                "launch/patient", "openid", "fhirUser"
            ],
            "capabilities": capabilities,
        });
        if let Some(authorize) = authorize {
            document["authorization_endpoint"] = Value::String(authorize);
            document["response_types_supported"] = json!(["code"]);
            document["code_challenge_methods_supported"] = json!(["S256"]);
        }
        Some(document)
    }

    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint> {
        self.builtin.as_ref().map(|b| b as &dyn TokenEndpoint)
    }
}

impl SmartAuthorizer {
    /// The authorization and token endpoints clients are told about.
    fn endpoints(&self, base: &str) -> (Option<String>, String) {
        let external = self.external.as_ref().map(|(_, e)| e);
        let authorize = external.and_then(|e| e.authorize_url.clone());
        let token = match (&self.builtin, external.and_then(|e| e.token_url.clone())) {
            (Some(_), _) | (None, None) => format!("{base}/auth/token"),
            (None, Some(url)) => url,
        };
        (authorize, token)
    }
}
