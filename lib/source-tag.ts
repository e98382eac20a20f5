import type { Request } from 'express';
import type { Model, ModelStatic } from 'sequelize';
import type { Broker } from './broker/broker';
import { escapeHtml } from './escape';
import { ErrorCodes, TurboExpressError } from './errors';
import type { ResolvedOptions } from './options';
import { isRegistered, isThroughSchema, registerStream, streamFor } from './registry';
import { Stream, type StreamClass } from './stream';
import type { StreamNameSigner } from './stream-name';

/** What a page can subscribe to: a stream, a row whose model has a ModelStream, a stream class. */
export type StreamSource = Stream | Model | StreamClass;

/**
 * Writes `<turbo-stream-source src="..."></turbo-stream-source>` for a stream. The `src` holds the
 * signed stream name and the position of the broker when the request began, so the first
 * connection replays whatever was broadcast between the page's render and its subscription.
 * Extra attributes are escaped and added to the tag.
 */
export type TurboStreamFrom = (source: StreamSource, attributes?: Record<string, string>) => string;

/** Builds the per-request `turboStreamFrom` helper. */
export function createSourceTagHelper(
  signer: StreamNameSigner,
  options: Pick<ResolvedOptions, 'path' | 'tokenTtl'>,
  broker: Broker,
): (req: Request) => TurboStreamFrom {
  return function sourceTagFor(req: Request): TurboStreamFrom {
    // Taken before the handler reads the database: anything broadcast after this point is
    // replayed, and replaying a change the page already shows is harmless.
    const position = broker.position();
    const base = `${req.baseUrl ?? ''}${options.path === '/' ? '' : options.path}`;
    return function turboStreamFrom(source, attributes = {}) {
      const name = streamOf(source).name;
      const token = signer.sign(name, { ttl: options.tokenTtl, after: position });
      const src = `${base}/${token}`;
      const extra = Object.entries(attributes)
        .map(([key, value]) => ` ${escapeAttributeName(key)}="${escapeHtml(String(value))}"`)
        .join('');
      return `<turbo-stream-source src="${escapeHtml(src)}"${extra}></turbo-stream-source>`;
    };
  };
}

/** The stream a source stands for, registering a stream class met for the first time. */
export function streamOf(source: StreamSource): Stream {
  if (source instanceof Stream) {
    ensureRegistered(source.constructor as StreamClass);
    return source;
  }
  if (typeof source === 'function' && source.prototype instanceof Stream) {
    ensureRegistered(source);
    return new source();
  }
  const isRow =
    source !== null && typeof source === 'object' && typeof (source as Model).get === 'function';
  const stream = isRow ? streamFor(source as Model) : null;
  if (stream === null) {
    const model = isRow ? ((source as Model).constructor as ModelStatic<Model>) : null;
    if (model !== null && isThroughSchema(model)) {
      throw new TurboExpressError(
        ErrorCodes.INVALID_STREAM_CLASS,
        `turboStreamFrom() got a ${model.name} row read through Model.schema(), which has no ` +
          "stream: stream names carry no schema, and another schema's row with the same key " +
          'would share it. Subscribe to a Stream named by schema and key',
      );
    }
    const what = model !== null ? `a ${model.name} row` : typeof source;
    throw new TurboExpressError(
      ErrorCodes.INVALID_STREAM_CLASS,
      'turboStreamFrom() needs a stream, a stream class or a row whose model has a registered ' +
        `ModelStream; got ${what}` +
        (isRow
          ? ': register its ModelStream with registerStream() at startup, or export it from a ' +
            'streams.js (streams.ts under tsx) in a folder the discover option searches'
          : ''),
    );
  }
  return stream;
}

function ensureRegistered(streamClass: StreamClass): void {
  if (!isRegistered(streamClass)) registerStream(streamClass);
}

function escapeAttributeName(name: string): string {
  if (!/^[a-zA-Z_:][-a-zA-Z0-9_:.]*$/.test(name)) {
    throw new TurboExpressError(
      ErrorCodes.INVALID_OPTION,
      `"${name}" is not a valid attribute name`,
    );
  }
  return name;
}
