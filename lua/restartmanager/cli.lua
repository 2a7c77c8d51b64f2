--- The command-line tool, `restartmanager` (bin/restartmanager calls
-- `main`).
--
--    restartmanager list PATH... [--json]
--    restartmanager plan PATH... [POLICY] [--json]
--    restartmanager close PATH... [POLICY] [--log FILE]
--    restartmanager run --file PATH... [POLICY] [--log FILE] -- COMMAND...
--
-- POLICY: `--force`, `--timeout S`, `--deadline S`, `--spare NAME`,
-- `--spare-path PREFIX`, `--spare-type TYPE` (each repeatable),
-- `--only-registered`, `--allow-reboot`, `--policy FILE` (a JSON object
-- with the fields of a `restartmanager.policy`; the options above add to
-- it and override it).
--
-- Progress goes to standard error: a bar on a terminal, plain lines
-- otherwise. Arguments are parsed by argparse (Debian: lua-argparse); JSON
-- needs lua-dkjson or lua-cjson.
--
-- Exit status: 0 done; 1 failed; 2 wrong usage; 3 refused (a reboot would
-- be needed, or `--only-registered` with an app that cannot be restarted),
-- and for `plan`, the plan would be refused. `run` exits with the
-- command's status (128 + N when signal N ended it), 125 when the command
-- did not run because the procedure failed first or when the command
-- succeeded but the restart failed, 126 when the command could not be
-- started and 127 when it was not found.
-- @module restartmanager.cli
local rm = require "restartmanager"
local policy = require "restartmanager.policy"
local json = require "restartmanager.json"

local core = rm.core
local C = {}

--- Exit statuses.
C.EXIT = { ok = 0, failed = 1, usage = 2, refused = 3, run_failed = 125,
  cannot_run = 126, not_found = 127 }

local function isatty(f)
  local ok, term = pcall(require, "term")
  if ok and type(term) == "table" and term.isatty then
    return term.isatty(f) and true or false
  end
  return false
end

--- Progress and messages on a stream: a bar redrawn in place on a
-- terminal, plain lines otherwise.
-- @type Display
local Display = {}
Display.__index = Display

local PHASES = { shutdown = "stopping", force = "killing",
  restart = "restarting" }

--- A display on `stream`.
-- @param stream a file handle (standard error)
-- @tparam[opt] boolean tty draw a bar (default: whether stream is a
-- terminal)
-- @treturn Display
function C.display(stream, tty)
  if tty == nil then tty = isatty(stream) end
  return setmetatable({ out = stream, tty = tty, bar = nil }, Display)
end

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
  if bar then self:progress(bar.pct, bar.phase) end
  self.out:flush()
end

--- A progress report.
-- @tparam number pct 0..100
-- @tparam string phase "shutdown", "force" or "restart"
function Display:progress(pct, phase)
  local label = PHASES[phase] or phase or ""
  if self.tty then
    local width = 30
    local full = math.floor(pct * width / 100 + 0.5)
    self.out:write(("\r\27[K[%s%s] %3d%% %s"):format(("#"):rep(full),
      ("."):rep(width - full), math.floor(pct), label))
    self.bar = { pct = pct, phase = phase }
  else
    self.out:write(("%s %d%%\n"):format(label, math.floor(pct)))
  end
  self.out:flush()
end

