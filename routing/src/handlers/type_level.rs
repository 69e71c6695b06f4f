//! Type-level interactions: create (plain and conditional), conditional update, delete and
//! patch, and search.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hearth_interface::store::{Precondition, Write};
use hearth_interface::{Error, ResourceId, Result};
use http::StatusCode;
use serde_json::Value;

use super::check_resource;
use super::instance::{fhir_body, if_match, patch_resource, put, remove};
use crate::AppState;
use crate::conditional::{Matches, if_none_exist, resolve};
use crate::error::ApiError;
use crate::extract::{Ctx, Target, read_body};
use crate::negotiate::body_kind;
use crate::respond::{json_response, write_response};

/// `POST [type]`: create with a server-assigned id; conditional with `If-None-Exist`.
pub async fn create(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    if super::binary::handles(&state, target.ty) {
        return super::binary::create(state, target, ctx, body).await;
    }
    let mut resource = fhir_body(&state, &ctx.headers, body).await?;
    if let Some(fields) = resource.as_object_mut() {
        // The spec says a client-supplied id on create is ignored.
        fields.remove("id");
    }
    check_resource(&state, target.ty, &resource, None)?;
    if let Some(existing) = if_none_exist(&state, target.ty, &ctx.headers).await? {
        return Ok(write_response(
            StatusCode::OK,
            &existing,
            &ctx.base,
            ctx.prefer.return_pref,
            &ctx.presentation,
            "a matching resource exists: nothing created",
        ));
    }
    let id = ResourceId::from_uuid(uuid::Uuid::new_v4());
    let write = Write::upsert(target.ty, id, resource, Precondition::Absent);
    let result = state.store.write(write).await?;
    let stored = result.stored.ok_or_else(|| {
        Error::internal(
            "create returned no version",
            std::io::Error::other("missing version"),
        )
    })?;
    Ok(write_response(
        StatusCode::CREATED,
        &stored,
        &ctx.base,
        ctx.prefer.return_pref,
        &ctx.presentation,
        "created",
    ))
}

/// `PUT [type]?criteria`.
pub async fn conditional_update(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let resource = fhir_body(&state, &ctx.headers, body).await?;
    let body_id = match resource.get("id") {
        None => None,
        Some(Value::String(id)) => Some(ResourceId::parse(id)?),
        Some(_) => return Err(Error::invalid("id must be a string").into()),
    };
    let criteria: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    let (id, precondition) = match resolve(&state, target.ty, &criteria).await? {
        Matches::None => match body_id {
            Some(id) => {
                if state
                    .store
                    .read(target.ty, &id)
                    .await?
                    .is_some_and(|s| !s.is_deleted())
                {
                    return Err(Error::conflict(format!(
                        "{}/{id} exists but does not match the criteria",
                        target.ty
                    ))
                    .into());
                }
                (id, Precondition::None)
            }
            None => (
                ResourceId::from_uuid(uuid::Uuid::new_v4()),
                Precondition::Absent,
            ),
        },
        Matches::One(existing) => {
            if body_id.as_ref().is_some_and(|id| *id != existing.id) {
                return Err(Error::invalid(format!(
                    "the resource id does not match the resource the criteria found ({}/{})",
                    existing.resource_type, existing.id
                ))
                .into());
            }
            let precondition = match if_match(&ctx.headers)? {
                Some(expected) => Precondition::VersionIs(expected),
                None => Precondition::BasedOn(existing.version),
            };
            (existing.id, precondition)
        }
        Matches::Several => {
            return Err(
                Error::precondition_failed("the criteria match more than one resource").into(),
            );
        }
    };
    let mut resource = resource;
    if let Some(fields) = resource.as_object_mut() {
        fields.insert("id".into(), Value::String(id.to_string()));
    }
    check_resource(&state, target.ty, &resource, Some(&id))?;
    put(&state, &ctx, target.ty, id, resource, precondition).await
}

/// `DELETE [type]?criteria`: deletes the one match; 412 when several match.
pub async fn conditional_delete(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let criteria: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    match resolve(&state, target.ty, &criteria).await? {
        Matches::None => Ok(json_response(
            StatusCode::OK,
            &hearth_interface::outcome::information(
                "no resource matches the criteria: nothing deleted",
            ),
            ctx.presentation.pretty,
            Some(ctx.presentation.content_type),
        )),
        Matches::One(existing) => {
            remove(
                &state,
                &ctx,
                target.ty,
                existing.id,
                Precondition::BasedOn(existing.version),
            )
            .await
        }
        Matches::Several => Err(Error::precondition_failed(
            "the criteria match more than one resource; this server deletes one at a time",
        )
        .into()),
    }
}

/// `PATCH [type]?criteria`.
pub async fn conditional_patch(
    State(state): State<AppState>,
    target: Target,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = body_kind(&ctx.headers)?;
    let bytes = read_body(&state, body).await?;
    let criteria: Vec<(String, String)> = ctx.criteria_params().cloned().collect();
    match resolve(&state, target.ty, &criteria).await? {
        Matches::None => Err(Error::not_found("no resource matches the criteria").into()),
        Matches::One(existing) => {
            patch_resource(
                &state,
                &ctx,
                target.ty,
                existing.id,
                if_match(&ctx.headers)?,
                kind,
                &bytes,
            )
            .await
        }
        Matches::Several => {
            Err(Error::precondition_failed("the criteria match more than one resource").into())
        }
    }
}
