-- The reference LDoc writes (`make docs`, configuration docs/config.ld): the
-- modules under their real names, the constant tables, Lua 5.4 links, the
-- README and docs/*.md as topics, examples/ as examples.
local H = require "spec.helpers"

describe("the LDoc reference", function()
  local out_dir

  setup(function()
    out_dir = H.tmpdir()
    local out, rc = H.sh("cd " .. H.q(H.ROOT) .. " && ldoc -q -c docs/config.ld -d "
      .. H.q(out_dir) .. " . 2>&1")
    assert.equal(0, rc, out)
    -- a doc comment that does not fit its function is a warning, not an
    -- error: none may be left
    assert.not_matches(":%d+: ", out)
  end)

  teardown(function() H.sh("rm -rf " .. H.q(out_dir)) end)

  local function page(name)
    local html = H.read(out_dir .. "/" .. name)
    assert(html, name .. " was not written")
    return html
  end

  it("has a page for every module of the layer and the core", function()
    local index = page("index.html")
    local out = H.sh("cd " .. H.q(H.ROOT .. "/lua") .. " && find restartmanager -name '*.lua'")
    local n = 0
    for rel in out:gmatch("[^\n]+") do
      local name = rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      assert.matches('href="modules/' .. name:gsub("%p", "%%%0") .. '%.html"', index)
      n = n + 1
    end
    assert.is_true(n >= 5)
    assert.matches('href="modules/restartmanager%.core%.html"', index)
  end)

  it("names functions by their module, not by a local table", function()
    for _, f in ipairs { "restartmanager.policy", "restartmanager.json",
                         "restartmanager.log", "restartmanager.cli" } do
      local html = page("modules/" .. f .. ".html")
      -- a single capital and a dot or colon: a local table's name
      assert.is_nil(html:match('name = "%u[%.:][%w_]+"'), f)
    end
    local policy = page("modules/restartmanager.policy.html")
    assert.matches('name = "new"', policy)
    assert.matches('name = "plan"', policy)
    -- module functions are not listed as methods of a class
    local class = policy:match('<h2 class="section%-header[^"]*"><a name="Class_Plan">(.-)<h2')
    assert.is_string(class)
    assert.is_nil(class:find('name = "plan"', 1, true))
    assert.matches('name = "main"', page("modules/restartmanager.cli.html"))
  end)

  it("documents the constant tables of the core", function()
    local core = page("modules/restartmanager.core.html")
    for _, t in ipairs { "error", "app_type", "app_status", "reboot_reason",
                         "shutdown", "filter_action", "restart" } do
      assert.matches('<a name = "' .. t .. '"></a>', core)
    end
    assert.matches("ERROR_SESSION_CREDENTIAL_CONFLICT", core)
  end)

  it("links to the Lua 5.4 manual only", function()
    local core = page("modules/restartmanager.core.html")
    assert.matches("https://www%.lua%.org/manual/5%.4/manual%.html", core)
    local all = H.sh("grep -rho 'lua.org/manual/5\\.[0-9]' " .. H.q(out_dir) .. " | sort -u")
    assert.equal("lua.org/manual/5.4\n", all)
  end)

  it("renders names with underscores as written", function()
    assert.matches("no_shutdown", page("modules/restartmanager.core.html"))
    -- markdown emphasis out of an underscore, anywhere
    assert.equal("", H.sh("grep -rl '[a-z]<em>[a-z]' " .. H.q(out_dir)))
  end)

  it("has the README and docs/*.md as topics and examples/ as examples",
    function()
      local index = page("index.html")
      assert.matches('href="topics/README%.md%.html"', index)
      for f in H.sh("cd " .. H.q(H.ROOT .. "/docs") .. " && ls *.md"):gmatch("[^\n]+") do
        assert.matches('href="topics/' .. f:gsub("%p", "%%%0") .. '%.html"', index)
      end
      for _, f in ipairs { "primary.lua", "secondary.lua", "host.c", "host.cpp" } do
        assert.matches('href="examples/' .. f:gsub("%p", "%%%0") .. '%.html"', index)
      end
      assert.matches("Installation", page("topics/README.md.html"))
    end)
end)
