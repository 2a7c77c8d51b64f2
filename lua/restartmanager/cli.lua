--- The command-line tool, `restartmanager` (bin/restartmanager calls
-- `main`).
--
--    restartmanager list PATH... [--allow-missing] [--json]
--    restartmanager plan PATH... [POLICY] [--json]
--    restartmanager close PATH... [POLICY] [--log FILE] [--json]
--    restartmanager run --file PATH [--file PATH]... [POLICY] [--log FILE]
--                       [--json] -- COMMAND...
--    restartmanager launch [--chdir DIR] [--env NAME=VALUE]... -- COMMAND...
--    restartmanager recover [--json]
--    restartmanager help [COMMAND]
--    restartmanager completion bash|zsh|fish
--
-- POLICY: `--force`, `--timeout S`, `--deadline S`, `--spare NAME`,
-- `--spare-path PREFIX`, `--spare-type TYPE` (each repeatable),
-- `--only-registered`, `--allow-reboot`, `--allow-missing`,
-- `--allow-uninspected`, `--restart-unregistered`,
-- `--restart-unregistered-name NAME`, `--restart-unregistered-path PREFIX`
-- (each repeatable), `--yes`, `--allow-down`, `--policy FILE` (a JSON
-- object with the fields of a `restartmanager.policy`; the options above
-- add to it and override it).
--
-- Programs someone works in on a terminal are not stopped without asking:
-- on a terminal, `close` and `run` ask first; without one they leave them
-- running unless `--yes` is given.
--
-- `launch` registers itself for restart as COMMAND (its pid and start
-- time, its working directory and environment) and then becomes COMMAND
-- (exec): the program is registered without a line of code of its own.
--
-- `recover` starts again what installers of the calling user that died
-- (killed, crashed) stopped and never restarted, and says what (Linux;
-- `rm.recover`). It exits 1 when something could not be started again.
--
-- Streams: the report (text, or with `--json` one JSON document) goes to
-- standard output, except for `run`, whose command owns standard output:
-- its report goes to standard error. Progress and the steps go to standard
-- error (a bar with a countdown on a terminal, plain lines otherwise; none
-- with `--json`). `--log -` writes the log to standard output: the report
-- then goes to standard error (`--log -` with `--json` is a usage error).
--
-- Exit status: 0 done; 1 failed (a file that does not exist included); 2
-- wrong usage; 3 refused (a reboot would be needed, or `--only-registered`
-- with an app that cannot be restarted; for `plan`, the plan would be
-- refused); 4 processes could not be inspected and the caller is not root
-- (`--allow-uninspected` accepts that). `run` exits with the command's
-- status (128 + N when signal N ended it), 125 when the command did not
-- run because the procedure failed or refused first, or when the command
-- succeeded but the restart failed, 5 when the command succeeded but
-- something that was stopped did not come back (0 only when everything
-- came back, or with `--allow-down`), 126 when the command could not be
-- started and 127 when it was not found. `launch` exits 127 when the
-- command is not found, 126 when it cannot be run, 1 when the registration
-- failed; otherwise it is the command.
--
-- Arguments are parsed by argparse (Debian: lua-argparse); reading a
-- `--policy` file needs lua-dkjson or lua-cjson.
-- @module restartmanager.cli
-- @alias C
local rm = require "restartmanager"
local policy = require "restartmanager.policy"
local json = require "restartmanager.json"
local paths = require "restartmanager.paths"
local session = require "restartmanager.session"

local core = rm.core
local C = {}

--- Exit statuses.
C.EXIT = { ok = 0, failed = 1, usage = 2, refused = 3, uninspected = 4,
  down = 5, run_failed = 125, cannot_run = 126, not_found = 127 }

local monotime = policy.monotime

local function isatty(f)
  local ok, term = pcall(require, "term")
  if ok and type(term) == "table" and term.isatty then
    return term.isatty(f) and true or false
  end
  return false
end

local Display = {}
Display.__index = Display

