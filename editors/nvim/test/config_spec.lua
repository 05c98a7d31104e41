-- lua/ferry/config.lua: validation and merging.
local config = require('ferry.config')
local S = {}

function S.unknown_keys_and_wrong_types_are_reported()
  local p = config.check({ bianry = 'x', autoStart = 'yes', logLevel = 'loud', symbols = { ok = 1, nope = 'x' } })
  table.sort(p)
  T.eq(5, #p, vim.inspect(p))
  T.eq(true, vim.iter(p):any(function(m)
    return m:find('unknown option "bianry"', 1, true) ~= nil
  end), vim.inspect(p))
end

function S.valid_options_pass()
  T.eq({}, config.check({ binary = '/x/ferry', namespace = 'dev', autoStart = false, symbols = { ok = 'OK' } }))
end

function S.vim_g_ferry_is_merged_over_the_defaults()
  local notified = {}
  local orig = vim.notify
  vim.notify = function(m)
    table.insert(notified, m)
  end
  vim.g.ferry = { namespace = 'dev', symbols = { ok = 'OK' }, nope = true }
  local o = config.get()
  config.get()
  vim.notify = orig
  vim.g.ferry = nil
  T.eq('dev', o.namespace)
  T.eq('OK', o.symbols.ok)
  T.eq('↑', o.symbols.up)
  T.eq(1, #notified, vim.inspect(notified))
end

function S.profile_is_a_name_or_a_list_and_reaches_the_server()
  T.eq({}, config.check({ profile = 'dev' }))
  T.eq({}, config.check({ profile = { 'dev', 'debug' } }))
  T.eq(1, #config.check({ profile = 3 }))
  vim.g.ferry = { profile = { 'dev', 'debug' } }
  local settings = config.server_settings()
  vim.g.ferry = nil
  T.eq({ 'dev', 'debug' }, settings.profile)
end

return S
