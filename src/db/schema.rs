// @generated automatically by Diesel CLI.

diesel::table! {
    activities (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        kind -> Text,
        direction -> Nullable<Text>,
        channel -> Nullable<Text>,
        reason -> Nullable<Text>,
        subject -> Text,
        body -> Nullable<Text>,
        outcome -> Nullable<Text>,
        due_at -> Nullable<Timestamptz>,
        reminder_at -> Nullable<Timestamptz>,
        reminder_fired_at -> Nullable<Timestamptz>,
        reminder_acked_at -> Nullable<Timestamptz>,
        duration_seconds -> Nullable<Int4>,
        status -> Text,
        completed_at -> Nullable<Timestamptz>,
        assignee_id -> Uuid,
        client_id -> Nullable<Uuid>,
        contact_id -> Nullable<Uuid>,
        deal_id -> Nullable<Uuid>,
        external_ref -> Nullable<Text>,
        recording_url -> Nullable<Text>,
        from_address -> Nullable<Text>,
        to_address -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        custom -> Jsonb,
        external_refs -> Jsonb,
    }
}

diesel::table! {
    api_keys (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        name -> Text,
        scopes -> Array<Text>,
        allowed_networks -> Array<Text>,
        requests_per_minute -> Int4,
        expires_at -> Nullable<Timestamptz>,
        secret_hash -> Bytea,
        secret_hint -> Text,
        previous_secret_hash -> Nullable<Bytea>,
        previous_secret_until -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        last_used_from -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        rotated_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

// Also `txid xid8`, the writing transaction's id: set by its default, read by
// `sql/changes_feed.sql` alone (Diesel has no type for it).
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
    client_name_vocabulary (workspace_id, word) {
        workspace_id -> Uuid,
        word -> Text,
    }
}

diesel::table! {
    client_name_words (workspace_id, word, client_id) {
        workspace_id -> Uuid,
        word -> Text,
        client_id -> Uuid,
    }
}

diesel::table! {
    client_reads (workspace_id, user_id, day, client_id) {
        workspace_id -> Uuid,
        user_id -> Uuid,
        day -> Date,
        client_id -> Uuid,
    }
}

diesel::table! {
    client_shares (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        client_id -> Uuid,
        user_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        created_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    clients (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        kind -> Text,
        display_name -> Text,
        display_name_override -> Nullable<Text>,
        last_name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        gender -> Nullable<Text>,
        name -> Nullable<Text>,
        legal_name -> Nullable<Text>,
        registration_number -> Nullable<Text>,
        industry -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        website -> Nullable<Text>,
        relationship -> Text,
        lifecycle_stage -> Text,
        source -> Nullable<Text>,
        owner_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        emails -> Jsonb,
        phones -> Jsonb,
        email_keys -> Array<Text>,
        phone_keys -> Array<Text>,
        address -> Nullable<Jsonb>,
        tags -> Array<Text>,
        notes -> Nullable<Text>,
        consent -> Nullable<Jsonb>,
        search_text -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        custom -> Jsonb,
        stats_won_count -> Int4,
        stats_won_amount -> Numeric,
        stats_first_purchase_at -> Nullable<Timestamptz>,
        stats_last_purchase_at -> Nullable<Timestamptz>,
        stats_open_deals_count -> Int4,
        stats_last_activity_at -> Nullable<Timestamptz>,
        stats_activities_30d -> Int4,
        stats_activities_90d -> Int4,
        stats_rfm_recency -> Nullable<Int2>,
        stats_rfm_frequency -> Nullable<Int2>,
        stats_rfm_monetary -> Nullable<Int2>,
        stats_rfm_class -> Nullable<Text>,
        external_refs -> Jsonb,
        merged_into -> Nullable<Uuid>,
        consents -> Jsonb,
        lifecycle_set_by_hand -> Bool,
    }
}

diesel::table! {
    consent_records (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        client_id -> Nullable<Uuid>,
        contact_id -> Nullable<Uuid>,
        purpose -> Text,
        state -> Text,
        occurred_at -> Timestamptz,
        channel -> Text,
        wording_version -> Nullable<Text>,
        recorded_by -> Nullable<Uuid>,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        client_id -> Uuid,
        display_name -> Text,
        last_name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        position -> Nullable<Text>,
        emails -> Jsonb,
        phones -> Jsonb,
        messengers -> Jsonb,
        email_keys -> Array<Text>,
        phone_keys -> Array<Text>,
        is_primary -> Bool,
        notes -> Nullable<Text>,
        owner_id -> Nullable<Uuid>,
        consent -> Nullable<Jsonb>,
        search_text -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        custom -> Jsonb,
        external_refs -> Jsonb,
        merged_into -> Nullable<Uuid>,
        consents -> Jsonb,
    }
}

diesel::table! {
    custom_fields (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        entity -> Text,
        key -> Text,
        label -> Text,
        #[sql_name = "type"]
        field_type -> Text,
        required -> Bool,
        options -> Array<Text>,
        min -> Nullable<Numeric>,
        max -> Nullable<Numeric>,
        max_length -> Nullable<Int4>,
        pattern -> Nullable<Text>,
        description -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    deal_items (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        deal_id -> Uuid,
        position -> Int4,
        product_id -> Nullable<Uuid>,
        name -> Text,
        product_group -> Nullable<Text>,
        quantity -> Numeric,
        unit_price -> Numeric,
        discount_percent -> Numeric,
        tax_percent -> Nullable<Numeric>,
        total -> Numeric,
    }
}

diesel::table! {
    deal_stage_changes (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        deal_id -> Uuid,
        from_stage_id -> Nullable<Uuid>,
        to_stage_id -> Uuid,
        changed_at -> Timestamptz,
        changed_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    deal_stage_totals (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on) {
        workspace_id -> Uuid,
        pipeline_id -> Uuid,
        stage_id -> Uuid,
        owner_key -> Uuid,
        currency -> Text,
        closed_on -> Date,
        deals -> Int8,
        amount -> Numeric,
        weighted_amount -> Numeric,
    }
}

diesel::table! {
    deals (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        title -> Text,
        client_id -> Uuid,
        contact_id -> Nullable<Uuid>,
        pipeline_id -> Uuid,
        stage_id -> Uuid,
        status -> Text,
        amount -> Numeric,
        currency -> Text,
        exchange_rate -> Nullable<Numeric>,
        amount_base -> Nullable<Numeric>,
        probability -> Int2,
        probability_override -> Nullable<Int2>,
        expected_close_date -> Nullable<Date>,
        closed_at -> Nullable<Timestamptz>,
        lost_reason -> Nullable<Text>,
        agreement -> Nullable<Text>,
        next_step -> Nullable<Text>,
        source -> Nullable<Text>,
        owner_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        tags -> Array<Text>,
        search_text -> Text,
        stage_entered_at -> Timestamptz,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        custom -> Jsonb,
        external_refs -> Jsonb,
    }
}

diesel::table! {
    external_refs (workspace_id, entity, system, external_id) {
        workspace_id -> Uuid,
        entity -> Text,
        system -> Text,
        external_id -> Text,
        record_id -> Uuid,
    }
}

diesel::table! {
    idempotency_keys (workspace_id, user_id, key) {
        workspace_id -> Uuid,
        user_id -> Uuid,
        key -> Text,
        fingerprint -> Bytea,
        running -> Bool,
        status -> Nullable<Int2>,
        headers -> Nullable<Jsonb>,
        body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        lease_until -> Timestamptz,
    }
}

diesel::table! {
    import_errors (workspace_id, import_id, row_number) {
        workspace_id -> Uuid,
        import_id -> Uuid,
        row_number -> Int4,
        problem -> Jsonb,
    }
}

diesel::table! {
    imports (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        entity -> Text,
        status -> Text,
        dry_run -> Bool,
        duplicates -> Text,
        column_fields -> Jsonb,
        file_name -> Nullable<Text>,
        content -> Text,
        rows_total -> Int4,
        rows_done -> Int4,
        created -> Int4,
        updated -> Int4,
        skipped -> Int4,
        failed -> Int4,
        failure -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_emails (email, workspace_id) {
        email -> Text,
        workspace_id -> Uuid,
        user_id -> Uuid,
    }
}

diesel::table! {
    pipelines (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        name -> Text,
        is_default -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    products (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        sku -> Text,
        name -> Text,
        product_group -> Nullable<Text>,
        unit -> Nullable<Text>,
        price -> Numeric,
        currency -> Text,
        active -> Bool,
        search_text -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        external_refs -> Jsonb,
    }
}

diesel::table! {
    read_budget_usage (workspace_id, user_id, day) {
        workspace_id -> Uuid,
        user_id -> Uuid,
        day -> Date,
        used -> Int4,
        alerted -> Bool,
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
    sales_lines (workspace_id, deal_id, line) {
        workspace_id -> Uuid,
        deal_id -> Uuid,
        line -> Int4,
        won_on -> Date,
        client_id -> Uuid,
        client_kind -> Text,
        owner_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        pipeline_id -> Uuid,
        source -> Nullable<Text>,
        product_id -> Nullable<Uuid>,
        product_group -> Nullable<Text>,
        currency -> Text,
        amount -> Numeric,
        amount_base -> Nullable<Numeric>,
        deal_head -> Bool,
        first_purchase -> Bool,
    }
}

diesel::table! {
    segment_exports (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        segment_id -> Uuid,
        segment_name -> Text,
        exported_by -> Uuid,
        request_id -> Nullable<Text>,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        row_count -> Int8,
        consent_purpose -> Nullable<Text>,
        excluded_without_consent -> Int8,
    }
}

diesel::table! {
    segment_counts (workspace_id, segment_id) {
        workspace_id -> Uuid,
        segment_id -> Uuid,
        segment_version -> Int4,
        member_count -> Int8,
        counted_at -> Timestamptz,
    }
}

diesel::table! {
    segment_members (workspace_id, segment_id, client_id) {
        workspace_id -> Uuid,
        segment_id -> Uuid,
        client_id -> Uuid,
        added_at -> Timestamptz,
        added_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    segments (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        filter -> Nullable<Jsonb>,
        builtin -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Uuid>,
        updated_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    stages (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        pipeline_id -> Uuid,
        name -> Text,
        kind -> Text,
        position -> Int4,
        probability -> Int2,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    targets (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        team_id -> Nullable<Uuid>,
        period_interval -> Text,
        period_start -> Date,
        revenue -> Nullable<Numeric>,
        deals -> Nullable<Int4>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
        visibility -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    webhook_attempts (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        delivery_id -> Uuid,
        attempted_at -> Timestamptz,
        response_status -> Nullable<Int4>,
        latency_ms -> Int4,
        response_excerpt -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

// `txid` (xid8, the order of the change log) is read and written by SQL of its own.
diesel::table! {
    webhook_dispatch (workspace_id) {
        workspace_id -> Uuid,
        event_id -> Uuid,
        dispatched_at -> Timestamptz,
    }
}

// `txid`, as in `webhook_dispatch`.
diesel::table! {
    webhook_deliveries (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        webhook_id -> Uuid,
        event_type -> Text,
        entity_id -> Nullable<Uuid>,
        change_id -> Uuid,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhooks (workspace_id, id) {
        workspace_id -> Uuid,
        id -> Uuid,
        url -> Text,
        description -> Text,
        event_types -> Array<Text>,
        pipeline_id -> Nullable<Uuid>,
        owner_id -> Nullable<Uuid>,
        active -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamptz>,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        version -> Int4,
        created_by -> Uuid,
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
        stats_refreshed_at -> Nullable<Timestamptz>,
        admin_visibility -> Text,
        manager_visibility -> Text,
        sales_visibility -> Text,
        viewer_visibility -> Text,
        max_deletions_per_hour -> Int4,
        admin_read_budget -> Nullable<Int4>,
        manager_read_budget -> Nullable<Int4>,
        sales_read_budget -> Nullable<Int4>,
        viewer_read_budget -> Nullable<Int4>,
        admin_personal_data -> Text,
        manager_personal_data -> Text,
        sales_personal_data -> Text,
        viewer_personal_data -> Text,
        consent_purposes -> Array<Text>,
        loyal_after_purchases -> Int4,
        churned_after_days -> Int4,
    }
}

diesel::joinable!(activities -> workspaces (workspace_id));
diesel::joinable!(api_keys -> workspaces (workspace_id));
diesel::joinable!(change_events -> workspaces (workspace_id));
diesel::joinable!(webhooks -> workspaces (workspace_id));
diesel::joinable!(external_refs -> workspaces (workspace_id));
diesel::joinable!(client_name_vocabulary -> workspaces (workspace_id));
diesel::joinable!(client_reads -> workspaces (workspace_id));
diesel::joinable!(client_shares -> workspaces (workspace_id));
diesel::joinable!(clients -> workspaces (workspace_id));
diesel::joinable!(consent_records -> workspaces (workspace_id));
diesel::joinable!(contacts -> workspaces (workspace_id));
diesel::joinable!(custom_fields -> workspaces (workspace_id));
diesel::joinable!(deals -> workspaces (workspace_id));
diesel::joinable!(idempotency_keys -> workspaces (workspace_id));
diesel::joinable!(pipelines -> workspaces (workspace_id));
diesel::joinable!(products -> workspaces (workspace_id));
diesel::joinable!(read_budget_usage -> workspaces (workspace_id));
diesel::joinable!(sales_lines -> workspaces (workspace_id));
diesel::joinable!(segment_exports -> workspaces (workspace_id));
diesel::joinable!(segments -> workspaces (workspace_id));
diesel::joinable!(targets -> workspaces (workspace_id));
diesel::joinable!(teams -> workspaces (workspace_id));
diesel::joinable!(users -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    activities,
    api_keys,
    change_events,
    client_name_vocabulary,
    client_name_words,
    client_reads,
    client_shares,
    clients,
    consent_records,
    contacts,
    custom_fields,
    deal_items,
    deal_stage_changes,
    deal_stage_totals,
    deals,
    external_refs,
    idempotency_keys,
    import_errors,
    imports,
    login_emails,
    pipelines,
    products,
    read_budget_usage,
    refresh_tokens,
    sales_lines,
    segment_counts,
    segment_exports,
    segment_members,
    segments,
    stages,
    targets,
    teams,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhook_dispatch,
    webhooks,
    workspaces,
);
