-- Partners never miss a change: every change writes its events to the tenant's event log in
-- its own transaction (an outbox), numbered 1, 2, 3... per tenant in commit order; a relay
-- publishes what committed to Redis for live subscribers and queues a delivery per matching
-- webhook endpoint; a subscriber or a poller resumes from the position its cursor carries.

CREATE TABLE events (
    tenant_id            uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    position             bigint      NOT NULL CHECK (position > 0),
    kind                 text        NOT NULL,
    buying_group_id      uuid        NOT NULL,
    solution_interest_id uuid,
    person_id            uuid,
    role_id              uuid,
    previous_value       jsonb,
    new_value            jsonb,
    occurred_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
-- Retention deletes by age across tenants.
CREATE INDEX events_occurred_at ON events (occurred_at);

-- The tenant's last position: a writer takes this row as its transaction's last statement, so
-- writers of one tenant commit their positions in order.
CREATE TABLE event_positions (
    tenant_id     uuid   PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last_position bigint NOT NULL CHECK (last_position >= 0)
);

-- How far the relay has published each tenant's log.
CREATE TABLE event_relay (
    tenant_id        uuid   PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    relayed_position bigint NOT NULL DEFAULT 0 CHECK (relayed_position >= 0)
);

CREATE TABLE webhook_endpoints (
    tenant_id            uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    url                  text        NOT NULL CHECK (length(url) <= 2048),
    kinds                text[]      NOT NULL DEFAULT '{}',  -- empty: every kind
    description          text        CHECK (length(description) <= 1000),
    signing_secret       text        NOT NULL,               -- Fernet, under SECRET_KEY
    status               text        NOT NULL DEFAULT 'ACTIVE'
                                     CHECK (status IN ('ACTIVE', 'DISABLED')),
    consecutive_failures integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    failing_since        timestamptz,
    last_delivery_at     timestamptz,
    last_error           text,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);

-- One row per (endpoint, event): its webhook-id stays the same over every attempt.
CREATE TABLE webhook_deliveries (
    tenant_id        uuid        NOT NULL,
    endpoint_id      uuid        NOT NULL,
    position         bigint      NOT NULL,
    id               text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    delivered_at     timestamptz,
    abandoned_at     timestamptz,  -- the retry schedule ran out, or the endpoint was disabled
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint_id, position),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, position) REFERENCES events (tenant_id, position) ON DELETE CASCADE
);
-- The worker's claim: what is due and not delivered, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, position);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'event_positions', 'event_relay', 'webhook_endpoints',
                             'webhook_deliveries'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
    END LOOP;
END
$$;

-- The system role: which tenants the relay has yet to publish (its sweep), retention, and the
-- webhook worker's claim of due deliveries across tenants. Events themselves, endpoints and
-- their secrets are read in the tenant's own transaction.
GRANT SELECT ON event_positions, event_relay TO buying_groups_system;
CREATE POLICY system_read ON event_positions FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_read ON event_relay FOR SELECT TO buying_groups_system USING (true);
GRANT SELECT (tenant_id, position, occurred_at), DELETE ON events TO buying_groups_system;
CREATE POLICY system_read ON events FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_retention ON events FOR DELETE TO buying_groups_system USING (true);
GRANT SELECT, UPDATE (lease_expires_at) ON webhook_deliveries TO buying_groups_system;
CREATE POLICY system_read ON webhook_deliveries FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_lease ON webhook_deliveries FOR UPDATE TO buying_groups_system
    USING (true) WITH CHECK (true);
