import crypto from 'node:crypto';
import { expect } from 'chai';
import { MAX_TOKEN_LENGTH, StreamNameSigner } from '../lib/stream-name';

describe('StreamNameSigner', () => {
  const signer = new StreamNameSigner('secret-one');

  it('verifies what it signed', () => {
    expect(signer.verify(signer.sign('Room:1'))).to.deep.equal({
      name: 'Room:1',
      expiresAt: null,
      after: null,
    });
  });

  it('signs as base64url payload, a dot and a base64url HMAC', () => {
    const token = signer.sign('Room:1');
    expect(token).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.split('.')[0], 'base64url').toString()).to.equal('["Room:1"]');
  });

  it('turns any name into URL-safe text without line breaks, dots or slashes', () => {
    const name = 'Room:\n\nid: 99\r\ndata: <x>/../"\'';
    const token = signer.sign(name);
    expect(token).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(signer.verify(token)?.name).to.equal(name);
  });

  it('refuses a token signed with another secret', () => {
    expect(new StreamNameSigner('secret-two').verify(signer.sign('Room:1'))).to.equal(null);
  });

  it('refuses a payload swapped under a valid signature', () => {
    const [, signature] = signer.sign('Room:1').split('.');
    const forged = Buffer.from('["Room:2"]').toString('base64url');
    expect(signer.verify(`${forged}.${signature}`)).to.equal(null);
  });

  it('refuses a signature with stray characters that base64url decoding would skip', () => {
    const token = signer.sign('Room:1');
    expect(signer.verify(`${token}!`)).to.equal(null);
    expect(signer.verify(`${token}=`)).to.equal(null);
  });

  it('refuses unsigned, empty and malformed tokens', () => {
    const payload = Buffer.from('["Room:1"]').toString('base64url');
    for (const token of [payload, `${payload}.`, '', '.', 'a.b.c', `.${payload}`]) {
      expect(signer.verify(token), JSON.stringify(token)).to.equal(null);
    }
  });

  it('refuses a token longer than MAX_TOKEN_LENGTH before hashing it', () => {
    expect(signer.verify('a'.repeat(MAX_TOKEN_LENGTH + 1))).to.equal(null);
  });

  it('refuses a signed payload that is not a name list', () => {
    for (const payload of [
      '{}',
      '[1]',
      '"Room:1"',
      '["Room:1", "soon"]',
      '["Room:1", 1, 2]',
      '["Room:1", null, "a-1", 3]',
      'not json',
    ]) {
      const encoded = Buffer.from(payload).toString('base64url');
      // Signed with the right secret, so only the payload check can refuse it.
      expect(signer.verify(`${encoded}.${hmac(encoded)}`), payload).to.equal(null);
    }
  });

  it('carries the render position it was signed with', () => {
    const token = signer.sign('Room:1', { after: 'abc-7' });
    expect(signer.verify(token)).to.deep.equal({ name: 'Room:1', expiresAt: null, after: 'abc-7' });
  });

  it('refuses a plain HMAC of the payload: only what was signed as a stream name verifies', () => {
    const encoded = Buffer.from('["Room:1"]').toString('base64url');
    const plain = crypto.createHmac('sha256', 'secret-one').update(encoded).digest('base64url');
    expect(signer.verify(`${encoded}.${plain}`)).to.equal(null);
    expect(signer.verify(`${encoded}.${hmac(encoded)}`)?.name).to.equal('Room:1');
  });

  describe('with a time to live', () => {
    it('verifies until the expiry and refuses from then on', () => {
      const token = signer.sign('Room:1', { ttl: 1000, now: 5_000 });
      expect(signer.verify(token, 5_999)).to.deep.equal({
        name: 'Room:1',
        expiresAt: 6_000,
        after: null,
      });
      expect(signer.verify(token, 6_000)).to.equal(null);
    });
  });
});

/** Signs as the signer does, so that only what is signed is under test. */
function hmac(encoded: string): string {
  return crypto
    .createHmac('sha256', 'secret-one')
    .update('turbo-express:stream-name:1\0')
    .update(encoded)
    .digest('base64url');
}
