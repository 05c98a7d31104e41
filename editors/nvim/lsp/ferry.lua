-- The `ferry lsp` client config (nvim-lspconfig's `lsp/<name>.lua` format). The plugin
-- starts it for every buffer under a folder with `devspace.yaml` or
-- `.devspace/config.yaml`; tweak it with `vim.lsp.config('ferry', { … })`, which merges
-- over this table.
local config = require('ferry.config')
local settings = config.server_settings()

---@type vim.lsp.Config
return {
  cmd = { config.binary(), 'lsp' },
  -- Where the plugin looks for a root (`.devspace` counts when it holds config.yaml).
  root_markers = { 'devspace.yaml', '.devspace' },
  workspace_required = true,
  init_options = settings,
  settings = { ferry = settings },
  capabilities = {
    experimental = {
      ferry = { statusUi = true, clientCommands = { 'ferry.compareWithContainer' } },
    },
  },
  handlers = {
    ['ferry/status'] = function(...)
      return require('ferry.client').on_status(...)
    end,
  },
  commands = {
    -- Run by the plugin, which reloads the resolved files' buffers at once.
    ['ferry.server.resolve'] = function(...)
      return require('ferry.client').resolve(...)
    end,
    ['ferry.compareWithContainer'] = function(...)
      return require('ferry.client').compare_with_container(...)
    end,
  },
  on_init = function(client)
    return require('ferry.client').on_init(client)
  end,
  on_exit = function(...)
    return require('ferry.client').on_exit(...)
  end,
}
