-- wrk_mixed.lua - the memory run's mixed load: lookups, searches and a few buys
-- (BENCH_BUY_PCT percent, default 2) over books 0..BENCH_BOOKS-1.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

local books = tonumber(os.getenv("BENCH_BOOKS") or "7")
local buy_pct = tonumber(os.getenv("BENCH_BUY_PCT") or "2")
local topics = {"distributed%20systems", "undergraduate%20school", "new", "no%20such%20topic"}

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local r = math.random(1, 100)
  local id = math.random(0, books - 1)
  if r <= buy_pct then
    return wrk.format("POST", "/bazar/purchase/" .. id)
  elseif r <= 75 then
    return wrk.format("GET", "/bazar/info/" .. id)
  else
    return wrk.format("GET", "/bazar/search/" .. topics[math.random(1, #topics)])
  end
end
