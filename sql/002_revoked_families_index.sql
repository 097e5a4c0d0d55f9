-- 002: the revocation list reloads the families revoked within an access token's lifetime every
-- second; this keeps that a range scan over the (few) revoked families, not a table scan.
CREATE INDEX refresh_families_revoked_idx ON refresh_families (revoked_at) WHERE revoked_at <> 0;
