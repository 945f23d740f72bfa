import { GroupSessions } from '../groups/group-sessions.js';
import type { MembershipPolicy } from '../groups/membership.js';
import type { BusinessContext, GatewayContext } from './context.js';
import { isMemberStored, readGroup } from './durable/group-store.js';
import { sessionScope } from './durable/layout.js';
import { GROUP_ID } from './validation.js';

/** Per business (loaded in this instance) and number: its sender keys. Dropped with the business. */
const cached = new WeakMap<BusinessContext, Map<string, GroupSessions>>();

/**
 * The sender keys of one business number: the same store, scope, sealer and crypto as the
 * number's SessionManager (`GatewayContext.sessions`), so a group's records sit beside the
 * sessions that carry its distribution messages and are sealed the same way. Membership is
 * the stored member lists: a device may distribute a key, or have its group message
 * decrypted, only while its person (by pseudonym) is a member of a group of this number.
 */
export function groupSessions(g: GatewayContext, ctx: BusinessContext, number: string): GroupSessions {
  let numbers = cached.get(ctx);
  if (!numbers) {
    numbers = new Map();
    cached.set(ctx, numbers);
  }
  let sessions = numbers.get(number);
  if (!sessions) {
    sessions = new GroupSessions({
      store: g.store,
      membership: storedMembers(g, ctx, number),
      format: g.groupFormat,
      crypto: g.crypto,
      random: g.random,
      clock: g.clock,
      scope: sessionScope(ctx.id, number),
      sealer: ctx.sealer,
    });
    numbers.set(number, sessions);
  }
  return sessions;
}

function storedMembers(g: GatewayContext, ctx: BusinessContext, number: string): MembershipPolicy {
  return {
    name: 'gateway-member-list',
    async isMember({ group, sender }) {
      if (!GROUP_ID.test(group)) return false;
      const stored = await readGroup(g, ctx, group);
      if (stored?.header.number !== number) return false;
      return isMemberStored(g, ctx, group, sender.name);
    },
  };
}
