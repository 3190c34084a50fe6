"""The Lua scripts behind ``redis.py``: each runs atomically inside Redis, on Redis's clock.

Sliding-window log: a window is a sorted set of ``<member>|<cost>`` scored by the time
(ms) it was counted, plus a counter key holding the sum of the costs, so a decision costs
O(log n) plus the entries that expired since the last one. One clock (Redis ``TIME``)
serves every replica, so replicas' clock skew cannot widen a window.

Budget: a hash (``spent``, ``reserved``) plus a sorted set of reservations
``<member>|<amount>`` scored by when they lapse, so a replica that dies mid-request
cannot hold money reserved for ever.
"""

from __future__ import annotations

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function amount_of(member)
  return tonumber(string.match(member, '|(%d+)$')) or 0
end
"""

# KEYS: per charge, the window's set and its counter. ARGV: member, then per charge
# limit, window_ms, cost. Returns {admitted, then per charge used, fits, reset_ms, retry_ms}
# where retry_ms is -1 when the charge can never fit.
TAKE_WINDOW = (
    _COMMON
    + """
local function prune(z, counter, cutoff)
  local used = tonumber(redis.call('GET', counter) or '0')
  while true do
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, 500)
    if #old == 0 then break end
    for _, m in ipairs(old) do used = used - amount_of(m) end
    redis.call('ZREM', z, unpack(old))
  end
  if used < 0 or redis.call('EXISTS', z) == 0 then used = 0 end
  return used
end
local function oldest_ms(z, window, now)
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if #first == 0 then return 0 end
  return math.max(0, tonumber(first[2]) + window - now)
end
local function retry_ms(z, used, cost, limit, window, now)
  if cost > limit then return -1 end
  local need = used + cost - limit
  local freed, start = 0, 0
  while true do
    local batch = redis.call('ZRANGE', z, start, start + 199, 'WITHSCORES')
    if #batch == 0 then return 0 end
    for j = 1, #batch, 2 do
      freed = freed + amount_of(batch[j])
      if freed >= need then return math.max(0, tonumber(batch[j + 1]) + window - now) end
    end
    start = start + 200
  end
end

local now = now_ms()
local member = ARGV[1]
local n = #KEYS / 2
local used, fits = {}, {}
local admitted = 1
for i = 1, n do
  local limit, window, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  used[i] = prune(KEYS[2 * i - 1], KEYS[2 * i], now - window)
  fits[i] = (used[i] + cost <= limit)
  if not fits[i] then admitted = 0 end
end
local out = {admitted}
for i = 1, n do
  local z, counter = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, window, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  if admitted == 1 then
    redis.call('ZADD', z, now, member .. '|' .. ARGV[3 * i + 1])
    used[i] = used[i] + cost
  end
  if used[i] > 0 then
    redis.call('SET', counter, used[i], 'PX', window + 1000)
    redis.call('PEXPIRE', z, window + 1000)
  else
    redis.call('DEL', counter)
  end
  local retry = 0
  if not fits[i] then retry = retry_ms(z, used[i], cost, limit, window, now) end
  out[#out + 1] = used[i]
  out[#out + 1] = fits[i] and 1 or 0
  out[#out + 1] = oldest_ms(z, window, now)
  out[#out + 1] = retry
end
return out
"""
)

# KEYS: per charge, set and counter. ARGV: member, then per charge old cost, new cost.
ADJUST_WINDOW = (
    _COMMON
    + """
local member = ARGV[1]
for i = 1, #KEYS / 2 do
  local z, counter = KEYS[2 * i - 1], KEYS[2 * i]
  local old = member .. '|' .. ARGV[2 * i]
  local score = redis.call('ZSCORE', z, old)
  if score then
    redis.call('ZREM', z, old)
    redis.call('ZADD', z, score, member .. '|' .. ARGV[2 * i + 1])
    if redis.call('EXISTS', counter) == 1 then
      redis.call('INCRBY', counter, tonumber(ARGV[2 * i + 1]) - tonumber(ARGV[2 * i]))
    end
  end
end
return 1
"""
)

# KEYS: per budget, its hash and its reservations. ARGV: member, ttl_ms, then per budget
# cap, amount, expire_at_ms (0: never). Returns {2, unseeded indexes...} when a budget has
# no figure yet, else {admitted, then per budget spent, reserved, fits}.
RESERVE_BUDGET = (
    _COMMON
    + """
local n = #KEYS / 2
local missing = {2}
for i = 1, n do
  if redis.call('HEXISTS', KEYS[2 * i - 1], 'spent') == 0 then missing[#missing + 1] = i - 1 end
end
if #missing > 1 then return missing end
local now = now_ms()
local member, ttl = ARGV[1], tonumber(ARGV[2])
local spent, reserved, fits = {}, {}, {}
local admitted = 1
for i = 1, n do
  local h, r = KEYS[2 * i - 1], KEYS[2 * i]
  local cap, amount = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local lapsed = redis.call('ZRANGEBYSCORE', r, '-inf', now)
  local freed = 0
  for _, m in ipairs(lapsed) do freed = freed + amount_of(m) end
  if #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', r, '-inf', now)
    redis.call('HINCRBY', h, 'reserved', -freed)
  end
  spent[i] = tonumber(redis.call('HGET', h, 'spent') or '0')
  reserved[i] = tonumber(redis.call('HGET', h, 'reserved') or '0')
  if reserved[i] < 0 then reserved[i] = 0 end
  fits[i] = (spent[i] + reserved[i] + amount <= cap)
  if not fits[i] then admitted = 0 end
end
local out = {admitted}
for i = 1, n do
  local h, r = KEYS[2 * i - 1], KEYS[2 * i]
  local amount, expire_at = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  if admitted == 1 then
    redis.call('ZADD', r, now + ttl, member .. '|' .. ARGV[3 * i + 1])
    redis.call('HINCRBY', h, 'reserved', amount)
    reserved[i] = reserved[i] + amount
    if expire_at > 0 then redis.call('PEXPIREAT', r, expire_at) end
  end
  out[#out + 1] = spent[i]
  out[#out + 1] = reserved[i]
  out[#out + 1] = fits[i] and 1 or 0
end
return out
"""
)

# KEYS: per budget, hash and reservations. ARGV: member, amount reserved, spent.
SETTLE_BUDGET = """
local member, amount, spent = ARGV[1], ARGV[2], ARGV[3]
for i = 1, #KEYS / 2 do
  local h, r = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('ZREM', r, member .. '|' .. amount) == 1 and tonumber(amount) > 0 then
    redis.call('HINCRBY', h, 'reserved', -tonumber(amount))
  end
  -- A budget with no figure is re-seeded from the request log, which holds this spend.
  if redis.call('HEXISTS', h, 'spent') == 1 then redis.call('HINCRBY', h, 'spent', spent) end
end
return 1
"""

# KEYS: the hash. ARGV: spent, expire_at_ms (0: never).
SEED_BUDGET = """
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
end
return 1
"""

# KEYS: the set of live replicas. ARGV: this replica's id, how long a replica counts as alive (ms).
# Returns how many replicas are alive.
HEARTBEAT = (
    _COMMON
    + """
local now = now_ms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
"""
)

# KEYS: the hash. ARGV: spent to add where the budget has a figure.
ADD_SPEND = """
if redis.call('HEXISTS', KEYS[1], 'spent') == 1 then redis.call('HINCRBY', KEYS[1], 'spent', ARGV[1]) end
return 1
"""
