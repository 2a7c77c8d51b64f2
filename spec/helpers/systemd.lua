-- A real systemd for the specs: spec/helpers/systemd.sh boots a system
-- manager as PID 1 of its own namespaces, which sees only the units a spec
-- writes; the spec's Lua code then runs inside it (its pids, its /run, its
-- cgroups), where the units' processes are. Needs root.
--
--   local SD = require "spec.helpers.systemd"
--   local m = SD.start { units = { ["web.service"] = "..." },
--                        user = 65534, user_units = { ... },
--                        bind = { dir, ... } }
--   local out = m.lua(code)      -- Lua code inside; its stdout
--   local child = m.spawn(cmd)   -- a command inside, left running
--   m.stop()                     -- in after_each: nothing is left
--
-- The manager's own directory (m.dir), the source and build trees and the
-- `bind` directories are shared with it; the rest of /tmp, /var/tmp and
-- /run is its own.
--
-- With `user`, a stand-in of user@.service runs that user's own manager
-- (`systemd --user`, units from `user_units` only) in the layout of a real
-- machine: /user.slice/user-UID.slice/user@UID.service/..., its private
-- socket in /run/user/UID/systemd/private.
local H = require "spec.helpers"

local S = {}

S.SCRIPT = H.ROOT .. "/spec/helpers/systemd.sh"
S.UNITD = H.BUILD .. "/helpers/unitd"

-- Why a real systemd cannot run here, or nil when it can.
function S.unavailable()
  if not H.is_root() then return "needs root" end
  if not io.open("/lib/systemd/systemd", "r") then return "no systemd" end
  local _, rc = H.sh("command -v unshare nsenter setpriv >/dev/null")
  if rc ~= 0 then return "no unshare, nsenter or setpriv" end
  if not io.open("/sys/fs/cgroup/cgroup.controllers", "r")
      and not io.open("/sys/fs/cgroup/unified/cgroup.controllers", "r") then
    return "no cgroup2 hierarchy"
  end
  return nil
end

local function write_units(dir, units, mode)
  for name, text in pairs(units or {}) do
    H.write(dir .. "/" .. name, text)
    H.sh("chmod " .. mode .. " " .. H.q(dir .. "/" .. name))
  end
end

local TARGETS = { "default", "basic", "sysinit", "sockets", "timers", "paths",
  "shutdown", "exit" }

-- The cgroup the harness makes for dir (as systemd.sh names it).
local function cgroup_of(dir)
  local base = "/sys/fs/cgroup/unified"
  if io.open("/sys/fs/cgroup/cgroup.controllers", "r") then
    base = "/sys/fs/cgroup"
  end
  return base .. "/restartmanager-spec-" .. dir:match("([^/]+)$")
end

