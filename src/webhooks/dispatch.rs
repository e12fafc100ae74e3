//! From the change log to the outbox: for each workspace with webhooks, the changes committed
//! since its dispatch position become deliveries to the webhooks that want them, and the position
//! moves past them, in one transaction. The changes are read as the changes feed reads them (below
//! the horizon of running transactions), so none is skipped or dispatched twice.

use std::collections::HashMap;

use diesel::prelude::*;
use uuid::Uuid;

use crate::api::changes::{Change, FEED_ENTITIES};
use crate::api::webhooks::WebhookEvent;
use crate::db::models::change_event::FeedEvent;
use crate::db::models::webhook::{DispatchPosition, NewDelivery, RecordFacets, Webhook};
use crate::ids::{DeliveryId, WorkspaceId};
use crate::webhooks::events::{event_type, wanted};

/// Changes dispatched per transaction.
const PAGE: i64 = 500;

/// Dispatches every workspace's new changes; how many deliveries were added.
pub fn dispatch_all(conn: &mut PgConnection) -> QueryResult<usize> {
    let mut added = 0;
    for workspace in DispatchPosition::workspaces_behind(conn)? {
        loop {
            let (deliveries, more) = conn.transaction(|conn| dispatch_page(conn, workspace))?;
            added += deliveries;
            if !more {
                break;
            }
        }
    }
    Ok(added)
}

/// Dispatches up to a page of `workspace`'s changes; (deliveries added, whether more are waiting).
/// Does nothing while another process dispatches the workspace.
fn dispatch_page(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<(usize, bool)> {
    let Some(position) = DispatchPosition::claim(conn, workspace)? else {
        return Ok((0, false));
    };
    let webhooks = Webhook::active_in(conn, workspace)?;
    if webhooks.is_empty() {
        // Nothing listens: skip to the end of the log, so that a webhook added later is not sent
        // what happened before it.
        let end = FeedEvent::position_now(conn)?.max(position);
        DispatchPosition::advance(conn, workspace, end)?;
        return Ok((0, false));
    }
    let entities: Vec<&str> = FEED_ENTITIES.iter().map(|(_, entity)| *entity).collect();
    let events = FeedEvent::page(conn, workspace, position, &entities, PAGE)?;
    let Some(last) = events.last().map(FeedEvent::position) else {
        return Ok((0, false));
    };
    let facets = facets_if_filtered(conn, workspace, &webhooks, &events)?;
    let mut records = FeedEvent::records_after(conn, workspace, &events)?;
    let mut deliveries = Vec::new();
    for event in events.iter() {
        let kind = event_type(&event.entity, &event.action, &event.changes);
        let facet = facets.get(&event.entity_id);
        let change = Change::with_record(event.clone(), &mut records);
        for webhook in webhooks.iter().filter(|webhook| wanted(&webhook.event_types, &kind)) {
            if let Some(owner) = webhook.owner_id
                && facet.and_then(|facet| facet.owner_id) != Some(owner)
            {
                continue;
            }
            if let Some(pipeline) = webhook.pipeline_id
                && facet.and_then(|facet| facet.pipeline_id) != Some(pipeline)
            {
                continue;
            }
            let payload = WebhookEvent::of_change(&kind, change.clone());
            deliveries.push(NewDelivery {
                workspace_id: workspace,
                id: DeliveryId::generate(),
                webhook_id: webhook.id,
                event_type: kind.clone(),
                entity_id: Some(event.entity_id),
                position: Some(event.position()),
                change_id: event.id,
                payload: serde_json::to_value(payload).unwrap_or_default(),
            });
        }
    }
    NewDelivery::insert_all(conn, &deliveries)?;
    DispatchPosition::advance(conn, workspace, last)?;
    Ok((deliveries.len(), events.len() as i64 == PAGE))
}

/// The owners and pipelines of the changed records, when a webhook is filtered by one.
fn facets_if_filtered(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    webhooks: &[Webhook],
    events: &[FeedEvent],
) -> QueryResult<HashMap<Uuid, RecordFacets>> {
    if !webhooks.iter().any(|webhook| webhook.owner_id.is_some() || webhook.pipeline_id.is_some()) {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<Uuid> = events.iter().map(|event| event.entity_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(RecordFacets::of(conn, workspace, ids)?.into_iter().map(|facets| (facets.id, facets)).collect())
}
