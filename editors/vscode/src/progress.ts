// The server's work-done progress (`window/workDoneProgress/create` + `$/progress`, the
// initial sync of each sync path) as VS Code window progress with its percentage — as
// vscode-languageclient does — and, since window progress has no cancel button, kept
// where the status item's menu can cancel it (`window/workDoneProgress/cancel`, which
// ferry honours at its next batch boundary).
import * as vscode from 'vscode';
import {
  type LanguageClient,
  type ProgressToken,
  type StaticFeature,
  WorkDoneProgress,
  type WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';

interface Part {
  title: string;
  cancellable: boolean;
  progress?: vscode.Progress<{ message?: string }>;
  end?: () => void;
  dispose: vscode.Disposable;
}

export class ServerProgress implements StaticFeature {
  private readonly parts = new Map<ProgressToken, Part>();

  constructor(private readonly client: LanguageClient) {}

  /** The progress that can be cancelled now (titles). */
  cancellable(): string[] {
    return [...this.parts.values()].filter((p) => p.cancellable).map((p) => p.title);
  }

  /** Cancels every cancellable progress. */
  async cancelAll(): Promise<void> {
    for (const [token, part] of this.parts) {
      if (part.cancellable) await this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
    }
  }

  fillClientCapabilities(capabilities: { window?: { workDoneProgress?: boolean } }): void {
    capabilities.window = { ...(capabilities.window ?? {}), workDoneProgress: true };
  }

  /** Runs after the client's own progress feature: this handler replaces its. */
  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.parts.get(token)?.dispose.dispose();
      const part: Part = { title: 'ferry', cancellable: false, dispose: new vscode.Disposable(() => undefined) };
      part.dispose = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'begin') this.begin(part, value);
        else if (value.kind === 'report') this.report(part, value);
        else {
          part.end?.();
          part.dispose.dispose();
          this.parts.delete(token);
        }
      });
      this.parts.set(token, part);
    });
  }

  private begin(part: Part, value: WorkDoneProgressBegin): void {
    part.title = value.title;
    part.cancellable = value.cancellable ?? false;
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: value.title }, (progress) => {
      part.progress = progress;
      this.report(part, value);
      return new Promise<void>((resolve) => (part.end = resolve));
    });
  }

  private report(part: Part, value: WorkDoneProgressBegin | WorkDoneProgressReport): void {
    const pct = typeof value.percentage === 'number' ? `${Math.max(0, Math.min(100, Math.round(value.percentage)))}%` : undefined;
    const message = [pct, value.message].filter(Boolean).join(' ');
    if (message) part.progress?.report({ message });
  }

  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }

  clear(): void {
    for (const part of this.parts.values()) {
      part.end?.();
      part.dispose.dispose();
    }
    this.parts.clear();
  }
}
