/** The statements of the PostgreSQL broker for one table, built once. */
export interface PostgresStatements {
  /** The NOTIFY channel: the table name with "." made "_". */
  readonly channel: string;
  readonly schema: readonly string[];
  readonly lock: string;
  readonly tryPruneLock: string;
  readonly ensureEpoch: string;
  readonly lastId: string;
  readonly publish: string;
  readonly forgetFloors: string;
  readonly fetch: string;
  readonly replay: string;
  readonly prune: string;
  readonly dropCoveredFloors: string;
}

/**
 * Builds the statements for `table` (already checked to be a plain SQL name).
 *
 * The table holds one row per message, plus row 0 whose `data` is the epoch: TRUNCATE removes it
 * with everything else, and the next publish writes a new one. `<table>_floors` keeps, per stream,
 * the id of the newest row pruned for size; the row of stream `''` keeps the newest pruned for age,
 * for every stream at once, as the in-process broker does.
 */
export function postgresStatements(table: string): PostgresStatements {
  const floors = `${table}_floors`;
  const channel = table.replace('.', '_');
  const lockKey = `hashtext('${table}')`;
  return {
    channel,
    schema: [
      `CREATE TABLE IF NOT EXISTS ${table} (
        id bigserial PRIMARY KEY,
        stream text NOT NULL,
        data text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`,
      `CREATE INDEX IF NOT EXISTS ${channel}_stream_id ON ${table} (stream, id)`,
      `CREATE TABLE IF NOT EXISTS ${floors} (stream text PRIMARY KEY, floor bigint NOT NULL)`,
    ],
    lock: `SELECT pg_advisory_xact_lock(${lockKey})`,
    tryPruneLock: `SELECT pg_try_advisory_xact_lock(${lockKey}, 1) AS locked`,
    ensureEpoch: `WITH made AS (
        INSERT INTO ${table} (id, stream, data) VALUES (0, '', $1) ON CONFLICT (id) DO NOTHING
        RETURNING data
      )
      SELECT COALESCE((SELECT data FROM made), (SELECT data FROM ${table} WHERE id = 0)) AS epoch,
        EXISTS (SELECT 1 FROM made) AS "isNewEpoch"`,
    // Rows pruned for age may leave none: the newest pruned id still marks where reading starts.
    lastId: `SELECT GREATEST(
        (SELECT COALESCE(max(id), 0) FROM ${table}),
        (SELECT COALESCE(max(floor), 0) FROM ${floors})) AS id`,
    publish: `WITH made AS (
        INSERT INTO ${table} (id, stream, data) VALUES (0, '', $4) ON CONFLICT (id) DO NOTHING
        RETURNING data
      ), inserted AS (
        INSERT INTO ${table} (stream, data) VALUES ($1, $2) RETURNING id
      )
      SELECT inserted.id,
        COALESCE((SELECT data FROM made), (SELECT data FROM ${table} WHERE id = 0)) AS epoch,
        EXISTS (SELECT 1 FROM made) AS "isNewEpoch",
        pg_notify($3, inserted.id::text)
      FROM inserted`,
    forgetFloors: `DELETE FROM ${floors}`,
    // Row -1 carries the newest id ever pruned: a reader behind it lost the rows it did not read.
    fetch: `SELECT id, stream, data FROM ${table} WHERE id > $1 OR id = 0
      UNION ALL
      SELECT -1, '', COALESCE(max(floor), 0)::text FROM ${floors}
      ORDER BY id LIMIT $2 + 2`,
    // One statement, so the epoch, the floors and the rows come from one snapshot.
    replay: `SELECT 'epoch' AS kind, id, data FROM ${table} WHERE id = 0
      UNION ALL
      SELECT 'floor', floor, stream FROM ${floors} WHERE stream = $1 OR stream = ''
      UNION ALL
      SELECT 'message', id, data FROM ${table} WHERE stream = $1 AND id > $2 AND id <= $3`,
    prune: `WITH ranked AS (
        SELECT id, stream, created_at < now() - make_interval(secs => $2 / 1000.0) AS expired,
          row_number() OVER (PARTITION BY stream ORDER BY id DESC) AS rank
        FROM ${table} WHERE id > 0
      ), pruned AS (
        DELETE FROM ${table} USING ranked
        WHERE ${table}.id = ranked.id AND (ranked.expired OR ranked.rank > $1)
        RETURNING ranked.id, ranked.stream, ranked.expired
      )
      INSERT INTO ${floors} (stream, floor)
      SELECT CASE WHEN expired THEN '' ELSE stream END, max(id) FROM pruned GROUP BY 1
      ON CONFLICT (stream) DO UPDATE SET floor = GREATEST(${floors}.floor, EXCLUDED.floor)`,
    // A stream's floor at or below the age floor says nothing more: forget it.
    dropCoveredFloors: `DELETE FROM ${floors}
      WHERE stream <> '' AND floor <= COALESCE((SELECT floor FROM ${floors} WHERE stream = ''), 0)`,
  };
}
