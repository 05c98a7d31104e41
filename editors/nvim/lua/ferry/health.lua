-- `:checkhealth ferry`: the binary and its version, Neovim, the config (`ferry list
-- --json`), the cluster and the pod (`ferry doctor --json`), each failure with its fix.

local M = {}

local function run(cmd, cwd, timeout)
  local ok, obj = pcall(function()
    return vim.system(cmd, { cwd = cwd, text = true }):wait(timeout or 30000)
  end)
  if not ok then
    return { code = -1, stdout = '', stderr = tostring(obj) }
  end
  return obj
end

function M.check()
  local config = require('ferry.config')
  local h = vim.health

  h.start('ferry: Neovim and options')
  if vim.fn.has('nvim-0.11') == 1 then
    h.ok('Neovim ' .. tostring(vim.version()))
  else
    h.error('Neovim ' .. tostring(vim.version()) .. ' is too old', { 'ferry needs Neovim 0.11 or later' })
  end
  for _, layer in ipairs({ { vim.g.ferry, 'vim.g.ferry' } }) do
    if layer[1] ~= nil then
      local problems = config.check(layer[1])
      if #problems == 0 then
        h.ok(layer[2] .. ' is valid')
      else
        for _, p in ipairs(problems) do
          h.warn(layer[2] .. ': ' .. p, { 'see :help ferry-config' })
        end
      end
    end
  end
  local opts = config.get()

  h.start('ferry: the binary')
  local binary = config.binary()
  local path = vim.fn.exepath(binary)
  if path == '' then
    h.error(('the ferry binary `%s` was not found'):format(binary), {
      'install ferry and put it on PATH (from the project: `cargo install --path server`)',
      "or name it: vim.g.ferry = { binary = '/path/to/ferry' }",
    })
    return
  end
  local v = run({ path, '--version' })
  if v.code ~= 0 then
    h.error(('`%s --version` failed: %s'):format(path, vim.trim(v.stderr or '')), { 'reinstall ferry' })
    return
  end
  h.ok(('%s (%s)'):format(vim.trim(v.stdout or ''), path))

  h.start('ferry: the workspace')
  local root = require('ferry').root(vim.api.nvim_get_current_buf())
  if not root then
    local cwd = vim.fn.getcwd()
    if vim.uv.fs_stat(cwd .. '/devspace.yaml') or vim.uv.fs_stat(cwd .. '/.devspace/config.yaml') then
      root = cwd
    end
  end
  if not root then
    h.info('no devspace.yaml or .devspace/config.yaml above the current buffer or the current folder: nothing to check')
    return
  end
  -- The profiles the server is told to apply (a name or a list).
  local profile_flags = {}
  for _, name in ipairs(type(opts.profile) == 'string' and { opts.profile } or opts.profile or {}) do
    vim.list_extend(profile_flags, { '--profile', name })
  end
  local list_cmd = { path, 'list', '--json', '--workspace', root }
  if opts.configPath then
    vim.list_extend(list_cmd, { '--config', opts.configPath })
  end
  vim.list_extend(list_cmd, profile_flags)
  local l = run(list_cmd, root)
  if l.code ~= 0 then
    h.error(('the config of %s cannot be used:\n%s'):format(root, vim.trim((l.stderr or '') .. (l.stdout or ''))), {
      'fix the config (its diagnostics point at the line), then run :checkhealth ferry again',
    })
    return
  end
  local okj, paths = pcall(vim.json.decode, l.stdout or '')
  local n = okj and type(paths) == 'table' and #paths or 0
  h.ok(('config found and valid in %s (%d sync path%s)'):format(root, n, n == 1 and '' or 's'))

  h.start('ferry: the cluster and the pod (ferry doctor)')
  local doctor = { path, 'doctor', '--json', '--workspace', root }
  local flags = { ['--kubeconfig'] = 'kubeconfig', ['--context'] = 'context', ['--namespace'] = 'namespace', ['--config'] = 'configPath' }
  for flag, key in pairs(flags) do
    if opts[key] then
      vim.list_extend(doctor, { flag, opts[key] })
    end
  end
  vim.list_extend(doctor, profile_flags)
  local d = run(doctor, root, 60000)
  local okd, report = pcall(vim.json.decode, d.stdout or '')
  if not okd or type(report) ~= 'table' or type(report.checks) ~= 'table' then
    h.error('`ferry doctor --json` gave no report: ' .. vim.trim(d.stderr or ''), { 'run `ferry doctor` in ' .. root })
    return
  end
  for _, c in ipairs(report.checks) do
    local what = ((type(c.sync) == 'string' and (c.sync .. ': ')) or '') .. tostring(c.what) .. ': ' .. tostring(c.detail or '')
    local fix = type(c.fix) == 'string' and { c.fix } or nil
    if c.status == 'ok' then
      h.ok(what)
    elseif c.status == 'warning' then
      h.warn(what, fix)
    else
      h.error(what, fix)
    end
  end
end

return M
