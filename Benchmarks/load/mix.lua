-- wrk script: a 50/50 mix of OpenAI embedding and Cohere-style rerank requests.
-- Usage: wrk -t4 -c200 -d60s --latency -s mix.lua http://127.0.0.1:PORT
local embed = '{"input": ["The capital of China is Beijing.", "Gravity is a force that attracts two bodies."]}'
local rerank = '{"query": "What is the capital of China?", "documents": ["The capital of China is Beijing.", "Gravity attracts bodies.", "Paris is the capital of France."]}'
local counter = 0

request = function()
    counter = counter + 1
    if counter % 2 == 0 then
        return wrk.format("POST", "/v1/embeddings", {["Content-Type"] = "application/json"}, embed)
    end
    return wrk.format("POST", "/v1/rerank", {["Content-Type"] = "application/json"}, rerank)
end

done = function(summary, latency, requests)
    io.write(string.format("requests: %d  duration_s: %.1f  throughput_rps: %.1f\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6)))
    io.write(string.format("latency_ms p50: %.2f  p90: %.2f  p99: %.2f  max: %.2f\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
    io.write(string.format("errors: connect %d read %d write %d timeout %d status %d\n",
        summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
