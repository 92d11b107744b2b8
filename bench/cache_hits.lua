-- wrk script: count the app's X-Cache answers (caching.cached_page) over every thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  hits, misses = 0, 0
end

function response(status, headers, body)
  local seen = headers["X-Cache"]
  if seen == "hit" then
    hits = hits + 1
  elseif seen == "miss" then
    misses = misses + 1
  end
end

function done(summary, latency, requests)
  local h, m = 0, 0
  for _, thread in ipairs(threads) do
    h = h + thread:get("hits")
    m = m + thread:get("misses")
  end
  io.write(string.format("X-Cache hits %d misses %d\n", h, m))
end
