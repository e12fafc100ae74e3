//! Every route. Handlers are registered with `.service(handler)` through utoipa-actix-web, so
//! each one is in the OpenAPI document by construction.

use actix_web::dev::ResourceDef;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::api::{
    activities, auth, clients, contacts, custom_fields, deals, health, pipelines, products, segments, teams,
    timeline, users, workspace,
};

pub fn configure(config: &mut ServiceConfig) {
    config.service(health::live).service(health::ready).service(
        scope("/api/v1")
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(users::get_me)
            .service(workspace::get_workspace)
            .service(workspace::update_workspace)
            .service(users::list_users)
            .service(users::create_user)
            .service(users::get_user)
            .service(users::update_user)
            .service(teams::list_teams)
            .service(teams::create_team)
            .service(teams::get_team)
            .service(teams::update_team)
            .service(custom_fields::list_custom_fields)
            .service(custom_fields::create_custom_field)
            .service(custom_fields::get_custom_field)
            .service(custom_fields::update_custom_field)
            .service(custom_fields::delete_custom_field)
            // The fixed paths before /clients/{id}, which would otherwise take "deleted" for an id.
            .service(clients::list_deleted_clients)
            .service(clients::list_clients)
            .service(clients::search_clients)
            .service(clients::create_client)
            .service(clients::get_client)
            .service(clients::update_client)
            .service(clients::delete_client)
            .service(clients::restore_client)
            .service(contacts::list_client_contacts)
            .service(contacts::list_deleted_contacts)
            .service(contacts::list_contacts)
            .service(contacts::search_contacts)
            .service(contacts::create_contact)
            .service(contacts::get_contact)
            .service(contacts::update_contact)
            .service(contacts::delete_contact)
            .service(contacts::restore_contact)
            .service(pipelines::list_pipelines)
            .service(pipelines::create_pipeline)
            .service(pipelines::get_pipeline)
            .service(pipelines::update_pipeline)
            .service(pipelines::delete_pipeline)
            .service(pipelines::reorder_stages)
            .service(pipelines::create_stage)
            .service(pipelines::update_stage)
            .service(pipelines::delete_stage)
            .service(products::list_products)
            .service(products::create_product)
            .service(products::get_product)
            .service(products::update_product)
            .service(deals::list_deleted_deals)
            .service(deals::list_deals)
            .service(deals::search_deals)
            .service(deals::create_deal)
            .service(deals::get_deal)
            .service(deals::update_deal)
            .service(deals::delete_deal)
            .service(deals::restore_deal)
            .service(deals::get_deal_history)
            .service(deals::list_client_deals)
            .service(deals::get_pipeline_board)
            .service(activities::list_activities)
            .service(activities::search_activities)
            .service(activities::create_activity)
            .service(activities::get_activity)
            .service(activities::update_activity)
            .service(activities::delete_activity)
            .service(activities::restore_activity)
            .service(activities::complete_activity)
            .service(activities::list_client_activities)
            .service(activities::list_deal_activities)
            .service(activities::get_agenda)
            .service(activities::list_reminders)
            .service(activities::ack_reminder)
            .service(timeline::get_client_timeline)
            // The fixed paths before /segments/{id}.
            .service(segments::preview_segment)
            .service(segments::refresh_rfm)
            .service(segments::list_segments)
            .service(segments::create_segment)
            .service(segments::get_segment)
            .service(segments::update_segment)
            .service(segments::delete_segment)
            .service(segments::list_segment_members)
            .service(segments::add_segment_members)
            .service(segments::remove_segment_members)
            .service(segments::add_segment_members_from_filter)
            .service(segments::count_segment_members)
            .service(segments::export_segment)
            .service(segments::list_segment_exports),
    );
}

/// The methods each documented path answers. Handlers are registered one per method, so actix
/// alone can't tell "wrong method" from "no such path"; the OpenAPI document can.
pub struct AllowedMethods(Vec<(ResourceDef, String)>);

impl AllowedMethods {
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allowed: Vec<&str> =
                    methods.iter().filter(|(_, present)| *present).map(|(name, _)| *name).collect();
                (ResourceDef::new(path.as_str()), allowed.join(", "))
            })
            .collect();
        Self(routes)
    }

    /// The methods of the resource at `path`; a fixed path (`/clients/deleted`) wins over a
    /// pattern that also matches it (`/clients/{id}`).
    pub fn for_path(&self, path: &str) -> Option<&str> {
        let mut matching = self.0.iter().filter(|(resource, _)| resource.is_match(path));
        let first = matching.next()?;
        let fixed = std::iter::once(first)
            .chain(matching)
            .find(|(resource, _)| !resource.pattern().unwrap_or_default().contains('{'));
        Some(fixed.unwrap_or(first).1.as_str())
    }
}
