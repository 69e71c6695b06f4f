//! The [`Authorizer`] trait: who may do what, decided from a verified bearer token.
//!
//! An authorizer verifies a token once ([`Authorizer::authenticate`]) and returns an
//! [`Access`]: the permissions the token grants. The router asks the access about every
//! interaction on every resource type (403 when refused), narrows searches to a patient
//! compartment when the access is confined to one, and hides single resources the access
//! may not see (granular scopes, other patients' records).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{Error, IssueKind, Result};
use crate::id::{ResourceId, ResourceType};
use crate::search::Criterion;

/// What a request does to a resource type. Instance and type level share one variant
/// (`Read` covers read and vread, `History` every history level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    /// read, vread.
    Read,
    /// search (type, system, compartment), and the inner searches of chains and `_has`.
    Search,
    /// history (instance, type, system).
    History,
    /// create (also update-as-create).
    Create,
    /// update and patch.
    Update,
    /// delete.
    Delete,
    /// `$validate`.
    Validate,
    /// bulk `$export`.
    Export,
    /// bulk `$import`.
    Import,
}

impl Interaction {
    /// The interaction's name as rules files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Search => "search",
            Self::History => "history",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Validate => "validate",
            Self::Export => "export",
            Self::Import => "import",
        }
    }

    /// Parses a name written by [`Interaction::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == name)
    }

    /// Every interaction.
    pub const ALL: [Self; 9] = [
        Self::Read,
        Self::Search,
        Self::History,
        Self::Create,
        Self::Update,
        Self::Delete,
        Self::Validate,
        Self::Export,
        Self::Import,
    ];
}

/// The permissions one verified token grants.
///
/// # Contract
/// - [`Access::allows`] answers for a whole resource type; a `false` is a 403.
/// - [`Access::compartment`] names the patient whose compartment every search of the type
///   is confined to, when the grant for that interaction is patient-level.
/// - [`Access::permits`] answers for one resource; resources it refuses are hidden (a read
///   answers 404, searches and includes leave them out, writes are 403). It is only asked
///   when [`Access::filters_resources`] is true, which lets the router skip parsing bodies.
/// - [`Access::search_criterion`], when given, selects within the compartment exactly the
///   resources of a type that [`Access::permits`] lets the access search: the router adds it
///   to every search of the type so that pages are full and totals count only those.
///   Matches are still checked with [`Access::permits`].
pub trait Access: Send + Sync + Debug {
    /// Whether `interaction` on resources of `resource_type` is allowed at all.
    fn allows(&self, interaction: Interaction, resource_type: ResourceType) -> bool;

    /// The patient whose compartment confines `interaction` on `resource_type`, if any.
    fn compartment(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
    ) -> Option<&ResourceId>;

    /// Whether this grant ever refuses single resources of an allowed type.
    fn filters_resources(&self) -> bool;

    /// The search criterion selecting the resources of `resource_type` this access may
    /// search (within [`Access::compartment`]), when it restricts them and one criterion
    /// can say so; `None` otherwise (the router then relies on [`Access::permits`] alone).
    fn search_criterion(&self, resource_type: ResourceType) -> Option<Criterion>;

    /// The 403 for `interaction` on `resource_type` when [`Access::allows`] refuses it;
    /// an access may explain why its token grants nothing there.
    fn refusal(&self, interaction: Interaction, resource_type: ResourceType) -> Error {
        forbidden(interaction, resource_type)
    }

    /// Whether `interaction` on this particular resource is allowed.
    fn permits(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
        resource: &Value,
    ) -> bool;

    /// Who the token speaks for (`sub`, client id), for logs; never the token itself.
    fn subject(&self) -> &str;
}

/// Decides requests from bearer tokens and describes itself to clients.
///
/// # Contract
/// - `authenticate` verifies the token completely (signature, issuer, audience, validity
///   window) before granting anything; every failure is `Unauthorized`, with a message
///   that never repeats the token.
/// - Deny by default: an access grants nothing its token does not say.
///
/// # Errors
/// `Unauthorized` for missing, malformed, expired or untrusted tokens; `Internal` when the
/// key set cannot be fetched.
///
/// # Example
/// ```ignore
/// let access = authorizer.authenticate(bearer).await?;
/// if !access.allows(Interaction::Read, patient_type) { return Err(forbidden()) }
/// ```
#[async_trait]
pub trait Authorizer: Send + Sync + Debug + 'static {
    /// Verifies `token` (the text after `Bearer `) and returns what it grants.
    async fn authenticate(&self, token: &str) -> Result<Arc<dyn Access>>;

    /// The CapabilityStatement `rest.security` element for a server at `base`.
    fn security(&self, base: &str) -> Value;

    /// The `/.well-known/smart-configuration` document, when this authorizer has one.
    fn smart_configuration(&self, base: &str) -> Option<Value>;

    /// The built-in OAuth token endpoint (`POST /auth/token`), when enabled.
    fn token_endpoint(&self) -> Option<&dyn TokenEndpoint>;
}

/// An OAuth 2.0 token endpoint served by Hearth itself.
#[async_trait]
pub trait TokenEndpoint: Send + Sync + Debug {
    /// Answers a token request: `form` is the decoded `application/x-www-form-urlencoded`
    /// body, `token_url` the endpoint's own absolute URL (the audience of client assertions).
    ///
    /// # Errors
    /// A [`TokenError`] as RFC 6749 section 5.2 describes.
    async fn token(
        &self,
        token_url: &str,
        form: &[(String, String)],
    ) -> std::result::Result<Value, TokenError>;

    /// The public keys that sign the tokens this endpoint issues (a JWK Set).
    fn jwks(&self) -> Value;
}

/// An OAuth error answer (RFC 6749 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct TokenError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_scope`.
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
}

impl TokenError {
    /// An error with its code and description.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// The HTTP status: 401 for `invalid_client`, 400 otherwise.
    pub fn status(&self) -> u16 {
        if self.error == "invalid_client" {
            401
        } else {
            400
        }
    }
}

/// A 401: no usable token.
pub fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(IssueKind::Unauthorized, message)
}

/// A 403: `interaction` on `resource_type` is not granted.
pub fn forbidden(interaction: Interaction, resource_type: ResourceType) -> Error {
    Error::new(
        IssueKind::Forbidden,
        format!(
            "the access token does not grant {} on {resource_type}",
            interaction.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_round_trip_their_names() {
        for i in Interaction::ALL {
            assert_eq!(Interaction::parse(i.as_str()), Some(i));
        }
        assert_eq!(Interaction::parse("write"), None);
    }
}
