// The extension's state: the server (started, stopped, restarted), the last `ferry/status`
// and the status bar item that shows it. Commands (commands.ts, conflicts.ts) ask it for a
// running client.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { NotificationType, State, type LanguageClient } from 'vscode-languageclient/node';
import { anyConfigured, configCandidates, configGlob } from './configured';
import { RESTART_SETTINGS, Server, StartError } from './server';
import { formatStatus, serverDownView, startingView, type StatusPayload, type StatusView } from './status';

const statusNotification = new NotificationType<StatusPayload>('ferry/status');

export class Ferry implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private readonly item: vscode.StatusBarItem;
  private server: Server | undefined;
  private subscriptions: vscode.Disposable[] = [];
  private lastStatus: StatusPayload | undefined;
  private view: StatusView = startingView();
  /** Set while no server was started for want of a config (see `activate`). */
  private dormant: vscode.Disposable | undefined;
  /** Set while the extension itself stops the client (no "not running" alarm then). */
  private stopping = false;
  private readonly statusChanged = new vscode.EventEmitter<StatusPayload>();
  readonly onStatus = this.statusChanged.event;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('ferry', { log: true });
    this.item = vscode.window.createStatusBarItem('ferry.status', vscode.StatusBarAlignment.Left, 0);
    this.item.name = 'ferry';
    this.item.command = 'ferry.menu';
    context.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (this.dormant) {
          // Another config file may now name one that exists.
          if (e.affectsConfiguration('ferry.configPath')) void this.activate();
          return;
        }
        if (RESTART_SETTINGS.some((s) => e.affectsConfiguration(s))) {
          this.log.info('the server settings changed: restarting ferry lsp');
          void this.restartServer();
        }
      }),
    );
  }

  get status(): StatusPayload | undefined {
    return this.lastStatus;
  }

  get look(): StatusView['look'] {
    return this.view.look;
  }

  /** The server's progress that can be cancelled now (e.g. an initial sync). */
  cancellableProgress(): string[] {
    return this.server?.progress.cancellable() ?? [];
  }

  async cancelProgress(): Promise<void> {
    await this.server?.progress.cancelAll();
  }

  /** The running client, or undefined (and the user told why). */
  running(): LanguageClient | undefined {
    const c = this.server?.client;
    if (c && c.state === State.Running) return c;
    void vscode.window
      .showErrorMessage('ferry: the server is not running.', 'Restart Server', 'Show Log')
      .then((a) => this.onAction(a));
    return undefined;
  }

  /** Runs a server command (`ferry.server.*`) on the running client. */
  async execute<T>(command: string, args: unknown[] = []): Promise<T | undefined> {
    const c = this.running();
    if (!c) return undefined;
    return c.sendRequest<T>('workspace/executeCommand', { command, arguments: args });
  }

  /**
   * At activation: starts the server when a workspace folder holds a ferry config; else
   * stays dormant (no server, no item) until one appears, a folder with one is added, or
   * a ferry command is run. The extension also activates on `onStartupFinished`, because
   * VS Code's `workspaceContains` check can miss the folders of a window that is still
   * opening (seen with a multi-root workspace in code-server): this is where it is decided.
   */
  async activate(): Promise<void> {
    if (await this.configured()) {
      this.dormant?.dispose();
      this.dormant = undefined;
      await this.start();
      return;
    }
    this.dormant?.dispose();
    const n = vscode.workspace.workspaceFolders?.length ?? 0;
    this.log.info(
      n === 0
        ? 'the window has no workspace folders (yet): waiting for one with a ferry config (or a ferry command)'
        : `no ferry config in the ${n} workspace folder${n === 1 ? '' : 's'}: waiting for one (or a ferry command)`,
    );
    const wake = async () => {
      if (this.dormant && (await this.configured())) await this.wake('a ferry config appeared');
    };
    const watchers = (vscode.workspace.workspaceFolders ?? []).map((f) => {
      const w = vscode.workspace.createFileSystemWatcher(this.configPattern(f));
      w.onDidCreate(wake);
      return w;
    });
    // Added folders: checked, and watched from now on.
    const folders = vscode.workspace.onDidChangeWorkspaceFolders(() => {
      if (this.dormant) void this.activate();
    });
    this.dormant = vscode.Disposable.from(folders, ...watchers);
  }

  /** Starts a dormant extension (before a command runs, or when a config appears). */
  async wake(why = 'a ferry command was run'): Promise<void> {
    const dormant = this.dormant;
    if (!dormant) return;
    this.dormant = undefined;
    dormant.dispose();
    this.log.info(`starting ferry lsp: ${why}`);
    await this.start();
  }

  private candidates(): string[] {
    return configCandidates(vscode.workspace.getConfiguration('ferry').get<string | null>('configPath'));
  }

  private configPattern(folder: vscode.WorkspaceFolder): vscode.RelativePattern {
    const c = this.candidates();
    if (c.length === 1 && path.isAbsolute(c[0])) return new vscode.RelativePattern(vscode.Uri.file(path.dirname(c[0])), path.basename(c[0]));
    return new vscode.RelativePattern(folder, configGlob(c));
  }

  private async configured(): Promise<boolean> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const candidates = this.candidates();
    return anyConfigured(folders.length, candidates, async (i, file) => {
      const uri = path.isAbsolute(file) ? vscode.Uri.file(file) : vscode.Uri.joinPath(folders[i].uri, file);
      try {
        await vscode.workspace.fs.stat(uri);
        return true;
      } catch {
        return false;
      }
    });
  }

  async start(): Promise<void> {
    this.show(startingView());
    let server: Server;
    try {
      server = Server.create(this.context.extensionPath, this.log, {
        gaveUp: (reason) => this.down(reason, true),
      });
    } catch (err) {
      this.failed(err);
      return;
    }
    this.server = server;
    const c = server.client;
    this.subscriptions.push(
      c.onNotification(statusNotification, (payload) => {
        this.lastStatus = payload;
        this.show(formatStatus(payload));
        this.statusChanged.fire(payload);
      }),
      c.onDidChangeState((e) => {
        if (e.newState === State.Starting && !this.stopping) this.show(startingView());
      }),
    );
    try {
      await server.start();
    } catch (err) {
      this.failed(err);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.subscriptions.forEach((d) => d.dispose());
    this.subscriptions = [];
    if (!server) return;
    this.stopping = true;
    try {
      await server.stop();
    } finally {
      this.stopping = false;
    }
  }

  /** `Ferry: Restart Server`, and after a change of the binary or its environment. */
  async restartServer(): Promise<void> {
    await this.stop();
    this.lastStatus = undefined;
    await this.start();
  }

  private failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.log.error(message);
    this.down(message, false);
    const actions = err instanceof StartError && err.setting ? ['Set path…', 'Show Log'] : ['Show Log'];
    void vscode.window.showErrorMessage(message, ...actions).then((a) => this.onAction(a));
  }

  /** The server is not running: the item says so; `announce` also pops up the error. */
  private down(reason: string, announce: boolean): void {
    this.show(serverDownView(reason));
    if (announce) {
      void vscode.window
        .showErrorMessage(`ferry: ${reason}.`, 'Restart Server', 'Show Log')
        .then((a) => this.onAction(a));
    }
  }

  private onAction(action: string | undefined): void {
    if (action === 'Set path…') void vscode.commands.executeCommand('workbench.action.openSettings', 'ferry.server.path');
    else if (action === 'Show Log') this.log.show(true);
    else if (action === 'Restart Server') void vscode.commands.executeCommand('ferry.restartServer');
  }

  private show(view: StatusView): void {
    this.view = view;
    const item = this.item;
    item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip, true);
    tooltip.isTrusted = { enabledCommands: TOOLTIP_COMMANDS };
    item.tooltip = tooltip;
    item.accessibilityInformation = { label: view.label };
    item.backgroundColor =
      view.severity === 'none' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
    item.color = view.severity === 'none' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Foreground`);
    item.show();
  }

  dispose(): void {
    this.dormant?.dispose();
    this.item.dispose();
    this.statusChanged.dispose();
    this.log.dispose();
  }
}

/** The commands the tooltip's links may run. */
const TOOLTIP_COMMANDS = ['ferry.showLog', 'ferry.status', 'ferry.resync', 'ferry.start', 'ferry.stop', 'ferry.doctor', 'ferry.restartServer'];
