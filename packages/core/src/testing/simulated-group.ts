import { createPortableCrypto } from '../crypto/portable.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { createDeterministicRandom } from '../crypto/random.js';
import { isParleyError, ParleyError } from '../errors.js';
import type { GroupId } from '../groups/group-id.js';
import { type GroupCiphertext, type GroupDecryptResult, GroupSessions } from '../groups/group-sessions.js';
import type { MembershipPolicy, MembershipQuestion } from '../groups/membership.js';
import type { ProtocolAddress } from '../session/address.js';
import type { Clock, Store } from '../storage/contract.js';
import { createMemoryStore } from '../storage/memory.js';
import type { SenderKeyFormat } from '../wire/sender-key-format.js';
import { ManualClock } from './manual-clock.js';

/**
 * A member list as a membership policy: who is in which group, by device address. For tests
 * and the testing kit; a gateway answers from its own stored member lists.
 */
export class MemberList implements MembershipPolicy {
  readonly name = 'member-list';
  private readonly groups = new Map<GroupId, Set<string>>();

  add(group: GroupId, member: ProtocolAddress): void {
    let members = this.groups.get(group);
    if (!members) {
      members = new Set();
      this.groups.set(group, members);
    }
    members.add(memberKey(member));
  }

  remove(group: GroupId, member: ProtocolAddress): void {
    this.groups.get(group)?.delete(memberKey(member));
  }

  has(group: GroupId, member: ProtocolAddress): boolean {
    return this.groups.get(group)?.has(memberKey(member)) ?? false;
  }

  isMember(question: MembershipQuestion): boolean {
    return this.has(question.group, question.sender);
  }
}

function memberKey(address: ProtocolAddress): string {
  return `${encodeURIComponent(address.name)}/${address.deviceId}`;
}

/** One simulated member device: its own store and group sessions. */
export interface SimulatedGroupMember {
  readonly name: string;
  readonly address: ProtocolAddress;
  readonly store: Store;
  readonly groups: GroupSessions;
}

export interface SimulatedGroupOptions {
  /** Names of the first members (one device each). */
  readonly members: readonly string[];
  readonly group?: GroupId;
  readonly format?: SenderKeyFormat;
  /** Seeds every member's randomness: the same seed gives the same keys and bytes. */
  readonly seed?: string;
  readonly crypto?: CryptoProvider;
  readonly clock?: Clock;
}

/**
 * A group of Parley devices that hand each other distribution messages directly (a real network
 * carries them over 1:1 sessions), with membership changes done the way a client must do them:
 * a new member gets everyone's current distribution and sends its own; a removal makes every
 * remaining member rotate and redistribute, and forget the removed member's keys. Removed
 * members stay reachable through `member(name)`, so a test can show what they can no longer read.
 */
export class SimulatedGroup {
  readonly group: GroupId;
  readonly format: SenderKeyFormat;
  /** The one member list every member consults (each real client keeps its own copy). */
  readonly memberList = new MemberList();
  private readonly devices = new Map<string, SimulatedGroupMember>();
  private readonly current = new Set<string>();
  private readonly crypto: CryptoProvider;
  private readonly clock: Clock;
  private readonly seed: string | undefined;

  private constructor(options: SimulatedGroupOptions) {
    this.group = options.group ?? 'simulated-group';
    this.format = options.format ?? 'signal';
    this.crypto = options.crypto ?? createPortableCrypto();
    this.clock = options.clock ?? new ManualClock();
    this.seed = options.seed;
  }

  static async create(options: SimulatedGroupOptions): Promise<SimulatedGroup> {
    const group = new SimulatedGroup(options);
    for (const name of options.members) await group.add(name);
    return group;
  }

  /** Current members, in the order they joined. */
  get members(): string[] {
    return [...this.current];
  }

  /** A member device, current or removed. */
  member(name: string): SimulatedGroupMember {
    const member = this.devices.get(name);
    if (!member) throw new ParleyError('ERR_NOT_FOUND', 'no such simulated member', { field: 'name' });
    return member;
  }

  /** Adds a member: it receives every current member's distribution and sends its own. */
  async add(name: string): Promise<SimulatedGroupMember> {
    if (this.current.has(name)) return this.member(name);
    const joining = this.devices.get(name) ?? this.createMember(name);
    this.devices.set(name, joining);
    this.current.add(name);
    this.memberList.add(this.group, joining.address);
    const own = await joining.groups.createDistribution(this.group);
    for (const other of this.current) {
      if (other === name) continue;
      const member = this.member(other);
      const theirs = await member.groups.createDistribution(this.group);
      await joining.groups.processDistribution(this.group, member.address, theirs.body);
      await member.groups.processDistribution(this.group, joining.address, own.body);
    }
    return joining;
  }

  /** Removes a member: every remaining member forgets its keys, rotates and redistributes. */
  async remove(name: string): Promise<void> {
    if (!this.current.delete(name)) return;
    const leaving = this.member(name);
    this.memberList.remove(this.group, leaving.address);
    for (const other of this.current) await this.member(other).groups.forgetMember(this.group, name);
    for (const sender of this.current) {
      const rotated = await this.member(sender).groups.rotate(this.group);
      for (const receiver of this.current) {
        if (receiver === sender) continue;
        await this.member(receiver).groups.processDistribution(
          this.group,
          this.member(sender).address,
          rotated.body,
        );
      }
    }
  }

  /** One group message from `from` (encrypted once; deliver it to anyone with `deliver`). */
  send(from: string, plaintext: Uint8Array): Promise<GroupCiphertext> {
    return this.member(from).groups.encrypt(this.group, plaintext);
  }

  deliver(to: string, from: string, message: GroupCiphertext | Uint8Array): Promise<GroupDecryptResult> {
    const body = message instanceof Uint8Array ? message : message.body;
    return this.member(to).groups.decrypt(this.group, this.member(from).address, body);
  }

  /**
   * Sends from `from` and delivers to every other member device ever added (removed ones too):
   * a plaintext for each that could read it, the refusal for each that could not.
   */
  async broadcast(from: string, plaintext: Uint8Array): Promise<Map<string, Uint8Array | ParleyError>> {
    const message = await this.send(from, plaintext);
    const results = new Map<string, Uint8Array | ParleyError>();
    for (const name of this.devices.keys()) {
      if (name === from) continue;
      try {
        results.set(name, (await this.deliver(name, from, message)).plaintext);
      } catch (error) {
        if (!isParleyError(error)) throw error;
        results.set(name, error);
      }
    }
    return results;
  }

  private createMember(name: string): SimulatedGroupMember {
    const address = { name, deviceId: 1 };
    const store = createMemoryStore({ clock: this.clock });
    const groups = new GroupSessions({
      store,
      membership: this.memberList,
      format: this.format,
      crypto: this.crypto,
      random: this.seed === undefined ? undefined : createDeterministicRandom(`${this.seed}/${name}`),
      clock: this.clock,
      scope: name,
    });
    return { name, address, store, groups };
  }
}
