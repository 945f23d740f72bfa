import { type InboundFrame, isParleyError } from '@parley/core';
import { decodePreKeySignalMessage, decodeSignalMessage } from '../../../../core/src/wire/index.js';
import type { Rng } from '../../rng.js';
import { codeOf, untypedViolation } from '../classify.js';
import { hex, shrinkBytes } from '../engine.js';
import { buildGatewayFixture, N1, N3, P1, P2, UNKNOWN_PERSON } from '../gateway-fixture.js';
import { mutate } from '../mutate.js';
import type { Execution, FuzzTarget } from '../target.js';
import { RETRY_MARKER, WorldKeeper } from '../world-keeper.js';
import { diesAtFirstByte } from './wire.js';

/** Stages a frame body can reach inside `receiveFrame`. */
export const MESSAGE_DEPTHS = [
  'boundary (arguments, version byte, size)',
  'decode',
  'protocol state',
  'MAC',
  'decrypted',
];

/** How deep a refused message got, judged by its code and by whether our own decoder reads it. */
export function messageDepth(type: number, body: Uint8Array, code: string, error?: unknown): number {
  if (code === 'accepted') return 4;
  if (code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_UNKNOWN_VERSION' || code === 'ERR_MESSAGE_TOO_LARGE')
    return 0;
  if (error !== undefined && diesAtFirstByte(error)) return 0;
  if (!decodes(type, body)) return body.length > 0 ? 1 : 0;
  if (code === 'ERR_INVALID_MAC') return 3;
  if (code === 'ERR_DECRYPTION_FAILED') return 4;
  return 2;
}

function decodes(type: number, body: Uint8Array): boolean {
  try {
    if (type === 3) decodeSignalMessage(decodePreKeySignalMessage(body).message);
    else decodeSignalMessage(body);
    return true;
  } catch {
    return false;
  }
}

interface FrameInput {
  readonly seed: string;
  readonly steps: readonly string[];
  readonly frame: InboundFrame;
}

/**
 * `gateway.receiveFrame` with real frames the gateway has not read, mutated: the body byte- and
 * field-wise (most inputs), or the frame's routing (sender, device, type, a reused frame id).
 */
export const gatewayFramesTarget: FuzzTarget<FrameInput> = {
  name: 'gateway.receiveFrame',
  depths: MESSAGE_DEPTHS,
  inputs: { quick: 2_500, full: 60_000 },
  async setup(seed) {
    const fixture = await buildGatewayFixture(seed);
    const keeper = new WorldKeeper(fixture, seed, 'gateway.receiveFrame');
    const seeds = fixture.frames;
    return {
      generate(rng: Rng): FrameInput {
        const seedFrame = rng.pick(seeds);
        let frame: InboundFrame = { ...seedFrame.frame, frameId: `f${rng.u32().toString(16)}` };
        const steps: string[] = [];
        if (rng.chance(0.15)) {
          const field = rng.pick(['from', 'deviceId', 'type', 'frameId', 'to'] as const);
          steps.push(`frame.${field}`);
          if (field === 'from') frame = { ...frame, from: rng.pick([P1, P2, UNKNOWN_PERSON]) };
          if (field === 'deviceId') frame = { ...frame, deviceId: rng.pick([1, 2, 3, 0x7fff_ffff]) };
          if (field === 'type') frame = { ...frame, type: frame.type === 2 ? 3 : 2 };
          if (field === 'to') frame = { ...frame, to: rng.pick([N1, N3]) };
          if (field === 'frameId') frame = { ...frame, frameId: rng.pick(seeds).frame.frameId };
        }
        if (steps.length === 0 || rng.chance(0.5)) {
          const shape = frame.type === 3 ? 'prekey-message' : 'signal-message';
          const others = seeds.filter((s) => s.frame.type === frame.type).map((s) => s.frame.body);
          const mutated = mutate(rng, frame.body, shape, others);
          steps.push(...mutated.steps);
          frame = { ...frame, body: mutated.bytes };
        }
        return { seed: seedFrame.label, steps, frame };
      },
      describe: (input) =>
        `seed frame "${input.seed}", mutations [${input.steps.join(', ')}], frame ${JSON.stringify({
          ...input.frame,
          body: undefined,
        })}, body (${input.frame.body.length} bytes): ${hex(input.frame.body)}`,
      *shrink(input) {
        for (const body of shrinkBytes(input.frame.body, 1))
          yield { ...input, frame: { ...input.frame, body } };
      },
      async execute(input, index): Promise<Execution> {
        const world = await keeper.world(index);
        const { frame } = input;
        let outcome: string;
        let depth: number;
        let thrown: unknown;
        let refused = true;
        try {
          const result = await world.gateway.receiveFrame(frame);
          if (result.kind === 'accepted') {
            outcome = 'accepted';
            refused = false;
          } else outcome = 'reason' in result ? (result.reason ?? result.kind) : result.kind;
          depth = result.kind === 'duplicate' ? 2 : messageDepth(frame.type, frame.body, outcome);
        } catch (error) {
          thrown = error;
          outcome = codeOf(error);
          depth = messageDepth(frame.type, frame.body, outcome, error);
        }
        const settled = await keeper.settle(world, {
          refused,
          allowed: RETRY_MARKER,
          context: 'receiveFrame',
        });
        const violation =
          thrown !== undefined && !isParleyError(thrown)
            ? untypedViolation(thrown, 'receiveFrame')
            : settled.violation;
        return { outcome, depth, violation, backgroundCodes: settled.backgroundCodes };
      },
      close: () => keeper.discard(),
    };
  },
};
