-- A unique person each request (a unique email, so never a duplicate): POST /api/v1/clients, or
-- with "upsert" a PUT /api/v1/clients/by-ref/bench-single/<id> of a new ref each time:
--   wrk ... -s create.lua <url> -- <token> <run id> [upsert]
local token, run, upsert
local counter = 0
local threads_started = 0

-- Runs in the main Lua state: numbers each thread (a global of the thread's own state).
function setup(thread)
    threads_started = threads_started + 1
    thread:set("thread_number", threads_started)
end

function init(args)
    token = args[1]
    run = args[2]
    upsert = args[3] == "upsert"
end

function request()
    counter = counter + 1
    -- Unique across runs (the run id is the time), modes, threads and requests.
    local key = string.format("%s-%d-%d", run, thread_number, counter)
    local body = string.format(
        '{"kind": "person", "last_name": "Бенчмарков", "first_name": "Тест%d", ' ..
        '"emails": [{"value": "%s-%s@load.example"}], "tags": ["load"]}',
        counter, upsert and "upsert" or "bench", key)
    local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
    if upsert then
        return wrk.format("PUT", "/api/v1/clients/by-ref/bench-single/" .. key, headers, body)
    end
    return wrk.format("POST", "/api/v1/clients", headers, body)
end
