-- Running the Windows build under Wine, for the #wine specs: with Wine's own
-- rstrtmgr.dll, or with the TEST STAND-IN rstrtmgr.dll built from
-- spec/helpers/standin_rstrtmgr.c (scripted answers, every call logged).
local H = require "spec.helpers"

local W = {}

W.WIN64 = H.BUILD .. "/win64"
W.WIN32 = H.BUILD .. "/win32"
-- lua.exe, lua54.dll and the module beside the stand-in rstrtmgr.dll and
-- wintool.exe
W.STANDIN = H.BUILD .. "/win64-standin"
W.STANDIN32 = H.BUILD .. "/win32-standin"

-- The UTF-16 code units of a UTF-8 string as the stand-in writes and reads
-- them: four lowercase hexadecimal digits each, "-" for the empty string.
-- Written here from the Unicode definition, independently of Windows'
-- converters. The same source runs inside the scripts under Wine.
W.U16_SOURCE = [[
local function u16(s)
  if s == "" then return "-" end
  local t = {}
  for _, c in utf8.codes(s) do
    if c >= 0x10000 then
      c = c - 0x10000
      t[#t + 1] = ("%04x%04x"):format(0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF))
    else
      t[#t + 1] = ("%04x"):format(c)
    end
  end
  return table.concat(t)
end
return u16
]]
W.u16 = assert(load(W.U16_SOURCE))()

-- The path under which Windows programs see a Linux path (drive Z:).
function W.winpath(path)
  return "Z:" .. path
end

-- What every script gets: R (a table the spec reads back), u16(s),
-- scenario(text) (rewrites the stand-in's scenario; it is read again at the
-- next start_session), log() (the stand-in's log so far) and mark(text) (a
-- line of the script's own in that log).
local PRELUDE = [[
R = {}
u16 = (function() ]] .. W.U16_SOURCE .. [[ end)()
function scenario(text)
  local f = assert(io.open(os.getenv("RM_STANDIN_SCENARIO"), "wb"))
  f:write(text)
  f:close()
end
function log()
  local f = io.open(os.getenv("RM_STANDIN_LOG"), "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
function mark(text)
  local f = assert(io.open(os.getenv("RM_STANDIN_LOG"), "ab"))
  f:write("mark ", text, "\n")
  f:close()
end
]]

-- Writes R as a Lua expression (integers exactly, strings byte for byte).
local DUMP = [[
local function dump(v, out)
  local t = type(v)
  if t == "table" then
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      out[#out + 1] = "["
      dump(k, out)
      out[#out + 1] = "]="
      dump(x, out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "string" or t == "number" or t == "boolean" or t == "nil" then
    out[#out + 1] = ("%q"):format(v)
  else
    out[#out + 1] = ("%q"):format(tostring(v))
  end
  return out
end
local ok, err = xpcall(dofile, debug.traceback, "script.lua")
local f = assert(io.open("result.lua", "wb"))
f:write("return ", table.concat(dump(R, {})))
f:close()
if not ok then
  io.stderr:write("script failed: ", tostring(err), "\n")
  os.exit(3)
end
]]

-- Runs code with the Windows Lua under Wine. opts:
--   standin   true: the stand-in rstrtmgr.dll answers (default: Wine's own)
--   scenario  the stand-in's first scenario (text)
--   debug     WINEDEBUG channels (default "-all")
--   dir       the directory of lua.exe and the module (default by standin)
--   engine    RESTARTMANAGER_ENGINE: "rstrtmgr" (the default: the stand-in
--             or Wine's own rstrtmgr.dll answers), "win32", or "auto" (the
--             variable unset: the module chooses)
--   store     the win32 engine's per-user store lives in this directory's
--             restartmanager\ (LOCALAPPDATA); default: a fresh one, removed
--             afterwards
--   env       more "NAME=value" words (quoted) for the environment
-- Returns a table: out (stdout and Wine's stderr, LF line ends), rc, R (the
-- script's table), log (the stand-in's log, LF line ends), dir (the
-- script's directory as Linux sees it, removed afterwards).
function W.run(code, opts)
  opts = opts or {}
  local exedir = opts.dir or (opts.standin and W.STANDIN or W.WIN64)
  local dir = H.tmpdir()
  H.write(dir .. "/script.lua", PRELUDE .. code)
  H.write(dir .. "/main.lua", DUMP)
  H.write(dir .. "/scenario", opts.scenario or "")
  local env = {
    "WINEPREFIX=" .. H.q(H.BUILD .. "/wine"),
    "WINEDEBUG=" .. H.q(opts.debug or "-all"),
    "LUA_CPATH=" .. H.q(W.winpath(exedir .. "/?.dll")),
    "LUA_PATH=" .. H.q(W.winpath(H.ROOT .. "/lua/?.lua;") .. W.winpath(H.ROOT
      .. "/lua/?/init.lua")),
    "RM_STANDIN_SCENARIO=" .. H.q(W.winpath(dir .. "/scenario")),
    "RM_STANDIN_LOG=" .. H.q(W.winpath(dir .. "/log")),
  }
  if opts.standin then
    -- native (the stand-in beside lua.exe) and never Wine's builtin
    env[#env + 1] = "WINEDLLOVERRIDES=rstrtmgr=n"
  end
  if opts.engine ~= "auto" then
    env[#env + 1] = "RESTARTMANAGER_ENGINE=" .. (opts.engine or "rstrtmgr")
  end
  local store = opts.store or (dir .. "/appdata")
  H.sh("mkdir -p " .. H.q(store))
  env[#env + 1] = "LOCALAPPDATA=" .. H.q(W.winpath(store))
  for _, e in ipairs(opts.env or {}) do env[#env + 1] = e end
  -- output into a file, not a pipe: the wineserver a run starts inherits
  -- the descriptors and would hold a pipe open until it exits
  local _, rc = H.sh("cd " .. H.q(dir) .. " && env "
    .. table.concat(env, " ") .. " wine " .. H.q(exedir .. "/lua.exe")
    .. " main.lua >out 2>&1 </dev/null")
  local out = H.read(dir .. "/out") or ""
  local res = { out = out:gsub("\r\n", "\n"), rc = rc, dir = dir }
  local chunk = H.read(dir .. "/result.lua")
  res.R = chunk and assert(load(chunk))() or {}
  res.log = (H.read(dir .. "/log") or ""):gsub("\r\n", "\n")
  H.sh("rm -rf " .. H.q(dir))
  return res
end

-- The lines of a log that match the Lua pattern at their start (all lines
-- without one).
function W.lines(log, pattern)
  local t = {}
  for line in log:gmatch("[^\n]+") do
    if not pattern or line:match("^" .. pattern) then t[#t + 1] = line end
  end
  return t
end

-- The part of a log between "mark from" and the next mark (or the end).
function W.section(log, from)
  local s = log:match("mark " .. from:gsub("%p", "%%%0") .. "\n(.-)mark ")
    or log:match("mark " .. from:gsub("%p", "%%%0") .. "\n(.*)$")
  return s or ""
end

-- Runs wintool.exe under Wine with the given words (already quoted).
function W.wintool(words)
  local dir = H.tmpdir()
  local _, rc = H.sh("cd " .. H.q(dir) .. " && env WINEPREFIX="
    .. H.q(H.BUILD .. "/wine") .. " WINEDEBUG=-all wine "
    .. H.q(W.STANDIN .. "/wintool.exe") .. " " .. words
    .. " >out 2>&1 </dev/null")
  local out = H.read(dir .. "/out") or ""
  H.sh("rm -rf " .. H.q(dir))
  return (out:gsub("\r\n", "\n")), rc
end

return W
