import { expect } from 'chai';
import { DataTypes, Model, Sequelize } from 'sequelize';
import { ErrorCodes, ModelStream, registerStream, Stream, type TurboExpressError } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';

class Job extends Model {
  declare id: number;
  declare title: string;
}

class BoardStream extends Stream {}

class JobStream extends ModelStream<Job> {
  static override model = Job;
  override async onSave(job: Job) {
    // A hook awaiting something that never answers, such as a hung HTTP call.
    if (job.title === 'hangs') await new Promise(() => {});
    await new BoardStream().append({ target: 'jobs', html: job.title });
  }
}

describe('hookTimeout', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  let client: SseClient | undefined;
  const errors: TurboExpressError[] = [];

  beforeEach(async () => {
    errors.length = 0;
    sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    Job.init({ title: DataTypes.STRING }, { sequelize, modelName: 'Job' });
    await sequelize.sync();
    registerStream(JobStream);
  });

  afterEach(async () => {
    client?.close();
    await server.close();
    await sequelize.close();
  });

  it('lets later broadcasts go on after an onSave that never finishes, and reports it', async () => {
    server = await startServer({ hookTimeout: 200, onError: (error) => errors.push(error) });
    client = await SseClient.open(await server.sourceFor(new BoardStream()));
    await Job.create({ title: 'hangs' });
    await Job.create({ title: 'next' });
    await client.waitForEvents(1, 3000);
    expect(client.data).to.deep.equal([
      '<turbo-stream action="append" target="jobs"><template>next</template></turbo-stream>',
    ]);
    expect(errors.map((error) => error.code)).to.deep.equal([ErrorCodes.HOOK_TIMEOUT]);
    expect(errors[0].message).to.equal(
      'An onSave or onDelete ran longer than 200 ms: later broadcasts no longer wait for it (hookTimeout)',
    );
  });

  it('refuses a hookTimeout of 0', async () => {
    const error = await startServer({ hookTimeout: 0 }).catch((e: unknown) => e);
    expect(error).to.have.property('code', ErrorCodes.INVALID_OPTION);
    server = await startServer();
  });
});
