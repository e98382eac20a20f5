/** Sizes and durations per mode. Quick must stay well under 60 s for three contestants. */
export interface Profile {
  mode: 'quick' | 'full';
  /** Subscriber counts for the latency figure. */
  latencySubscribers: number[];
  /** Light load, so latency is not a throughput figure in disguise. */
  latencyRate: number;
  /**
   * The rate below 1,000 subscribers, still light there: enough broadcasts for a p99 that is not
   * just the slowest of a few dozen, and for a fixed cost per broadcast that is not mostly the
   * process's background work.
   */
  latencyRateFew: number;
  latencyDurationMs: number;
  /** Idle subscriber counts for the RSS slope. */
  memorySubscribers: number[];
  /** Subscriber count for max-rate, CPU, payload and burst figures. */
  throughputSubscribers: number;
  /** Broadcast rates tried in order; stops at the first that fails. */
  rateSteps: number[];
  stepDurationMs: number;
  /** A step fails if p99 exceeds this or messages are still missing after the drain. */
  p99BoundMs: number;
  payloadSizes: number[];
  /** The payload size used for all other figures. */
  defaultPayload: number;
  payloadRate: number;
  payloadDurationMs: number;
  burstCount: number;
  /** Messages per POST in the one-turn burst; burstCount / burstPerPost POSTs in all. */
  burstPerPost: number;
  drainMs: number;
  /**
   * Broadcasts sent to one subscriber before any figure, at `warmUpRate`: V8 optimises a function
   * called once per request only after thousands of calls, and until then compiling takes a
   * large share of each broadcast's CPU (measured with callgrind: about 40 % in a server's first
   * 500 broadcasts).
   */
  warmUpBroadcasts: number;
  warmUpRate: number;
  /** How many subscribers parse messages for latency. */
  sample: number;
}

const QUICK: Profile = {
  mode: 'quick',
  latencySubscribers: [1, 100, 1000],
  latencyRate: 20,
  latencyRateFew: 20,
  latencyDurationMs: 1000,
  memorySubscribers: [500, 1000, 2000],
  throughputSubscribers: 1000,
  rateSteps: [50, 100, 150, 200, 300, 400, 800],
  stepDurationMs: 1000,
  p99BoundMs: 100,
  payloadSizes: [256, 1024, 4096, 32768],
  defaultPayload: 1024,
  payloadRate: 10,
  payloadDurationMs: 1000,
  // As in the full profile: a smaller burst is mostly the fixed latency of its first POST.
  burstCount: 200,
  burstPerPost: 20,
  drainMs: 2000,
  warmUpBroadcasts: 300,
  warmUpRate: 300,
  sample: 200,
};

const FULL: Profile = {
  mode: 'full',
  latencySubscribers: [1, 100, 1000, 10000],
  // 5/s keeps even a 15 µs/delivery server under half a core at 10,000 subscribers.
  latencyRate: 5,
  latencyRateFew: 50,
  latencyDurationMs: 8000,
  memorySubscribers: [1000, 5000, 10000],
  throughputSubscribers: 1000,
  rateSteps: [25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600],
  stepDurationMs: 3000,
  p99BoundMs: 100,
  payloadSizes: [256, 1024, 4096, 32768],
  defaultPayload: 1024,
  payloadRate: 10,
  payloadDurationMs: 4000,
  burstCount: 200,
  burstPerPost: 20,
  drainMs: 5000,
  warmUpBroadcasts: 4000,
  warmUpRate: 400,
  sample: 200,
};

export function profileFor(quick: boolean): Profile {
  return quick ? QUICK : FULL;
}
