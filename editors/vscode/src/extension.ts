// The VS Code front end of ferry: starts `ferry lsp`, shows `ferry/status` in the status bar
// and maps the palette commands (`ferry.*`) to the server's (`ferry.server.*`), as
// docs/protocol.md ("The front ends' commands") names them.
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  LanguageClient,
  type LanguageClientOptions,
  NotificationType,
  type ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { formatStatus, serverDownView, startingView, type StatusPayload, type StatusView } from './status';

const statusNotification = new NotificationType<StatusPayload>('ferry/status');

/** Palette command → server command, those that only forward and show the result. */
const FORWARDED: ReadonlyArray<[palette: string, server: string]> = [
  ['ferry.start', 'ferry.server.start'],
  ['ferry.stop', 'ferry.server.stop'],
  ['ferry.restart', 'ferry.server.restart'],
  ['ferry.resync', 'ferry.server.resync'],
  ['ferry.status', 'ferry.server.status'],
  ['ferry.list', 'ferry.server.list'],
  ['ferry.doctor', 'ferry.server.doctor'],
  ['ferry.conflicts', 'ferry.server.conflicts'],
];

/** Read-only documents `ferry:/<command>.json` that show a command's result. */
const RESULT_SCHEME = 'ferry';
const results = new Map<string, string>();
const resultsChanged = new vscode.EventEmitter<vscode.Uri>();

async function showResult(palette: string, result: unknown): Promise<void> {
  const uri = vscode.Uri.from({ scheme: RESULT_SCHEME, path: `/${palette.replace(/^ferry\./, '')}.json` });
  results.set(uri.toString(), JSON.stringify(result, null, 2) + '\n');
  resultsChanged.fire(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, 'json');
  await vscode.window.showTextDocument(doc, { preview: true });
}

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem | undefined;
let log: vscode.LogOutputChannel | undefined;

function showView(view: StatusView): void {
  if (!statusItem) return;
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.backgroundColor =
    view.severity === 'none' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  statusItem.color =
    view.severity === 'none' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Foreground`);
  statusItem.show();
}

function serverPath(): string {
  const configured = vscode.workspace.getConfiguration('ferry').get<string>('serverPath') || 'ferry';
  return configured.startsWith('~/') ? os.homedir() + configured.slice(1) : configured;
}

/** The `ferry` settings the server reads (docs/protocol.md, `initializationOptions`). */
function initializationOptions(): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration('ferry');
  const options: Record<string, unknown> = {};
  for (const key of ['configPath', 'kubeconfig', 'context', 'namespace', 'autoStart', 'logLevel', 'localWatcher']) {
    const value = cfg.get(key);
    if (value !== undefined && value !== null) options[key] = value;
  }
  return options;
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const command = serverPath();
  const serverOptions: ServerOptions = { command, args: ['lsp'] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }],
    initializationOptions: initializationOptions(),
    outputChannel: log!,
    traceOutputChannel: log!,
  };
  const c = new LanguageClient('ferry', 'ferry', serverOptions, clientOptions);
  client = c;
  context.subscriptions.push(
    c.onNotification(statusNotification, (payload) => showView(formatStatus(payload))),
    c.onDidChangeState((e) => {
      if (e.newState === State.Stopped) showView(serverDownView('the server stopped (see the ferry output)'));
    }),
  );
  showView(startingView());
  try {
    await c.start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    showView(serverDownView(`cannot start \`${command} lsp\`: ${message}`));
    void vscode.window.showErrorMessage(
      `ferry: cannot start \`${command} lsp\` (${message}). Set "ferry.serverPath" to the ferry binary.`,
    );
  }
}

function running(): LanguageClient | undefined {
  if (client && client.state === State.Running) return client;
  void vscode.window.showErrorMessage('ferry: the server is not running (see the ferry output).');
  return undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  log = vscode.window.createOutputChannel('ferry', { log: true });
  statusItem = vscode.window.createStatusBarItem('ferry.status', vscode.StatusBarAlignment.Left, 0);
  statusItem.name = 'ferry';
  statusItem.command = 'ferry.showLog';
  context.subscriptions.push(
    log,
    statusItem,
    resultsChanged,
    vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, {
      onDidChange: resultsChanged.event,
      provideTextDocumentContent: (uri) => results.get(uri.toString()) ?? '',
    }),
  );

  for (const [palette, server] of FORWARDED) {
    context.subscriptions.push(
      vscode.commands.registerCommand(palette, async () => {
        const c = running();
        if (!c) return;
        try {
          const result: unknown = await c.sendRequest('workspace/executeCommand', { command: server, arguments: [] });
          if (result !== null && result !== undefined) await showResult(palette, result);
        } catch (err) {
          void vscode.window.showErrorMessage(`ferry: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
  }
  context.subscriptions.push(
    vscode.commands.registerCommand('ferry.showLog', async () => {
      const c = running();
      if (!c) return;
      const logs = await c.sendRequest<Array<{ folder: string; path: string }> | null>('workspace/executeCommand', {
        command: 'ferry.server.log',
        arguments: [],
      });
      const first = logs?.[0];
      if (!first) {
        log!.show(true);
        return;
      }
      await vscode.window.showTextDocument(vscode.Uri.file(first.path), { preview: true });
    }),
  );

  try {
    await startClient(context);
  } catch (err) {
    // VS Code shows no notification when an extension fails to activate.
    void vscode.window.showErrorMessage(`ferry: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
