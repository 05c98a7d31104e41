// The language client for `ferry lsp`: which binary, its environment, its stderr into the
// "ferry" log channel at the right levels, the client capabilities ferry reads, the
// protocol-version check, and restarts after crashes (bounded by a RestartBudget).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
  type StreamInfo,
} from 'vscode-languageclient/node';
import { findBinary, isFound, type Found } from './binary';
import { RestartBudget } from './budget';
import { serverEnv } from './env';
import { ServerProgress } from './progress';
import { LineSplitter, parseLine } from './serverlog';

/** The protocol version this extension speaks (`experimental.ferry.protocolVersion`). */
export const PROTOCOL_VERSION = 1;

/** The command the extension runs itself when a code action names it. */
export const COMPARE_COMMAND = 'ferry.compareWithContainer';

/** The server settings sent as `initializationOptions` (docs/protocol.md). */
const SERVER_SETTINGS = ['configPath', 'kubeconfig', 'context', 'namespace', 'autoStart', 'logLevel', 'localWatcher', 'profile'];

/** Settings that need a new server process when they change (the others are live). */
export const RESTART_SETTINGS = ['ferry.server.path', 'ferry.server.extraEnv'];

export class StartError extends Error {
  constructor(
    message: string,
    /** The setting to offer to change ("Set path…"). */
    readonly setting?: string,
  ) {
    super(message);
  }
}

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Hooks {
  /** The client gave up restarting a crashing server. */
  gaveUp(reason: string): void;
}

export class Server {
  readonly client: LanguageClient;
  readonly binary: Found;
  readonly progress: ServerProgress;
  private child: ChildProcess | undefined;
  private readonly budget = new RestartBudget();

  private constructor(
    binary: Found,
    env: NodeJS.ProcessEnv,
    private readonly log: vscode.LogOutputChannel,
    hooks: Hooks,
  ) {
    this.binary = binary;
    const cfg = vscode.workspace.getConfiguration('ferry');
    const serverOptions: ServerOptions = () => this.spawn(env);
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }],
      initializationOptions: initializationOptions(cfg),
      outputChannel: log,
      traceOutputChannel: log,
      synchronize: { configurationSection: 'ferry' },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          if (this.budget.crashed(Date.now())) {
            log.warn(`ferry lsp ended; restarting it (${this.budget.count} of ${this.budget.limit} in 3 minutes)`);
            return { action: CloseAction.Restart, handled: true };
          }
          const reason = `ferry lsp ended ${this.budget.count} times in 3 minutes; not restarted again`;
          log.error(reason);
          hooks.gaveUp(reason);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    this.client = new LanguageClient('ferry', 'ferry', serverOptions, clientOptions);
    this.client.registerFeature(ferryCapabilities);
    this.progress = new ServerProgress(this.client);
    this.client.registerFeature(this.progress);
  }

  /** Finds the binary and makes the client (not started). */
  static create(extensionPath: string, log: vscode.LogOutputChannel, hooks: Hooks): Server {
    const cfg = vscode.workspace.getConfiguration('ferry');
    const env = serverEnv(process.env, cfg.get<Record<string, unknown>>('server.extraEnv'));
    const found = findBinary({
      setting: cfg.get<string>('server.path'),
      extensionPath,
      pathEnv: env['PATH'],
      home: os.homedir(),
      isExecutable,
    });
    if (!isFound(found)) {
      throw new StartError(
        found.badSetting
          ? `ferry cannot start the server: no ferry binary at ${found.tried.join(', ')}. Set "ferry.server.path" to the ferry binary.`
          : `ferry cannot start the server: no ferry binary found (looked for ${found.tried.join(', ')}). Install ferry or set "ferry.server.path".`,
        'ferry.server.path',
      );
    }
    log.info(`using ${found.path} (${found.source})`);
    return new Server(found, env, log, hooks);
  }

  /** Starts the client and checks the protocol version; throws a StartError. */
  async start(): Promise<void> {
    try {
      await this.client.start();
    } catch (err) {
      throw new StartError(
        `ferry cannot start the server \`${this.binary.path} lsp\`: ${err instanceof Error ? err.message : String(err)}`,
        'ferry.server.path',
      );
    }
    const experimental = this.client.initializeResult?.capabilities.experimental as
      | { ferry?: { protocolVersion?: unknown } }
      | undefined;
    const version = experimental?.ferry?.protocolVersion;
    if (version !== PROTOCOL_VERSION) {
      await this.stop();
      throw new StartError(
        `${this.binary.path} speaks ferry protocol ${version === undefined ? '(none: not a ferry server?)' : String(version)}; this extension speaks ${PROTOCOL_VERSION}. Install a matching ferry, or update the extension.`,
        'ferry.server.path',
      );
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    try {
      await this.client.stop(5_000);
    } catch (err) {
      this.log.warn(`stopping ferry lsp: ${err instanceof Error ? err.message : String(err)}`);
    }
    // The server exits on `exit`; one that does not is ended.
    if (child && child.exitCode === null && child.signalCode === null) {
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, 3_000).unref();
    }
  }

  /** A user-requested restart starts a fresh crash budget. */
  resetBudget(): void {
    this.budget.reset();
  }

  private spawn(env: NodeJS.ProcessEnv): Promise<StreamInfo> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary.path, ['lsp'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      this.child = child;
      const lines = new LineSplitter();
      const emit = (line: string) => {
        const { level, message } = parseLine(line);
        this.log[level === 'warn' ? 'warn' : level](message);
      };
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => lines.push(chunk).forEach(emit));
      child.stderr.on('end', () => lines.flush().forEach(emit));
      child.on('exit', (code, signal) => {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        if (code === 0) this.log.info(`ferry lsp ended (${how})`);
        else this.log.error(`ferry lsp ended (${how})`);
      });
      child.once('error', (err) => reject(err));
      child.once('spawn', () => resolve({ reader: child.stdout, writer: child.stdin, detached: false }));
    });
  }
}

function initializationOptions(cfg: vscode.WorkspaceConfiguration): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const key of SERVER_SETTINGS) {
    const value = cfg.get(key);
    if (value !== undefined && value !== null && value !== '') options[key] = value;
  }
  return options;
}

/** `experimental.ferry` client capabilities (docs/protocol.md, "Client capabilities"). */
const ferryCapabilities: StaticFeature = {
  fillClientCapabilities(capabilities) {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    experimental['ferry'] = { statusUi: true, clientCommands: [COMPARE_COMMAND] };
    capabilities.experimental = experimental;
  },
  initialize() {},
  getState() {
    return { kind: 'static' };
  },
  clear() {},
};
