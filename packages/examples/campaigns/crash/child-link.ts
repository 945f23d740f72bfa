import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParleyError } from '@parley/core';
import { build } from 'esbuild';
import { decodeLine, encodeLine, errorJson, type Line, lineSplitter } from './line-protocol.js';

/**
 * The gateway child bundled once per run (esbuild, Parley's TypeScript sources included,
 * better-sqlite3 left external): a restart then costs a plain `node` start, not a TypeScript
 * compile, so a run can afford hundreds of kills.
 */
export async function bundleChild(): Promise<string> {
  // Inside the package's node_modules, so the bundle's `import 'better-sqlite3'` resolves.
  const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
  mkdirSync(cache, { recursive: true });
  const directory = mkdtempSync(join(cache, 'parley-crash-child-'));
  const outfile = join(directory, 'gateway-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./gateway-child.ts', import.meta.url))],
    bundle: true,
    outfile,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    conditions: ['parley-source'],
    external: ['better-sqlite3'],
    // better-sqlite3 is CommonJS: give the ESM bundle a require() to load it with.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
  return outfile;
}

const DEBUG = process.env.PARLEY_CRASH_DEBUG === '1';

export type ChildRequestHandler = (op: string, args: unknown) => Promise<unknown>;

export interface ChildEvents {
  onEvent(event: Record<string, unknown>): void;
  onError(error: { code?: string; name: string; message: string }): void;
  onCrash(marker: Extract<Line, { t: 'crash' }>): void;
}

/** One life of the gateway process: requests to it, its requests to us, and how it ended. */
export class ChildLink {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<{ status: boolean }>;
  dead = false;
  stderr = '';
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();

  constructor(
    bundle: string,
    args: readonly string[],
    private readonly handler: ChildRequestHandler,
    private readonly events: ChildEvents,
    cwd: string,
  ) {
    this.process = spawn(process.execPath, [bundle, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let markReady: (c: { status: boolean }) => void = () => undefined;
    this.ready = new Promise((resolve) => {
      markReady = resolve;
    });
    this.process.stdin!.on('error', () => undefined);
    this.process.stderr!.setEncoding('utf8');
    this.process.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    this.process.stdout!.setEncoding('utf8');
    this.process.stdout!.on(
      'data',
      lineSplitter((text) => {
        if (DEBUG) process.stderr.write(`child → ${text.slice(0, 200)}\n`);
        const line = decodeLine(text);
        switch (line.t) {
          case 'ready':
            markReady(line.capabilities);
            break;
          case 'res': {
            const waiter = this.pending.get(line.id);
            this.pending.delete(line.id);
            if (!waiter) break;
            if (line.ok) waiter.resolve(line.value);
            else waiter.reject(remoteError(line.error));
            break;
          }
          case 'creq':
            this.handler(line.op, line.args).then(
              (value) => this.write({ t: 'cres', id: line.id, ok: true, value }),
              (error) => this.write({ t: 'cres', id: line.id, ok: false, error: errorJson(error) }),
            );
            break;
          case 'event':
            this.events.onEvent(line.event);
            break;
          case 'error':
            this.events.onError(line.error);
            break;
          case 'crash':
            this.events.onCrash(line);
            break;
        }
      }),
    );
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.dead = true;
        for (const waiter of this.pending.values()) waiter.reject(gone());
        this.pending.clear();
        markReady({ status: false });
        resolve({ code, signal });
      });
    });
  }

  /** A request to the gateway; rejects with ERR_TRANSPORT_FAILURE when the process died first. */
  request(op: string, now: number, args: unknown = {}): Promise<unknown> {
    if (this.dead) return Promise.reject(gone());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.write({ t: 'req', id, op, now, args });
    });
  }

  /** Closes the child's stdin: it exits once its gateway is closed. */
  end(): void {
    this.process.stdin!.end();
  }

  kill(): void {
    if (!this.dead) this.process.kill('SIGKILL');
  }

  private write(line: Line): void {
    if (DEBUG) process.stderr.write(`child ← ${encodeLine(line).slice(0, 200)}\n`);
    if (!this.dead) this.process.stdin!.write(encodeLine(line));
  }
}

function gone(): ParleyError {
  return new ParleyError('ERR_TRANSPORT_FAILURE', 'the gateway process is gone');
}

/** The gateway's own refusals keep their code; the network treats them as final. */
function remoteError(error: { code?: string; name: string; message: string } | undefined): Error {
  if (error?.code && error.name === 'ParleyError') return new ParleyError(error.code as never, error.message);
  const out = new Error(`${error?.name ?? 'Error'}: ${error?.message ?? 'unknown'}`);
  out.name = error?.name ?? 'Error';
  return out;
}
