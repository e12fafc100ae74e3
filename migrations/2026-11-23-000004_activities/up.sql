-- Activities: calls, meetings, emails, messages, tasks, notes and visits, planned or done, with
-- their links to a client, a contact and a deal, and reminders.

CREATE TABLE activities (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('call', 'meeting', 'email', 'message', 'task', 'note', 'visit')),
    direction text CHECK (direction IN ('inbound', 'outbound')),
    channel text CHECK (channel IN ('phone', 'email', 'sms', 'messenger', 'in_person', 'video', 'other')),
    reason text CHECK (reason IN ('cold_call', 'company_offer', 'client_request', 'order_waiting', 'follow_up',
                                  'support', 'complaint', 'other')),
    subject text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 500),
    body text,
    outcome text,
    due_at timestamptz,
    reminder_at timestamptz,
    reminder_fired_at timestamptz,
    reminder_acked_at timestamptz,
    duration_seconds integer CHECK (duration_seconds >= 0),
    status text NOT NULL CHECK (status IN ('planned', 'done', 'cancelled')),
    completed_at timestamptz,
    assignee_id uuid NOT NULL,
    client_id uuid,
    contact_id uuid,
    deal_id uuid,
    external_ref text,
    recording_url text,
    from_address text,
    to_address text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    deleted_at timestamptz,
    deleted_by uuid,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, assignee_id) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id),
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id),
    FOREIGN KEY (workspace_id, deal_id) REFERENCES deals (workspace_id, id),
    CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
-- "Whom do I call today": a user's planned activities by due time.
CREATE INDEX activities_agenda_idx ON activities (workspace_id, assignee_id, due_at, id)
    WHERE status = 'planned' AND deleted_at IS NULL;
CREATE INDEX activities_updated_idx ON activities (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX activities_client_idx ON activities (workspace_id, client_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX activities_deal_idx ON activities (workspace_id, deal_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX activities_deleted_idx ON activities (workspace_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
-- An integration logs a touch once: its external reference is unique per workspace.
CREATE UNIQUE INDEX activities_external_ref_key ON activities (workspace_id, external_ref) WHERE external_ref IS NOT NULL;
-- The reminder worker claims due reminders across all workspaces, so this index can't lead with
-- workspace_id; it only holds reminders that have not fired.
CREATE INDEX activities_reminder_due_idx ON activities (reminder_at)
    WHERE reminder_fired_at IS NULL AND status = 'planned' AND deleted_at IS NULL AND reminder_at IS NOT NULL;
CREATE INDEX activities_reminders_fired_idx ON activities (workspace_id, assignee_id, reminder_fired_at)
    WHERE reminder_fired_at IS NOT NULL AND reminder_acked_at IS NULL;
