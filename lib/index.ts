/**
 * turbo-express: live Turbo Stream updates from Sequelize models to Express pages over
 * Server-Sent Events.
 *
 * One broadcast end to end: `Message.create()` commits; the MessageStream's `onSave` calls
 * `room.stream.append('chat/message', { message }, { target: 'messages' })`; the partial
 * `views/chat/message.pug` renders once; the broker numbers the message on stream `Room:1`; every
 * page that wrote `!= turboStreamFrom(room)` receives
 * `<turbo-stream action="append" target="messages"><template>...</template></turbo-stream>`.
 *
 * @packageDocumentation
 */
export { turboStreams } from './middleware';
export { Stream } from './stream';
export { ModelStream } from './model-stream';
export { registerStream, resolveStream, streamFor } from './registry';
export { discoverStreams } from './discovery';
export { broadcastSaved, broadcastDeleted } from './model-hooks';
export { broadcastsSettled } from './commit-queue';
export { flushRefreshes } from './refresh-debounce';
export { withoutBroadcasts, currentContext } from './context';
export { recordBroadcasts, logBroadcastError } from './broadcaster';
export { BroadcastRecorder } from './recorder';
export {
  acceptsTurboStream,
  TurboStreamResponse,
  TURBO_STREAM_MIME,
} from './turbo-stream-response';
export { turboStreamTag } from './turbo-stream';
export { MemoryBroker } from './broker/memory';
export { TurboExpressError, ErrorCodes } from './errors';
export { viewsPath } from './views-path';

export type { TurboStreamsMiddleware, TurboStreamsStats } from './middleware';
export type { TurboStreamsOptions } from './options';
export type { StreamClass } from './stream';
export type { ModelStreamClass, HookOptions } from './model-stream';
export type { ActionOptions, ActionWithContent, RefreshOptions } from './action-args';
export type { ContentOptions, ErrorHandler, RecordOptions } from './broadcaster';
export type { ExplicitBroadcastOptions } from './model-hooks';
export type { RefreshLaterOptions } from './refresh-debounce';
export type { BroadcastContext } from './context';
export type { RecordedBroadcast } from './recorder';
export type { TurboStreamFrom, StreamSource } from './source-tag';
export type { TurboStreamAction, TargetOptions, TurboStreamAttributes } from './turbo-stream';
export type {
  Broker,
  BrokerMessage,
  DeliverFn,
  BrokerErrorFn,
  HistoryOptions,
} from './broker/broker';
export type { ErrorCode, ErrorContext } from './errors';
export type { Locals } from './render';
export { RedisBroker } from './broker/redis';
export { PostgresBroker } from './broker/postgres';
export type { RedisBrokerOptions, RedisConnectionOptions } from './broker/redis';
export type { PostgresBrokerOptions, PostgresConnectionOptions } from './broker/postgres';
