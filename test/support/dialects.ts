import type { Sequelize } from 'sequelize';
import { sqliteMemory } from './notes-app';
import { createPostgresSchema } from './postgres';

/** A database for one test: SQLite in memory, or a PostgreSQL schema of its own. */
export interface Database {
  sequelize: Sequelize;
  schema?: string;
  drop(): Promise<void>;
}

/** The dialects the write-path suites run against; PostgreSQL skips when absent, unless CI. */
export const dialects: { name: string; connect(test: Mocha.Context): Promise<Database> }[] = [
  {
    name: 'SQLite',
    async connect() {
      const sequelize = sqliteMemory();
      return { sequelize, drop: () => sequelize.close() };
    },
  },
  { name: 'PostgreSQL', connect: (test) => createPostgresSchema(test) },
];
