-- The command-line tool as users expect one to behave: each command's own
-- usage on a usage error, options that parse as they read, JSON on every
-- command (errors too) in one schema, streams that do not mix, a refusal
-- said once, a countdown, the files and processes it must not pass over
-- silently, help and shell completion. Run as a subprocess against real
-- processes.
local H = require "spec.helpers"

describe("bin/restartmanager conventions", function()
  local json
  local fx, file, holder
  local cli, untouched = H.cli, H.untouched

  setup(function()
    json = require "restartmanager.json"
  end)

  before_each(function()
    fx = H.scratch { fifo = true }
    file, holder = fx.file, fx.holder
  end)

  after_each(function() fx.cleanup() end)

  -- the number of times plain text occurs in s
  local function occurrences(s, text)
    local n, pos = 0, 1
    while true do
      local i = s:find(text, pos, true)
      if not i then return n end
      n, pos = n + 1, i + #text
    end
  end

  describe("usage errors", function()
    it("print the usage of the command being parsed", function()
      local out, err, rc = cli("plan --frce /x")
      local _
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("^Usage: restartmanager plan ", err)
      assert.matches("\n\nError: unknown option '%-%-frce'", err)
      _, err, rc = cli("run --file /x")
      assert.equal(2, rc)
      assert.matches("^Usage: restartmanager run ", err)
      assert.matches("missing argument 'cmd'", err)
      _, err, rc = cli("nothing")
      assert.equal(2, rc)
      assert.matches("^Usage: restartmanager %[", err)
      assert.matches("unknown command 'nothing'", err)
    end)

    it("refuse negative numbers with a clear message", function()
      local f = file("data")
      for _, words in ipairs { "close --timeout -1", "plan --deadline -0.5",
        "close --timeout=-3", "run --deadline -2 --file" } do
        local _, err, rc = cli(words .. " " .. H.q(f) .. " -- true")
        assert.equal(2, rc, err)
        local option = words:match("(%-%-%a+)")
        assert.matches("option '" .. option:gsub("%-", "%%-") .. "': a "
          .. "non%-negative number of seconds expected, got '%-[%d.]+'", err)
        assert.matches("^Usage: restartmanager " .. words:match("^%a+"), err)
      end
    end)

    it("are a JSON document with --json", function()
      local out, err, rc = cli("close --json --frce /x")
      assert.equal(2, rc)
      assert.equal("", err)
      local doc = assert(json.decode(out))
      assert.same({ "close", false, 2 }, { doc.command, doc.ok, doc.status })
      assert.matches("^unknown option '%-%-frce'", doc.error.message)
      assert.matches("^Usage: restartmanager close ", doc.error.usage)
    end)
  end)

  describe("run --file", function()
    it("takes one path, is repeatable, and leaves the command alone",
      function()
        local a, b = file("a"), file("b")
        local ha, hb = holder("open " .. H.q(a)), holder("open " .. H.q(b))
        -- no "--": the first word that is not an option's value starts
        -- the command
        -- (the holders never registered: --allow-down accepts that they
        -- stay down)
        local out, err, rc = cli("run --timeout 5 --allow-down --file "
          .. H.q(a) .. " --file " .. H.q(b) .. " echo ran")
        assert.equal(0, rc, err)
        assert.equal("ran\n", out)
        assert.is_true(H.gone(ha.pid))
        assert.is_true(H.gone(hb.pid))
        assert.matches("\nreport: 2 applications use the resources\n", err)
      end)
  end)

  describe("--json", function()
    it("is one document on every command, with the same common fields",
      function()
        local f = file("data")
        local h = holder("open " .. H.q(f))
        local docs = {}
        for _, words in ipairs { "list --json", "plan --json",
          "close --json --timeout 5" } do
          local out, err, rc = cli(words .. " " .. H.q(f))
          assert.equal(0, rc, err)
          assert.equal("", err)
          local doc = assert(json.decode(out))
          assert.equal(words:match("^%a+"), doc.command)
          assert.is_true(doc.ok)
          assert.equal(0, doc.status)
          assert.is_nil(doc.error)
          assert.equal(h.pid, doc.apps[1].pid)
          docs[#docs + 1] = doc
        end
        assert.is_true(H.gone(h.pid))
        assert.equal("stopped", docs[3].apps[1].outcome)
        -- run: the command owns standard output, the document is on
        -- standard error
        local out, err, rc = cli("run --json --file " .. H.q(f)
          .. " -- sh -c 'echo ran; exit 3'")
        assert.equal(3, rc, err)
        assert.equal("ran\n", out)
        local doc = assert(json.decode(err))
        assert.same({ "run", true, 3 }, { doc.command, doc.ok, doc.status })
        assert.same({ how = "exit", status = 3 }, doc.run)
      end)

    it("reports a failure in the document, not as text", function()
      local f = file("data")
      local h = holder("ignore-term open " .. H.q(f))
      local out, err, rc = cli("close --json --timeout 0.3 " .. H.q(f))
      assert.equal(1, rc)
      assert.equal("", err)
      local doc = assert(json.decode(out))
      assert.same({ false, 1, 351 }, { doc.ok, doc.status, doc.error.code })
      assert.matches("^ERROR_FAIL_SHUTDOWN %(351%)", doc.error.message)
      assert.equal("not_stopped", doc.apps[1].outcome)
      assert.is_true(h.alive())
      out, err, rc = cli("list --json " .. H.q(fx.dir .. "/none"))
      assert.equal(1, rc)
      assert.equal("", err)
      doc = assert(json.decode(out))
      assert.same({ "list", false, 1, 2 },
        { doc.command, doc.ok, doc.status, doc.error.code })
    end)

    it("is the same whatever JSON library is installed: empty lists stay []",
      function()
        local f = file("unused")
        local texts = {}
        for _, lib in ipairs { "dkjson", "cjson" } do
          local other = lib == "dkjson" and "cjson" or "dkjson"
          local out, err, rc = cli("plan --json " .. H.q(f), {
            pre = ("package.preload[%q] = function() error('hidden') end")
              :format(other) })
          assert.equal(0, rc, err)
          texts[lib] = out
        end
        assert.equal(texts.dkjson, texts.cjson)
        assert.matches('"apps":%[%]', texts.cjson)
        assert.matches('"reboot_reasons":%[%]', texts.cjson)
        assert.matches('"names":%[%]', texts.cjson)
        -- and with neither (no --policy file to read)
        local out, err, rc = cli("plan --json " .. H.q(f), { pre =
          "for _, m in ipairs { 'dkjson', 'cjson' } do package.preload[m] = "
          .. "function() error('hidden') end end" })
        assert.equal(0, rc, err)
        assert.equal(texts.dkjson, out)
      end)
  end)

  describe("streams", function()
    it("keep the log apart from the report: close --log -", function()
      local f = file("data")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("close --timeout 5 --log - " .. H.q(f))
      assert.equal(0, rc, err)
      assert.is_true(H.gone(h.pid))
      -- standard output: JSON lines only
      local steps = {}
      for line in out:gmatch("([^\n]*)\n") do
        steps[#steps + 1] = assert(json.decode(line), line).step
      end
      assert.equal("started", steps[1])
      assert.equal("ended", steps[#steps])
      -- the report went to standard error
      assert.matches("\nreport: 1 application uses the resources\n", err)
      out, err, rc = cli("close --log - --json " .. H.q(f))
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("%-%-log %- and %-%-json both write to standard output",
        err)
    end)
  end)

  describe("a refusal", function()
    it("is printed once", function()
      local f = file("data")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("close --only-registered " .. H.q(f))
      assert.equal(3, rc)
      assert.equal(1, occurrences(out .. err, "only_registered: holder"),
        out .. err)
      assert.is_true(untouched(h.pid))
      out, err, rc = cli("run --only-registered --file " .. H.q(f) .. " -- true")
      assert.equal(125, rc)
      assert.equal(1, occurrences(out .. err, "only_registered: holder"),
        out .. err)
    end)
  end)

  describe("the timeout", function()
    it("counts down on the terminal bar, then hints at --force", function()
      local f = file("data")
      local h = holder("ignore-term open " .. H.q(f))
      local typescript = fx.dir .. "/typescript"
      local _, rc = H.sh("script -qec " .. H.q("env " .. H.lua_env() .. " "
        .. H.LUA .. " " .. H.q(H.ROOT .. "/bin/restartmanager")
        .. " close --timeout 4.5 " .. H.q(f)) .. " " .. H.q(typescript)
        .. " >/dev/null 2>&1")
      assert.equal(1, rc)
      local tty = H.read(typescript)
      assert.matches("%]   0%% stopping, 5 s left\r", tty)
      -- redrawn each second of the wait: a loaded machine may let one or
      -- two of them pass late, not all four
      assert.matches("%]   0%% stopping, [1-4] s left", tty)
      assert.matches("\nhint: %-%-force kills what has not stopped when the "
        .. "timeout passes", tty)
      assert.is_true(h.alive())
      -- with --force the countdown says what comes after it
      _, rc = H.sh("script -qec " .. H.q("env " .. H.lua_env() .. " "
        .. H.LUA .. " " .. H.q(H.ROOT .. "/bin/restartmanager")
        .. " close --force --timeout 1.5 " .. H.q(f)) .. " " .. H.q(typescript)
        .. " >/dev/null 2>&1")
      assert.equal(0, rc)
      assert.matches("stopping, 2 s left before killing", H.read(typescript))
      assert.is_true(H.gone(h.pid))
    end)
  end)

  describe("detected_self", function()
    it("says that restartmanager itself uses the file", function()
      -- the interpreter that runs the tool maps its own executable
      local lua = H.sh("readlink -f \"$(command -v " .. H.LUA .. ")\""):gsub("%s+$", "")
      local out, err, rc = cli("list " .. H.q(lua))
      assert.equal(0, rc, err)
      assert.matches("\nreboot reasons: [%w_, ()]*detected_self %(restartmanager "
        .. "itself uses this file%)", out)
      out, err, rc = cli("plan " .. H.q(lua))
      assert.equal(3, rc, err)
      assert.matches("\nrefused: ERROR_FAIL_NOACTION_REBOOT %(350%): "
        .. "restartmanager itself uses the resources %(detected_self%)", out)
      assert.is_nil(out:find("a reboot would be needed", 1, true))
    end)
  end)

  describe("files that do not exist", function()
    it("fail list, close and run, naming them; --allow-missing accepts them",
      function()
        local f = file("data")
        local h = holder("open " .. H.q(f))
        local none = fx.dir .. "/typo"
        local marker = fx.dir .. "/ran"
        for _, words in ipairs { "list", "close", "plan",
          "run -- touch " .. H.q(marker) } do
          local args = words:match("^run") and ("run --file " .. H.q(f)
            .. " --file " .. H.q(none) .. words:sub(4))
            or (words .. " " .. H.q(f) .. " " .. H.q(none))
          local out, err, rc = cli(args)
          assert.equal(words:match("^run") and 125 or 1, rc, err)
          assert.equal("", out)
          assert.equal("restartmanager: ERROR_FILE_NOT_FOUND (2): no such "
            .. "file: '" .. none .. "' (--allow-missing accepts files that "
            .. "do not exist)\n", err)
        end
        assert.is_nil(H.read(marker))
        assert.is_true(untouched(h.pid))
        local out, err, rc = cli("close --allow-missing --timeout 5 " .. H.q(f)
          .. " " .. H.q(none))
        assert.equal(0, rc, err)
        assert.matches("\nmissing %(accepted%): " .. none:gsub("%p", "%%%0"), out)
        assert.is_true(H.gone(h.pid))
      end)
  end)

  describe("processes that could not be inspected", function()
    it("make close exit 4 for a caller that is not root, with their pids",
      function()
        local prefix = H.as_nobody()
        if not prefix then
          pending("needs root, to run a caller that is not")
          return
        end
        local copy = H.world_readable_copy()
        H.finally(finally, function() H.sh("rm -rf " .. H.q(copy)) end)
        H.sh("cp -r " .. H.q(H.ROOT .. "/bin") .. " " .. H.q(copy .. "/bin")
          .. " && chmod -R a+rX " .. H.q(copy))
        local f = file("data")
        local h = holder("open " .. H.q(f))
        local as = { prefix = prefix, lua_env = H.lua_env_at(copy),
          bin = copy .. "/bin/restartmanager" }
        local out, err, rc = cli("close --timeout 1 " .. H.q(f), as)
        assert.equal(4, rc, err)
        assert.equal(1, occurrences(out .. err, "ERROR_PRIVILEGE_NOT_HELD (1314)"),
          out .. err)
        assert.matches("could not be inspected %(pids [%d, ]+", out)
        out, err, rc = cli("close --json --timeout 1 " .. H.q(f), as)
        assert.equal(4, rc, err)
        local doc = assert(json.decode(out))
        assert.equal(1314, doc.error.code)
        local listed = false
        for _, pid in ipairs(doc.uninspected_pids) do
          if pid == h.pid then listed = true end
        end
        assert.is_true(listed, "the holder's pid is not among them")
        out, err, rc = cli("close --allow-uninspected --timeout 1 " .. H.q(f), as)
        assert.equal(0, rc, err)
        assert.matches("^report: 0 applications use the resources", out)
        assert.matches("warning: not inspected: ", err)
        assert.is_true(untouched(h.pid))
      end)
  end)

  describe("help", function()
    it("has a help command, and --help covers every option", function()
      local cli_module = require "restartmanager.cli"
      local _, commands = cli_module.parser()
      for name, cmd in pairs(commands) do
        local out, err, rc = cli("help " .. name)
        assert.equal(0, rc, err)
        assert.matches("^Usage: restartmanager " .. name, out)
        local via_flag = cli(name .. " --help")
        assert.equal(out, via_flag)
        for _, option in ipairs(cmd._options) do
          for _, alias in ipairs(option._aliases) do
            assert.matches("[\n ]" .. alias:gsub("%-", "%%-") .. "[ ,=\n]", out,
              nil, ("%s: %s is not in the help"):format(name, alias))
          end
          assert.truthy(option._description and #option._description > 10,
            name .. ": " .. option._name .. " has no description")
        end
      end
      local out, _, rc = cli("--help")
      assert.equal(0, rc)
      assert.matches("\n   help ", out)
      assert.matches("\n   completion ", out)
      assert.matches("Exit status: 0 done", out)
    end)

    it("writes shell completion scripts", function()
      local out, err, rc = cli("completion bash")
      assert.equal(0, rc, err)
      assert.matches("complete %-F _restartmanager", out)
      assert.matches("%-%-allow%-uninspected", out)
      local bash = H.sh("command -v bash")
      if bash ~= "" then
        local script = file("completion.bash", out)
        local _, brc = H.sh("bash -n " .. H.q(script))
        assert.equal(0, brc)
      end
    end)
  end)
end)
