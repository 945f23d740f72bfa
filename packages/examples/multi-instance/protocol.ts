/**
 * What the harness and a gateway process tell each other: the process's configuration (an
 * environment variable, JSON), the operations each side serves over IPC, and the lines a
 * process writes synchronously on its signal pipe (fd 4) at moments the harness acts on.
 */
import type { IntegrityConfigInput, IntegrityLevel } from '@parley/core';

/** The environment variable carrying an instance's configuration (JSON). */
export const CONFIG_VARIABLE = 'PARLEY_MI_CONFIG';

/** File descriptor of the signal pipe in the gateway process (0–2 stdio, 3 IPC). */
export const SIGNAL_FD = 4;

export interface InstanceConfig {
  /** Which of the deployment's instances this is (0, 1, 2); a restart keeps the index. */
  readonly index: number;
  /** How many times this index was started before (0 for the first start). */
  readonly generation: number;
  readonly url: string;
  readonly schema: string;
  /** The key vault's database (another database than `url`'s) and schema. */
  readonly vaultUrl: string;
  readonly vaultSchema: string;
  /** The deployment's key-encryption key, hex (every instance holds the same KEK). */
  readonly kekHex: string;
  readonly businessId: string;
  readonly tuning: GatewayTuning;
}

/** The gateway options the harness sets (the same in every instance and in the one-instance run). */
export interface GatewayTuning {
  /** The gateway's own timer (`tick()`), real time. */
  readonly tickMs: number;
  readonly redeliveryInitialMs: number;
  readonly sendInitialMs: number;
  readonly backoffMaxMs: number;
  readonly maxSendAttempts: number;
  /** `claims.leaseMs`: how long a claim on due work holds before another instance may take the work. */
  readonly claimLeaseMs: number;
  readonly integrity: IntegrityConfigInput;
  /** Connections of the message store's pool. */
  readonly poolMax: number;
}

/** Arming the store hook of an instance (see instance.ts). */
export type ArmMode =
  /** At the next commit that finishes a claimed piece of due work: signal, then stop inside the commit. */
  | 'kill-in-claim-commit'
  /** At the next commit that writes a session: signal, then hold the open transaction for `holdMs`. */
  | 'hold-session-commit';

export interface ArmRequest {
  readonly mode: ArmMode;
  readonly holdMs: number;
}

/** Lines on the signal pipe. */
export const SIGNAL = {
  ready: 'ready',
  claimCommit: 'claim-commit',
  commitHeld: 'commit-held',
  /** The held commit's outcome: `held-outcome ok` or `held-outcome ERR_…`. */
  heldOutcome: 'held-outcome',
} as const;

/** A message the business's handler got, reported before the handler returns. */
export interface HandledMessage {
  readonly instance: number;
  readonly id: string;
  readonly text: string | undefined;
  readonly from: string;
  readonly deviceId: number;
  readonly attempt: number;
}

/** A durable status event handed to the business's event handler. */
export interface StatusReport {
  readonly instance: number;
  readonly eventId: string;
  readonly messageId: string;
  readonly status: string;
}

/** What one instance reports of the platform exports and the integrity signal. */
export interface InstanceFigures {
  readonly statistics: {
    readonly messagesIn: number;
    readonly messagesOut: number;
    readonly delivered: number;
    readonly failed: number;
    readonly expired: number;
    readonly sessionsEstablished: number;
  };
  readonly billing: {
    readonly businessInitiatedDelivered: number;
    readonly conversationsOpened: number;
    readonly openedByBusiness: number;
    readonly openedByPerson: number;
  };
  readonly integrity: {
    readonly level: IntegrityLevel;
    readonly rules: readonly string[];
    readonly sent: number;
    readonly delivered: number;
    readonly failed: number;
    readonly distinctRecipients: number;
    readonly unsolicitedRecipients: number;
    readonly newRecipients: number;
    readonly knownContacts: number;
  };
}

/** What an instance reports of itself (`health`). */
export interface InstanceHealth {
  /** Failures of background work reported to `onError`. */
  readonly backgroundErrors: number;
  /** Plaintext buffers the gateway holds now. */
  readonly plaintext: number;
  /** CPU time of the process since it started (user + system). */
  readonly cpuSeconds: number;
  /** The business's integrity level as this instance applies it now. */
  readonly level: IntegrityLevel;
}
