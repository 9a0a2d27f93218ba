import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the HTTP endpoint reports. */
export interface HealthSource {
  /** Alive: the process serves its CNI socket. */
  healthy(): boolean;
  /** Reasons the agent is not ready yet (empty: ready). */
  notReady(): string[];
  /** Prometheus text exposition. */
  metrics(): string;
  /** Further routes by path (e.g. the flow stream); answered before the 404. */
  routes?: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void>>;
}

/** Serves `/healthz`, `/readyz` and `/metrics` on `address:port`; resolves with the bound server. */
export async function serveHttp(
  address: string,
  port: number,
  source: HealthSource,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const ok = source.healthy();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? 'ok\n' : 'unhealthy\n');
    } else if (path === '/readyz') {
      const reasons = source.notReady();
      res
        .writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'text/plain' })
        .end(reasons.length === 0 ? 'ready\n' : `not ready: ${reasons.join('; ')}\n`);
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(source.metrics());
    } else if (path !== undefined && source.routes && Object.hasOwn(source.routes, path)) {
      source.routes[path]?.(req, res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** One Prometheus metric family. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly samples: ReadonlyArray<{
    readonly labels?: Record<string, string>;
    readonly value: number;
    readonly suffix?: string;
  }>;
}

/** Renders metric families in the Prometheus text format. Pure. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels =
        s.labels && Object.keys(s.labels).length > 0
          ? `{${Object.entries(s.labels)
              .map(
                ([k, v]) =>
                  `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
              )
              .join(',')}}`
          : '';
      out.push(`${f.name}${s.suffix ?? ''}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${out.join('\n')}\n`;
}