local PHASES = { shutdown = "stopping", force = "killing",
  restart = "restarting" }

--- A display on `stream`.
-- @param stream a file handle (standard error)
-- @tparam[opt] boolean tty draw a bar (default: whether stream is a
-- terminal)
-- @tparam[opt] table opts `timeout` (seconds applications may take to
-- stop: the countdown), `force` (what happens when it passes)
-- @treturn Display
function C.display(stream, tty, opts)
  if tty == nil then tty = isatty(stream) end
  opts = opts or {}
  return setmetatable({ out = stream, tty = tty, bar = nil,
    timeout = opts.timeout, force = opts.force }, Display)
end

--- Progress and messages on a stream: a bar redrawn in place on a
-- terminal, with a countdown while applications are given time to stop;
-- plain lines otherwise, one per change.
-- @type Display

function Display:clear()
  if self.tty and self.bar then
    self.out:write("\r\27[K")
    self.bar = nil
  end
end

--- A line of text (the bar is drawn again below it).
-- @tparam string text
function Display:line(text)
  local bar = self.bar
  self:clear()
  self.out:write(text, "\n")
  if bar then self:draw(bar.pct, bar.phase) end
  self.out:flush()
end

-- what the bar says after the percentage
function Display:label(phase)
  local label = PHASES[phase] or phase or ""
  if phase ~= "shutdown" or not self.timeout or not self.started then
    return label
  end
  local left = math.ceil(self.timeout - (monotime() - self.started))
  if left > 0 then
    return ("%s, %d s left%s"):format(label, left,
      self.force and " before killing" or "")
  end
  return label .. (self.force and ", killing what has not stopped"
    or ", time is up (--force kills what has not stopped)")
end

function Display:draw(pct, phase)
  local width = 30
  local full = math.floor(pct * width / 100 + 0.5)
  self.out:write(("\r\27[K[%s%s] %3d%% %s"):format(("#"):rep(full),
    ("."):rep(width - full), math.floor(pct), self:label(phase)))
  self.bar = { pct = pct, phase = phase }
end

--- A progress report (the same report again moves the countdown on).
-- @tparam number pct 0..100
-- @tparam string phase "shutdown", "force" or "restart"
function Display:progress(pct, phase)
  if phase == "shutdown" and not self.started then self.started = monotime() end
  if self.tty then
    self:draw(pct, phase)
  else
    local line = ("%s %d%%"):format(PHASES[phase] or phase or "",
      math.floor(pct))
    if line == self.last then return end
    self.last = line
    self.out:write(line, "\n")
  end
  self.out:flush()
end

--- Ends the bar (a terminal's line is cleared).
function Display:done()
  self:clear()
  self.out:flush()
end

local function app_label(rec)
  return ("pid %s (%s)"):format(tostring(rec.pid), policy.printable(rec.name))
end

-- The readable line for a step's record, or nil for steps not shown (a
-- refusal is shown once, in the report).
local STEP_TEXT = {
  warning = function(r) return "warning: " .. tostring(r.message) end,
  spared = function(r) return "spared " .. app_label(r) .. ": " .. r.why end,
  stop_requested = function(r) return "stopping " .. app_label(r) end,
  stopped = function(r) return "stopped " .. app_label(r) end,
  force_requested = function(r)
    return "killing " .. app_label(r) .. ": it did not stop in time"
  end,
  forced = function(r) return "killed " .. app_label(r) end,
  failed = function(r)
    if r.pid then
      return "failed to stop " .. app_label(r) .. ": " .. tostring(r.message)
    end
    return nil -- the error line says it
  end,
  cancelled = function(r) return "cancelled: " .. tostring(r.message) end,
  restarted = function(r)
    if r.via then
      return ("restarted %s from its capture (%s): pid %s"):format(
        app_label(r), r.via == "command" and "its command line"
        or r.via == "unit" and "its systemd unit"
        or "its desktop application id", tostring(r.new_pid))
    end
    return "restarted " .. app_label(r)
  end,
  already_running = function(r)
    return ("not restarted %s: it runs again already (pid %s)"):format(
      app_label(r), tostring(r.new_pid))
  end,
  with_parent = function(r)
    return ("%s came back with its parent, pid %s"):format(app_label(r),
      tostring(r.parent))
  end,
  not_restarted = function(r)
    return "not restarted " .. app_label(r) .. ": " .. tostring(r.why)
  end,
  asked = function(r)
    if r.stop then return nil end
    return ("left running %d program%s with a terminal: %s"):format(#r.pids,
      #r.pids == 1 and "" or "s", r.answered and "not confirmed"
      or "not stopped without asking (--yes stops them)")
  end,
}