--- Ends the bar (a terminal's line is cleared).
function Display:done()
  self:clear()
  self.out:flush()
end

local function app_label(rec)
  return ("pid %s (%s)"):format(tostring(rec.pid), tostring(rec.name))
end

-- The readable line for a step's record, or nil for steps not shown.
local STEP_TEXT = {
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
    return ("%s failed: %s"):format(tostring(r.phase), tostring(r.message))
  end,
  cancelled = function(r) return "cancelled: " .. tostring(r.message) end,
  refused = function(r) return "refused: " .. tostring(r.message) end,
  restarted = function(r) return "restarted " .. app_label(r) end,
  not_restarted = function(r)
    return "not restarted " .. app_label(r) .. ": " .. tostring(r.why)
  end,
}

--- The readable form of a step record (nil for steps shown otherwise).
-- @tparam table rec a record as `restartmanager.log` describes
-- @treturn string|nil
function C.step_text(rec)
  local f = STEP_TEXT[rec.step]
  return f and f(rec) or nil
end

local function seconds(name)
  return function(s)
    local n = tonumber(s)
    if not n or n < 0 or n ~= n then
      return nil, ("option '%s': a number of seconds expected, got '%s'")
        :format(name, s)
    end
    return n
  end
end

local function add_policy_options(cmd)
  cmd:flag("--force", "Kill what has not stopped after the timeout.")
  cmd:option("--timeout", "Seconds an application may take to stop.")
    :argname("<s>"):convert(seconds("--timeout"))
  cmd:option("--deadline", "Seconds the whole stopping may take; then the "
    .. "running step is cancelled.")
    :argname("<s>"):convert(seconds("--deadline"))
  cmd:option("--spare", "Never touch an application with this name.")
    :argname("<name>"):count("*")
  cmd:option("--spare-path", "Never touch an application whose executable "
    .. "is this file or lies under this directory.")
    :argname("<prefix>"):count("*")
  cmd:option("--spare-type", "Never touch applications of this type "
    .. "(critical, service, console, unknown, ...).")
    :argname("<type>"):count("*")
  cmd:flag("--only-registered", "Stop nothing unless every application to "
    .. "stop can be restarted.")
  cmd:flag("--allow-reboot", "Go on even when a reboot would be needed.")
  cmd:option("--policy", "A policy as a JSON file; the options above add "
    .. "to it.")
    :argname("<file>")
end

local function parser()
  local argparse = require "argparse"
  local p = argparse("restartmanager",
    "Close the programs that hold files, and bring them back afterwards.")
    :command_target("command")
    :epilog("Exit status: 0 done, 1 failed, 2 wrong usage, 3 refused (a "
      .. "reboot would be needed). 'run' exits with the command's status.")
  p:flag("--version", "Show the version and exit.")
    :action(function()
      io.stdout:write("restartmanager ", rm._VERSION, " (", core.backend,
        " backend)\n")
      os.exit(0)
    end)

  local list = p:command("list", "Which applications use these files.")
  list:argument("paths", "Files."):args("+")
  list:flag("--json", "Write JSON.")

  local plan = p:command("plan", "What 'close' or 'run' would do, and why "
    .. "(a dry run: nothing is stopped).")
  plan:argument("paths", "Files."):args("+")
  add_policy_options(plan)
  plan:flag("--json", "Write JSON.")

  local close = p:command("close", "Close the applications that use these "
    .. "files (they are not restarted).")
  close:argument("paths", "Files."):args("+")
  add_policy_options(close)
  close:option("--log", "Write one JSON line per step to this file ('-': "
    .. "standard output)."):argname("<file>")

  local run = p:command("run", "Close the applications that use the files, "
    .. "run the command, restart them.")
  run:option("--file", "A file the command will replace."):args("+")
    :count("+"):argname("<path>")
  add_policy_options(run)
  run:option("--log", "Write one JSON line per step to this file ('-': "
    .. "standard output)."):argname("<file>")
  run:argument("cmd", "The command (after --), run without a shell.")
    :args("+")
  return p
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

-- The policy options of the parsed arguments.
local function policy_of(a)
  local opts = {}
  if a.policy then
    local text, err = read_file(a.policy)
    if not text then return nil, "cannot read the policy: " .. err end
    local data
    data, err = json.decode(text)
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
  if a.timeout then opts.timeout = a.timeout end
  if a.deadline then opts.deadline = a.deadline end
  -- checked here, so that a mistake is a usage error
  local ok, err = pcall(policy.new, opts)
  if not ok then return nil, tostring(err):gsub("^[^:]*:%d+: ", "") end
  return opts
end

local function status_of(plan_or_nil, code)
  if code == core.error.ERROR_FAIL_NOACTION_REBOOT
      or (plan_or_nil and plan_or_nil.refused) then
    return C.EXIT.refused
  end
  return C.EXIT.failed
end

local function list_cmd(a, out, err)
  local apps, reasons, uninspected = rm.who_uses(a.paths)
  if not apps then
    err:write("restartmanager: ", reasons, "\n")
    return C.EXIT.failed
  end
  local names = {}
  for name in pairs(reasons) do names[#names + 1] = name end
  table.sort(names)
  if a.json then
    local rows = {}
    for i, app in ipairs(apps) do
      local r = {}
      for k, v in pairs(app) do r[k] = v end
      r.status = policy.status_names(app.status)
      if r.service == "" then r.service = nil end
      if core.executable then r.executable = core.executable(app.pid) or nil end
      rows[i] = r
    end
    out:write(json.encode { apps = rows, reboot_reasons = names,
      uninspected = uninspected }, "\n")
    return C.EXIT.ok
  end
  if #apps == 0 then
    out:write("no application uses these files\n")
  else
    local rows = { { "PID", "TYPE", "RESTARTABLE", "NAME" } }
    for _, app in ipairs(apps) do
      local name = app.name
      if app.service and app.service ~= "" then
        name = name .. " [" .. app.service .. "]"
      end
      if type(app.systemd) == "string" then
        name = name .. " (with signals: " .. app.systemd .. ")"
      end
      rows[#rows + 1] = { tostring(app.pid), app.type,
        app.restartable and "yes" or "no", name }
    end
    local w = {}
    for _, r in ipairs(rows) do
      for c = 1, 3 do w[c] = math.max(w[c] or 0, #r[c]) end
    end
    for _, r in ipairs(rows) do
      out:write(("%-" .. w[1] .. "s  %-" .. w[2] .. "s  %-" .. w[3]
        .. "s  %s\n"):format(r[1], r[2], r[3], r[4]))
    end
  end
  out:write("reboot reasons: ", #names > 0 and table.concat(names, ", ")
    or "none", "\n")
  if uninspected > 0 then
    local one = uninspected == 1
    out:write(("not inspected: %d process%s (no permission to look into "
      .. "%s; %s may use the files too)\n"):format(uninspected,
      one and "" or "es", one and "it" or "them", one and "it" or "they"))
  end
  return C.EXIT.ok
end

local function plan_cmd(a, out, err)
  local opts, perr = policy_of(a)
  if not opts then
    err:write("restartmanager: ", perr, "\n")
    return C.EXIT.usage
  end
  local plan, msg = rm.plan({ files = a.paths }, opts)
  if not plan then
    err:write("restartmanager: ", msg, "\n")
    return C.EXIT.failed
  end
  if a.json then
    out:write(json.encode(policy.data(plan)), "\n")
  else
    out:write(policy.format(plan), "\n")
  end
  return plan.refused and C.EXIT.refused or C.EXIT.ok
end

-- Options for rm.update/rm.close that show progress and steps on err, and
-- log to the --log file.
local function procedure_opts(a, opts, err, out)
  local display = C.display(err)
  opts.progress = function(pct, phase) display:progress(pct, phase) end
  opts.on_step = function(rec)
    local text = C.step_text(rec)
    if text then display:line(text) end
  end
  local logfile
  if a.log == "-" then
    opts.log = out
  elseif a.log then
    local f, ferr = io.open(a.log, "a")
    if not f then return nil, "cannot open the log: " .. ferr end
    opts.log, logfile = f, f
  end
  return display, logfile
end

local function close_cmd(a, out, err)
  local opts, perr = policy_of(a)
  if not opts then
    err:write("restartmanager: ", perr, "\n")
    return C.EXIT.usage
  end
  local display, logfile = procedure_opts(a, opts, err, out)
  if not display then
    err:write("restartmanager: ", logfile, "\n")
    return C.EXIT.failed
  end
  local ok, res, code, plan = rm.close({ files = a.paths }, opts)
  display:done()
  if logfile then logfile:close() end
  if ok then
    out:write(policy.format(res), "\n")
    return C.EXIT.ok
  end
  if plan then out:write(policy.format(plan), "\n") end
  err:write("restartmanager: ", res, "\n")
  return status_of(plan, code)
end

local function run_cmd(a, out, err)
  local opts, perr = policy_of(a)
  if not opts then
    err:write("restartmanager: ", perr, "\n")
    return C.EXIT.usage
  end
  local files = {}
  for _, group in ipairs(a.file) do append_all(files, group) end
  local display, logfile = procedure_opts(a, opts, err, out)
  if not display then
    err:write("restartmanager: ", logfile, "\n")
    return C.EXIT.failed
  end
  local status
  local ok, res, _, plan = rm.update({ files = files }, function()
    display:done()
    local pid, msg, scode = core.spawn(a.cmd)
    if not pid then
      display:line("restartmanager: " .. msg)
      status = scode == core.error.ERROR_FILE_NOT_FOUND and C.EXIT.not_found
        or C.EXIT.cannot_run
      return
    end
    local how, n = core.wait(pid)
    if how == "exit" then
      status = n
    elseif how == "signal" then
      status = 128 + n
    else
      status = C.EXIT.cannot_run
    end
  end, opts)
  display:done()
  if logfile then logfile:close() end
  if ok then
    err:write(policy.format(res), "\n")
  else
    if plan then err:write(policy.format(plan), "\n") end
    err:write("restartmanager: ", res, "\n")
  end
  if status == nil then return C.EXIT.run_failed end
  if not ok and status == 0 then return C.EXIT.run_failed end
  return status
end

local COMMANDS = { list = list_cmd, plan = plan_cmd, close = close_cmd,
  run = run_cmd }

--- Runs the tool.
-- @tparam {string,...} args the command-line arguments (`arg`)
-- @tparam[opt] file out standard output
-- @tparam[opt] file err standard error
-- @treturn integer the exit status
function C.main(args, out, err)
  out, err = out or io.stdout, err or io.stderr
  local p = parser()
  local ok, a = p:pparse(args)
  if not ok then
    err:write(p:get_usage(), "\n\nError: ", a, "\n")
    return C.EXIT.usage
  end
  return COMMANDS[a.command](a, out, err)
end

return C
