import { status } from '@grpc/grpc-js';
import { isolationCase } from './define.js';
import { ATTACKER, podOf } from './stage.js';

describe('isolation: the twelve classes of issue 19', function () {
  isolationCase({
    id: '1',
    title: 'urlencode over thousands of arguments of auth/token/lookup-self',
    stage: { writeFiles: true },
    attack: async (stage, attacker) => {
      const args = Array.from({ length: 4000 }, () => '@t').join(' ');
      const objects = [
        { objectName: 't', secretPath: 'auth/token/lookup-self', inputOnly: true },
        { objectName: 'out', template: `{{ urlencode ${args} }}` },
      ];
      const pods = Array.from({ length: 50 }, (_, i) => podOf(ATTACKER, `urlencode-${i}`));
      stage.prepare(pods);
      await attacker.loop(4_000, 1, (i) => attacker.mount(pods[i % pods.length]!, { objects, what: 'urlencode ×4000' }));
    },
    attacker: { kind: 'clear-error', error: { statuses: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED], names: 'out', cap: true } },
  });
});