--- Running the tool.
-- @section tool

--- The readable form of a step record (nil for steps shown otherwise).
-- @tparam table rec a record as `restartmanager.log` describes
-- @treturn string|nil
function C.step_text(rec)
  local f = STEP_TEXT[rec.step]
  return f and f(rec) or nil
end

-- ---------------------------------------------------------------------
-- The command line

-- options that take a number of seconds
local SECONDS = { ["--timeout"] = true, ["--deadline"] = true }

local function seconds(name)
  return function(s)
    local n = tonumber(s)
    if not n or n < 0 or n ~= n or n == math.huge then
      return nil, ("option '%s': a non-negative number of seconds "
        .. "expected, got '%s'"):format(name, s)
    end
    return n
  end
end

local function add_policy_options(cmd)
  cmd:flag("--force", "Kill what has not stopped when the timeout passes.")
  cmd:option("--timeout", "Seconds an application may take to stop "
    .. "(default " .. session.SHUTDOWN_TIMEOUT .. ").")
    :argname("<s>"):convert(seconds("--timeout"))
  cmd:option("--deadline", "Seconds the whole stopping may take; then the "
    .. "running step is cancelled and nothing is killed.")
    :argname("<s>"):convert(seconds("--deadline"))
  cmd:option("--spare", "Never touch an application with this name "
    .. "(repeatable).")
    :argname("<name>"):count("*")
  cmd:option("--spare-path", "Never touch an application whose executable "
    .. "is this file or lies under this directory (repeatable).")
    :argname("<prefix>"):count("*")
  cmd:option("--spare-type", "Never touch applications of this type: "
    .. "critical, service, console, unknown, ... (repeatable).")
    :argname("<type>"):count("*")
  cmd:flag("--only-registered", "Stop nothing unless every application to "
    .. "stop can be restarted.")
  cmd:flag("--allow-reboot", "Go on even when a reboot would be needed.")
  cmd:flag("--allow-uninspected", "Go on when processes could not be "
    .. "inspected (not root: another user's may use the files); refused "
    .. "otherwise, exit status 4.")
  cmd:flag("--restart-unregistered", "Bring back the programs that never "
    .. "registered for restart too, from what is captured before they stop.")
  cmd:option("--restart-unregistered-name", "Bring back this program even "
    .. "though it never registered (repeatable).")
    :argname("<name>"):count("*")
  cmd:option("--restart-unregistered-path", "Bring back programs whose "
    .. "executable is this file or lies under this directory, even though "
    .. "they never registered (repeatable).")
    :argname("<prefix>"):count("*")
  cmd:flag("--yes", "Stop programs someone works in on a terminal without "
    .. "asking (unsaved work may be lost).")
  cmd:flag("--allow-down", "'run': exit 0 even when something that was "
    .. "stopped did not come back.")
  cmd:option("--policy", "A policy as a JSON file; the options above add "
    .. "to it.")
    :argname("<file>")
end

local function add_common(cmd, what)
  cmd:flag("--allow-missing", "Accept " .. what .. " that do not exist "
    .. "(an error otherwise, exit status 1).")
  cmd:flag("--json", "Write the report as one JSON document (errors too).")
end

