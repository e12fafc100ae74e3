//! Every route. Handlers are registered with `.service(handler)` through utoipa-actix-web, so
//! each one is in the OpenAPI document by construction.

use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::api::{auth, clients, contacts, health, teams, users};

pub fn configure(config: &mut ServiceConfig) {
    config.service(health::live).service(health::ready).service(
        scope("/api/v1")
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(users::get_me)
            .service(users::list_users)
            .service(users::create_user)
            .service(users::get_user)
            .service(users::update_user)
            .service(teams::list_teams)
            .service(teams::create_team)
            .service(teams::get_team)
            .service(teams::update_team)
            // The fixed paths before /clients/{id}, which would otherwise take "deleted" for an id.
            .service(clients::list_deleted_clients)
            .service(clients::list_clients)
            .service(clients::create_client)
            .service(clients::get_client)
            .service(clients::update_client)
            .service(clients::delete_client)
            .service(clients::restore_client)
            .service(contacts::list_client_contacts)
            .service(contacts::list_deleted_contacts)
            .service(contacts::list_contacts)
            .service(contacts::create_contact)
            .service(contacts::get_contact)
            .service(contacts::update_contact)
            .service(contacts::delete_contact)
            .service(contacts::restore_contact),
    );
}
