/**
 * Contestant registry. To add one, drop a module next to this file that implements
 * `ContestantModule` (see contract.ts) and add an entry here; nothing else in the rig changes.
 */
import path from 'node:path';

export interface Contestant {
  name: string;
  /** Absolute path of the module exporting `createBenchServer`. */
  modulePath: string;
  /** What the write path does, printed with the results so readers compare like with like. */
  pipeline: string;
  /** A reference left out of `--quick` (which must stay under a minute) unless named in --only. */
  fullOnly?: boolean;
}

function local(file: string): string {
  return path.join(__dirname, file);
}

export const CONTESTANTS: Contestant[] = [
  {
    name: 'raw',
    modulePath: local('raw.ts'),
    pipeline: 'POST -> build HTML string -> one Buffer -> res.write per client (no DB)',
  },
  {
    name: 'better-sse-bare',
    modulePath: local('better-sse-bare.ts'),
    fullOnly: true,
    pipeline: 'POST (express.json) -> build HTML string -> channel.broadcast (no DB, no template)',
  },
  {
    name: 'better-sse',
    modulePath: local('better-sse.ts'),
    pipeline:
      'POST (express.json) -> Sequelize create on in-memory SQLite -> after-commit hook -> ' +
      'Pug partial rendered once -> channel.broadcast',
  },
  {
    name: 'turbo-express',
    modulePath: local('turbo-express.ts'),
    pipeline:
      'POST (express.json) -> Sequelize create on in-memory SQLite -> after-commit onSave -> ' +
      'Pug partial rendered once -> MemoryBroker -> hub, one write per connection per turn',
  },
];
