import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { keptDevelopmentSecret } from '../lib/development-secret';
import { resolveOptions } from '../lib/options';

const run = promisify(execFile);
const SECRET = /^[0-9a-f]{64}$/;

describe('the development secret', () => {
  let app: string;

  beforeEach(() => {
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-secret-'));
    fs.mkdirSync(path.join(app, 'node_modules'));
    fs.mkdirSync(path.join(app, 'src', 'routes'), { recursive: true });
  });

  afterEach(() => fs.rmSync(app, { recursive: true, force: true }));

  const fileIn = (folder: string) =>
    path.join(folder, 'node_modules', '.cache', 'turbo-express', 'development-secret');

  it('is made once in node_modules/.cache of the app, readable by its owner only, and kept', () => {
    const made = keptDevelopmentSecret(path.join(app, 'src', 'routes'))!;
    expect(made.secret).to.match(SECRET);
    expect(made.file).to.equal(fileIn(app));
    expect(fs.statSync(made.file).mode & 0o777).to.equal(0o600);
    expect(fs.readdirSync(path.dirname(made.file))).to.deep.equal(['development-secret']);
    expect(keptDevelopmentSecret(app)).to.deep.equal(made);
  });

  it('replaces a file that holds no secret', () => {
    fs.mkdirSync(path.dirname(fileIn(app)), { recursive: true });
    fs.writeFileSync(fileIn(app), 'not a secret');
    const made = keptDevelopmentSecret(app)!;
    expect(made.secret).to.match(SECRET);
    expect(fs.readFileSync(fileIn(app), 'utf8')).to.equal(`${made.secret}\n`);
  });

  it('is null where no cache can be made, and then each process signs with its own', () => {
    fs.writeFileSync(path.join(app, 'node_modules', '.cache'), 'a file, not a folder');
    expect(keptDevelopmentSecret(app)).to.equal(null);
  });

  it('is null with no node_modules in the folder or above it', function () {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-bare-'));
    try {
      for (let folder = bare; ; folder = path.dirname(folder)) {
        if (fs.existsSync(path.join(folder, 'node_modules'))) this.skip();
        if (path.dirname(folder) === folder) break;
      }
      expect(keptDevelopmentSecret(bare)).to.equal(null);
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });

  it('is the same for processes of one app that start at the same moment', async () => {
    const script = `
      const { keptDevelopmentSecret } = require(${JSON.stringify(path.resolve(__dirname, '../lib/development-secret'))});
      process.stdout.write(keptDevelopmentSecret(${JSON.stringify(app)}).secret);
    `;
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(() =>
        run(process.execPath, ['--require', 'tsx/cjs', '-e', script], { timeout: 20_000 }),
      ),
    );
    const secrets = new Set(outputs.map((output) => output.stdout));
    expect(secrets.size).to.equal(1);
    expect([...secrets][0]).to.equal(fs.readFileSync(fileIn(app), 'utf8').trim());
    expect(fs.readdirSync(path.dirname(fileIn(app)))).to.deep.equal(['development-secret']);
  });

  it('signs stream names when turboStreams() gets no secret outside production', () => {
    expect(process.env.NODE_ENV).to.not.equal('production');
    const kept = keptDevelopmentSecret(process.cwd());
    expect(kept).to.not.equal(null);
    expect(resolveOptions({}).secret).to.equal(kept!.secret);
  });
});
