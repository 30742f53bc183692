package admission

import "github.com/redis/go-redis/v9"

// beatScript scores replica ARGV[1] with now, drops those older than
// ARGV[2] ms and counts the rest.
var beatScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[2]))
return redis.call("ZCARD", KEYS[1])
`)

// slotScript takes a lease if fewer than ARGV[1] are live: KEYS[1] holds
// the leases scored by their expiry (ms, Redis's clock); the lease lives
// ARGV[2] ms unless renewed.
var slotScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
return 1
`)

// renewScript moves the expiry of the leases ARGV[2..] in KEYS[1] to
// ARGV[1] ms from now; a lease that has already expired stays gone (XX),
// since its slot may have been given to another request.
var renewScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
for i = 2, #ARGV do
  redis.call("ZADD", KEYS[1], "XX", now + ttl, ARGV[i])
end
if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("PEXPIRE", KEYS[1], ttl) end
return 0
`)

// gcra is the generic cell rate algorithm over one or more limits in one
// round trip, on Redis's clock, in whole microseconds (exact in Lua's
// doubles until the year 2255). Each key holds its theoretical arrival
// time; a request of cost c is admitted when it moves none of them further
// than its burst tolerance ahead of now, and then moves them all. ARGV[1]
// is 1 to book whatever the wait (usage beyond an estimate; a reservation
// for a time to come); then, per key, its emission interval, tolerance and
// cost. It returns {booked (1 or 0), the limit that waits longest
// (1-based, 0 for none), its wait in µs}; a refusal takes nothing.
// Written here rather than taken from redis_rate, whose float seconds
// admitted one request fewer than the burst on Redis's clock, and which
// cannot admit two limits together.
var gcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local force = ARGV[1] == "1"
local tats, worst, which = {}, 0, 0
for i, key in ipairs(KEYS) do
  local interval, tolerance, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  local tat = tonumber(redis.call("GET", key) or "0")
  if tat < now then tat = now end
  tats[i] = tat + interval * cost
  local wait = tats[i] - tolerance - now
  if wait > worst then worst, which = wait, i end
end
if worst > 0 and not force then return {0, which, worst} end
for i, key in ipairs(KEYS) do
  redis.call("SET", key, string.format("%.0f", tats[i]), "PX", math.ceil((tats[i] - now) / 1000) + 1)
end
return {1, which, worst}
`)

// admitScript is slotScript and gcra in one round trip, for a key with
// both a concurrency limit and rates: KEYS[1] holds the leases, KEYS[2..]
// the rates' arrival times. ARGV: the slots, the lease's TTL (ms), its
// member, then per rate its interval, tolerance and cost (µs, µs, cells).
// A full key refuses first, as slotScript does before gcra runs; a
// refusal takes nothing. It returns {1, which, wait} when admitted (slot
// leased, rates booked), {2, 0, 0} when the slots are all taken, {0,
// which, wait} when a rate refuses (the longest wait's limit, 1-based).
var admitScript = redis.NewScript(`
local t = redis.call("TIME")
local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", nowms)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then return {2, 0, 0} end
local tats, worst, which = {}, 0, 0
for i = 2, #KEYS do
  local j = i - 1
  local interval, tolerance, cost = tonumber(ARGV[3*j+1]), tonumber(ARGV[3*j+2]), tonumber(ARGV[3*j+3])
  local tat = tonumber(redis.call("GET", KEYS[i]) or "0")
  if tat < now then tat = now end
  tats[i] = tat + interval * cost
  local wait = tats[i] - tolerance - now
  if wait > worst then worst, which = wait, j end
end
if worst > 0 then return {0, which, worst} end
for i = 2, #KEYS do
  redis.call("SET", KEYS[i], string.format("%.0f", tats[i]), "PX", math.ceil((tats[i] - now) / 1000) + 1)
end
redis.call("ZADD", KEYS[1], nowms + tonumber(ARGV[2]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
return {1, which, worst}
`)

// ungcra gives back what a booked reservation took: ARGV[i] µs off
// KEYS[i]'s theoretical arrival time.
var ungcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call("GET", key) or "0") - tonumber(ARGV[i])
  if tat > now then
    redis.call("SET", key, string.format("%.0f", tat), "PX", math.ceil((tat - now) / 1000) + 1)
  else
    redis.call("DEL", key)
  end
end
return 0
`)