local function add_log(cmd)
  cmd:option("--log", "Write one JSON line per step to this file ('-': "
    .. "standard output; the report then goes to standard error).")
    :argname("<file>")
end

local EPILOG = "Exit status: 0 done; 1 failed (a file that does not exist "
  .. "included); 2 wrong usage; 3 refused (a reboot would be needed, or "
  .. "--only-registered with an application that cannot be restarted); 4 "
  .. "processes could not be inspected and the caller is not root. 'run' "
  .. "exits with the command's status (128 + N for signal N), 125 when the "
  .. "command did not run because the procedure failed or refused first, "
  .. "5 when it succeeded but something that was stopped did not come "
  .. "back, 126 when it could not be started, 127 when it was not found."

--- The argparse parser of the tool.
-- @return the parser, and its commands by name
function C.parser()
  local argparse = require "argparse"
  local p = argparse("restartmanager",
    "Close the programs that hold files, and bring them back afterwards.")
    :command_target("command")
    :epilog(EPILOG)
  p:flag("--version", "Show the version and exit.")
    :action(function()
      io.stdout:write("restartmanager ", rm._VERSION, " (", core.backend,
        " backend)\n")
      os.exit(0)
    end)
  local commands = {}

  local list = p:command("list", "Which applications use these files.")
  list:argument("paths", "Files."):args("+")
  add_common(list, "files")
  commands.list = list

  local plan = p:command("plan", "What 'close' or 'run' would do, and why "
    .. "(a dry run: nothing is stopped).")
  plan:argument("paths", "Files."):args("+")
  add_policy_options(plan)
  add_common(plan, "files")
  commands.plan = plan

  local close = p:command("close", "Close the applications that use these "
    .. "files (they are not restarted).")
  close:argument("paths", "Files."):args("+")
  add_policy_options(close)
  add_log(close)
  add_common(close, "files")
  commands.close = close

  local run = p:command("run", "Close the applications that use the files, "
    .. "run the command, restart them.")
  run:option("--file", "A file the command will replace (repeat it for "
    .. "more files).")
    :count("+"):argname("<path>")
  add_policy_options(run)
  add_log(run)
  add_common(run, "files")
  run:argument("cmd", "The command (after --), run without a shell; its "
    .. "standard output is its own, the report goes to standard error.")
    :args("+")
  commands.run = run

  local launch = p:command("launch", "Register for restart, then become "
    .. "the command: it comes back after an installer stopped it.")
  launch:option("--chdir", "Run in this directory (recorded for the "
    .. "restart).")
    :argname("<dir>")
  launch:option("--env", "Run with this variable set (recorded for the "
    .. "restart; repeatable).")
    :argname("<name=value>"):count("*")
  launch:argument("cmd", "The command (after --), run without a shell.")
    :args("+")
  commands.launch = launch

  local recover = p:command("recover", "Start again what installers that "
    .. "died stopped and never restarted (Linux).")
  recover:flag("--json", "Write the report as one JSON document (errors "
    .. "too).")
  commands.recover = recover

  p:add_help_command()
  p:add_complete_command()
  return p, commands
end

