// The VS Code front end of ferry: starts `ferry lsp` (server.ts), shows `ferry/status` in
// the status bar (ferry.ts, status.ts) and maps the palette commands `ferry.*` to the
// server's `ferry.server.*` (commands.ts), as docs/protocol.md names them.
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { Ferry } from './ferry';

let ferry: Ferry | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ferry = new Ferry(context);
  context.subscriptions.push(ferry);
  registerCommands(context, ferry);
  await ferry.activate();
}

export async function deactivate(): Promise<void> {
  await ferry?.stop();
  ferry = undefined;
}
