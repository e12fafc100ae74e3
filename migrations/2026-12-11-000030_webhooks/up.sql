-- Webhooks: subscriptions to the change log, and the outbox their deliveries go out from.
--
-- A dispatcher follows each workspace's change log as the changes feed does (in the order of the
-- writing transactions, below the horizon of those still running: docs/changes.md) from the
-- position in `webhook_dispatch`, and adds a delivery for every change each active webhook wants,
-- moving the position on in the same transaction. Senders then claim due deliveries one workspace
-- at a time with FOR UPDATE SKIP LOCKED, so any number of server processes share the work and each
-- delivery goes to its endpoint once per attempt (docs/webhooks.md).
CREATE TABLE webhooks (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- `client.created`, `deal.*`, `*`, …: what the endpoint is sent.
    event_types text[] NOT NULL,
    -- Only changes of records in this pipeline, or owned by this user.
    pipeline_id uuid,
    owner_id uuid,
    active boolean NOT NULL DEFAULT true,
    -- The signing secret, `whsec_` and base64: kept in clear, as every delivery is signed with it.
    secret text NOT NULL,
    -- After a rotation, deliveries carry a signature with the previous secret too until then.
    previous_secret text,
    previous_secret_until timestamptz,
    -- Set when deliveries failed for three days and the endpoint was turned off.
    disabled_at timestamptz,
    disabled_reason text,
    version integer NOT NULL DEFAULT 1,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

-- Where the dispatcher of a workspace's webhooks is in its change log: after event `event_id` of
-- transaction `txid`.
CREATE TABLE webhook_dispatch (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    txid xid8 NOT NULL,
    event_id uuid NOT NULL,
    dispatched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id)
);

CREATE TABLE webhook_deliveries (
    workspace_id uuid NOT NULL,
    -- Also the `webhook-id` header: the same on every attempt, so a receiver can drop repeats.
    id uuid NOT NULL,
    webhook_id uuid NOT NULL,
    event_type text NOT NULL,
    -- The record the change was made to (none for a test ping): its deliveries go out in order.
    entity_id uuid,
    -- The order of the change log: the writing transaction, then the change.
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    change_id uuid NOT NULL,
    payload jsonb NOT NULL,
    -- pending (due at `next_attempt_at`, or being sent until then), delivered, or failed (given up).
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, webhook_id) REFERENCES webhooks (workspace_id, id) ON DELETE CASCADE
);
-- What the senders look for: due deliveries, and a record's earlier ones still pending.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_record_idx ON webhook_deliveries (workspace_id, webhook_id, entity_id, txid, change_id)
    WHERE status = 'pending';
-- A webhook's deliveries, newest first.
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (workspace_id, webhook_id, id);
-- The finished ones, oldest first, for the purge of the log after 30 days.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (workspace_id, created_at)
    WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- The endpoint's answer, or null when there was none (see `error`).
    response_status integer,
    latency_ms integer NOT NULL,
    -- The start of the answer's body, at most 1 KiB.
    response_excerpt text,
    error text,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, delivery_id) REFERENCES webhook_deliveries (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (workspace_id, delivery_id, id);
