/**
 * The gateway processes of one deployment, seen from the harness: started (`instance.ts` under
 * tsx, IPC with structured clone, a signal pipe on fd 4), killed with SIGKILL, restarted under
 * the same index, closed. Every call to a process fails as soon as the process is gone, and
 * `stopAll` kills whatever is still running, so no failure can leave a child behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLE, type InstanceConfig, SIGNAL } from './protocol.js';
import { RpcPeer, type WireMessage } from './rpc.js';

const here = dirname(fileURLToPath(import.meta.url));
const INSTANCE_ENTRY = join(here, 'instance.ts');

/** A process that is not ready this long after its start is a failure, not a slow start. */
export const START_TIMEOUT_MS = 60_000;
/** `close` lets an instance persist and exit this long before it is killed. */
export const CLOSE_TIMEOUT_MS = 20_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Serves the calls a gateway process makes (transport, directory, business). */
export type ServeCalls = (rpc: RpcPeer, instance: GatewayProcess) => void;

export class GatewayProcess {
  readonly rpc: RpcPeer;
  readonly exited: Promise<Exit>;
  readonly ready: Promise<void>;
  alive = true;
  /** Signalled ready (its operations served); only then does the harness route work to it. */
  isReady = false;
  /** Signal lines in arrival order (see protocol.ts SIGNAL). */
  readonly signals: string[] = [];
  private readonly signalListeners = new Set<(line: string) => void>();
  private stderrTail = '';

  constructor(
    readonly config: InstanceConfig,
    readonly child: ChildProcess,
  ) {
    this.rpc = new RpcPeer({
      post: (message: WireMessage) => {
        if (!this.alive || !child.connected) throw new Error('gone');
        child.send(message);
      },
      listen: (listener) => child.on('message', (message) => listener(message as WireMessage)),
    });
    this.exited = new Promise<Exit>((resolve) => {
      child.on('exit', (code, signal) => {
        this.alive = false;
        this.rpc.fail(signal ? `was killed (${signal})` : `exited (${code})`);
        resolve({ code, signal });
      });
    });
    child.on('error', () => undefined);
    let buffered = '';
    const pipe = child.stdio[4] as Readable;
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        this.signals.push(line);
        for (const listener of [...this.signalListeners]) listener(line);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4_000);
    });
    this.ready = this.nextSignal((line) => line === SIGNAL.ready, START_TIMEOUT_MS).then(() => {
      this.isReady = true;
    });
    this.ready.catch(() => this.kill());
  }

  get index(): number {
    return this.config.index;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The end of the process's stderr (errors only; the gateway logs nothing else there). */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Resolves with the first signal line (from now on, or already seen when `pastToo`) that matches. */
  nextSignal(match: (line: string) => boolean, timeoutMs: number, pastToo = true): Promise<string> {
    const seen = pastToo ? this.signals.find(match) : undefined;
    if (seen !== undefined) return Promise.resolve(seen);
    const waiting = new Promise<string>((resolve, reject) => {
      const done = (outcome: () => void) => {
        clearTimeout(timer);
        this.signalListeners.delete(listener);
        outcome();
      };
      const listener = (line: string) => {
        if (match(line)) done(() => resolve(line));
      };
      const timer = setTimeout(() => done(() => reject(new Error('no such signal in time'))), timeoutMs);
      this.signalListeners.add(listener);
      this.exited.then((exit) => {
        done(() =>
          reject(new Error(`instance ${this.index} exited (${exit.signal ?? exit.code}): ${this.stderr}`)),
        );
      });
    });
    // A wait nobody awaits any more (its instance was killed meanwhile) is not an unhandled failure.
    waiting.catch(() => undefined);
    return waiting;
  }

  /** SIGKILL, no warning: what the test does to an instance, and what cleanup does to leftovers. */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** Asks the instance to close (persisting what it holds) and waits for it to exit; kills it if it hangs. */
  async close(): Promise<Exit> {
    if (!this.alive) return this.exited;
    const timer = setTimeout(() => this.kill(), CLOSE_TIMEOUT_MS);
    try {
      await this.rpc.call('close', null, CLOSE_TIMEOUT_MS).catch(() => undefined);
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export class Cluster {
  private readonly slots: (GatewayProcess | undefined)[] = [];
  private readonly generations: number[] = [];
  private readonly everStarted: GatewayProcess[] = [];

  constructor(
    private readonly configFor: (index: number, generation: number) => InstanceConfig,
    private readonly serveCalls: ServeCalls,
    private readonly cwd: string,
  ) {}

  /** Starts the process of one index (its first start or a restart) and waits until it is ready. */
  async start(index: number): Promise<GatewayProcess> {
    const generation = this.generations[index] ?? 0;
    this.generations[index] = generation + 1;
    const config = this.configFor(index, generation);
    // PARLEY_MI_NODE_ARGS: extra Node flags for the gateway processes (profiling: --cpu-prof).
    const extra = process.env.PARLEY_MI_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const args = [...extra, '--conditions=parley-source', '--import', 'tsx', INSTANCE_ENTRY];
    const child = spawn(process.execPath, args, {
      cwd: this.cwd,
      env: { ...process.env, [CONFIG_VARIABLE]: JSON.stringify(config) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', 'pipe'],
      serialization: 'advanced',
    });
    const instance = new GatewayProcess(config, child);
    this.everStarted.push(instance);
    this.serveCalls(instance.rpc, instance);
    this.slots[index] = instance;
    await instance.ready;
    return instance;
  }

  /** The instance of an index while it is alive. */
  at(index: number): GatewayProcess | undefined {
    const instance = this.slots[index];
    return instance?.alive && instance.isReady ? instance : undefined;
  }

  live(): GatewayProcess[] {
    return this.slots.filter(
      (instance): instance is GatewayProcess => instance?.alive === true && instance.isReady,
    );
  }

  /** Every process ever started (for the exit figures). */
  all(): readonly GatewayProcess[] {
    return this.everStarted;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.live().map((instance) => instance.close()));
  }

  /** Kills every process still running (cleanup after a failure, or after the figures were read). */
  async stopAll(): Promise<void> {
    for (const instance of this.everStarted) instance.kill();
    await Promise.all(this.everStarted.map((instance) => instance.exited));
  }
}
