//! The store and search engine as a request's [`Access`] sees them.
//!
//! With an authorizer configured, the router's [`ResourceStore`] and [`SearchEngine`] are
//! wrapped by [`GuardedStore`] and [`GuardedSearch`], which read the current request's
//! access from a task-local set by the authentication middleware. Every path to data goes
//! through them, so reads, searches, `_include`/`_revinclude`, chained and `_has` inner
//! searches, conditional interactions, history and every batch or transaction entry are
//! checked by the same code:
//! - a type the access does not cover is a 403;
//! - a search of a type granted at patient level is narrowed to that patient's compartment,
//!   and a search of a type granted only in part (granular scopes) gets the access's
//!   criterion for the type ([`Access::search_criterion`]), so pages are full and totals
//!   exact;
//! - single resources the access refuses are hidden: reads find nothing (404), searches,
//!   includes and history leave them out;
//! - writes are checked before (the current version) and after (the new content).
//!
//! Without an access in scope (a call from outside a request) everything is refused.

use std::sync::Arc;

use async_trait::async_trait;
use hearth_interface::authz::{Access, Interaction};
use hearth_interface::search::{
    Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam,
};
use hearth_interface::store::{
    HistoryQuery, HistoryScope, Page, Precondition, ResourceStore, ScanQuery, StoredResource,
    Write, WriteAction, WriteResult,
};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use serde_json::Value;

tokio::task_local! {
    /// The access of the request being served.
    pub(crate) static ACCESS: Arc<dyn Access>;
}

/// The current request's access; `Forbidden` outside a request.
fn current() -> Result<Arc<dyn Access>> {
    ACCESS.try_with(Arc::clone).map_err(|_| {
        Error::new(
            IssueKind::Forbidden,
            "no authorization context for this operation",
        )
    })
}

fn require(access: &dyn Access, interaction: Interaction, ty: ResourceType) -> Result<()> {
    if access.allows(interaction, ty) {
        Ok(())
    } else {
        Err(access.refusal(interaction, ty))
    }
}

/// Whether `access` may `interaction` this stored version (deletions have no body and are
/// hidden from accesses that filter resources).
fn visible(access: &dyn Access, interaction: Interaction, stored: &StoredResource) -> bool {
    if !access.allows(interaction, stored.resource_type) {
        return false;
    }
    if !access.filters_resources() {
        return true;
    }
    stored
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .is_some_and(|v| access.permits(interaction, stored.resource_type, &v))
}

/// The resource store, checked against the request's access.
#[derive(Debug)]
pub struct GuardedStore {
    inner: Arc<dyn ResourceStore>,
}

