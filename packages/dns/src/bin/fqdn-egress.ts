import type { PolicyInput } from '@podnet/cluster-state';
import type { DnsAnswerHook } from '../answer-hook.js';

/** FQDN egress as podnet-dns runs it: the plan from its own watch, written through nft. */
export interface FqdnEgress {
  /** The hook the server calls before it releases an answer. */
  hook: DnsAnswerHook;
  /** Plans again from the current policies, namespaces and pods. */
  replan(state: PolicyInput): void;
  /** Whether a change to objects of `kinds` can change the plan (see netpol's fqdnPlanAffected). */
  affectedBy(kinds: Iterable<string>): boolean;
  close(): void;
}

/**
 * Loads `@podnet/netpol` (an optional peer) and `@podnet/host` (only podnet-dns with
 * `--fqdn-egress` needs them) and returns the hook that fills the policy sets through one
 * long-lived `nft -i` session in this process's network namespace.
 */
export async function startFqdnEgress(options: {
  table?: string;
  nodeName?: string;
  floorSeconds: number;
}): Promise<FqdnEgress> {
  const netpol = await import('@podnet/netpol');
  const host = await import('@podnet/host');
  const session = new host.NftSession();
  const writer = new netpol.FqdnEgressWriter((script) => session.apply(script), {
    floorSeconds: options.floorSeconds,
  });
  return {
    hook: writer,
    replan: (state) =>
      writer.setPlan(netpol.planFqdn(state, { table: options.table, nodeName: options.nodeName })),
    affectedBy: (kinds) => netpol.fqdnPlanAffected(writer.currentPlan, kinds),
    close: () => session.close(),
  };
}
