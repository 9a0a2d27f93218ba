import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterStore } from '@podnet/cluster-state';
import type { NetnsTarget } from '@podnet/host';
import type { CompileOptions } from '@podnet/netpol';
import { DEFAULT_LOG_RATE_LIMIT, type FlowConfig } from './flow-config.js';
import { FlowCapture } from './flow-capture.js';
import { RateLimitedPoller } from './flow-limit.js';
import { FLOWS_PATH, serveFlowStream } from './flow-http.js';
import { FlowIndex } from './flow-index.js';
import { FlowRecorder } from './flows.js';
import type { MetricFamily } from './http.js';
import type { Logger } from './log.js';

/** netpol's default NFLOG group (where the policy rules log when nothing else is configured). */
export const DEFAULT_NFLOG_GROUP = 100;

/**
 * The agent's flow records, wired together: the address index fed from the cluster store, the
 * recorder (ring buffer, counters), the NFLOG capture in the node's namespace, the `/flows`
 * route and the policy compiler's logging options.
 */
export class AgentFlows {
  readonly index = new FlowIndex();
  readonly recorder: FlowRecorder;
  private readonly capture: FlowCapture;
  /** Reads the kernel's count of rate-limited records (absent with `logRateLimit: false`). */
  readonly rateLimited?: RateLimitedPoller;
  private unsubscribe?: () => void;

  constructor(
    readonly config: FlowConfig,
    node: string,
    log: Logger,
    netns?: NetnsTarget,
  ) {
    this.recorder = new FlowRecorder({
      node,
      index: this.index,
      ...(config.bufferSize === undefined ? {} : { capacity: config.bufferSize }),
      ...(config.sampleAllowed === undefined ? {} : { sampleAllowed: config.sampleAllowed }),
      ...(config.maxPolicyLabels === undefined ? {} : { maxPolicyLabels: config.maxPolicyLabels }),
    });
    this.capture = new FlowCapture({
      recorder: this.recorder,
      group: this.group,
      log,
      ...(netns ? { netns } : {}),
    });
    if (this.logRateLimit)
      this.rateLimited = new RateLimitedPoller({
        recorder: this.recorder,
        log,
        ...(netns ? { netns } : {}),
      });
  }

  /** The kernel's limit on log records (`false`: none). */
  get logRateLimit(): { rate: number; burst?: number } | false {
    const l = this.config.logRateLimit;
    return l === undefined ? { ...DEFAULT_LOG_RATE_LIMIT } : l === false ? false : { ...l };
  }

  /** The NFLOG group. */
  get group(): number {
    return this.config.nflogGroup ?? DEFAULT_NFLOG_GROUP;
  }

  /** What the policy compiler needs: where to log, and whether every allowed flow is logged. */
  get compileOptions(): Pick<CompileOptions, 'log' | 'logAccepted' | 'logRateLimit'> {
    return {
      log: { group: this.group },
      logAccepted: this.config.logAllowed ?? false,
      logRateLimit: this.logRateLimit,
    };
  }

  /** The HTTP routes (`/flows`). */
  get routes(): Record<string, (req: IncomingMessage, res: ServerResponse) => void> {
    return { [FLOWS_PATH]: (req, res) => serveFlowStream(this.recorder, req, res) };
  }

  /** Follows the store (call before the source starts, so the index sees every object). */
  attach(store: ClusterStore): void {
    this.unsubscribe = store.subscribe((b) => this.index.apply(b.deltas));
  }

  /** Starts the NFLOG capture and the reading of the rate-limited count. */
  start(): Promise<void> {
    this.rateLimited?.start();
    return this.capture.start();
  }

  /** Stops the capture and the store subscription. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.rateLimited?.stop();
    await this.capture.stop();
  }

  /** Prometheus families (the recorder's, and whether the capture runs). */
  metricFamilies(): MetricFamily[] {
    return [
      ...this.recorder.metricFamilies(),
      {
        name: 'podnet_flow_capture_up',
        help: 'Whether the NFLOG capture of the verdict logs runs.',
        type: 'gauge',
        samples: [{ value: this.capture.running ? 1 : 0 }],
      },
    ];
  }
}
