-- The Windows backend's kernel32 side under Wine: the quoting of restart
-- arguments into one command line (against CommandLineToArgvW, through
-- wintool.exe built from spec/helpers/wintool.c and the backend's own
-- src/win_restart.c), the HRESULT mapping, what RegisterApplicationRestart
-- receives from the module, and process start times.
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local function hex(s)
  if s == "" then return "-" end
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function unhex(h)
  if h == "-" then return "" end
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

-- Quotes each vector with win_cmdline_quote and parses the line back with
-- CommandLineToArgvW; returns, per vector, { line = quoted, args = parsed }.
local function round_trip(vectors)
  local dir = H.tmpdir()
  local files = {}
  for i, v in ipairs(vectors) do
    local lines = {}
    for _, a in ipairs(v) do lines[#lines + 1] = hex(a) .. "\n" end
    files[i] = W.winpath(dir .. "/" .. i)
    H.write(dir .. "/" .. i, table.concat(lines))
  end
  local out, rc = W.wintool("cmdline " .. table.concat(files, " "))
  H.sh("rm -rf " .. H.q(dir))
  assert.equal(0, rc, out)
  local results, n = {}, 0
  for line in out:gmatch("[^\n]+") do
    local case = line:match("^case .-/(%d+)$")
    if case then
      n = tonumber(case)
      results[n] = { args = {} }
    elseif line:match("^line ") then
      results[n].line = unhex(line:match("^line (%S+)"))
    elseif line:match("^argc ") then
      results[n].argc = tonumber(line:match("%d+"))
    elseif line:match("^arg ") then
      local i, h = line:match("^arg (%d+) (%S+)")
      results[n].args[tonumber(i)] = unhex(h)
    end
  end
  return results
end

-- How Wine's traces print a UTF-16 string (debugstr_w): quotes and
-- backslashes escaped, printable ASCII as is, any other unit as \xxxx.
local function wine_debugstr(s)
  local out = {}
  for _, c in utf8.codes(s) do
    local units = c >= 0x10000 and { 0xD800 + ((c - 0x10000) >> 10),
      0xDC00 + ((c - 0x10000) & 0x3FF) } or { c }
    for _, u in ipairs(units) do
      if u == 34 then out[#out + 1] = '\\"'
      elseif u == 92 then out[#out + 1] = "\\\\"
      elseif u >= 32 and u < 127 then out[#out + 1] = string.char(u)
      else out[#out + 1] = ("\\%04x"):format(u) end
    end
  end
  return 'L"' .. table.concat(out) .. '"'
end

describe("restart registration under wine #wine", function()
  it("quotes arguments so that CommandLineToArgvW gives them back",
    function()
      local vectors = {
        { "plain" }, { "two words" }, { "tab\there" }, { "" }, { "", "" },
        { 'say "hi"' }, { '"' }, { '""' }, { "\\" }, { "a\\b c" },
        { "C:\\Program Files\\App\\" }, { "\\\\server\\share\\" },
        { 'back\\"slash quote' }, { '\\\\\\"' }, { "\\\\ \\\\" },
        { "new\nline" }, { "v\vtab" }, { "Ünïcødé 日本語 😀" },
        { "--restartmanager-key=0f1e", "/flag", "-x", "", "a b", 'q"',
          "end\\" },
      }
      local results = round_trip(vectors)
      for i, v in ipairs(vectors) do
        local r = results[i]
        assert.is_table(r, "vector " .. i)
        assert.equal(#v, r.argc, r.line)
        assert.same(v, r.args)
      end
    end)

  it("quotes only what needs it, by the parsing rules", function()
    local cases = {
      { { "plain" }, "plain" },
      { { "a\\b" }, "a\\b" },            -- lone backslashes stay single
      { { "a b" }, '"a b"' },
      { { "" }, '""' },
      { { 'x"y' }, '"x\\"y"' },          -- a quote is escaped
      { { 'x\\"y' }, '"x\\\\\\"y"' },    -- its backslashes doubled, plus one
      { { "a b\\" }, '"a b\\\\"' },      -- doubled before the closing quote
      { { "a", "b" }, "a b" },
    }
    local vectors = {}
    for i, c in ipairs(cases) do vectors[i] = c[1] end
    local results = round_trip(vectors)
    for i, c in ipairs(cases) do
      assert.equal(c[2], results[i].line)
    end
  end)

  it("maps HRESULTs to Win32 codes", function()
    local out, rc = W.wintool("hresult 0 1 80070057 8007000E 80070490 "
      .. "80004005 8000FFFF 80070000")
    assert.equal(0, rc, out)
    assert.equal(table.concat({ "0 0", "1 0", "80070057 87", "8007000E 14",
      "80070490 1168", "80004005 1627", "8000FFFF 1627", "80070000 1627",
      "" }, "\n"), out)
  end)

  it("hands kernel32 the quoted line as UTF-16, and the flags", function()
    local args = { "--restartmanager-key=0f1e", "a b", 'say "hi"',
      "C:\\Program Files\\", "Ünï 😀", "" }
    local quoted = round_trip({ args })[1].line
    local list = {}
    for i, a in ipairs(args) do list[i] = ("%q"):format(a) end
    local res = W.run([[
      local core = require "restartmanager.core"
      R.with = core.register_application_restart({ ]]
        .. table.concat(list, ", ") .. [[ }, 5)
      R.without = core.register_application_restart()
      R.empty = core.register_application_restart({}, 8)
      R.unregister = core.unregister_application_restart()
    ]], { debug = "-all,fixme+process" })
    assert.equal(0, res.rc, res.out)
    assert.equal(true, res.R.with)
    assert.equal(true, res.R.without)
    assert.equal(true, res.R.empty)
    assert.equal(true, res.R.unregister)
    -- Wine's RegisterApplicationRestart traces what it received
    local traces = W.lines(res.out, "%x+:fixme:process:")
    assert.same({
      "RegisterApplicationRestart (" .. wine_debugstr(quoted) .. ",5)",
      "RegisterApplicationRestart ((null),0)",
      "RegisterApplicationRestart ((null),8)",
      "UnregisterApplicationRestart : stub",
    }, (function()
      local t = {}
      for i, l in ipairs(traces) do t[i] = l:match("fixme:process:(.*)$") end
      return t
    end)())
  end)

  it("reads a live process's creation time exactly", function()
    local tool = W.winpath(W.STANDIN .. "/wintool.exe"):gsub("/", "\\")
    local res = W.run([[
      local core = require "restartmanager.core"
      local p = assert(io.popen(]] .. ("%q"):format(tool .. " proc flag")
        .. [[, "r"))
      local line = p:read("l")
      local pid, start = line:match("^pid (%d+) start (%d+)")
      R.pid, R.start = tonumber(pid), tonumber(start)
      R.proc = core.process(R.pid)
      io.open("flag", "w"):close()
      p:close()
      R.none = { core.process(4294967295) }
    ]])
    assert.equal(0, res.rc, res.out)
    assert.equal("integer", math.type(res.R.pid))
    assert.equal("integer", math.type(res.R.start))
    -- a FILETIME of today is past 2^32
    assert.is_true(res.R.start > 1 << 32)
    assert.same({ pid = res.R.pid, start_time = res.R.start }, res.R.proc)
    assert.is_nil(res.R.none[1])
    assert.equal(87, res.R.none[3])
    assert.matches("^ERROR_INVALID_PARAMETER %(87%): ", res.R.none[2])
  end)
end)

describe("a launcher on Windows #wine", function()
  it("says that a process cannot become another program there", function()
    local res = W.run([[
      local core = require "restartmanager.core"
      R.exec = { core.exec({ "cmd.exe", "/c", "exit" },
        { register_restart = true }) }
      -- what restart_unregistered needs is there (spec/windows/capture_spec)
      R.capture = type(core.capture) == "function"
        and type(core.restart_captured) == "function"
    ]])
    assert.equal(0, res.rc, res.out)
    assert.is_nil(res.R.exec[1])
    assert.equal(87, res.R.exec[3])
    assert.matches("^ERROR_INVALID_PARAMETER %(87%): not available on "
      .. "Windows", res.R.exec[2])
    assert.is_true(res.R.capture)
  end)
end)
