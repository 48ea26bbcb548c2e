"""Shared state on Redis, the scripts: each `State` operation as one Lua script, atomic on the server.

The same steps as `logic.py` (read it first; the test suite runs both). Time is the server's
(`TIME`), so instances with skewed clocks still agree on a window. A counter is a hash (`s`
spent, `h` held, `h:<hold>` one hold's amount) plus a sorted set of its holds by lease expiry.
Amounts are integers below 2^53, exact as Lua numbers; `int()` writes them without an exponent.
"""

from __future__ import annotations

PRELUDE = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function int(x) return string.format('%d', x) end
local function counter(h)
  local v = redis.call('HMGET', h, 's', 'h')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end
local function purge(h, z, t)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', t)
  if #old == 0 then return end
  local s, held = counter(h)
  for _, id in ipairs(old) do
    local a = redis.call('HGET', h, 'h:' .. id)
    if a then
      held = held - tonumber(a)
      redis.call('HDEL', h, 'h:' .. id)
    end
  end
  if held < 0 then held = 0 end
  if redis.call('EXISTS', h) == 1 then redis.call('HSET', h, 'h', int(held)) end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', t)
end
"""

# KEYS: one rate key per limit. ARGV: cost, limit, period_s for each. -> {failed index or 0, wait}
TAKE = """
local t = now()
local new = {}
for i, key in ipairs(KEYS) do
  local cost = tonumber(ARGV[3*i-2])
  local limit = tonumber(ARGV[3*i-1])
  local period = tonumber(ARGV[3*i])
  if cost > limit then cost = limit end
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < t then tat = t end
  tat = tat + cost * period / limit
  local wait = tat - period - t
  if wait > 0.000001 then return {i, string.format('%.6f', wait)} end
  new[i] = tat
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.6f', new[i]), 'PX', math.ceil((new[i] - t) * 1000) + 1)
end
return {0, '0'}
"""

# KEYS[1]: a rate key. ARGV: cost (may be negative), limit, period_s.
ADJUST = """
local t = now()
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < t then tat = t end
tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[3]) / tonumber(ARGV[2])
if tat <= t then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - t) * 1000) + 1)
end
return 1
"""

# KEYS: hash, zset of each counter. ARGV: hold, lease_s, force (1/0), then amount, limit ('' for
# none), ttl_s of each. -> {failed index or 0, spent1, held1, spent2, held2, ...}
RESERVE = """
local t = now()
local hold, lease, force = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local n = #KEYS / 2
local out, fresh = {0}, {}
for i = 1, n do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  purge(h, z, t)
  local s, held = counter(h)
  out[2*i], out[2*i+1] = s, held
  fresh[i] = redis.call('HEXISTS', h, 'h:' .. hold) == 0
end
if not force then
  for i = 1, n do
    local amount, limit = tonumber(ARGV[3*i+1]), ARGV[3*i+2]
    if fresh[i] and limit ~= '' and out[2*i] + out[2*i+1] + amount > tonumber(limit) then
      out[1] = i
      return out
    end
  end
end
for i = 1, n do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  local ttl = tonumber(ARGV[3*i+3])
  if fresh[i] then
    out[2*i+1] = out[2*i+1] + tonumber(ARGV[3*i+1])
    redis.call('HSET', h, 'h:' .. hold, ARGV[3*i+1])
    redis.call('ZADD', z, t + lease, hold)
    redis.call('EXPIRE', z, ttl)
  end
  redis.call('HSET', h, 's', int(out[2*i]), 'h', int(out[2*i+1]))
  redis.call('EXPIRE', h, ttl)
end
return out
"""

# KEYS: hash, zset of each counter. ARGV: hold, then amount, ttl_s of each.
# -> {spent1, held1, spent2, held2, ...}
SETTLE = """
local t = now()
local hold = ARGV[1]
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  purge(h, z, t)
  local s, held = counter(h)
  local a = redis.call('HGET', h, 'h:' .. hold)
  if a then
    held = held - tonumber(a)
    if held < 0 then held = 0 end
    redis.call('HDEL', h, 'h:' .. hold)
    redis.call('ZREM', z, hold)
  end
  s = s + tonumber(ARGV[2*i])
  redis.call('HSET', h, 's', int(s), 'h', int(held))
  redis.call('EXPIRE', h, tonumber(ARGV[2*i+1]))
  out[2*i-1], out[2*i] = s, held
end
return out
"""

# KEYS: hash, zset of each counter. ARGV: amount, ttl_s of each. -> as SETTLE
SEED = """
local t = now()
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  if redis.call('HEXISTS', h, 's') == 0 then
    redis.call('HSET', h, 's', ARGV[2*i-1])
    redis.call('EXPIRE', h, tonumber(ARGV[2*i]))
  end
  purge(h, z, t)
  out[2*i-1], out[2*i] = counter(h)
end
return out
"""

# KEYS: hash, zset of each counter. -> as SETTLE
COUNTERS = """
local t = now()
local out = {}
for i = 1, #KEYS / 2 do
  purge(KEYS[2*i-1], KEYS[2*i], t)
  out[2*i-1], out[2*i] = counter(KEYS[2*i-1])
end
return out
"""

# KEYS[1]: the table's hash. ARGV: name, value (JSON), at, ttl_s. A record is stored as
# "<at> <expires> <value>"; expired records of the table are dropped on the way.
PUBLISH = """
local t = now()
local at = tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local a, e = string.match(all[i+1], '^(%S+) (%S+) ')
  if tonumber(e) <= t then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == ARGV[1] and tonumber(a) > at then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1],
  string.format('%.6f %.6f ', at, t + tonumber(ARGV[4])) .. ARGV[2])
return 1
"""

SCRIPTS = {"take": TAKE, "adjust": ADJUST, "reserve": RESERVE, "settle": SETTLE, "seed": SEED,
           "counters": COUNTERS, "publish": PUBLISH}
