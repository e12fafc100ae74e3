// @generated automatically by Diesel CLI.

diesel::table! {
    change_events (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        entity -> Text,
        entity_id -> Uuid,
        action -> Text,
        version -> Nullable<Int4>,
        actor_id -> Nullable<Uuid>,
        request_id -> Nullable<Text>,
        changes -> Jsonb,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        secret_hash -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    teams (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        name -> Text,
        parent_id -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        email -> Text,
        full_name -> Text,
        role -> Text,
        team_id -> Nullable<Uuid>,
        password_hash -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Uuid,
        name -> Text,
        default_currency -> Text,
        timezone -> Text,
        default_phone_region -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(change_events -> workspaces (workspace_id));
diesel::joinable!(teams -> workspaces (workspace_id));
diesel::joinable!(users -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(change_events, refresh_tokens, teams, users, workspaces,);
