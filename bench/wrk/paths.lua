-- GET a random path from a file of paths (one per line), with the bearer token:
--   wrk ... -s paths.lua <url> -- <paths file> <token>
local paths = {}
local token

function init(args)
    for line in io.lines(args[1]) do
        paths[#paths + 1] = line
    end
    token = args[2]
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
    return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. token})
end
