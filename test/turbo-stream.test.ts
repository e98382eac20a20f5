import { expect } from 'chai';
import { ErrorCodes, turboStreamTag } from '../lib';
import { validateAttributes } from '../lib/turbo-stream';
import { escapeHtml } from '../lib/escape';

describe('turboStreamTag', () => {
  it('wraps content in a template for append', () => {
    expect(turboStreamTag('append', { target: 'messages' }, '<p>hi</p>')).to.equal(
      '<turbo-stream action="append" target="messages"><template><p>hi</p></template></turbo-stream>',
    );
  });

  it('writes targets for a CSS selector', () => {
    expect(turboStreamTag('update', { targets: '.unread > li' }, 'x')).to.equal(
      '<turbo-stream action="update" targets=".unread &gt; li"><template>x</template></turbo-stream>',
    );
  });

  it('sends remove without a template', () => {
    expect(turboStreamTag('remove', { target: 'message-7' })).to.equal(
      '<turbo-stream action="remove" target="message-7"></turbo-stream>',
    );
  });

  it('writes method="morph" for replace', () => {
    expect(
      turboStreamTag('replace', { target: 'card', method: 'morph' }, '<div id="card"></div>'),
    ).to.equal(
      '<turbo-stream action="replace" target="card" method="morph"><template><div id="card"></div></template></turbo-stream>',
    );
  });

  it('writes refresh with its request id, method and scroll', () => {
    expect(
      turboStreamTag('refresh', { requestId: 'r-1', method: 'morph', scroll: 'preserve' }),
    ).to.equal(
      '<turbo-stream action="refresh" method="morph" scroll="preserve" request-id="r-1"></turbo-stream>',
    );
  });

  it('escapes every attribute', () => {
    expect(turboStreamTag('remove', { target: `a"><script>alert('x')</script>` })).to.equal(
      '<turbo-stream action="remove" target="a&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"></turbo-stream>',
    );
  });

  for (const action of ['before', 'after', 'prepend'] as const) {
    it(`builds ${action}`, () => {
      expect(turboStreamTag(action, { target: 't' }, 'c')).to.equal(
        `<turbo-stream action="${action}" target="t"><template>c</template></turbo-stream>`,
      );
    });
  }
});

