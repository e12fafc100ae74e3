-- POST the same JSON body (read from a file) to one path, with the bearer token:
--   wrk ... -s post.lua <url> -- <path> <body file> <token>
local path, body, token

function init(args)
    path = args[1]
    local file = io.open(args[2])
    body = file:read("*a")
    file:close()
    token = args[3]
end

function request()
    return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
