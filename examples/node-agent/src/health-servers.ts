/**
 * The HTTP edges of kube-proxy's health: the proxy health server (`/healthz`, `/livez`) and one
 * listener per health check node port, opened, updated and closed as the planned ports change
 * ({@link planServiceHealth}). The answers themselves are pure ({@link ProxyHealth},
 * {@link serviceHealthAnswer}).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from './log.js';
import type { HealthAnswer, ProxyHealth } from './proxy-health.js';
import { type ServiceHealthPort, serviceHealthAnswer } from './service-health.js';

function send(res: ServerResponse, a: HealthAnswer): void {
  res.writeHead(a.status, a.headers).end(a.body);
}

function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Serves kube-proxy's `/healthz` and `/livez` from `health` on `address:port` (port 0: any free
 * port); resolves with the bound server.
 */
export async function serveProxyHealth(
  address: string,
  port: number,
  health: ProxyHealth,
  now: () => number = Date.now,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') send(res, health.healthz(now()));
    else if (path === '/livez') send(res, health.livez(now()));
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
  });
  await listen(server, port, address);
  return server;
}

/** Options of {@link ServiceHealthServers}. */
export interface ServiceHealthServersOptions {
  /** The address the health check node ports listen on (`0.0.0.0`, or `::` for both families). */
  readonly address: string;
  /** The proxy's health (an unhealthy proxy fails every service health check). */
  readonly proxyHealthy: () => boolean;
  readonly log: Logger;
}

interface Listener {
  port: number;
  server: Server;
  entry: ServiceHealthPort;
}

/**
 * The health check node ports a node serves, one HTTP listener per Service. {@link apply} makes
 * the listeners match a plan: all of them (a full sync) or only the Services a change touched.
 * A port that cannot be opened (taken) is logged and tried again at the next apply that covers
 * its Service.
 */
export class ServiceHealthServers {
  private readonly listeners = new Map<string, Listener>();

  constructor(private readonly options: ServiceHealthServersOptions) {}

  /**
   * Makes the listeners match `desired`. With `scope` (Service keys), only those Services are
   * looked at (a Service in scope and not in `desired` is closed); without, every listener is.
   * Resolves with the problems (ports that could not be opened).
   */
  async apply(
    desired: readonly ServiceHealthPort[],
    scope?: ReadonlySet<string>,
  ): Promise<string[]> {
    const want = new Map(desired.map((d) => [d.key, d]));
    const keys = scope ? [...scope] : [...new Set([...this.listeners.keys(), ...want.keys()])];
    const problems: string[] = [];
    for (const key of keys) {
      const have = this.listeners.get(key);
      const next = want.get(key);
      if (have && (!next || next.port !== have.port)) {
        this.listeners.delete(key);
        await closeServer(have.server);
        this.options.log.info('health check node port closed', { service: key, port: have.port });
      }
      if (!next) continue;
      const open = this.listeners.get(key);
      if (open) {
        open.entry = next;
        continue;
      }
      const listener: Listener = { port: next.port, entry: next, server: createServer() };
      listener.server.on('request', (_req, res) =>
        send(res, serviceHealthAnswer(listener.entry, this.options.proxyHealthy())),
      );
      try {
        await listen(listener.server, next.port, this.options.address);
      } catch (e) {
        const msg = `health check node port ${next.port} of Service ${key}: ${(e as Error).message}`;
        this.options.log.warn('cannot open health check node port', {
          service: key,
          port: next.port,
          error: (e as Error).message,
        });
        problems.push(msg);
        continue;
      }
      this.listeners.set(key, listener);
      this.options.log.info('health check node port open', {
        service: key,
        port: next.port,
        localEndpoints: next.localEndpoints,
      });
    }
    return problems;
  }

  /** What is served now, by Service key. */
  served(): ServiceHealthPort[] {
    return [...this.listeners.values()].map((l) => l.entry);
  }

  /** Closes every listener. */
  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => closeServer(l.server)));
  }
}