-- "--timeout -1": argparse takes "-1" for an option; written
-- "--timeout=-1" it reaches the option's check and its clear message.
local function join_negative_numbers(args)
  local out, i = {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      table.move(args, i, #args, #out + 1, out)
      break
    end
    local nxt = args[i + 1]
    if SECONDS[a] and type(nxt) == "string" and nxt:match("^%-[%d.]") then
      out[#out + 1] = a .. "=" .. nxt
      i = i + 2
    else
      out[#out + 1] = a
      i = i + 1
    end
  end
  return out
end

-- whether the command line asks for JSON (before any "--")
local function wants_json(args)
  for _, a in ipairs(args) do
    if a == "--" then return false end
    if a == "--json" then return true end
  end
  return false
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function append_all(dst, src)
  for _, v in ipairs(src or {}) do dst[#dst + 1] = v end
end

-- The policy options of the parsed arguments, or nil and a message.
local function policy_of(a)
  local opts = {}
  if a.policy then
    local text, err = read_file(a.policy)
    if not text then return nil, "cannot read the policy: " .. err end
    local ok, data
    ok, data, err = pcall(json.decode, text)
    if not ok then return nil, tostring(data):gsub("^[^:]*:%d+: ", "") end
    if type(data) ~= "table" then
      return nil, ("%s: not a JSON object%s"):format(a.policy,
        err and (": " .. err) or "")
    end
    for k, v in pairs(data) do opts[k] = v end
  end
  local never = {}
  for k, v in pairs(opts.never or {}) do never[k] = v end
  local function add(field, values)
    if #values == 0 then return end
    local t = {}
    local old = never[field]
    if type(old) == "string" then old = { old } end
    if type(old) == "table" then append_all(t, old) end
    append_all(t, values)
    never[field] = t
  end
  add("names", a.spare or {})
  add("paths", a.spare_path or {})
  add("types", a.spare_type or {})
  if next(never) then opts.never = never end
  if a.force then opts.force = true end
  if a.only_registered then opts.only_registered = true end
  if a.allow_reboot then opts.allow_reboot_reasons = true end
  if a.allow_missing then opts.allow_missing = true end
  if a.allow_uninspected then opts.allow_uninspected = true end
  if a.timeout then opts.timeout = a.timeout end
  if a.deadline then opts.deadline = a.deadline end
  local ru_names = a.restart_unregistered_name or {}
  local ru_paths = a.restart_unregistered_path or {}
  if a.restart_unregistered then
    opts.restart_unregistered = true
  elseif (#ru_names > 0 or #ru_paths > 0)
      and opts.restart_unregistered ~= true then
    local ru = type(opts.restart_unregistered) == "table"
      and opts.restart_unregistered or {}
    local t = { names = {}, paths = {} }
    for _, k in ipairs { "names", "paths" } do
      local old = ru[k]
      if type(old) == "string" then old = { old } end
      if type(old) == "table" then append_all(t[k], old) end
    end
    append_all(t.names, ru_names)
    append_all(t.paths, ru_paths)
    opts.restart_unregistered = t
  end
  if a.yes then opts.terminal_apps = "stop" end
  -- checked here, so that a mistake is a usage error
  local ok, err = pcall(policy.new, opts)
  if not ok then return nil, (tostring(err):gsub("^[^:]*:%d+: ", "")) end
  return opts
end

-- The exit status of a failed procedure.
local function status_of(plan, code)
  if code == rm.error.ERROR_PRIVILEGE_NOT_HELD then return C.EXIT.uninspected end
  if code == core.error.ERROR_FAIL_NOACTION_REBOOT or (plan and plan.refused) then
    return C.EXIT.refused
  end
  return C.EXIT.failed
end

-- ---------------------------------------------------------------------
-- One run of a command: its arguments and where its output goes.

local Run = {}
Run.__index = Run

-- a: the parsed arguments; out, err: the streams
local function new_run(a, out, err)
  local r = setmetatable({ a = a, out = out, err = err,
    json = a.json or false }, Run)
  -- the report's stream: the command owns standard output in 'run', the
  -- log does with --log -
  r.report = (a.command == "run" or a.log == "-") and err or out
  return r
end

-- The JSON document: the common fields, then the command's.
function Run:document(ok, status, fields, failure)
  local doc = { command = self.a.command, ok = ok, status = status }
  for k, v in pairs(fields or {}) do doc[k] = v end
  if failure then
    doc.error = { message = failure.message, code = failure.code }
  end
  return doc
end

-- Writes the outcome and returns the exit status: the document (JSON) or
-- the text report and the error line (text; a refusal is in the report
-- already, and is not said twice).
function Run:finish(status, o)
  if self.json then
    local ok = o.ok
    if ok == nil then ok = status == 0 end
    self.report:write(json.encode(self:document(ok, status, o.fields,
      o.failure)), "\n")
    return status
  end
  if o.text then self.report:write(o.text, "\n") end
  if o.failure and not (o.plan and o.plan.refused == o.failure.message) then
    self.err:write("restartmanager: ", o.failure.message, "\n")
  end
  if o.hint then self.err:write("hint: ", o.hint, "\n") end
  return status
end

-- A failure before the procedure (a missing file, a bad policy).
function Run:fail(status, message, code)
  return self:finish(status, { failure = { message = message, code = code } })
end

-- The files of the command line that do not exist, refused unless
-- --allow-missing: the exit status, or nil to go on.
function Run:missing(files)
  if self.a.allow_missing then return nil end
  local missing = paths.missing(files)
  if #missing == 0 then return nil end
  local msg, code = session.missing_message(missing)
  -- run: the command did not run
  return self:fail(self.a.command == "run" and C.EXIT.run_failed
    or C.EXIT.failed, (msg:gsub("allow_missing", "--allow-missing")), code)
end

-- Options for rm.update/rm.close: progress and steps on standard error (not
-- with --json), the log to --log.
function Run:procedure_opts(opts)
  local a = self.a
  if a.log == "-" and self.json and a.command ~= "run" then
    return nil, "--log - and --json both write to standard output"
  end
  if not self.json then
    local display = C.display(self.err, nil, {
      timeout = opts.timeout or session.SHUTDOWN_TIMEOUT, force = opts.force })
    self.display = display
    opts.progress = function(pct, phase) display:progress(pct, phase) end
    opts.on_step = function(rec)
      local text = C.step_text(rec)
      if text then display:line(text) end
    end
  end
  if not a.yes and isatty(io.stdin) and isatty(self.err) then
    -- someone is there to ask
    local err, display = self.err, self.display
    opts.ask = function(apps)
      if display then display:done() end
      err:write("These programs have a terminal; someone may be working "
        .. "in them (unsaved work may be lost):\n")
      for _, e in ipairs(apps) do
        err:write(("  pid %d  %s  %s\n"):format(e.pid,
          policy.printable(tostring(e.name)),
          policy.printable(tostring(e.executable or ""))))
      end
      err:write("Stop them? [y/N] ")
      err:flush()
      local answer = io.stdin:read("l")
      return answer ~= nil and answer:match("^%s*[yY]") ~= nil
    end
  end
  if a.log == "-" then
    opts.log = self.out
  elseif a.log then
    local f, ferr = io.open(a.log, "a")
    if not f then return nil, "cannot open the log: " .. ferr end
    opts.log, self.logfile = f, f
  end
  return opts
end

function Run:ended()
  if self.display then self.display:done() end
  if self.logfile then self.logfile:close() end
end

-- The outcome of rm.close/rm.update as finish's table.
local function outcome_of(ok, res, code, plan, opts)
  local report = ok and res or plan
  local o = { ok = ok and true or false, plan = report,
    text = report and policy.format(report) or nil,
    fields = report and policy.data(report) or {} }
  if not ok then
    o.failure = { message = res, code = code }
    if code == core.error.ERROR_FAIL_SHUTDOWN and not opts.force
        and not (report and report.refused) then
      o.hint = "--force kills what has not stopped when the timeout passes"
    end
  end
  return o
end

-- ---------------------------------------------------------------------
-- The commands

local COMMANDS = {}

function COMMANDS.list(r)
  local a = r.a
  local missing = r:missing(a.paths)
  if missing then return missing end
  local apps, reasons, uninspected, pids = rm.who_uses(a.paths,
    { allow_missing = true })
  if not apps then return r:fail(C.EXIT.failed, reasons, uninspected) end
  local rows = {}
  for i, app in ipairs(apps) do
    local row = {}
    for k, v in pairs(app) do row[k] = v end
    row.status = policy.status_names(app.status)
    if row.service == "" then row.service = nil end
    row.executable = core.executable(app.pid) or nil
    rows[i] = row
  end
  local names = {}
  for name in pairs(reasons) do names[#names + 1] = name end
  table.sort(names)
  if r.json then
    return r:finish(C.EXIT.ok, { ok = true, fields = { apps = rows,
      reboot_reasons = names, uninspected = uninspected,
      uninspected_pids = pids } })
  end
  local out = {}
  if #apps == 0 then
    out[#out + 1] = uninspected > 0
      and "no application among those inspected uses these files"
      or "no application uses these files"
  else
    local t = { { "PID", "TYPE", "RESTARTABLE", "NAME" } }
    for _, app in ipairs(apps) do
      local name = app.name
      if app.service and app.service ~= "" then
        name = name .. " [" .. app.service .. "]"
      end
      if type(app.systemd) == "string" then
        name = name .. " (with signals: " .. app.systemd .. ")"
      end
      t[#t + 1] = { tostring(app.pid), app.type,
        app.restartable and "yes" or "no", policy.printable(name) }
    end
    local w = {}
    for _, row in ipairs(t) do
      for c = 1, 3 do w[c] = math.max(w[c] or 0, #row[c]) end
    end
    for _, row in ipairs(t) do
      out[#out + 1] = ("%-" .. w[1] .. "s  %-" .. w[2] .. "s  %-" .. w[3]
        .. "s  %s"):format(row[1], row[2], row[3], row[4])
    end
  end
  out[#out + 1] = "reboot reasons: " .. policy.reasons_text(reasons)
  if uninspected > 0 then
    out[#out + 1] = policy.uninspected_text(uninspected, pids, "files")
  end
  return r:finish(C.EXIT.ok, { ok = true, text = table.concat(out, "\n") })
end

function COMMANDS.plan(r, opts)
  local missing = r:missing(r.a.paths)
  if missing then return missing end
  opts.allow_missing = true
  local plan, msg, code = rm.plan({ files = r.a.paths }, opts)
  if not plan then return r:fail(status_of(nil, code), msg, code) end
  local status = plan.refused and status_of(plan, plan.refused_code)
    or C.EXIT.ok
  return r:finish(status, { ok = not plan.refused, plan = plan,
    text = policy.format(plan), fields = policy.data(plan) })
end

function COMMANDS.close(r, opts)
  local missing = r:missing(r.a.paths)
  if missing then return missing end
  opts.allow_missing = true
  local popts, perr = r:procedure_opts(opts)
  if not popts then return r:fail(C.EXIT.usage, perr) end
  local ok, res, code, plan = rm.close({ files = r.a.paths }, popts)
  r:ended()
  local o = outcome_of(ok, res, code, plan, opts)
  return r:finish(ok and C.EXIT.ok or status_of(o.plan, code), o)
end

-- Runs the command; returns the exit status it gives and how it ended.
local function run_command(cmd, display)
  if display then display:done() end
  local pid, msg, scode = core.spawn(cmd)
  if not pid then
    if display then display:line("restartmanager: " .. msg) end
    local how = scode == core.error.ERROR_FILE_NOT_FOUND and "not_found"
      or "cannot_run"
    return C.EXIT[how], { how = how, message = msg }
  end
  local how, n = core.wait(pid)
  if how == "exit" then return n, { how = how, status = n } end
  if how == "signal" then return 128 + n, { how = how, signal = n } end
  return C.EXIT.cannot_run, { how = "cannot_run", message = tostring(n) }
end

function COMMANDS.run(r, opts)
  local files = r.a.file
  local missing = r:missing(files)
  if missing then return missing end
  opts.allow_missing = true
  local popts, perr = r:procedure_opts(opts)
  if not popts then return r:fail(C.EXIT.usage, perr) end
  local status, ran
  local ok, res, code, plan = rm.update({ files = files }, function()
    status, ran = run_command(r.a.cmd, r.display)
  end, popts)
  r:ended()
  local o = outcome_of(ok, res, code, plan, opts)
  o.fields.run = ran or { how = "not_run" }
  if status == nil or (not ok and status == 0) then
    status = C.EXIT.run_failed
  end
  local down = ok and res.down or {}
  if status == 0 and #down > 0 and not r.a.allow_down then
    status = C.EXIT.down
    o.failure = { message = ("%d program%s stopped for the command did not "
      .. "come back (exit status %d; --allow-down accepts that)"):format(
        #down, #down == 1 and "" or "s", C.EXIT.down) }
    o.ok = false
  end
  return r:finish(status, o)
end

function COMMANDS.launch(r)
  local env = {}
  for _, e in ipairs(r.a.env or {}) do
    local k, v = e:match("^([^=]+)=(.*)$")
    if not k then
      return r:fail(C.EXIT.usage, "--env expects NAME=VALUE, got '" .. e
        .. "'")
    end
    env[k] = v
  end
  local _, msg, code = core.exec(r.a.cmd, { register_restart = true,
    cwd = r.a.chdir, env = env })
  -- only a failure returns
  local status = C.EXIT.failed
  if code == core.error.ERROR_FILE_NOT_FOUND then status = C.EXIT.not_found
  elseif code == core.error.ERROR_ACCESS_DENIED then
    status = C.EXIT.cannot_run
  end
  return r:fail(status, msg, code)
end

function COMMANDS.recover(r)
  local done, msg, code = rm.recover()
  if not done then return r:fail(C.EXIT.failed, msg, code) end
  local failed = false
  local lines = {}
  for _, e in ipairs(done) do
    if not e.started then failed = true end
    if e.service then
      lines[#lines + 1] = ("%s service %s"):format(
        e.started and "started" or "could not start",
        policy.printable(e.service))
    else
      lines[#lines + 1] = ("%s %s (was pid %d, user %d)%s"):format(
        e.started and "restarted" or "could not restart",
        policy.printable(e.exe), e.pid, e.uid,
        (e.started and e.new_pid > 0) and (" as pid " .. e.new_pid) or "")
    end
  end
  if #lines == 0 then lines[1] = "nothing to recover" end
  local status = failed and C.EXIT.failed or C.EXIT.ok
  return r:finish(status, { ok = not failed, text = table.concat(lines, "\n"),
    fields = { recovered = done } })
end

-- A usage error: the subcommand's usage and the message (or a JSON
-- document), exit status 2.
local function usage_error(args, out, err, usage, msg, command)
  if wants_json(args) then
    out:write(json.encode { command = command, ok = false,
      status = C.EXIT.usage, error = { message = msg, usage = usage } }, "\n")
  else
    err:write(usage, "\n\nError: ", msg, "\n")
  end
  return C.EXIT.usage
end

--- Runs the tool.
-- @tparam {string,...} args the command-line arguments (`arg`)
-- @tparam[opt] file out standard output
-- @tparam[opt] file err standard error
-- @treturn integer the exit status
function C.main(args, out, err)
  out, err = out or io.stdout, err or io.stderr
  local p, commands = C.parser()
  local words = join_negative_numbers(args)
  -- argparse's own error path: the handler is called with the parser of
  -- the (sub)command being parsed, whose usage is the one to show
  local USAGE = {}
  p.error = function(parser, msg)
    error(setmetatable({ usage = parser:get_usage(), msg = msg,
      command = parser._name }, USAGE), 0)
  end
  local ok, a = pcall(p.parse, p, words)
  if not ok then
    if getmetatable(a) ~= USAGE then error(a, 0) end
    local command = a.command ~= "restartmanager" and a.command or nil
    return usage_error(args, out, err, a.usage, a.msg, command)
  end
  local r = new_run(a, out, err)
  local opts = {}
  if a.command ~= "list" and a.command ~= "launch"
      and a.command ~= "recover" then
    local perr
    opts, perr = policy_of(a)
    if not opts then
      return usage_error(args, out, err, commands[a.command]:get_usage(),
        perr, a.command)
    end
  end
  return COMMANDS[a.command](r, opts)
end

return C