describe('validateAttributes', () => {
  it('refuses an action with neither target nor targets', () => {
    expect(() => validateAttributes('append', {}))
      .to.throw(/exactly one of "target"/)
      .with.property('code', ErrorCodes.INVALID_TARGET);
  });

  it('refuses an action with both target and targets', () => {
    expect(() => validateAttributes('remove', { target: 'a', targets: '.a' }))
      .to.throw()
      .with.property('code', ErrorCodes.INVALID_TARGET);
  });

  it('refuses a target on refresh', () => {
    expect(() => validateAttributes('refresh', { target: 'a' })).to.throw(/whole page/);
  });

  it('refuses method="morph" on append', () => {
    expect(() => validateAttributes('append', { target: 'a', method: 'morph' })).to.throw(
      /only honoured by replace, update and refresh/,
    );
  });

  it('refuses an empty target', () => {
    expect(() => validateAttributes('update', { target: '' })).to.throw(/non-empty string/);
  });

  it('refuses a method or scroll Turbo does not know, and scroll outside refresh', () => {
    const bad: [Parameters<typeof validateAttributes>[0], object, string][] = [
      [
        'replace',
        { target: 'a', method: 'replace' },
        'The replace action\'s method must be "morph", not "replace"',
      ],
      [
        'refresh',
        { method: 'bogus' },
        'The refresh action\'s method must be "morph" or "replace", not "bogus"',
      ],
      [
        'refresh',
        { scroll: 'top' },
        'scroll must be "preserve" or "reset", on refresh only; got "top" on refresh',
      ],
      [
        'update',
        { target: 'a', scroll: 'preserve' },
        'scroll must be "preserve" or "reset", on refresh only; got "preserve" on update',
      ],
    ];
    for (const [action, attributes, message] of bad) {
      expect(() => validateAttributes(action, attributes as never))
        .to.throw(message)
        .with.property('code', ErrorCodes.INVALID_OPTION);
    }
    expect(() =>
      validateAttributes('refresh', { method: 'replace', scroll: 'reset' }),
    ).to.not.throw();
    expect(() => validateAttributes('update', { target: 'a', method: 'morph' })).to.not.throw();
  });

  it('names the type of a method or scroll that is no string, and refuses unknown actions', () => {
    expect(() => validateAttributes('refresh', { method: 10n as never })).to.throw(
      'The refresh action\'s method must be "morph" or "replace", not a bigint',
    );
    expect(() =>
      validateAttributes('append', { target: 'a', method: Symbol('m') as never }),
    ).to.throw('method: a symbol is only honoured by replace, update and refresh, not append');
    expect(() => validateAttributes('explode' as never, { target: 'a' }))
      .to.throw('"explode" is not a Turbo Stream action')
      .with.property('code', ErrorCodes.INVALID_OPTION);
  });

  it('refuses hostile values with its own error, naming them as far as they can be read', () => {
    const symbolNamed = Object.defineProperty(() => {}, 'name', { value: Symbol('n') });
    const throwingConstructor = Object.create({
      get constructor() {
        throw new Error('constructor getter');
      },
    }) as unknown;
    const hostileProxy = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const refusals = [
      () => turboStreamTag('refresh', { scroll: symbolNamed as never }),
      () => turboStreamTag('append', { target: 'x', method: throwingConstructor as never }),
      () => turboStreamTag(hostileProxy as never, {}),
      () => turboStreamTag(revoked.proxy as never, {}),
      () => turboStreamTag('x'.repeat(100_000) as never, {}),
      () => turboStreamTag(Object.create({ constructor: { name: 'A'.repeat(100_000) } }), {}),
    ].map((refuse) => {
      try {
        refuse();
        return 'no error';
      } catch (error) {
        return (error as Error).constructor.name + ': ' + (error as Error).message;
      }
    });
    const actions = 'use one of append, prepend, replace, update, remove, before, after, refresh';
    expect(refusals).to.deep.equal([
      'TurboExpressError: scroll must be "preserve" or "reset", on refresh only; got a function on refresh',
      'TurboExpressError: method: an object is only honoured by replace, update and refresh, not append',
      `TurboExpressError: an object is not a Turbo Stream action; ${actions}`,
      `TurboExpressError: an object is not a Turbo Stream action; ${actions}`,
      `TurboExpressError: "${'x'.repeat(80)}"... (100000 characters) is not a Turbo Stream action; ${actions}`,
      `TurboExpressError: an ${'A'.repeat(80)}... (100000 characters) is not a Turbo Stream action; ${actions}`,
    ]);
  });
});

describe('escapeHtml', () => {
  it('keeps no state between calls, whatever an earlier call met', () => {
    // A global pattern's test would keep the position past this quote and skip the next short
    // string; a value that is no string is read as text once.
    expect(escapeHtml([`${'a'.repeat(40)}"`] as never)).to.equal(`${'a'.repeat(40)}&quot;`);
    expect(escapeHtml('<b>"')).to.equal('&lt;b&gt;&quot;');
    let reads = 0;
    const shifty = { toString: () => (reads++ === 0 ? 'safe' : '"><img>') };
    expect(escapeHtml(shifty as never)).to.equal('safe');
  });

  it('checks the attributes of a tag built directly', () => {
    expect(() => turboStreamTag('remove', { target: ['x'] } as never)).to.throw(
      'must be a non-empty string',
    );
    expect(() => turboStreamTag('remove', { target: 'a', targets: '.b' })).to.throw(
      'exactly one of',
    );
  });
});
