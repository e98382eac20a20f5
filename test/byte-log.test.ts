import { expect } from 'chai';
import { ByteLog } from '../lib/broker/byte-log';

describe('ByteLog', () => {
  it('gives back the messages after a seq, oldest first, as they were pushed', () => {
    const log = new ByteLog(0);
    log.push(1, 10, 'one');
    log.push(2, 20, 'twø');
    log.push(5, 30, '🙂 five');
    expect(log.after(1)).to.deep.equal([
      { seq: 2, data: 'twø' },
      { seq: 5, data: '🙂 five' },
    ]);
    expect(log.after(0).map((m) => m.seq)).to.deep.equal([1, 2, 5]);
    expect(log.after(5)).to.deep.equal([]);
    expect([log.length, log.newestSeq, log.oldestAt]).to.deep.equal([3, 5, 10]);
  });

  it('counts UTF-8 bytes, and frees them as the oldest messages are dropped', () => {
    const log = new ByteLog(0);
    expect(log.push(1, 0, 'abc')).to.equal(3);
    expect(log.push(2, 0, 'é')).to.equal(2);
    expect(log.push(3, 0, '🙂')).to.equal(4);
    expect(log.heldBytes).to.equal(9);
    expect(log.dropOldest()).to.equal(3);
    expect([log.heldBytes, log.lostUpTo, log.length]).to.deep.equal([6, 1, 2]);
    log.dropOldest();
    log.dropOldest();
    expect([log.heldBytes, log.lostUpTo, log.length, log.newestSeq]).to.deep.equal([0, 3, 0, 3]);
    expect(log.oldestAt).to.equal(Infinity);
  });

  it('keeps every message whole through many moves, growths and shrinks of its buffer', () => {
    const log = new ByteLog(0);
    const kept: { seq: number; data: string }[] = [];
    // Sizes from a few bytes to 40 KB, in a fixed pseudo-random order.
    let state = 7;
    for (let seq = 1; seq <= 3_000; seq++) {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      const size = seq % 500 < 20 ? 40_000 : 1 + (state % 300);
      const data = `${seq}:${'é'.repeat(size % 7)}${'x'.repeat(size)}`;
      log.push(seq, seq, data);
      kept.push({ seq, data });
      while (log.length > 1 + (state % 60)) {
        log.dropOldest();
        kept.shift();
      }
      if (seq % 97 === 0) expect(log.after(0)).to.deep.equal(kept);
      if (seq % 89 === 0) log.compact();
    }
    expect(log.after(0)).to.deep.equal(kept);
    log.compact();
    expect(log.heldBytes).to.equal(kept.reduce((sum, m) => sum + Buffer.byteLength(m.data), 0));
    expect(log.capacity).to.be.at.most(Math.max(64, 4 * log.heldBytes));
    expect(log.after(0)).to.deep.equal(kept);
  });

  it('gives back the memory of large messages on compact(), not as messages come and go', () => {
    const log = new ByteLog(0);
    expect(log.capacity).to.equal(0);
    log.push(1, 0, 'x'.repeat(100_000));
    expect(log.capacity).to.equal(200_000);
    for (let seq = 2; seq <= 101; seq++) log.push(seq, 0, 'small');
    log.dropOldest();
    expect([log.heldBytes, log.capacity]).to.deep.equal([500, 200_000]);
    log.compact();
    expect(log.capacity).to.equal(1_000);
    while (log.length > 1) log.dropOldest();
    expect(log.capacity).to.equal(1_000);
    log.compact();
    expect(log.capacity).to.equal(64);
    expect(log.after(0)).to.deep.equal([{ seq: 101, data: 'small' }]);
    log.dropOldest();
    log.compact();
    expect(log.capacity).to.equal(0);
    expect(log.after(0)).to.deep.equal([]);
  });

  it('writes messages of alternating sizes without a new buffer for each', () => {
    const log = new ByteLog(0);
    let buffers = 0;
    let capacity = -1;
    for (let seq = 1; seq <= 200; seq++) {
      log.push(seq, 0, seq % 2 === 0 ? 'x'.repeat(1_000) : 'y'.repeat(10));
      if (log.length > 1) log.dropOldest();
      if (log.capacity !== capacity) buffers += 1;
      capacity = log.capacity;
    }
    expect(buffers).to.equal(2);
  });

  it('keeps the texts a replay decoded, within its budget, until compact()', () => {
    const log = new ByteLog(0);
    log.push(1, 0, 'abc');
    log.push(2, 0, 'é');
    expect(log.after(1, 100)).to.deep.equal([{ seq: 2, data: 'é' }]);
    expect([log.heldBytes, log.keptTextBytes]).to.deep.equal([5, 2]);
    expect(log.after(0, 2)).to.deep.equal([
      { seq: 1, data: 'abc' },
      { seq: 2, data: 'é' },
    ]);
    expect(log.keptTextBytes).to.equal(2);
    log.after(0, 3);
    expect(log.keptTextBytes).to.equal(5);
    log.dropOldest();
    expect([log.heldBytes, log.keptTextBytes]).to.deep.equal([2, 2]);
    log.compact();
    expect([log.heldBytes, log.keptTextBytes]).to.deep.equal([2, 0]);
    expect(log.after(0)).to.deep.equal([{ seq: 2, data: 'é' }]);
    expect(log.keptTextBytes).to.equal(0);
  });

  it('holds empty messages, before and after others', () => {
    const log = new ByteLog(0);
    log.push(1, 0, '');
    log.push(2, 0, 'a');
    log.push(3, 0, '');
    expect(log.heldBytes).to.equal(1);
    expect(log.after(0)).to.deep.equal([
      { seq: 1, data: '' },
      { seq: 2, data: 'a' },
      { seq: 3, data: '' },
    ]);
  });

  it('gives a lone surrogate back as the replacement character, as it goes on the wire', () => {
    const log = new ByteLog(0);
    log.push(1, 0, 'a\ud800b');
    expect(log.after(0)[0].data).to.equal('a\ufffdb');
    expect(Buffer.from(log.after(0)[0].data)).to.deep.equal(Buffer.from('a\ud800b'));
  });
});
