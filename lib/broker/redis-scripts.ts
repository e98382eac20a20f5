import crypto from 'node:crypto';

/**
 * The Lua scripts of the Redis broker. Each runs atomically on the server, which is what keeps the
 * shared log, the per-stream histories and their trim records in step without a lock.
 *
 * Keys: `epoch` (a random value, gone after FLUSHALL or a restart without persistence, replaced
 * when the server's `run_id` is not the one `server` recorded), `server` (that run id), `seq` (a
 * counter of every message, to notice a message the log dropped before a reader saw it), `first`
 * (the id of the epoch's first message, before which nothing can have been trimmed), `log`
 * (one Redis Stream of every message, read by every process), and per stream name `history` (a
 * Redis Stream of that name's messages, under the same ids as in the log, each with its epoch)
 * with `floor`, the id of the newest message trimmed from that history.
 */

/** Compares Redis Stream ids and trims a history, recording how far it was trimmed. */
const TRIM = `
local function parseId(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end

local function isOlder(a, b)
  local am, as = parseId(a)
  local bm, bs = parseId(b)
  return am < bm or (am == bm and as < bs)
end

local function now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Whether a history of this epoch may have expired before cutoff: only if the epoch's first
-- message is older than cutoff, or unknown while some message was sent.
local function mayHaveExpired(firstKey, seqKey, cutoff)
  local first = redis.call('GET', firstKey)
  if not first then return redis.call('EXISTS', seqKey) == 1 end
  return parseId(first) <= cutoff
end

local function raiseFloor(floorKey, id)
  local floor = redis.call('GET', floorKey)
  if not floor or isOlder(floor, id) then redis.call('SET', floorKey, id, 'KEEPTTL') end
end

-- Drops entries older than cutoff (ms) and beyond the newest 'size', raising the floor to the
-- newest one dropped.
local function trim(historyKey, floorKey, size, cutoff)
  local dropped = 0
  local newest = nil
  if cutoff > 0 then
    local old = redis.call('XRANGE', historyKey, '-', '(' .. cutoff .. '-0')
    dropped = #old
    if dropped > 0 then newest = old[dropped][1] end
  end
  local excess = redis.call('XLEN', historyKey) - size
  if excess > dropped then
    local old = redis.call('XRANGE', historyKey, '-', '+', 'COUNT', excess)
    newest = old[#old][1]
  end
  if newest then
    redis.call('XTRIM', historyKey, 'MINID', newest)
    redis.call('XDEL', historyKey, newest)
    raiseFloor(floorKey, newest)
  end
end
`;

/**
 * KEYS: epoch, seq, log, history, floor, first.
 * ARGV: stream, data, size, maxAge, logSize, new epoch.
 * Returns { epoch, id }.
 */
const PUBLISH = `${TRIM}
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[1], epoch)
end
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
  'e', epoch, 'n', seq, 's', ARGV[1], 'd', ARGV[2])
if seq == 1 then redis.call('SET', KEYS[6], id) end

local size = tonumber(ARGV[3])
local maxAge = tonumber(ARGV[4])
local cutoff = now() - maxAge
if redis.call('EXISTS', KEYS[4]) == 0 and mayHaveExpired(KEYS[6], KEYS[2], cutoff) then
  -- A history that expired took its floor with it. It expired because its newest message was
  -- older than maxAge, so whatever came before the cutoff counts as trimmed.
  redis.call('SET', KEYS[5], math.max(cutoff, 0) .. '-0')
end
redis.call('XADD', KEYS[4], id, 'd', ARGV[2], 'e', epoch)
trim(KEYS[4], KEYS[5], size, cutoff)
redis.call('PEXPIRE', KEYS[4], math.max(maxAge, 1))
redis.call('PEXPIRE', KEYS[5], math.max(maxAge, 1))
return { epoch, id }
`;

/**
 * KEYS: epoch, history, floor, first, seq, log. ARGV: epoch, after, up to, size, maxAge.
 * Returns the entries after `after` up to `up to`, or false when they cannot be proven complete.
 */
