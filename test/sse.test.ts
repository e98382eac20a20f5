import { expect } from 'chai';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { encodeComment, encodeEvent, encodeRetry } from '../lib/sse';

function parse(wire: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(wire);
  return events;
}

describe('sse', () => {
  describe('encodeEvent', () => {
    it('writes an id line, one data line and the blank line that dispatches it', () => {
      expect(encodeEvent('a1-7', '<p>hi</p>').toString()).to.equal('id: a1-7\ndata: <p>hi</p>\n\n');
    });

    it('writes no id line for a null id', () => {
      expect(encodeEvent(null, 'x').toString()).to.equal('data: x\n\n');
    });

    it('splits data on LF, CRLF and a lone CR, one data line each', () => {
      expect(encodeEvent('1', 'a\nb\r\nc\rd').toString()).to.equal(
        'id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n',
      );
    });

    it('keeps lines that look like SSE fields inside data', () => {
      const wire = encodeEvent(
        '5',
        'x\nid: 99\ndata: y\r\nevent: z\rretry: 1\n\ndata: w',
      ).toString();
      expect(wire).to.equal(
        'id: 5\ndata: x\ndata: id: 99\ndata: data: y\ndata: event: z\ndata: retry: 1\ndata: \ndata: data: w\n\n',
      );
      expect(parse(wire)).to.deep.equal([
        { id: '5', event: undefined, data: 'x\nid: 99\ndata: y\nevent: z\nretry: 1\n\ndata: w' },
      ]);
    });

    it('writes empty data as one empty data line', () => {
      expect(encodeEvent('1', '').toString()).to.equal('id: 1\ndata: \n\n');
    });

    for (const [what, id] of [
      ['LF', '1\ndata: x'],
      ['CR', '1\rdata: x'],
      ['CRLF', '1\r\n'],
      ['NUL', '1\0'],
    ]) {
      it(`refuses an id holding ${what}`, () => {
        expect(() => encodeEvent(id, 'x')).to.throw(TypeError, 'must not contain CR, LF or NUL');
      });
    }
  });

  describe('encodeComment', () => {
    it('writes a bare colon line for a heartbeat', () => {
      expect(encodeComment().toString()).to.equal(':\n\n');
    });

    it('flattens line breaks in comment text', () => {
      expect(encodeComment('a\r\ndata: x').toString()).to.equal(':a data: x\n\n');
    });
  });

  describe('encodeRetry', () => {
    it('writes the delay in whole milliseconds', () => {
      expect(encodeRetry(2000.7).toString()).to.equal('retry: 2000\n\n');
    });
  });
});
