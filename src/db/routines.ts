/**
 * Database functions, (re)created by `migrateDatabase` after the migrations: Prisma's WebAssembly
 * migration engine splits a migration on every `;`, so a PL/pgSQL body cannot live in one.
 * `CREATE OR REPLACE` makes this idempotent; a change here applies at the next start.
 */
import pg from 'pg';

/**
 * webhook_claim: takes a delivery for one attempt, within its endpoint's bound of attempts in
 * flight, in one round trip (src/webhooks/deliver.ts). The advisory lock serializes claims per
 * endpoint; the UPDATE runs once it is granted, and each statement of a VOLATILE function takes a
 * new snapshot, so its count sees every lease committed before — a single statement would count
 * from a snapshot taken before waiting, and two claims at once could both pass. The lock is
 * released at commit, after the lease is visible.
 */
const ROUTINES = `
CREATE OR REPLACE FUNCTION webhook_claim(delivery_id uuid, attempt int, lease_ms int, bound int)
RETURNS TABLE ("claimed" boolean) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  endpoint uuid;
BEGIN
  SELECT d."endpointId" INTO endpoint FROM "WebhookDelivery" d WHERE d."id" = delivery_id;
  IF endpoint IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(endpoint::text, 0));
  RETURN QUERY
    UPDATE "WebhookDelivery" d
       SET "lockedUntil" = now() + lease_ms * interval '1 millisecond'
     WHERE d."id" = delivery_id
       AND d."status" = 'PENDING' AND d."attemptCount" = attempt - 1
       AND (d."lockedUntil" IS NULL OR d."lockedUntil" < now())
       AND (SELECT count(*) FROM "WebhookDelivery" x
             WHERE x."endpointId" = endpoint AND x."status" = 'PENDING' AND x."lockedUntil" > now()) < bound
 RETURNING true;
END
$$;
`;

export async function installRoutines(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(ROUTINES);
  } finally {
    await client.end();
  }
}
