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
    title: '40,000 objects in one mount (2.7 MiB of objects, one Vault path)',
    stage: { writeFiles: true },
    setup: (stage) => {
      stage.vault.putKv('secret', 'attacker/one', { k: 'v' });
      attackers = pods(stage, 'many', 10);
    },
    attack: async (stage, attacker) => {
      const objects = Array.from({ length: 40_000 }, (_, i) => ({ objectName: `o${i}`, secretPath: 'secret/data/attacker/one', secretKey: 'k' }));
      await attacker.loop(4_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '40,000 objects' }));
    },
    attacker: { kind: 'clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'objects', cap: true }] },
  });

  isolationCase({
    id: 'B',
    title: 'secretArgs nested 20,000 levels deep (YAML flow mappings)',
    stage: { writeFiles: true },
    setup: (stage) => void (attackers = pods(stage, 'deep', 10)),
    attack: async (stage, attacker) => {
      const depth = 20_000;
      const objects = `- objectName: deep\n  secretPath: secret/data/attacker/x\n  method: POST\n  secretArgs: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;
      await attacker.loop(3_000, 1, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: 'secretArgs 20,000 deep' }));
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
    title: "the node's memory budget held by one namespace: Vault answers of 7 MiB, four mounts at once",
    setup: (stage) => {
      for (let i = 0; i < 4; i++) stage.vault.putKv('secret', `attacker/big-${i}`, { v: String.fromCharCode(97 + i).repeat(7 * MiB) });
      // Vault a little slow for the attacker's large reads: each mount holds its bytes a while.
      stage.vault.injectFault({ pathPrefix: 'secret/data/attacker/big-', delayMs: 300 });
      attackers = pods(stage, 'big', 40);
    },
    attack: async (stage, attacker) => {
      await attacker.loop(6_000, 4, (i) =>
        attacker.mount(attackers[i % attackers.length]!, { objects: [{ objectName: 'big', secretPath: `secret/data/attacker/big-${i % 4}`, secretKey: 'v' }], what: '7 MiB answer' }),
      );
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.RESOURCE_EXHAUSTED], names: 'big', cap: true }] },
  });

  isolationCase({
    id: 'E',
    title: "one mount of 3000 distinct Vault paths floods the address's queue",
    setup: (stage) => void (attackers = pods(stage, 'flood', 20)),
    attack: async (stage, attacker) => {
      // All optional and absent: each is a quick 404, but 3000 of them stand in the one queue of the address.
      const objects = Array.from({ length: 3000 }, (_, i) => ({ objectName: `p${i}`, secretPath: `secret/data/attacker/absent/${i}`, secretKey: 'k', optional: true }));
      await attacker.loop(5_000, 2, (i) => attacker.mount(attackers[i % attackers.length]!, { objects, what: '3000 distinct paths' }));
    },
    attacker: { kind: 'success-or-clear-error', errors: [{ statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'objects', cap: true }] },
  });
});
