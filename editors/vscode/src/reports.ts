// The report view: one webview panel per report kind (doctor, status, sync paths) showing
// the server's answer rendered readably (render.ts), reused when run again.
import * as vscode from 'vscode';
import { page } from './render';

const panels = new Map<string, vscode.WebviewPanel>();

export function showReport(kind: string, title: string, body: string): void {
  let panel = panels.get(kind);
  if (!panel) {
    panel = vscode.window.createWebviewPanel(`ferry.${kind}`, title, vscode.ViewColumn.Active, {
      enableScripts: false,
      enableFindWidget: true,
    });
    panel.onDidDispose(() => panels.delete(kind));
    panels.set(kind, panel);
  } else {
    panel.reveal(undefined, false);
  }
  panel.title = title;
  panel.webview.html = page(title, body);
}
