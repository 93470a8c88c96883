-- Idempotency keys are kept for a retention (CL_IDEMPOTENCY_RETENTION_SECS)
-- and then pruned by age: the prune finds them by this index.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
