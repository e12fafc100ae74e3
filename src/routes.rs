//! Every route. Handlers are registered with `.service(handler)` through utoipa-actix-web, so
//! each one is in the OpenAPI document by construction.

use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::api::{auth, health, teams, users};

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
            .service(teams::update_team),
    );
}