-- The directories systemd.sh is to share with the manager, as shell words:
-- the source and build trees (m.lua runs the project's modules from there;
-- one inside another is shared once), then opts.bind.
local function shared(opts)
  local dirs = {}
  local function inside_one(d)
    for _, s in ipairs(dirs) do
      if d == s or d:sub(1, #s + 1) == s .. "/" then return true end
    end
    return false
  end
  for _, d in ipairs { H.ROOT, H.BUILD } do
    -- a relative tree (no RM_BUILD) cannot be named to it
    if d:sub(1, 1) == "/" and not inside_one(d) then dirs[#dirs + 1] = d end
  end
  for _, d in ipairs(opts.bind or {}) do
    assert(type(d) == "string" and d:sub(1, 1) == "/",
      "bind: absolute paths only")
    dirs[#dirs + 1] = d
  end
  local words = {}
  for _, d in ipairs(dirs) do words[#words + 1] = H.q(d) end
  return table.concat(words, " ")
end

function S.start(opts)
  opts = opts or {}
  local dir = H.tmpdir()
  -- a user's manager reads its units from here too
  H.sh("chmod 755 " .. H.q(dir) .. " && mkdir -p " .. H.q(dir .. "/units")
    .. " " .. H.q(dir .. "/user-units") .. " && mkdir -m 700 "
    .. H.q(dir .. "/store"))
  write_units(dir .. "/units", opts.units, "644")
  if opts.user then
    write_units(dir .. "/units", { ["user@.service"] = table.concat({
      "[Unit]",
      "Description=User manager for UID %i (spec stand-in)",
      "[Service]",
      "User=%i",
      "Type=notify",
      "ExecStart=/lib/systemd/systemd --user --log-target=console",
      "Slice=user-%i.slice",
      "Delegate=yes",
      "KillMode=mixed",
      "RuntimeDirectory=user/%i",
      "RuntimeDirectoryMode=0700",
      "Environment=XDG_RUNTIME_DIR=/run/user/%i SYSTEMD_UNIT_PATH="
        .. dir .. "/user-units",
      "" }, "\n") }, "644")
    local stand_ins = {}
    for _, t in ipairs(TARGETS) do
      stand_ins[t .. ".target"] = "[Unit]\nDescription=" .. t
        .. " (spec stand-in)\nDefaultDependencies=no\n"
    end
    write_units(dir .. "/user-units", stand_ins, "644")
    write_units(dir .. "/user-units", opts.user_units, "644")
  end
  local out, rc = H.sh(H.q(S.SCRIPT) .. " start " .. H.q(dir) .. " "
    .. shared(opts) .. " 2>&1")
  local m = { dir = dir, user = opts.user, cgroup = cgroup_of(dir) }

  -- Stops the manager and everything it started; removes dir. Safe twice.
  -- An error when something of it is left.
  function m.stop()
    if m.stopped then return end
    m.stopped = true
    local o, r = H.sh(H.q(S.SCRIPT) .. " stop " .. H.q(dir) .. " 2>&1")
    H.sh("rm -rf " .. H.q(dir))
    if r ~= 0 then error("the test systemd did not stop: " .. o, 2) end
  end

  if rc ~= 0 then
    pcall(m.stop)
    error("the test systemd did not start: " .. out)
  end
  m.pid = tonumber(out:match("(%d+)%s*$"))

  -- A shell command inside: its output (stdout and stderr) and exit code.
  -- opts.hide_libsystemd: libsystemd.so.0 cannot be loaded by it.
  function m.sh(cmd, o)
    o = o or {}
    return H.sh(H.q(S.SCRIPT) .. " run " .. H.q(dir)
      .. (o.hide_libsystemd and " --hide-libsystemd" or "")
      .. " sh -c " .. H.q(cmd) .. " 2>&1")
  end

  -- Starts a shell command inside and leaves it running (H.start): the
  -- child object. It lives in the test's cgroup, so m.stop ends it too.
  function m.spawn(cmd)
    return H.start(H.q(S.SCRIPT) .. " run " .. H.q(dir) .. " sh -c "
      .. H.q(cmd))
  end

  -- Lua code inside, with the project's modules and a session store of
  -- its own; its output and exit code.
  function m.lua(code, o)
    return m.sh("env " .. H.lua_env() .. " XDG_RUNTIME_DIR=" .. H.q(dir
      .. "/store") .. " " .. H.LUA .. " -e " .. H.q(code), o)
  end

  function m.systemctl(args)
    return m.sh("systemctl --no-pager " .. args)
  end

  -- systemctl in the user's manager, as that user (as any user would)
  function m.user_systemctl(args)
    return m.sh("setpriv --reuid " .. m.user .. " --regid " .. m.user
      .. " --clear-groups env XDG_RUNTIME_DIR=/run/user/" .. m.user
      .. " systemctl --user --no-pager " .. args)
  end

  if opts.user then
    local o, r = m.systemctl("start user@" .. opts.user .. ".service")
    if r ~= 0 then
      pcall(m.stop)
      error("the user's manager did not start: " .. o)
    end
  end
  return m
end

-- Parses "key=value" lines (the inner code's report) into a table.
function S.report(out)
  local t = {}
  for k, v in out:gmatch("([%w_]+)=([^\n]*)") do t[k] = v end
  return t
end

return S
