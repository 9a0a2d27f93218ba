import { NetpolError } from './errors.js';
import { type FqdnPlan, fqdnTargets, renderFqdnElements } from './fqdn.js';

/** Options of {@link FqdnEgressWriter}. */
export interface FqdnWriterOptions {
  /**
   * The least time, in seconds, an address stays allowed after a lookup (answers with a shorter
   * TTL get this); default 30. Resolvers and applications cache answers past short TTLs
   * (glibc's nscd, JVMs, connection pools), and a connection made a few seconds after a 1-second
   * TTL expired should still pass.
   */
  floorSeconds?: number;
}

/**
 * Fills the FQDN egress sets from DNS answers: the node's DNS server calls {@link onAnswer}
 * (it has the shape of `@podnet/dns`'s `DnsAnswerHook`) before it releases an answer, and the
 * returned promise settles once the answer's addresses are in the sets of every rule that
 * applies to the asking pod and names the asked domain. Answers that arrive while a batch is
 * being applied are written together in the next one, so one `apply` (an `nft` transaction, e.g.
 * through `@podnet/host`'s long-lived `NftSession`) serves many answers.
 */
export class FqdnEgressWriter {
  private plan: FqdnPlan = { table: 'podnet_netpol', rules: [], pods: {} };
  private readonly floor: number;
  private batch: { scripts: string[]; promise: Promise<void> } | null = null;
  private tail: Promise<void> = Promise.resolve();
  /** Transactions applied, and answers written. */
  readonly stats = { batches: 0, answers: 0, failures: 0 };

  constructor(
    private readonly apply: (script: string) => Promise<void>,
    options: FqdnWriterOptions = {},
  ) {
    const floor = options.floorSeconds ?? 30;
    if (!Number.isInteger(floor) || floor < 1 || floor > 86400)
      throw new NetpolError(
        'INVALID_ARGUMENT',
        `floorSeconds must be an integer 1-86400, got ${JSON.stringify(floor)}`,
        { issues: [{ path: 'floorSeconds', message: 'must be an integer 1-86400' }] },
      );
    this.floor = floor;
  }

  /** Replaces the plan (from `planFqdn` over the current cluster state). */
  setPlan(plan: FqdnPlan): void {
    this.plan = plan;
  }

  /** The plan in use. */
  get currentPlan(): FqdnPlan {
    return this.plan;
  }

  /** Whether answers to `ip` matter: a local pod some FQDN rule applies to. */
  watches(ip: string): boolean {
    return this.plan.pods[ip] !== undefined;
  }

  /**
   * Lets `client` reach `addrs` (resolved from `name`) for max(`ttl`, the floor) seconds in the
   * sets of the rules that apply to it and match `name`; resolves at once when none does.
   */
  onAnswer(
    client: { ip: string },
    name: string,
    addrs: readonly string[],
    ttl: number,
  ): Promise<void> {
    const targets = fqdnTargets(this.plan, client.ip, name);
    const script = renderFqdnElements(
      this.plan.table,
      targets,
      client.ip,
      addrs,
      Math.max(ttl, this.floor),
    );
    if (script === '') return Promise.resolve();
    return this.enqueue(script);
  }

  private enqueue(script: string): Promise<void> {
    const open = this.batch;
    if (open) {
      open.scripts.push(script);
      return open.promise;
    }
    const batch: { scripts: string[]; promise: Promise<void> } = {
      scripts: [script],
      promise: Promise.resolve(),
    };
    this.batch = batch;
    batch.promise = this.tail.then(async () => {
      if (this.batch === batch) this.batch = null;
      this.stats.batches++;
      this.stats.answers += batch.scripts.length;
      try {
        await this.apply(batch.scripts.join(''));
      } catch (err) {
        this.stats.failures++;
        throw err;
      }
    });
    this.tail = batch.promise.catch(() => undefined);
    return batch.promise;
  }
}