impl GuardedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ResourceStore>) -> Self {
        Self { inner }
    }

    /// Checks one write: the interaction on the type, the current version (before) and the
    /// new content (after).
    async fn check_write(&self, access: &dyn Access, write: &Write) -> Result<()> {
        let ty = write.resource_type;
        let existing = match (&write.action, &write.precondition) {
            (WriteAction::Upsert(_), Precondition::Absent) => None,
            _ => self
                .inner
                .read(ty, &write.id)
                .await?
                .filter(|s| !s.is_deleted()),
        };
        let interaction = match (&write.action, &existing) {
            (WriteAction::Delete, _) => Interaction::Delete,
            (WriteAction::Upsert(_), Some(_)) => Interaction::Update,
            (WriteAction::Upsert(_), None) => Interaction::Create,
        };
        require(access, interaction, ty)?;
        if !access.filters_resources() {
            return Ok(());
        }
        let denied = || {
            Error::new(
                IssueKind::Forbidden,
                format!(
                    "the access token does not grant {} on {ty}/{}",
                    interaction.as_str(),
                    write.id
                ),
            )
        };
        if let Some(existing) = &existing
            && !visible(access, interaction, existing)
        {
            return Err(denied());
        }
        if let WriteAction::Upsert(prepared) = &write.action {
            let body: Value =
                serde_json::from_str(&prepared.finish(1, hearth_interface::instant::Instant(0)))
                    .map_err(|e| Error::internal("prepared resource is not JSON", e))?;
            if !access.permits(interaction, ty, &body) {
                return Err(denied());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceStore for GuardedStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn read(&self, ty: ResourceType, id: &ResourceId) -> Result<Option<StoredResource>> {
        let access = current()?;
        require(access.as_ref(), Interaction::Read, ty)?;
        let stored = self.inner.read(ty, id).await?;
        Ok(stored.filter(|s| {
            !access.filters_resources() || visible(access.as_ref(), Interaction::Read, s)
        }))
    }

    async fn vread(
        &self,
        ty: ResourceType,
        id: &ResourceId,
        version: u64,
    ) -> Result<Option<StoredResource>> {
        let access = current()?;
        require(access.as_ref(), Interaction::Read, ty)?;
        let stored = self.inner.vread(ty, id, version).await?;
        Ok(stored.filter(|s| {
            !access.filters_resources() || visible(access.as_ref(), Interaction::Read, s)
        }))
    }

    async fn write(&self, write: Write) -> Result<WriteResult> {
        let access = current()?;
        self.check_write(access.as_ref(), &write).await?;
        self.inner.write(write).await
    }

    async fn write_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>> {
        let access = current()?;
        for write in &writes {
            self.check_write(access.as_ref(), write).await?;
        }
        self.inner.write_batch(writes).await
    }

    async fn transaction(&self, writes: Vec<Write>) -> Result<Vec<WriteResult>> {
        let access = current()?;
        for write in &writes {
            self.check_write(access.as_ref(), write).await?;
        }
        self.inner.transaction(writes).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Page> {
        let access = current()?;
        match &query.scope {
            HistoryScope::Type(ty) | HistoryScope::Instance(ty, _) => {
                require(access.as_ref(), Interaction::History, *ty)?
            }
            HistoryScope::System => {}
        }
        let mut page = self.inner.history(query).await?;
        let before = page.entries.len();
        page.entries
            .retain(|s| visible(access.as_ref(), Interaction::History, s));
        if page.entries.len() != before {
            // The count covered versions this access cannot see.
            page.total = None;
        }
        Ok(page)
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Page> {
        let access = current()?;
        require(access.as_ref(), Interaction::Export, query.resource_type)?;
        let mut page = self.inner.scan(query).await?;
        page.entries
            .retain(|s| visible(access.as_ref(), Interaction::Export, s));
        Ok(page)
    }
}

/// The search engine, narrowed and filtered by the request's access.
#[derive(Debug)]
pub struct GuardedSearch {
    inner: Arc<dyn SearchEngine>,
}

impl GuardedSearch {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SearchEngine>) -> Self {
        Self { inner }
    }
}

/// The scope `access` may search: the compartment it is confined to, or 403. `None` when
/// the search can match nothing the access may see.
fn narrow(access: &dyn Access, scope: &SearchScope) -> Result<Option<SearchScope>> {
    let confined = |ty: ResourceType| access.compartment(Interaction::Search, ty).cloned();
    match scope {
        SearchScope::Type(ty) => {
            require(access, Interaction::Search, *ty)?;
            Ok(match confined(*ty) {
                None => Some(scope.clone()),
                Some(patient) => in_compartment(*ty, patient),
            })
        }
        SearchScope::System(types) => {
            for ty in types {
                require(access, Interaction::Search, *ty)?;
            }
            let confined_to: Vec<ResourceId> = types.iter().filter_map(|t| confined(*t)).collect();
            match (types.as_slice(), confined_to.first()) {
                (_, None) if !access.filters_resources() => Ok(Some(scope.clone())),
                ([ty], None) => Ok(Some(SearchScope::Type(*ty))),
                ([ty], Some(patient)) => Ok(in_compartment(*ty, patient.clone())),
                _ => Err(Error::new(
                    IssueKind::Forbidden,
                    "with patient-level or filtered access, search one resource type at a time",
                )),
            }
        }
        SearchScope::Compartment {
            compartment,
            id,
            target,
        } => {
            if let Some(ty) = target {
                require(access, Interaction::Search, *ty)?;
                if let Some(patient) = confined(*ty)
                    && (compartment.as_str() != "Patient" || *id != patient)
                {
                    return Err(Error::new(
                        IssueKind::Forbidden,
                        format!(
                            "the access token is limited to the compartment of Patient/{patient}"
                        ),
                    ));
                }
            } else if access.filters_resources() {
                // Every type of the token's own patient compartment: each match is still
                // filtered below.
                let own = confined(*compartment).is_some_and(|p| p == *id);
                if !own {
                    return Err(Error::new(
                        IssueKind::Forbidden,
                        "with patient-level or filtered access, search one resource type at a time",
                    ));
                }
            }
            Ok(Some(scope.clone()))
        }
    }
}

/// The access's criterion for the one type `scope` searches, if it has one. Searches of
/// several types are filtered match by match instead.
fn narrowing_criterion(access: &dyn Access, scope: &SearchScope) -> Option<Criterion> {
    if !access.filters_resources() {
        return None;
    }
    let ty = match scope {
        SearchScope::Type(ty) => *ty,
        SearchScope::System(types) => match types.as_slice() {
            [ty] => *ty,
            _ => return None,
        },
        SearchScope::Compartment { target, .. } => (*target)?,
    };
    access.search_criterion(ty)
}

fn in_compartment(ty: ResourceType, patient: ResourceId) -> Option<SearchScope> {
    let member = ty.as_str() == "Patient"
        || !hearth_interface::compartment::patient_params(ty.as_str()).is_empty();
    let compartment = ResourceType::parse("Patient").filter(|_| member)?;
    Some(SearchScope::Compartment {
        compartment,
        id: patient,
        target: Some(ty),
    })
}

#[async_trait]
impl SearchEngine for GuardedSearch {
    async fn search(&self, scope: &SearchScope, query: &SearchQuery) -> Result<SearchPage> {
        let access = current()?;
        let Some(scope) = narrow(access.as_ref(), scope)? else {
            return Ok(SearchPage {
                matches: Vec::new(),
                next_cursor: None,
                previous_cursor: None,
                total: (query.total != hearth_interface::search::TotalMode::None).then_some(0),
            });
        };
        let narrowed = narrowing_criterion(access.as_ref(), &scope).map(|criterion| {
            let mut query = query.clone();
            query.criteria.push(criterion);
            query
        });
        let mut page = self
            .inner
            .search(&scope, narrowed.as_ref().unwrap_or(query))
            .await?;
        let before = page.matches.len();
        page.matches
            .retain(|s| visible(access.as_ref(), Interaction::Search, s));
        if page.matches.len() != before {
            page.total = None;
        }
        Ok(page)
    }

    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam> {
        self.inner.supported_params(resource_type)
    }
}
