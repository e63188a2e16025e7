/**
 * Attacks found while building the suite, beyond the twelve classes of issue 19: the same stage, the same victim and
 * the same invariants (case.ts).
 */
import { status } from '@grpc/grpc-js';
import { isolationCase } from './define.js';
import { ATTACKER, podOf, type Pod, type Stage } from './stage.js';

const MiB = 1024 * 1024;

function pods(stage: Stage, prefix: string, count: number): Pod[] {
  const list = Array.from({ length: count }, (_, i) => podOf(ATTACKER, `${prefix}-${i}`));
  stage.prepare(list);
  return list;
}

describe('isolation: attacks found on the way', function () {
  let attackers: Pod[] = [];

  isolationCase({
    id: 'A',
    // A SecretProviderClass is a Kubernetes object, under ~1.5 MiB: 20,000 short objects fit.
    title: '20,000 objects in one mount (1.3 MiB of objects, one Vault path)',
    stage: { writeFiles: true },
    setup: (stage) => {
      stage.vault.putKv('secret', 'attacker/one', { k: 'v' });
      attackers = pods(stage, 'many', 10);
    },
    attack: async (stage, attacker) => {
      const objects = Array.from({ length: 20_000 }, (_, i) => ({ objectName: `o${i}`, secretPath: 'secret/data/attacker/one', secretKey: 'k' }));
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '20,000 objects' }));
    },
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'objects', cap: true }] },
  });

  isolationCase({
    id: 'B',
    title: 'secretArgs nested 50,000 levels deep (YAML flow mappings)',
    stage: { writeFiles: true },
    setup: (stage) => void (attackers = pods(stage, 'deep', 10)),
    attack: async (stage, attacker) => {
      const depth = 50_000;
      const objects = `- objectName: deep\n  secretPath: secret/data/attacker/x\n  method: POST\n  secretArgs: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;
      await attacker.loop(3_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'secretArgs 50,000 deep' }));
    },
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT], names: ['deep', 'objects'], cap: true }] },
  });

  isolationCase({
    id: 'C',
    title: 'a YAML alias bomb in the objects text (nine levels of ten aliases)',
    stage: { writeFiles: true },
    setup: (stage) => void (attackers = pods(stage, 'laughs', 10)),
    attack: async (stage, attacker) => {
      const levels = [`a: &l0 [${Array.from({ length: 10 }, () => '"lol"').join(',')}]`];
      for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(',')}]`);
      const objects = `- objectName: bomb\n  secretPath: secret/data/attacker/x\n  method: POST\n  secretArgs:\n${levels.map((l) => `    ${l}`).join('\n')}\n`;
      await attacker.loop(3_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'alias bomb' }));
    },
    // The YAML library's own alias bound answers it: INVALID_CONFIG naming the objects parameter (no flag needed).
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT], names: ['bomb', 'objects'], cap: false }] },
  });

  isolationCase({
    id: 'D',
    title: "the node's memory budget held by one namespace: 3 MiB answers held while a slow read finishes, 8 mounts at once",
    setup: (stage) => {
      for (let i = 0; i < 8; i++) stage.vault.putKv('secret', `attacker/big-${i}`, { v: String.fromCharCode(97 + i).repeat(3 * MiB) });
      stage.vault.putKv('secret', 'attacker/slow', { v: 'slow' });
      // Each attacker mount reads its 3 MiB at once, then holds it while its other object takes 2 s.
      stage.vault.injectFault({ pathPrefix: 'secret/data/attacker/slow', delayMs: 2_000 });
      attackers = pods(stage, 'big', 64);
    },
    attack: async (stage, attacker) => {
      await attacker.loop(6_000, 8, (i) =>
        attacker.mount(attackers[i % attackers.length]!, {
          objects: [
            { objectName: 'big', secretPath: `secret/data/attacker/big-${i % 8}`, secretKey: 'v' },
            { objectName: 'slow', secretPath: 'secret/data/attacker/slow', secretKey: 'v' },
          ],
          what: '3 MiB held 2 s',
        }),
      );
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.RESOURCE_EXHAUSTED], names: ['big', 'slow'], cap: true }] },
  });

  isolationCase({
    id: 'E',
    title: "six mounts of 1000 distinct Vault paths each flood the address's queue",
    setup: (stage) => void (attackers = pods(stage, 'flood', 40)),
    attack: async (stage, attacker) => {
      // All optional and absent: each is a quick 404, but thousands of them stand in the one queue of the address.
      const objects = Array.from({ length: 1000 }, (_, i) => ({ objectName: `p${i}`, secretPath: `secret/data/attacker/absent/${i}`, secretKey: 'k', optional: true }));
      await attacker.loop(6_000, 6, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '1000 distinct paths' }));
    },
    attacker: {
      kind: 'success-or-clear-error',
      errors: [
        { statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'objects', cap: true },
        { statuses: [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED], names: /object "p\d+"/, cap: false },
      ],
    },
  });

  isolationCase({
    id: 'F',
    // Logins go through node-vault's helpers on a client bound to the mount's context (src/vault/transport.ts `bound`),
    // not through `within` as reads do: held logins must end at the attacker's deadline and leave the victim served.
    title: 'forty attacker pods logging in through an auth mount Vault holds 15 s',
    setup: (stage) => {
      stage.vault.enableUserpassAuth('userpass');
      stage.vault.addUserpassUser('userpass', 'slow-user', 'slow-login-password', { policies: ['attacker'], ttlSeconds: 3600 });
      stage.vault.putKv('secret', 'attacker/x', { v: 'x' });
      stage.vault.injectFault({ pathPrefix: 'auth/userpass/login/', delayMs: 15_000 });
      attackers = pods(stage, 'slow-login', 40);
    },
    attack: async (stage, attacker) => {
      const objects = [{ objectName: 'x', secretPath: 'secret/data/attacker/x', secretKey: 'v' }];
      const params = { vaultAuthMethod: 'userpass', vaultUsername: 'slow-user' };
      await attacker.loop(5_000, 40, (i) =>
        attacker.mount(attackers[i % attackers.length]!, { objects, params, secrets: { password: 'slow-login-password' }, deadlineMs: 8_000, what: 'a login held 15 s' }),
      );
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.DEADLINE_EXCEEDED, status.UNAVAILABLE, status.RESOURCE_EXHAUSTED], names: /userpass/, cap: false }] },
  });
});
