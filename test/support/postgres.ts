import { randomBytes } from 'node:crypto';
import { Sequelize } from 'sequelize';

/** The PostgreSQL server the tests use: local, trust auth, database `test`. */
export const POSTGRES_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A connection to the test database and a schema of its own, dropped by `drop()`. */
export interface PostgresSchema {
  sequelize: Sequelize;
  schema: string;
  /** Drops the schema with everything in it and closes the connection. */
  drop(): Promise<void>;
}

/**
 * Connects to the test PostgreSQL server and creates a uniquely named schema for one test.
 * When the server cannot be reached the test is skipped, unless CI=true, where it fails.
 */
export async function createPostgresSchema(test: Mocha.Context): Promise<PostgresSchema> {
  const sequelize = new Sequelize(POSTGRES_URL, { logging: false, pool: { max: 5 } });
  try {
    await sequelize.authenticate();
  } catch (error) {
    await sequelize.close();
    if (process.env.CI === 'true') throw error;
    test.skip(); // No PostgreSQL at 127.0.0.1:5432: start it to run these tests.
  }
  const schema = `turbo_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await sequelize.query(`CREATE SCHEMA "${schema}"`);
  return {
    sequelize,
    schema,
    async drop() {
      try {
        await sequelize.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await sequelize.close();
      }
    },
  };
}
