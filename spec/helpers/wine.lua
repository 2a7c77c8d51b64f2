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
-- Wine converts between Windows' UTF-16 and the Unix side's bytes with the
-- locale's character set: every Windows program gets a UTF-8 one, whatever
-- environment the specs run in (a minimal one has none: ASCII)
W.LOCALE = "LC_ALL=C.UTF-8"
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
--   display   the X display (W.xvfb) for programs with windows
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
    "WINEPREFIX=" .. H.q(H.BUILD .. "/wine"), W.LOCALE,
    "WINEDEBUG=" .. H.q(opts.debug or "-all"),
    "LUA_CPATH=" .. H.q(W.winpath(exedir .. "/?.dll")),
    -- the project's modules, then Debian's pure-Lua ones (argparse, dkjson)
    "LUA_PATH=" .. H.q(W.winpath(H.ROOT .. "/lua/?.lua;") .. W.winpath(H.ROOT
      .. "/lua/?/init.lua;") .. W.winpath("/usr/share/lua/5.4/?.lua")),
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
  if opts.display then env[#env + 1] = "DISPLAY=" .. opts.display end
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

-- ---------------------------------------------------------------------
-- Real Windows programs for the win32 engine's specs.

W.WINHOLDER = W.STANDIN .. "/winholder.exe"

-- An X server of the spec's own (Xvfb, for windows): the first free display
-- number from 120 (the next one when another server takes it first);
-- stopped by its pid with stop(). Fields: display (":N").
function W.xvfb()
  for n = 120, 199 do
    if not H.read("/tmp/.X" .. n .. "-lock")
        and H.sh("test -e /tmp/.X11-unix/X" .. n .. "; echo $?"):match("1") then
      local child = H.start("Xvfb :" .. n .. " -nolisten tcp -screen 0 800x600x16")
      -- ready once its socket is there; gone when the number was taken
      local up = H.wait_for(function()
        if H.sh("test -e /tmp/.X11-unix/X" .. n .. "; echo $?"):match("0") then
          return "up"
        end
        return not child.alive() and "gone"
      end, function() return "Xvfb :" .. n .. ": " .. child.output() end)
      if up == "up" and child.alive() then
        return { display = ":" .. n, pid = child.pid, stop = function()
          child.kill("TERM")
          H.gone(child.pid)
        end }
      end
      child.kill("KILL")
    end
  end
  error("no free X display number")
end

-- Waits until the prefix's wineserver has ended (it does a few seconds
-- after its last program). A desktop lives as long as its wineserver, with
-- the display of the program that made it: programs with windows need a
-- wineserver started with their display, and the next ones one without.
function W.quiet()
  local _, rc = H.sh("env WINEPREFIX=" .. H.q(H.BUILD .. "/wine")
    .. " timeout 60 wineserver -w")
  assert(rc == 0, "the wineserver still runs: a Windows program was left")
end

-- The environment words (quoted, for `env`) of a Windows program started
-- directly under Wine: the specs' prefix, W.LOCALE, no debug output. opts:
--   display  the X display (W.xvfb) for programs with windows
--   store    for the Windows Lua (lua.exe) with the project's modules and
--            the x86_64 core: the win32 engine, its per-user store in this
--            directory's restartmanager\ (LOCALAPPDATA)
--   env      more "NAME=value" words (quoted)
function W.words(opts)
  opts = opts or {}
  local words = { "WINEPREFIX=" .. H.q(H.BUILD .. "/wine"), W.LOCALE,
    "WINEDEBUG=-all" }
  if opts.display then words[#words + 1] = "DISPLAY=" .. opts.display end
  if opts.store then
    words[#words + 1] = "RESTARTMANAGER_ENGINE=win32"
    words[#words + 1] = "LOCALAPPDATA=" .. H.q(W.winpath(opts.store))
    words[#words + 1] = "LUA_CPATH=" .. H.q(W.winpath(W.WIN64 .. "/?.dll"))
    words[#words + 1] = "LUA_PATH=" .. H.q(W.winpath(H.ROOT .. "/lua/?.lua;")
      .. W.winpath(H.ROOT .. "/lua/?/init.lua;")
      .. W.winpath("/usr/share/lua/5.4/?.lua"))
  end
  for _, e in ipairs(opts.env or {}) do words[#words + 1] = e end
  return table.concat(words, " ")
end

-- The set-up of a spec of the win32 engine: H.scratch's fixture with
-- store, a directory for every Windows process of the test (the primary's
-- and the secondaries'), and run(code, opts), W.run of code after
-- `core` and `rm` are required, in that store, with the win32 engine
-- unless opts.engine says otherwise; the run must end well.
function W.scratch()
  local fx = H.scratch()
  fx.store = fx.dir .. "/appdata"
  H.sh("mkdir -p " .. H.q(fx.store))
  function fx.run(code, opts)
    opts = opts or {}
    opts.engine = opts.engine or "win32"
    opts.store = fx.store
    local res = W.run([[
      local core = require "restartmanager.core"
      local rm = require "restartmanager"
    ]] .. code, opts)
    assert(res.rc == 0, res.out)
    return res
  end
  return fx
end

-- Starts winholder.exe (spec/helpers/winholder.c) in mode over the file at
-- the Linux path file, and waits until it holds it. opts.display: the X
-- display for a window. Returns the child (see H.start: pid is the Linux
-- pid of the Windows process) with winpid (its Windows pid) and log() (what
-- the window saw).
function W.holder(mode, file, opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local words = { mode, W.winpath(file), W.winpath(dir .. "/ready") }
  if mode == "window" or mode == "refuse" or mode == "ignore"
      or mode == "hidden" then
    words[#words + 1] = W.winpath(dir .. "/log")
  end
  for i, w in ipairs(words) do words[i] = H.q(w) end
  local child = H.start("env " .. W.words(opts) .. " wine "
    .. H.q(W.WINHOLDER) .. " " .. table.concat(words, " "))
  H.wait_for(function()
    return H.read(dir .. "/ready") or not child.alive()
  end, function() return "winholder " .. mode .. ": " .. child.output() end)
  local ready = H.read(dir .. "/ready")
  assert(ready, "winholder " .. mode .. " did not get ready: "
    .. child.output())
  child.winpid = tonumber(ready:match("pid (%d+)"))
  function child.log() return (H.read(dir .. "/log") or "") end
  local kill = child.kill
  function child.kill(sig)
    kill(sig)
    H.sh("rm -rf " .. H.q(dir))
  end
  return child
end

-- Runs wintool.exe under Wine with the given words (already quoted).
function W.wintool(words)
  local dir = H.tmpdir()
  local _, rc = H.sh("cd " .. H.q(dir) .. " && env WINEPREFIX="
    .. H.q(H.BUILD .. "/wine") .. " " .. W.LOCALE .. " WINEDEBUG=-all wine "
    .. H.q(W.STANDIN .. "/wintool.exe") .. " " .. words
    .. " >out 2>&1 </dev/null")
  local out = H.read(dir .. "/out") or ""
  H.sh("rm -rf " .. H.q(dir))
  return (out:gsub("\r\n", "\n")), rc
end

return W
