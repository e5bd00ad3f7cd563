-- Webhooks an integrator can debug: every attempt of a delivery is kept with its time, the
-- endpoint's status code, how long it took, the first bytes of its answer and the error, as
-- long as the delivery (which goes with its event, EVENT_RETENTION_DAYS).

CREATE TABLE webhook_attempts (
    tenant_id     uuid        NOT NULL,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    endpoint_id   uuid        NOT NULL,
    position      bigint      NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    status        integer,
    duration_ms   integer     CHECK (duration_ms >= 0),
    response_head text        CHECK (length(response_head) <= 2048),
    error         text        CHECK (length(error) <= 1000),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id, position)
        REFERENCES webhook_deliveries (tenant_id, endpoint_id, position) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_of_delivery
    ON webhook_attempts (tenant_id, endpoint_id, position, id);

-- A delivery found by the id its requests carry (webhook-id), for redelivery.
CREATE INDEX webhook_deliveries_by_id ON webhook_deliveries (tenant_id, id);
-- An endpoint's deliveries, newest first.
CREATE INDEX webhook_deliveries_of_endpoint
    ON webhook_deliveries (tenant_id, endpoint_id, position DESC);

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
SELECT announce_writes('webhook_attempts');
