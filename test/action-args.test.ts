import { expect } from 'chai';
import { dropUndefined, pickTarget } from '../lib/action-args';

describe('action arguments', () => {
  it('drops undefined options into a new object, leaving the given one alone', () => {
    const given = { method: 'morph' as const, scroll: undefined, requestId: 'r1' };
    const kept = dropUndefined(given);
    expect(kept).to.deep.equal({ method: 'morph', requestId: 'r1' });
    expect(Object.keys(kept)).to.deep.equal(['method', 'requestId']);
    expect(given).to.have.property('scroll');
  });

  it('takes no prototype from an own "__proto__" key of parsed JSON', () => {
    const parsed = JSON.parse('{"method":"morph","__proto__":{"target":"x"}}') as object;
    const kept = dropUndefined(parsed);
    expect(Object.getPrototypeOf(kept)).to.equal(Object.prototype);
    expect(kept).to.deep.equal({ method: 'morph' });
    expect((kept as { target?: string }).target).to.equal(undefined);
  });

  it('picks only the target or targets that were given', () => {
    expect(pickTarget({ target: 'a', targets: undefined })).to.deep.equal({ target: 'a' });
    expect(Object.keys(pickTarget({ targets: '.b' }))).to.deep.equal(['targets']);
    expect(pickTarget({})).to.deep.equal({});
  });
});
