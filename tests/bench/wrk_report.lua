-- wrk_report.lua - prints one machine-readable summary line at the end of a wrk run:
-- WRKCSV requests duration_us rps p50_ms p99_ms mean_ms non2xx socket_errors
-- (used alone for GET runs, and loaded by the other wrk_*.lua scripts).
function done(summary, latency, requests)
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  io.write(string.format("WRKCSV %d %d %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests, summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, e.status, sock))
end
