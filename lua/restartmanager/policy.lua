--- Safety policies for `restartmanager.update`, `restartmanager.close`,
-- `restartmanager.plan` and the command-line tool: which applications may be
-- stopped, when to refuse, how long the stopping may take, and the plan (a
-- dry run) that says what would happen to every application, and why.
--
-- A policy is plain data, the options table of those functions:
--
--    {
--      never = {                     -- never-touch rules
--        names = { "sshd", "Xorg" }, -- an app's name, exactly
--        paths = { "/usr/sbin/" },   -- its executable is this file or
--                                    -- lies under this directory
--        types = { "service" },      -- its type (`core.app_type` names)
--      },
--      allow_reboot_reasons = false, -- go on even when a reboot would
--                                    -- be needed (the shutdown still refuses)
--      only_registered = false,      -- stop nothing unless every app that
--                                    -- would be stopped can be restarted
--      force = false,                -- kill what does not stop in time
--      timeout = 30,                 -- seconds an app may take to stop
--      deadline = nil,               -- seconds the stopping may take in all
--      allow_missing = false,        -- accept registered files that do
--                                    -- not exist
--      allow_uninspected = false,    -- go on when processes could not be
--                                    -- inspected (not root)
--      restart_unregistered = false, -- bring back programs that never
--                                    -- registered for restart: true for
--                                    -- all that can be, or rules written
--                                    -- like the never-touch ones:
--                                    -- { names = {...}, paths = {...} }
--      terminal_apps = "ask",        -- programs someone works in on a
--                                    -- terminal: "ask" (stopped only when
--                                    -- the `ask` function of the call says
--                                    -- yes; without one, spared), "spare"
--                                    -- or "stop"
--    }
--
-- Programs that never registered for restart are brought back only with
-- `restart_unregistered`, from what was captured before they were stopped.
-- On Linux: through their own systemd service unit when they run in one,
-- else through their desktop application id (`gio launch` of its desktop
-- file), else from their command line, as their own user with their
-- environment and working directory. Never from a capture: a set-user-ID
-- or set-group-ID program, a process of another PID or mount namespace
-- (a container), a process with a controlling terminal (it cannot get its
-- terminal back). On Windows: from their command line, as captured, with
-- their environment and current directory (a console program in a console
-- of its own). Never from a capture there: a service, a process of another
-- user than the caller's, a process that was not elevated when the caller
-- is. A process whose parent is stopped too and runs the same program
-- comes back with its parent, not on its own.
--
-- Applications a never-touch rule matches are spared: a `no_shutdown`
-- process filter keeps them running (and therefore not restarted either),
-- and the files they hold stay held. Critical applications are never
-- stopped whatever the rules say: they make the reboot reasons that refuse
-- the update.
--
-- Processes the list could not inspect may use the files too. For a caller
-- that is not root (other users' processes) the procedure refuses with
-- `ERROR_PRIVILEGE_NOT_HELD` (1314) before stopping anything, unless
-- `allow_uninspected`; for root, only processes hidden even from root
-- remain (a container's init): a warning. Their pids are in the plan
-- either way.
--
-- @module restartmanager.policy
-- @alias P
local core = require "restartmanager.core"
local errors = require "restartmanager.errors"

local P = {}

--- The options a policy may carry, with what they must be. Other option
-- names (`progress`, `log`, `dry_run`) belong to the functions that take a
-- policy; anything else is refused.
P.OPTIONS = {
  never = "table",
  allow_reboot_reasons = "boolean",
  only_registered = "boolean",
  force = "boolean",
  timeout = "number",
  deadline = "number",
  allow_missing = "boolean",
  allow_uninspected = "boolean",
  restart_unregistered = "boolean or table",
  terminal_apps = "string",
}

--- What `terminal_apps` may say.
P.TERMINAL_APPS = { ask = true, spare = true, stop = true }

--- How long (seconds) an application may take to stop when the policy does
-- not say (`timeout`).
P.TIMEOUT = 30
--- The longest `timeout` the core takes (2^31 - 1 milliseconds), in
-- seconds.
P.MAX_TIMEOUT = 2147483

local function bad(msg, level)
  error(msg, level + 1)
end

local function string_list(t, name, level, group)
  group = group or "never"
  if t == nil then return {} end
  if type(t) == "string" then t = { t } end
  if type(t) ~= "table" then
    bad(("bad field '%s.%s' (table of strings expected, got %s)")
      :format(group, name, type(t)), level + 1)
  end
  local out = {}
  for i, v in ipairs(t) do
    if type(v) ~= "string" or v == "" then
      bad(("bad field '%s.%s' (non-empty string expected at index %d, got %s)")
        :format(group, name, i, type(v) == "string" and "an empty string" or type(v)),
        level + 1)
    end
    out[i] = v
  end
  return out
end

--- Checks a policy and fills in its defaults. Raises on a misspelt option,
-- a value of the wrong type, an unknown app type or a relative path prefix.
-- @tparam[opt] table opts a policy, perhaps with other options of the
-- calling function
-- @tparam[opt] table extra other option names the caller accepts (a set)
-- @tparam[opt=1] integer level the level errors are reported at, as for
-- `error`
-- @treturn table the policy: `never = {names=, paths=, types=}` (sets and
-- arrays), `allow_reboot_reasons`, `only_registered`, `force`, `timeout`,
-- `deadline`, `allow_missing`, `allow_uninspected`, `restart_unregistered`
-- (false, true or `{names=, paths=}`), `terminal_apps`
function P.new(opts, extra, level)
  level = (level or 1) + 1
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    bad("options must be a table, got " .. type(opts), level)
  end
  for k, v in pairs(opts) do
    local want = P.OPTIONS[k]
    if not want and not (extra and extra[k]) then
      bad(("unknown option '%s'"):format(tostring(k)), level)
    end
    if want and v ~= nil and not want:find(type(v), 1, true) then
      bad(("bad option '%s' (%s expected, got %s)"):format(k, want, type(v)),
        level)
    end
  end
  local pol = {
    allow_reboot_reasons = opts.allow_reboot_reasons or false,
    only_registered = opts.only_registered or false,
    force = opts.force or false,
    timeout = opts.timeout or P.TIMEOUT,
    deadline = opts.deadline,
    allow_missing = opts.allow_missing or false,
    allow_uninspected = opts.allow_uninspected or false,
  }
  if pol.timeout < 0 or pol.timeout ~= pol.timeout then
    bad("bad option 'timeout' (non-negative number of seconds expected)", level)
  elseif pol.timeout > P.MAX_TIMEOUT then
    bad(("bad option 'timeout' (at most %d seconds)"):format(P.MAX_TIMEOUT),
      level)
  end
  if pol.deadline and (pol.deadline < 0 or pol.deadline ~= pol.deadline) then
    bad("bad option 'deadline' (non-negative number of seconds expected)",
      level)
  end
  local ru = opts.restart_unregistered
  if type(ru) == "table" then
    for k in pairs(ru) do
      if k ~= "names" and k ~= "paths" then
        bad(("unknown field 'restart_unregistered.%s' (names or paths "
          .. "expected)"):format(tostring(k)), level)
      end
    end
    pol.restart_unregistered = {
      names = string_list(ru.names, "names", level, "restart_unregistered"),
      paths = string_list(ru.paths, "paths", level, "restart_unregistered"),
    }
    for _, p in ipairs(pol.restart_unregistered.paths) do
      if p:sub(1, 1) ~= "/" then
        bad(("bad field 'restart_unregistered.paths' (absolute path "
          .. "expected, got '%s')"):format(p), level)
      end
    end
  else
    pol.restart_unregistered = ru or false
  end
  pol.terminal_apps = opts.terminal_apps or "ask"
  if not P.TERMINAL_APPS[pol.terminal_apps] then
    bad(("bad option 'terminal_apps' ('ask', 'spare' or 'stop' expected, "
      .. "got '%s')"):format(tostring(pol.terminal_apps)), level)
  end
  local never = opts.never or {}
  for k in pairs(never) do
    if k ~= "names" and k ~= "paths" and k ~= "types" then
      bad(("unknown field 'never.%s' (names, paths or types expected)")
        :format(tostring(k)), level)
    end
  end
  pol.never = {
    names = string_list(never.names, "names", level),
    paths = string_list(never.paths, "paths", level),
    types = string_list(never.types, "types", level),
  }
  for _, t in ipairs(pol.never.types) do
    if math.type(core.app_type[t]) ~= "integer" then
      bad(("bad field 'never.types' (unknown app type '%s')"):format(t), level)
    end
  end
  for _, p in ipairs(pol.never.paths) do
    if not (p:sub(1, 1) == "/" or p:match("^%a:[\\/]") or p:sub(1, 2) == "\\\\")
    then
      bad(("bad field 'never.paths' (absolute path expected, got '%s')")
        :format(p), level)
    end
  end
  return pol
end

local windows = core.backend == "windows"

-- Names compare as the platform compares file names.
local function same_name(a, b)
  if windows then return a:lower() == b:lower() end
  return a == b
end

local function under(path, prefix)
  if windows then
    path, prefix = path:lower():gsub("/", "\\"), prefix:lower():gsub("/", "\\")
  end
  local sep = windows and "\\" or "/"
  if prefix:sub(-1) == sep then
    return path:sub(1, #prefix) == prefix
  end
  return path == prefix or path:sub(1, #prefix + 1) == prefix .. sep
end

--- The executable of a listed app, when the platform can say (Linux:
-- `/proc/PID/exe`).
-- @tparam table app
-- @treturn[1] string
-- @treturn[2] nil
-- @treturn[2] string why not
function P.executable(app)
  if not core.executable then
    return nil, "not known on the " .. core.backend .. " backend"
  end
  return core.executable(app.pid)
end

--- The never-touch rule that matches an app, if any.
-- @tparam table pol a policy from `new`
-- @tparam table app an app as `Session:list` gives it
-- @treturn string|nil why the app is spared (e.g. `never-touch rule: name
-- "sshd"`), or nil
function P.spared(pol, app)
  for _, n in ipairs(pol.never.names) do
    if app.name and same_name(app.name, n) then
      return ('never-touch rule: name "%s"'):format(n)
    end
  end
  for _, t in ipairs(pol.never.types) do
    if app.type == t then
      return ('never-touch rule: type "%s"'):format(t)
    end
  end
  if #pol.never.paths > 0 then
    local exe, why = app.executable, nil
    if exe == nil then exe, why = P.executable(app) end
    if not exe then
      -- a rule that cannot be checked spares the app rather than risk it
      return "never-touch paths could not be checked (executable unknown: "
        .. tostring(why) .. ")"
    end
    for _, p in ipairs(pol.never.paths) do
      if under(exe, p) then
        return ('never-touch rule: executable under "%s"'):format(p)
      end
    end
  end
  return nil
end

--- Whether `restart_unregistered` covers an app (its rules, when it has
-- some, matched like the never-touch rules).
-- @tparam table pol a policy from `new`
-- @tparam table app
-- @treturn boolean
function P.restart_covers(pol, app)
  local ru = pol.restart_unregistered
  if ru == true then return true end
  if type(ru) ~= "table" then return false end
  for _, n in ipairs(ru.names) do
    if app.name and same_name(app.name, n) then return true end
  end
  local exe = app.executable
  if exe then
    for _, p in ipairs(ru.paths) do
      if under(exe, p) then return true end
    end
  end
  return false
end

--- What a capture (`core.capture`) may show in a plan or a log: everything
-- but the environment's values (only the variables' names).
-- @tparam table c
-- @treturn table
function P.captured(c)
  if type(c) ~= "table" then return nil end
  local names = {}
  -- (Windows keeps a drive's directory as "=C:=C:\dir")
  for i, e in ipairs(c.env or {}) do names[i] = e:match("^=?[^=]*") end
  table.sort(names)
  return { executable = c.executable, argv = c.argv, cwd = c.cwd,
    command_line = c.command_line, console = c.console, user = c.user,
    elevated = c.elevated, other_user = c.other_user,
    would_elevate = c.would_elevate,
    uid = c.uid, gid = c.gid, groups = c.groups, ppid = c.ppid,
    unit = c.unit, user_unit = c.user_unit, app_id = c.app_id,
    setid = c.setid, other_pid_namespace = c.other_pid_namespace,
    other_mount_namespace = c.other_mount_namespace,
    terminal = c.terminal, interactive = c.interactive,
    executable_replaced = c.executable_replaced, env_names = names }
end

local TERMINAL_WHY = "has a terminal: unsaved work may be lost"

-- How an unregistered app that the rules cover comes back, or why not:
-- via ("unit", "desktop", "command") or nil, and the reason.
local function capture_restart(e, by_pid)
  local c = e.capture
  if not c then
    return nil, "not registered for restart, and what a restart needs "
      .. "could not be read (" .. tostring(e.capture_error) .. "): stays down"
  end
  if c.setid then
    return nil, "set-user-ID or set-group-ID program: never restarted from "
      .. "a capture; stays down"
  end
  if windows and e.type == "service" then
    return nil, "a service: only the Service Control Manager starts it, "
      .. "never a capture; stays down"
  end
  if c.other_user then
    return nil, "runs as another user: restarted from a capture it would "
      .. "run as this one; stays down"
  end
  if c.would_elevate then
    return nil, "was not elevated: restarted from this elevated process "
      .. "it would be; stays down"
  end
  local unit = c.unit and c.unit:match("%.service$") and not c.app_id
  if c.other_pid_namespace or (c.other_mount_namespace and not unit) then
    return nil, "runs in another PID or mount namespace (a container): "
      .. "never restarted from a capture; stays down"
  end
  if c.terminal then
    return nil, "has a controlling terminal: it cannot get it back; stays "
      .. "down"
  end
  -- (Windows does not reparent: a pid of a creator that ended may name a
  -- younger process by now)
  local parent = by_pid[c.ppid]
  if parent and parent.action == "stop" and parent.executable
      and parent.executable == e.executable
      and (parent.start_time or 0) <= (c.start_time or 0) then
    return "parent", ("comes back with its parent, pid %d (the same "
      .. "program)"):format(c.ppid)
  end
  if unit then
    return "unit", "not registered; restarted through its unit " .. c.unit
  end
  if c.app_id then
    return "desktop", "not registered; restarted through its desktop "
      .. "application id " .. c.app_id
  end
  return "command", "not registered; restarted from its captured command "
    .. "line"
end

--- The keys of a set, sorted.
-- @tparam table set
-- @treturn {string,...}
function P.sorted_names(set)
  local names = {}
  for name in pairs(set) do names[#names + 1] = name end
  table.sort(names)
  return names
end
local sorted_names = P.sorted_names

--- A monotonic clock in seconds, for deadlines: luasystem's when installed
-- (Debian: lua-system), else `os.time` (whole seconds).
-- @function monotime
-- @treturn number
do
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.monotime then
    P.monotime = system.monotime
  else
    P.monotime = os.time
  end
end

local error_text = errors.message

--- "1 process", "3 processes".
-- @tparam integer n
-- @treturn string
function P.count_processes(n)
  return ("%d process%s"):format(n, n == 1 and "" or "es")
end

--- How many pids `pid_list` writes out.
P.PIDS_SHOWN = 10

--- The pids of a list as text: "pid 1", "pids 1, 20, 33", the first
-- `PIDS_SHOWN` of a longer list and "... (N in all)"; "pids not known"
-- when the core gave none.
-- @tparam {integer,...} pids
-- @tparam[opt] integer n how many there are
-- @treturn string
function P.pid_list(pids, n)
  if #pids == 0 then
    return (n or 0) == 1 and "its pid not known" or "pids not known"
  end
  local s = {}
  for i = 1, math.min(#pids, P.PIDS_SHOWN) do s[i] = tostring(pids[i]) end
  local more = #pids > P.PIDS_SHOWN and (", ... (%d in all)"):format(#pids)
    or ""
  return (#pids == 1 and "pid " or "pids ") .. table.concat(s, ", ") .. more
end

local Plan = {}
Plan.__index = Plan
Plan.__name = "restartmanager.plan"

--- What a procedure would do, and why: the result of `restartmanager.plan`
-- (a dry run) and the report of `restartmanager.update` and
-- `restartmanager.close`.
--
-- Fields: `apps` (each app as `Session:list` gives it, plus `executable`,
-- `action` ("stop", "spare" or "none" for critical apps), `why`, `force`
-- (would be killed if it does not stop in time), `restart` (would be brought
-- back), `restart_why`, and after a run `outcome` (`"stopped"`, `"forced"`,
-- `"not_stopped"` or `"spared"`; nil when nothing was done to it) and
-- `restart_outcome` (`"restarted"`, `"not_restarted"`, `"with_parent"`,
-- `"already_running"`, or `"unknown"` when the restart failed for some
-- application without saying which)), `terminal` (someone may be working in
-- it on a terminal), `ask`
-- (it is stopped only when the call's `ask` function says yes), `capture`
-- (what was captured for a restart; the plan's data and the log
-- show it without the environment's values), `restart_via` ("unit",
-- "desktop" or "command" for a program brought back from its capture),
-- `with_parent` (the pid of the stopped parent it comes back with),
-- `reboot_reasons` (a set of names), `uninspected` (how many processes
-- could not be inspected) and `uninspected_pids`, `missing` (registered
-- files that do not exist, accepted by `allow_missing`), `refused` (nil, or
-- the message of the refusal) and `refused_code`, `policy`, `dry_run`, the
-- counts `stop`, `spare`, `restart`, and after a run `down`: the apps that
-- were stopped and did not come back (each with `down_why`).
-- @type Plan

--- The plan as text, one line per application (see `format`).
-- @function Plan:__tostring
function Plan:__tostring()
  return P.format(self)
end

--- Plans: building, reading and printing them.
-- @section plans

--- Builds the plan for the apps a list gave.
-- @tparam table pol a policy from `new`
-- @tparam {table,...} apps as `Session:list` gives them
-- @tparam table reasons reboot reasons, a set of names
-- @tparam[opt=0] integer uninspected processes that could not be inspected
-- @tparam[opt] table more `uninspected_pids` (their pids), `privileged`
-- (the caller may look into every process: root), `missing` (registered
-- files that do not exist), `captures` (what was captured of each app
-- before the stop, `core.capture`, by pid; a string is why nothing could
-- be)
-- @treturn Plan
function P.plan(pol, apps, reasons, uninspected, more)
  more = more or {}
  local captures = more.captures
  local plan = setmetatable({ apps = {}, reboot_reasons = reasons or {},
    uninspected = uninspected or 0,
    uninspected_pids = more.uninspected_pids or {},
    missing = more.missing or {}, policy = pol, stop = 0, spare = 0,
    restart = 0 }, Plan)
  local masked = core.app_status.shutdown_masked
  for i, a in ipairs(apps) do
    local e = {}
    for k, v in pairs(a) do e[k] = v end
    if core.executable and e.executable == nil then
      e.executable = core.executable(a.pid) or nil
    end
    local c = captures and captures[a.pid]
    if type(c) == "table" and c.start_time == a.start_time then
      e.capture = c
    elseif type(c) == "string" then
      e.capture_error = c
    end
    local spared = P.spared(pol, e)
    e.terminal = e.capture and e.capture.interactive or nil
    if a.type == "critical" and a.service then
      e.action, e.why = "none", "critical: its unit refuses a manual stop "
        .. "(RefuseManualStop; see the reboot reasons)"
    elseif a.type == "critical" then
      e.action, e.why = "none", "critical: cannot be stopped (see the reboot reasons)"
    elseif a.status and a.status & masked ~= 0 then
      e.action, e.why = "spare", "a no_shutdown filter keeps it running"
    elseif spared then
      e.action, e.why = "spare", spared
    elseif e.terminal and pol.terminal_apps == "spare" then
      e.action, e.why = "spare", TERMINAL_WHY .. ' (terminal_apps = "spare")'
    elseif e.terminal and pol.terminal_apps == "ask" then
      e.action, e.ask = "stop", true
      e.why = "uses the registered resources; " .. TERMINAL_WHY
        .. " (asks first)"
    elseif e.terminal then
      e.action, e.why = "stop", "uses the registered resources; "
        .. TERMINAL_WHY
    else
      e.action, e.why = "stop", "uses the registered resources"
      if a.systemd == true then
        e.why = e.why .. "; stopped through systemd"
      elseif type(a.systemd) == "string" then
        e.why = e.why .. "; stopped with signals (" .. a.systemd .. ")"
      end
    end
    plan.apps[i] = e
  end
  local by_pid = {}
  for _, e in ipairs(plan.apps) do by_pid[e.pid] = e end
  for _, e in ipairs(plan.apps) do
    if e.action == "stop" then
      plan.stop = plan.stop + 1
      e.force = pol.force
      if e.status and e.status & core.app_status.restart_masked ~= 0 then
        e.restart, e.restart_why = false, "a no_restart filter keeps it down"
      elseif e.restartable then
        e.restart, e.restart_why = true, e.systemd == true
          and "started again through systemd" or "registered for restart"
        plan.restart = plan.restart + 1
      elseif e.systemd ~= true and P.restart_covers(pol, e) then
        local via, why = capture_restart(e, by_pid)
        e.restart_why = why
        if via == "parent" then
          e.restart, e.with_parent = false, e.capture.ppid
        elseif via then
          e.restart, e.restart_via = true, via
          plan.restart = plan.restart + 1
        else
          e.restart = false
        end
      else
        e.restart, e.restart_why = false, e.systemd == true
          and "systemd cannot start it: stays down"
          or "not registered for restart: stays down"
      end
    else
      if e.action == "spare" then plan.spare = plan.spare + 1 end
      e.force, e.restart = false, false
      e.restart_why = "not stopped"
    end
  end
  if next(plan.reboot_reasons) and not pol.allow_reboot_reasons then
    local names = sorted_names(plan.reboot_reasons)
    if #names == 1 and names[1] == "detected_self" then
      -- not a reboot: the caller would have to stop itself
      plan.refused, plan.refused_code = error_text(
        "ERROR_FAIL_NOACTION_REBOOT", "restartmanager itself uses the "
        .. "resources (detected_self): it cannot stop the process it runs in")
    else
      plan.refused, plan.refused_code = error_text(
        "ERROR_FAIL_NOACTION_REBOOT", "a reboot would be needed (%s)",
        P.reasons_text(plan.reboot_reasons))
    end
  elseif plan.uninspected > 0 and not more.privileged
      and not pol.allow_uninspected then
    plan.refused, plan.refused_code = error_text("ERROR_PRIVILEGE_NOT_HELD",
      "%s could not be inspected (%s): not being root, this process cannot "
      .. "tell whether %s the files; run as root, or accept that with "
      .. "allow_uninspected", P.count_processes(plan.uninspected),
      P.pid_list(plan.uninspected_pids, plan.uninspected),
      plan.uninspected == 1 and "it uses" or "they use")
  elseif pol.only_registered then
    for _, e in ipairs(plan.apps) do
      if e.action == "stop" and not e.restartable then
        plan.refused, plan.refused_code = error_text("ERROR_FAIL_SHUTDOWN",
          "only_registered: %s (pid %d) cannot be restarted", e.name, e.pid)
        break
      end
    end
  end
  return plan
end

--- The plan as plain data, for JSON: sets become sorted arrays, each app's
-- `status` becomes the array of its status names.
-- @tparam Plan plan
-- @treturn table `dry_run`, `apps`, `reboot_reasons`, `uninspected`,
-- `uninspected_pids`, `missing`, `refused`, `stop`, `spare`, `restart`,
-- `policy`
function P.data(plan)
  local apps = {}
  for i, e in ipairs(plan.apps) do
    local a = {}
    for k, v in pairs(e) do a[k] = v end
    a.status = P.status_names(e.status)
    a.capture = nil
    a.captured = P.captured(e.capture)
    apps[i] = a
  end
  local pol = plan.policy or {}
  return {
    dry_run = plan.dry_run or false,
    apps = apps,
    reboot_reasons = sorted_names(plan.reboot_reasons or {}),
    uninspected = plan.uninspected or 0,
    uninspected_pids = plan.uninspected_pids or {},
    missing = plan.missing or {},
    refused = plan.refused,
    stop = plan.stop, spare = plan.spare, restart = plan.restart,
    policy = pol.never and {
      never = pol.never, force = pol.force, timeout = pol.timeout,
      deadline = pol.deadline, only_registered = pol.only_registered,
      allow_reboot_reasons = pol.allow_reboot_reasons,
      allow_missing = pol.allow_missing,
      allow_uninspected = pol.allow_uninspected,
      restart_unregistered = pol.restart_unregistered,
      terminal_apps = pol.terminal_apps,
    } or nil,
    down = plan.down,
  }
end

--- The names of the bits set in an app's status, in a fixed order.
-- @tparam integer status
-- @treturn {string,...} e.g. `{"running"}`
function P.status_names(status)
  local names = {}
  for name, bit in pairs(core.app_status) do
    if type(name) == "string" and bit ~= 0 and (status or 0) & bit ~= 0 then
      names[#names + 1] = name
    end
  end
  table.sort(names, function(a, b)
    return core.app_status[a] < core.app_status[b]
  end)
  return names
end

--- The line that says how many processes could not be inspected.
-- @tparam integer n
-- @tparam {integer,...} pids
-- @tparam string what "files" or "resources"
-- @treturn string
function P.uninspected_text(n, pids, what)
  return ("not inspected: %s (%s; no permission to look into %s; %s may "
    .. "use the %s too)"):format(P.count_processes(n), P.pid_list(pids, n),
    n == 1 and "it" or "them", n == 1 and "it" or "they", what)
end

--- What each reboot reason means, for people.
P.REASON_TEXT = {
  detected_self = "restartmanager itself uses this file",
  critical_process = "a critical process uses it",
  critical_service = "a critical service uses it",
  permission_denied = "a process this user may not stop uses it",
  session_mismatch = "a process of another session uses it",
}

--- Reboot reasons as text: their names, each with what it means, e.g.
-- `detected_self (restartmanager itself uses this file)`; "none".
-- @tparam table reasons a set of names
-- @treturn string
function P.reasons_text(reasons)
  local names = sorted_names(reasons or {})
  if #names == 0 then return "none" end
  for i, n in ipairs(names) do
    if P.REASON_TEXT[n] then names[i] = ("%s (%s)"):format(n, P.REASON_TEXT[n]) end
  end
  return table.concat(names, ", ")
end

local function yesno(b) return b and "yes" or "no" end

--- `s` made safe to show on a terminal: each byte that is not part of
-- valid UTF-8 and each control character (C0, DEL, C1) but newline and tab
-- becomes `\xNN` (process names and paths are chosen by whoever started
-- the process, and could otherwise carry escape sequences).
-- @tparam string s
-- @treturn string
function P.printable(s)
  s = tostring(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, at = utf8.len(s, i)
    if len then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, at - 1)
    out[#out + 1] = ("\\x%02x"):format(s:byte(at))
    i = at + 1
  end
  return (table.concat(out):gsub("[%z\1-\8\11-\31\127]", function(c)
    return ("\\x%02x"):format(c:byte())
  end):gsub("\194([\128-\159])", function(c)
    return ("\\u{%x}"):format(c:byte())
  end))
end

--- The plan as text: a heading, a table with one line per application
-- (pid, name, type, action, restart, why) and a verdict. After a run, the
-- action column shows the outcome.
-- @tparam Plan plan
-- @treturn string
function P.format(plan)
  local out = {}
  local pol = plan.policy or {}
  local n = #plan.apps
  out[#out + 1] = ("%s: %d application%s use%s the resources"):format(
    plan.dry_run and "plan (dry run)" or "report", n, n == 1 and "" or "s",
    n == 1 and "s" or "")
  if n > 0 then
    local rows = { { "PID", "NAME", "TYPE", plan.dry_run and "ACTION"
      or "OUTCOME", "RESTART", "WHY" } }
    for _, e in ipairs(plan.apps) do
      local why = e.why
      if e.action == "stop" then why = why .. "; " .. e.restart_why end
      local outcome, restart = e.action, "-"
      if e.action == "stop" then restart = yesno(e.restart) end
      if not plan.dry_run then
        outcome = e.outcome or "-"
        restart = e.restart_outcome or "-"
      end
      rows[#rows + 1] = { tostring(e.pid), P.printable(e.name or "?"),
        e.type or "?", outcome, restart, P.printable(why) }
    end
    local width = {}
    for _, r in ipairs(rows) do
      for c = 1, #r - 1 do width[c] = math.max(width[c] or 0, #r[c]) end
    end
    for _, r in ipairs(rows) do
      local cells = {}
      for c = 1, #r - 1 do cells[c] = r[c] .. (" "):rep(width[c] - #r[c]) end
      cells[#r] = r[#r]
      out[#out + 1] = "  " .. table.concat(cells, "  ")
    end
  end
  for _, e in ipairs(plan.apps) do
    if e.action == "stop" and e.terminal then
      out[#out + 1] = ("has a terminal: pid %s (%s): unsaved work may be "
        .. "lost"):format(tostring(e.pid), P.printable(tostring(e.name)))
    end
  end
  if plan.dry_run then
    for _, e in ipairs(plan.apps) do
      if e.action == "stop" and not e.restart and not e.with_parent then
        out[#out + 1] = ("would stay down: pid %s (%s): %s"):format(
          tostring(e.pid), P.printable(tostring(e.name)),
          P.printable(tostring(e.restart_why)))
      end
    end
  else
    for _, e in ipairs(plan.down or {}) do
      out[#out + 1] = ("stays down: pid %s (%s): %s"):format(
        tostring(e.pid), P.printable(tostring(e.name)),
        P.printable(tostring(e.down_why or e.restart_why)))
    end
  end
  out[#out + 1] = "reboot reasons: " .. P.reasons_text(plan.reboot_reasons)
  if (plan.uninspected or 0) > 0 then
    out[#out + 1] = P.uninspected_text(plan.uninspected,
      plan.uninspected_pids or {}, "resources")
  end
  if plan.missing and #plan.missing > 0 then
    out[#out + 1] = "missing (accepted): " .. table.concat(plan.missing, ", ")
  end
  if plan.refused then
    out[#out + 1] = "refused: " .. plan.refused
  elseif plan.dry_run then
    out[#out + 1] = ("would stop %d, spare %d, restart %d; %s after %g s%s")
      :format(plan.stop, plan.spare, plan.restart,
        pol.force and "kill what has not stopped" or "give up on what has not stopped",
        pol.timeout or P.TIMEOUT,
        pol.deadline and ("; deadline %g s"):format(pol.deadline) or "")
  end
  -- names and paths come from whoever started the processes
  return P.printable(table.concat(out, "\n"))
end

return P
