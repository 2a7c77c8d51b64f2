--- JSON for the log, the command-line tool and policy files.
--
-- Writing is done here, the same whatever is installed: one schema, keys in
-- a fixed order (`KEY_ORDER`, then the others sorted), integers exact,
-- an empty table written `[]` (every table of the documents that may be
-- empty is a list) unless marked with `object`. Reading (policy files)
-- needs `dkjson` (Debian: lua-dkjson) or `cjson` (Debian: lua-cjson).
-- @module restartmanager.json
-- @alias J
local J = {}

--- The order keys are written in (the others follow, sorted).
J.KEY_ORDER = { "time", "command", "ok", "status", "step", "phase", "pid",
  "start_time", "name", "type", "service", "systemd", "restartable",
  "executable", "session_id", "action", "why", "force", "restart",
  "restart_why", "outcome", "restart_outcome", "code", "message", "reason",
  "files", "processes", "services", "dry_run", "stop", "spare",
  "reboot_reasons", "uninspected", "uninspected_pids", "missing", "refused",
  "error", "usage", "run", "how", "pids", "apps", "policy" }

local rank = {}
for i, k in ipairs(J.KEY_ORDER) do rank[k] = i end

local OBJECT = {}

--- Marks a table to be written as an object even when it is empty.
-- @tparam table t
-- @treturn table t
function J.object(t)
  return setmetatable(t, OBJECT)
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b",
  ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- s with each byte that is not part of valid UTF-8 replaced by U+FFFD:
-- JSON text is UTF-8, and names and paths from /proc are bytes.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, at = utf8.len(s, i)
    if len then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, at - 1) .. "\u{FFFD}"
    i = at + 1
  end
  return table.concat(out)
end

local function string_text(s)
  return '"' .. valid_utf8(s):gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function number_text(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    return ("%d"):format(n)
  end
  for digits = 14, 17 do
    local s = ("%." .. digits .. "g"):format(n)
    if tonumber(s) == n then return s end
  end
  return ("%.17g"):format(n)
end

-- whether t is a list: keys 1..n and nothing else (an empty table is one)
local function is_list(t)
  if getmetatable(t) == OBJECT then return false end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t
end

local function key_before(a, b)
  local ra, rb = rank[a], rank[b]
  if ra and rb then return ra < rb end
  if ra or rb then return ra ~= nil end
  return a < b
end

local function encode(v, out, seen)
  local t = type(v)
  if v == nil then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    out[#out + 1] = number_text(v)
  elseif t == "string" then
    out[#out + 1] = string_text(v)
  elseif t == "table" then
    if seen[v] then error("cannot write a table that contains itself", 0) end
    seen[v] = true
    if is_list(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, seen)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys, key_before)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = string_text(k)
        out[#out + 1] = ":"
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        encode(x, out, seen)
      end
      out[#out + 1] = "}"
    end
    seen[v] = nil
  else
    error("cannot write a " .. t .. " as JSON", 0)
  end
end

--- Encodes a value: tables whose keys are 1..n are arrays (an empty table
-- is `[]` unless marked with `object`), other tables objects. Raises on a
-- function, a userdata or a cycle.
-- @param value
-- @treturn string
function J.encode(value)
  local out = {}
  encode(value, out, {})
  return table.concat(out)
end

local reader

local function load_reader()
  if reader ~= nil then return reader end
  local ok, dk = pcall(require, "dkjson")
  if ok and type(dk) == "table" and dk.decode then
    reader = {
      name = "dkjson",
      decode = function(s)
        local v, _, err = dk.decode(s, 1, nil)
        if err then return nil, err end
        return v
      end,
    }
    return reader
  end
  local cok, cjson = pcall(require, "cjson")
  if cok and type(cjson) == "table" and cjson.decode then
    cjson = cjson.new and cjson.new() or cjson
    reader = {
      name = "cjson",
      decode = function(s)
        local ok2, v = pcall(cjson.decode, s)
        if not ok2 then return nil, tostring(v) end
        return v
      end,
    }
    return reader
  end
  reader = false
  return reader
end

--- The library that reads JSON, when one is installed.
-- @treturn string|nil "dkjson" or "cjson", or nil
function J.available()
  local r = load_reader()
  return r and r.name or nil
end

--- Decodes a JSON text (JSON's null becomes nil). Raises when neither
-- dkjson nor cjson is installed.
-- @tparam string text
-- @return[1] the value
-- @treturn[2] nil
-- @treturn[2] string what is wrong with the text
function J.decode(text)
  local r = load_reader()
  if not r then
    error("reading JSON needs lua-dkjson or lua-cjson (neither is installed)",
      2)
  end
  return r.decode(text)
end

return J
