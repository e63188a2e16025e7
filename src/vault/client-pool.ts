/** Vault clients by ConnectionSettings.key: equal settings share one keep-alive pool. Bounded; evicted ones closed. */
import type { ConnectionSettings } from '../config/types.js';
import { VaultClient, type VaultClientOptions } from './client.js';
import { Lru } from '../shared/lru.js';
import { loadTlsMaterial, nodeTlsFileReader, type TlsFileReader } from './tls-files.js';
import { UndiciTransport } from './transport.js';
import { redirectAllowed, type TrustPolicy } from '../config/connection.js';
import type { AddressGates } from './rate-limit.js';

/** Distinct connection settings with a client (and its connections) kept at once. */
const MAX_CLIENTS = 64;

export interface ClientPoolOptions {
  readonly requestTimeoutMs: number;
  readonly tlsFiles?: TlsFileReader;
  readonly client?: VaultClientOptions;
  /** Where a redirect may lead beyond the connection's own addresses. */
  readonly trust?: TrustPolicy;
  /** The provider's per-address request gates (rate-limit.ts), shared by every client. */
  readonly gates?: AddressGates;
  /** JSON values one response may hold (`--vault-response-max-values`; default DEFAULT_MAX_RESPONSE_VALUES). */
  readonly maxResponseValues?: number;
}

export class VaultClientPool {
  readonly #clients: Lru<Promise<VaultClient>>;
  readonly #options: ClientPoolOptions;

  constructor(options: ClientPoolOptions) {
    this.#options = options;
    this.#clients = new Lru<Promise<VaultClient>>({
      maxEntries: MAX_CLIENTS,
      onEvict: (_key, client) => {
        void client.then((c) => c.close()).catch(() => undefined);
      },
    });
  }

  get(settings: ConnectionSettings): Promise<VaultClient> {
    const cached = this.#clients.get(settings.key);
    if (cached !== undefined) return cached;
    const created = this.#create(settings);
    this.#clients.set(settings.key, created);
    // A failed creation (an unreadable CA file, say) must not be cached: the file may appear later.
    created.catch(() => {
      if (this.#clients.get(settings.key) === created) this.#clients.delete(settings.key);
    });
    return created;
  }

  async #create(settings: ConnectionSettings): Promise<VaultClient> {
    const tls = await loadTlsMaterial(settings.tls, this.#options.tlsFiles ?? nodeTlsFileReader);
    const trust = this.#options.trust;
    const requestTimeoutMs = this.#options.requestTimeoutMs;
    // The same redirect policy and per-address gates for every transport of these settings, cert logins included.
    const shared = {
      requestTimeoutMs,
      redirects: (target: string) => (trust === undefined ? settings.addresses.includes(target) : redirectAllowed(trust, settings, target)),
      ...(this.#options.gates === undefined ? {} : { gates: this.#options.gates }),
      ...(this.#options.maxResponseValues === undefined ? {} : { maxResponseValues: this.#options.maxResponseValues }),
    };
    const transport = new UndiciTransport({ tls, ...shared });
    // A cert-auth login presents the pod author's certificate on a connection of its own (one per login).
    const certificateTransport = (client: { readonly cert: string; readonly key: string }): UndiciTransport =>
      new UndiciTransport({ tls: { ...tls, cert: client.cert, key: client.key }, ...shared, connections: 1 });
    return new VaultClient(settings, transport, { ...this.#options.client, certificateTransport });
  }

  async close(): Promise<void> {
    const all = this.#clients.values();
    this.#clients.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
  }
}
