import type { ClusterStore } from '@podnet/cluster-state';
import { policyInput } from '@podnet/cluster-state';
import { NftSession } from '@podnet/host';
import type { NetnsTarget } from '@podnet/host';
import { FqdnEgressWriter, fqdnPlanAffected, planFqdn } from '@podnet/netpol';

/**
 * FQDN egress for embedded DNS: the answer hook the agent's {@link DnsServer} calls before it
 * releases an answer, filling the ClusterNetworkPolicy `domainNames` sets of this node's policy
 * table through one long-lived `nft -i` session. (In process mode `podnet-dns --fqdn-egress`
 * does the same from its own watch.)
 */
export class AgentFqdnEgress {
  readonly writer: FqdnEgressWriter;
  private readonly session: NftSession;

  constructor(
    private readonly nodeName: string,
    options: { floorSeconds?: number; netns?: NetnsTarget } = {},
  ) {
    this.session = new NftSession({ netns: options.netns });
    this.writer = new FqdnEgressWriter((script) => this.session.apply(script), {
      floorSeconds: options.floorSeconds,
    });
  }

  /** Plans again from the store's policies, namespaces and this node's pods. */
  replan(store: ClusterStore): void {
    this.writer.setPlan(planFqdn(policyInput(store), { nodeName: this.nodeName }));
  }

  /** {@link replan}, when a change to objects of `kinds` can change the plan. */
  replanFor(store: ClusterStore, kinds: Iterable<string>): void {
    if (fqdnPlanAffected(this.writer.currentPlan, kinds)) this.replan(store);
  }

  /** Ends the nft session. */
  close(): void {
    this.session.close();
  }
}
