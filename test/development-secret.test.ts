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

  /** The kept secret and its file, failing the test when none was kept. */
  const keptIn = (start: string) => {
    const kept = keptDevelopmentSecret(start);
    if (kept.secret === null) throw new Error(`no secret kept: ${kept.reason}`);
    return kept;
  };

  const fileIn = (folder: string) =>
    path.join(folder, 'node_modules', '.cache', 'turbo-express', 'development-secret');

  it('is made once in node_modules/.cache of the app, readable by its owner only, and kept', () => {
    const made = keptIn(path.join(app, 'src', 'routes'));
    expect(made.secret).to.match(SECRET);
    expect(made.file).to.equal(fileIn(app));
    expect(fs.statSync(made.file).mode & 0o777).to.equal(0o600);
    expect(fs.readdirSync(path.dirname(made.file))).to.deep.equal(['development-secret']);
    expect(keptDevelopmentSecret(app)).to.deep.equal(made);
  });

  it('leaves a file that holds no secret to the developer, saying to delete it', () => {
    fs.mkdirSync(path.dirname(fileIn(app)), { recursive: true });
    fs.writeFileSync(fileIn(app), '');
    expect(keptDevelopmentSecret(app)).to.deep.equal({
      secret: null,
      reason: `${fileIn(app)} does not hold a secret: delete it`,
    });
    expect(fs.readFileSync(fileIn(app), 'utf8')).to.equal('');
  });

  it('leaves a link in place of the file alone, and its target untouched', () => {
    const target = path.join(app, 'elsewhere');
    fs.writeFileSync(target, `${'a'.repeat(64)}\n`, { mode: 0o644 });
    fs.chmodSync(target, 0o644);
    fs.mkdirSync(path.dirname(fileIn(app)), { recursive: true });
    fs.symlinkSync(target, fileIn(app));
    expect(keptDevelopmentSecret(app)).to.deep.equal({
      secret: null,
      reason: `${fileIn(app)} is not a plain file: delete it`,
    });
    fs.rmSync(fileIn(app));
    fs.symlinkSync(path.join(app, 'missing'), fileIn(app));
    expect(keptDevelopmentSecret(app)).to.have.property('reason').that.includes('not a plain file');
    expect(fs.statSync(target).mode & 0o777).to.equal(0o644);
  });

  it('leaves alone a kept file open to others that has other names', () => {
    const other = path.join(app, 'other-name');
    fs.writeFileSync(other, `${'b'.repeat(64)}\n`);
    fs.chmodSync(other, 0o644);
    fs.mkdirSync(path.dirname(fileIn(app)), { recursive: true });
    fs.linkSync(other, fileIn(app));
    expect(keptDevelopmentSecret(app)).to.deep.equal({
      secret: null,
      reason: `${fileIn(app)} is open to others and has other names: delete it`,
    });
    expect(fs.statSync(other).mode & 0o777).to.equal(0o644);
  });

  it('takes away the access of others to a kept file that gives them some', () => {
    const made = keptIn(app);
    fs.chmodSync(made.file, 0o644);
    expect(keptIn(app)).to.deep.equal(made);
    expect(fs.statSync(made.file).mode & 0o777).to.equal(0o600);
  });

  it('says why where no cache can be made, and then each process signs with its own', () => {
    fs.writeFileSync(path.join(app, 'node_modules', '.cache'), 'a file, not a folder');
    const kept = keptDevelopmentSecret(app);
    expect(kept.secret).to.equal(null);
    expect(kept)
      .to.have.property('reason')
      .that.matches(/^ENOTDIR/);
  });

  it('says so with no node_modules in the folder or above it', function () {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-bare-'));
    try {
      for (let folder = bare; ; folder = path.dirname(folder)) {
        if (fs.existsSync(path.join(folder, 'node_modules'))) this.skip();
        if (path.dirname(folder) === folder) break;
      }
      expect(keptDevelopmentSecret(bare)).to.deep.equal({
        secret: null,
        reason: `no node_modules in ${bare} or above it`,
      });
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });

  it('is the same for processes of one app that start at the same moment', async () => {
    const script = `
      const { keptDevelopmentSecret } = require(${JSON.stringify(path.resolve(__dirname, '../lib/development-secret'))});
      process.stdout.write(String(keptDevelopmentSecret(${JSON.stringify(app)}).secret));
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

  it('gives way to a secret of the process when the working folder was deleted', async () => {
    const gone = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-gone-'));
    const script = `
      const { resolveOptions } = require(${JSON.stringify(path.resolve(__dirname, '../lib/options'))});
      require('node:fs').rmdirSync(${JSON.stringify(gone)});
      process.stdout.write(String(/^[0-9a-f]{64}$/.test(resolveOptions({}).secret)));
    `;
    const tsx = require.resolve('tsx/cjs');
    const { stdout, stderr } = await run(process.execPath, ['--require', tsx, '-e', script], {
      cwd: gone,
      timeout: 20_000,
    });
    expect(stdout).to.equal('true');
    // Node may still answer process.cwd() from its cache (then no node_modules is found there),
    // or throw ENOENT.
    expect(stderr).to.match(/and no development secret could be kept \((no node_modules|ENOENT)/);
  });

  it('signs stream names when turboStreams() gets no secret outside production', () => {
    expect(process.env.NODE_ENV).to.not.equal('production');
    expect(resolveOptions({}).secret).to.equal(keptIn(process.cwd()).secret);
  });
});
