/**
 * The twelve classes of issue 19, each reproduced as the issue describes it, by an attacker namespace while the
 * victim namespace mounts as usual (case.ts: the invariants; stage.ts: the daemon as the image runs it). On the code
 * of the day these fail; each says what a fixed daemon must answer.
 */
import { status } from '@grpc/grpc-js';
import { assertNoLeaks } from '../helpers/leak-check.js';
import type { ClearError } from './case.js';
import { isolationCase } from './define.js';
import { ATTACKER, podOf, type Pod, type Stage, type Tenant } from './stage.js';

const KiB = 1024;

/** `count` pods of the attacker namespace (or another tenant), their tokens signed before the daemon starts. */
function pods(stage: Stage, prefix: string, count: number, tenant: Tenant = ATTACKER): Pod[] {
  const list = Array.from({ length: count }, (_, i) => podOf(tenant, `${prefix}-${i}`));
  stage.prepare(list);
  return list;
}

/** An author-input cap (the SecretProviderClass is too big: INVALID_CONFIG) or a budget (RESOURCE_EXHAUSTED). */
function capOn(names: ClearError['names']): ClearError {
  return { statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names, cap: true };
}

describe('isolation: the twelve classes of issue 19', function () {
  let attackers: Pod[] = [];

  isolationCase({
    id: '1',
    title: 'urlencode over 4000 arguments of auth/token/lookup-self (12 KiB of objects)',
    stage: { writeFiles: true },
    setup: (stage) => void (attackers = pods(stage, 'urlencode', 40)),
    attack: async (stage, attacker) => {
      // "@t " three bytes an argument: the objects text is about 12 KiB, the value one the default policy lets any
      // token read.
      const objects = [
        { objectName: 't', secretPath: 'auth/token/lookup-self', inputOnly: true },
        { objectName: 'out', template: `{{ urlencode ${Array.from({ length: 4000 }, () => '@t').join(' ')} }}` },
      ];
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'urlencode ×4000' }));
    },
    attacker: { kind: 'clear-error', errors: [capOn('out')] },
  });

  isolationCase({
    id: '2',
    title: '{{ @a @a … }} with 4000 arguments over a 128 KiB value',
    stage: { writeFiles: true },
    setup: (stage) => {
      stage.vault.putKv('secret', 'attacker/blob', { v: 'b'.repeat(128 * KiB) });
      attackers = pods(stage, 'concat', 40);
    },
    attack: async (stage, attacker) => {
      const objects = [
        { objectName: 'a', secretPath: 'secret/data/attacker/blob', secretKey: 'v', inputOnly: true },
        { objectName: 'out', template: `{{ ${Array.from({ length: 4000 }, () => '@a').join(' ')} }}` },
      ];
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '@a ×4000' }));
    },
    attacker: { kind: 'clear-error', errors: [capOn('out')] },
  });

  isolationCase({
    id: '3',
    title: 'a 384 KiB template (65536 actions)',
    stage: { writeFiles: true },
    setup: (stage) => {
      stage.vault.putKv('secret', 'attacker/small', { v: 'x' });
      attackers = pods(stage, 'parse', 10);
    },
    attack: async (stage, attacker) => {
      const objects = [
        { objectName: 'a', secretPath: 'secret/data/attacker/small', secretKey: 'v', inputOnly: true },
        { objectName: 'out', template: '{{@a}}'.repeat(65_536) },
      ];
      await attacker.loop(3_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '384 KiB template' }));
    },
    attacker: { kind: 'clear-error', errors: [capOn(['out', 'objects'])] },
  });

  isolationCase({
    id: '4',
    title: "Vault echoing 128 KiB of eyJ… in an error (a refused PKI common_name)",
    setup: async (stage) => {
      await stage.vault.enablePki('pki');
      stage.vault.addPkiRole('pki', 'attacker', { allowedDomains: ['attacker.svc'], allowSubdomains: true, maxTtlSeconds: 86_400 });
      attackers = pods(stage, 'echo', 20);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'cert', secretPath: 'pki/issue/attacker', method: 'PUT', secretArgs: { common_name: 'eyJ'.repeat((128 * KiB) / 3) }, secretKey: 'certificate' }];
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'echoed eyJ×43690' }));
    },
    attacker: {
      kind: 'clear-error',
      // Vault's refusal, its text cut before any pattern runs (VAULT_REQUEST_REJECTED), or a cap on the objects text.
      errors: [{ statuses: [status.FAILED_PRECONDITION], names: 'cert', cap: false }, capOn(['cert', 'objects'])],
    },
  });

  isolationCase({
    id: '5',
    title: 'expand: pki over a KV value of 512 KiB of "-----BEGIN A-----" lines',
    setup: (stage) => {
      const junk = '-----BEGIN A-----\n'.repeat(Math.ceil((512 * KiB) / 18));
      stage.vault.putKv('secret', 'attacker/pem', { certificate: junk, private_key: junk, issuing_ca: junk });
      attackers = pods(stage, 'pem', 20);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'tls', secretPath: 'secret/data/attacker/pem', expand: 'pki' }];
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'expand: pki over junk' }));
    },
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.FAILED_PRECONDITION], names: 'tls', cap: false }, capOn('tls')] },
  });

  const TEAM_B_SECRET = 'team-b-database-password-e0d2';
  isolationCase({
    id: '6',
    title: "the operator's mTLS client certificate lent to a pod that names vaultAuthMountPath: cert",
    stage: { tls: true, operatorClientCertificate: true },
    setup: (stage) => {
      // The platform's cert-auth role trusts the operator's client certificate and reads another team's secrets.
      stage.vault.enableCertAuth('cert');
      stage.vault.putPolicy('team-b', 'path "secret/data/team-b/*" { capabilities = ["read"] }');
      stage.vault.addCertRole('cert', 'platform', stage.tls!.caCertPem, { policies: ['team-b'], ttlSeconds: 3600 });
      stage.vault.putKv('secret', 'team-b/db', { password: TEAM_B_SECRET });
      attackers = pods(stage, 'borrow', 20);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'stolen', secretPath: 'secret/data/team-b/db', secretKey: 'password' }];
      await attacker.loop(3_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, params: { vaultAuthMountPath: 'cert' }, what: 'vaultAuthMountPath: cert' }));
    },
    attacker: {
      kind: 'clear-error',
      // Refused before any login: the auth mount is not one the operator allows (--allowed-auth-mounts).
      errors: [{ statuses: [status.PERMISSION_DENIED, status.INVALID_ARGUMENT], names: /vaultAuthMountPath|auth mount "?cert"?/, cap: true }],
    },
    check: (stage, attacker) => {
      const out: string[] = [];
      const leaked = attacker.outcomes.filter((o) => o.response?.files.some((f) => f.contents.toString().includes(TEAM_B_SECRET)));
      if (leaked.length > 0) out.push(`${leaked.length} attacker mounts received team b's secret`);
      const logins = stage.vault.countRequests({ routePrefix: 'auth/cert/login', status: 200 });
      if (logins > 0) out.push(`${logins} logins at auth/cert as the operator's certificate succeeded`);
      const reads = stage.vault.countRequests({ routePrefix: 'secret/data/team-b/', status: 200 });
      if (reads > 0) out.push(`team b's secret was read ${reads} times`);
      return out;
    },
  });

  isolationCase({
    id: '7',
    title: 'audit state: 4000 optional objects per mount over 65 volumes',
    setup: (stage) => void (attackers = pods(stage, 'audit', 65)),
    attack: async (stage, attacker) => {
      // Long names, all on one absent path (one 404 for the whole mount): every object is skipped, and the audit
      // remembers each name and version per pod volume. Each volume names its objects differently (as separate
      // SecretProviderClasses would), so nothing is shared between them.
      const objects = (volume: number): Array<Record<string, unknown>> =>
        Array.from({ length: 4000 }, (_, i) => ({
          objectName: `optional-${volume}-${'o'.repeat(150)}-${i}`,
          secretPath: 'secret/data/attacker/absent',
          secretKey: 'k',
          optional: true,
        }));
      await attacker.each(attackers.map((pod, volume) => ({ pod, volume })), 2, ({ pod, volume }) => attacker.mount(pod, { objects: objects(volume), what: '4000 optional objects' }));
    },
    attacker: { kind: 'success-or-clear-error', errors: [capOn('objects')] },
  });

  isolationCase({
    id: '8',
    title: "a 429 without Retry-After on the attacker's path",
    setup: (stage) => {
      stage.vault.putKv('secret', 'attacker/limited', { v: 'x' });
      // A rate-limit quota on the attacker's path alone; Vault's quotas answer 429, here without Retry-After.
      stage.vault.injectFault({ pathPrefix: 'secret/data/attacker/', status: 429 });
      attackers = pods(stage, 'limited', 40);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'limited', secretPath: 'secret/data/attacker/limited', secretKey: 'v' }];
      await attacker.loop(5_000, 4, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, deadlineMs: 8_000, what: '429 on its path' }));
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED], names: 'limited', cap: false }] },
  });

  isolationCase({
    id: '9',
    title: 'two attacker mounts of 16 slow reads each',
    setup: (stage) => {
      for (let i = 0; i < 16; i++) stage.vault.putKv('secret', `attacker/slow/${i}`, { v: `slow-${i}` });
      stage.vault.injectFault({ pathPrefix: 'secret/data/attacker/slow/', delayMs: 15_000 });
      attackers = pods(stage, 'slow', 10);
    },
    attack: async (stage, attacker) => {
      const objects = Array.from({ length: 16 }, (_, i) => ({ objectName: `s${i}`, secretPath: `secret/data/attacker/slow/${i}`, secretKey: 'v' }));
      await attacker.loop(5_000, 2, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, deadlineMs: 12_000, what: '16 slow reads' }));
    },
    attacker: {
      kind: 'success-or-clear-error',
      errors: [{ statuses: [status.DEADLINE_EXCEEDED, status.UNAVAILABLE, status.RESOURCE_EXHAUSTED], names: Array.from({ length: 16 }, (_, i) => `s${i}`), cap: false }],
    },
  });

  // Pods A and B of one namespace and ServiceAccount, one JWT role whose policy gives each pod its own database role.
  const SHARED: Tenant = { namespace: 'shared', serviceAccount: 'app', role: 'pods' };
  const podA = podOf(SHARED, 'db-client-a');
  const podB = podOf(SHARED, 'db-client-b');
  const JWT_PARAMS = { vaultAuthMethod: 'jwt', vaultAuthMountPath: 'jwt' };
  const DB_OBJECTS = [
    { objectName: 'db/username', secretPath: 'database/creds/db-client-a', secretKey: 'username', credentialScope: 'workload' },
    { objectName: 'db/password', secretPath: 'database/creds/db-client-a', secretKey: 'password', credentialScope: 'workload' },
  ];
  let podACredential: string | undefined;
  isolationCase({
    id: '10',
    title: "credentialScope: workload under JWT auth: pod B asks for pod A's database credential",
    attackerRole: 'pods',
    setup: (stage) => {
      const v = stage.vault;
      v.enableJwtAuth('jwt', { publicKeysPem: [stage.issuer.publicKeyPem] });
      v.addJwtRole('jwt', 'pods', { boundAudiences: ['vault'], userClaim: '/kubernetes.io/pod/name', policies: ['per-pod'], ttlSeconds: 3600 });
      v.putPolicy('per-pod', `path "database/creds/{{identity.entity.aliases.${v.authAccessor('jwt')}.name}}" { capabilities = ["read"] }`);
      v.enableDatabase('database');
      for (const pod of [podA, podB]) v.addDatabaseRole('database', pod.name, { defaultTtlSeconds: 3600, maxTtlSeconds: 86_400 });
      stage.prepare([podA, podB]);
    },
    attack: async (stage, attacker) => {
      // Pod A mounts its own credential first (that mount must succeed); then pod B names the same path, again and again.
      const a = await attacker.mount(podA, { objects: DB_OBJECTS, params: JWT_PARAMS, what: "pod A's own credential" });
      podACredential = a.response?.files.find((f) => f.path === 'db/password')?.contents.toString();
      await attacker.loop(3_000, 1, () => attacker.mount(podB, { objects: DB_OBJECTS, params: JWT_PARAMS, what: "pod B for pod A's path" }));
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.PERMISSION_DENIED], names: ['db/username', 'db/password'], cap: false }] },
    check: (_stage, attacker) => {
      const out: string[] = [];
      const first = attacker.outcomes[0];
      if (first?.response === undefined || podACredential === undefined) out.push(`pod A's own mount failed: ${first?.details ?? 'no outcome'}`);
      const handed = attacker.outcomes.slice(1).filter((o) => o.response !== undefined);
      if (handed.length > 0) {
        const same = handed.filter((o) => o.response!.files.some((f) => f.path === 'db/password' && f.contents.toString() === podACredential)).length;
        out.push(`pod B was handed a credential ${handed.length} times (${same} of them pod A's own) although its token may not read database/creds/db-client-a`);
      }
      return out;
    },
  });

  const PASSWORD = 'userpass-password-Zq81-echoed';
  isolationCase({
    id: '11',
    title: 'a userpass password echoed in a 5xx body',
    setup: (stage) => {
      stage.vault.enableUserpassAuth('userpass');
      stage.vault.addUserpassUser('userpass', 'attacker-user', PASSWORD, { policies: ['attacker'], ttlSeconds: 3600 });
      stage.vault.putKv('secret', 'attacker/x', { v: 'x' });
      // A proxy in front of Vault (or a plugin) that quotes the request: the password comes back in a 502 and a 500.
      stage.vault.injectFault({ pathPrefix: 'auth/userpass/login/', status: 502, body: { errors: [`upstream refused {"password":"${PASSWORD}"}`] }, everyNth: 2 });
      stage.vault.injectFault({ pathPrefix: 'auth/userpass/login/', status: 500, body: `internal error echoing password=${PASSWORD}` });
      attackers = pods(stage, 'echo-password', 20);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'x', secretPath: 'secret/data/attacker/x', secretKey: 'v' }];
      const params = { vaultAuthMethod: 'userpass', vaultUsername: 'attacker-user' };
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, params, secrets: { password: PASSWORD }, deadlineMs: 10_000, what: 'password echoed by a 5xx' }));
    },
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.UNAVAILABLE, status.PERMISSION_DENIED], names: /userpass/, cap: false }] },
    check: (stage, attacker) => {
      const out: string[] = [];
      for (const [where, texts] of [['a gRPC error', attacker.outcomes.map((o) => o.details ?? '')], ["the daemon's log", stage.output()]] as const) {
        try {
          assertNoLeaks(where, texts, [PASSWORD]);
        } catch (err: unknown) {
          out.push(err instanceof Error ? err.message.slice(0, 300) : String(err));
        }
      }
      return out;
    },
  });

  const RESTART_NAMESPACES = Array.from({ length: 10 }, (_, i): Tenant => ({ namespace: `restart-${i}`, serviceAccount: 'app', role: 'restart' }));
  isolationCase({
    id: '12',
    title: 'a node restart: 330 volumes mount at once',
    attackerRole: 'restart',
    setup: (stage) => {
      const v = stage.vault;
      v.putKv('secret', 'restart/config', { v: 'restart-config' });
      v.putPolicy('restart', 'path "secret/data/restart/*" { capabilities = ["read"] }');
      v.addKubernetesRole('kubernetes', 'restart', { boundServiceAccountNames: ['app'], boundServiceAccountNamespaces: RESTART_NAMESPACES.map((t) => t.namespace), audience: 'vault', policies: ['restart'], ttlSeconds: 3600 });
      // Vault a little slow under the storm, so that every volume is in progress at once, as after a reboot.
      v.injectFault({ pathPrefix: 'secret/data/restart/', delayMs: 300 });
      attackers = Array.from({ length: 330 }, (_, i) => podOf(RESTART_NAMESPACES[i % RESTART_NAMESPACES.length]!, `restarted-${i}`));
      stage.prepare(attackers);
    },
    attack: async (_stage, attacker) => {
      const objects = [{ objectName: 'config', secretPath: 'secret/data/restart/config', secretKey: 'v' }];
      // The kubelet's first try for every volume, all at once; the driver gives each 2 minutes, here 60 s.
      await Promise.all(attackers.map((pod) => attacker.mount(pod, { objects, deadlineMs: 60_000, what: 'first try after a reboot' })));
    },
    attacker: { kind: 'success' },
  });

});