const REPLAY = `${TRIM}
-- The epoch an entry was written under; nil for one written by a version that recorded none.
local function epochOf(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then return fields[i + 1] end
  end
  return nil
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local size = tonumber(ARGV[4])
local maxAge = tonumber(ARGV[5])
local cutoff = now() - maxAge
local afterMs = parseId(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- No history: either none was ever kept, or its newest message was older than maxAge. An id
  -- newer than the cutoff, or one at the end of the log (nothing at all came after it, as on a
  -- quiet app), proves that nothing came after it.
  if afterMs > cutoff or not mayHaveExpired(KEYS[4], KEYS[5], cutoff) then return {} end
  local newest = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)
  if #newest == 0 or not isOlder(ARGV[2], newest[1][1]) then return {} end
  -- Nothing sent under this epoch yet (the log holds only what came before it): nothing missed.
  local newestEpoch = epochOf(newest[1][2])
  if newestEpoch ~= nil and newestEpoch ~= ARGV[1] then return {} end
  return false
end
trim(KEYS[2], KEYS[3], size, cutoff)
local floor = redis.call('GET', KEYS[3])
if floor and isOlder(ARGV[2], floor) then return false end
-- Only this epoch's messages: a history kept across a restart still holds the old one's.
-- (Entries written by a version that kept no epoch in histories count as this epoch's.)
local found = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '(' .. ARGV[2], ARGV[3])) do
  local epoch = epochOf(entry[2])
  if epoch == nil or epoch == ARGV[1] then table.insert(found, entry) end
end
return found
`;

/**
 * Gives the keys a new epoch when the Redis server is not the one they last saw (`run_id` changes
 * with every restart and failover). A restart may have lost the newest messages (no persistence,
 * an older RDB snapshot, AOF fsynced once a second) while keeping the epoch and older history: a
 * replay would then skip what was lost without noticing. Under a new epoch every older id is
 * answered with a refresh instead. An empty run id (INFO refused) changes nothing.
 */
const RESTARTED = `
local function currentEpoch(epochKey, serverKey, newEpoch, runId)
  if runId ~= '' and redis.call('GET', serverKey) ~= runId then
    redis.call('SET', serverKey, runId)
    redis.call('SET', epochKey, newEpoch)
    return newEpoch
  end
  local epoch = redis.call('GET', epochKey)
  if not epoch then
    epoch = newEpoch
    redis.call('SET', epochKey, epoch)
  end
  return epoch
end
`;

/**
 * KEYS: epoch, seq, log, server. ARGV: new epoch, run id.
 * Returns { epoch, newest id in the log, its seq }: where a starting process begins reading.
 */
const START = `${RESTARTED}
local epoch = currentEpoch(KEYS[1], KEYS[4], ARGV[1], ARGV[2])
local seq = redis.call('GET', KEYS[2]) or '0'
local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = '0-0'
if #newest > 0 then id = newest[1][1] end
return { epoch, id, seq }
`;

/**
 * KEYS: epoch, server. ARGV: new epoch, run id. Returns the epoch now in force: a new one when the
 * server restarted since the keys last saw it or the epoch key is gone (FLUSHALL, no persistence).
 */
const RECONNECTED = `${RESTARTED}
return currentEpoch(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
`;

/** A script with its SHA-1, run by EVALSHA and loaded by EVAL when the server lacks it. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
  readonly keyCount: number;
}

function script(source: string, keyCount: number): LuaScript {
  const sha = crypto.createHash('sha1').update(source).digest('hex');
  return { source, sha, keyCount };
}

/** Records one message in the log and in its stream's history; see PUBLISH above. */
export const PUBLISH_SCRIPT = script(PUBLISH, 6);
/** Reads a stream's history after an id, or answers that it cannot prove it complete. */
export const REPLAY_SCRIPT = script(REPLAY, 6);
/** Finds where a starting process begins reading the log. */
export const START_SCRIPT = script(START, 4);
/** Gives a new epoch if the server restarted since the keys last saw it. */
export const RECONNECTED_SCRIPT = script(RECONNECTED, 2);
