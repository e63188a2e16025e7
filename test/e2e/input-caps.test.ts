/**
 * Issue 19, classes 1–3 and what was found beside them, through the real gRPC socket: a SecretProviderClass that
 * asks for more work or memory than a tenant may is refused with INVALID_ARGUMENT naming the object and the flag
 * that caps it, before the work is done; with the caps raised, the render still sizes its output from its arguments
 * and refuses before building it; parsing is linear; and the daemon serves the next mount every time.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { startHarness, type Harness } from '../helpers/provider-harness.js';
import { DEFAULT_INPUT_LIMITS } from '../../src/config/input-limits.js';
import { DriverClient } from '../helpers/grpc-client.js';
import { startImageDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { daemonSetMemoryLimit, RssSampler } from '../helpers/memory-pressure.js';

const VALUE = 'v'.repeat(4096);
const INPUT = '- objectName: a\n  secretPath: secret/data/app\n  secretKey: token\n  inputOnly: true\n';
const GOOD = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

/** Class 1: ~12 KiB of objects whose template urlencodes thousands of arguments over a value the pod can read. */
const CLASS_1 = `${INPUT}- objectName: url\n  template: "{{ urlencode ${'@a '.repeat(4000)}}}"\n`;
/** Class 2: thousands of raw arguments. */
const CLASS_2 = `${INPUT}- objectName: raw\n  template: "{{ ${'@a '.repeat(5000)}}}"\n`;
/** Class 3: a template of `kib` KiB, made of actions over the input. */
function class3(kib: number): string {
  const line = `k={{ @a.x }} and {{ @a.y }}\n`;
  const body = line.repeat(Math.ceil((kib * 1024) / line.length));
  return `- objectName: a\n  secretPath: secret/data/small\n  inputOnly: true\n- objectName: big\n  template: |\n${body.replace(/^/gm, '    ')}`;
}

describe('e2e: caps on author input (issue 19, classes 1–3)', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'pw-123', token: VALUE });
    h.vault.putKv('secret', 'small', { x: '1', y: '2' });
    h.vault.putKv('secret', 'many', Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, 'v'])));
  });

  after(async () => h.close());

  let targets = 0;
  async function target(): Promise<string> {
    const dir = join(h.dir, `target-${(targets += 1)}`);
    await mkdir(dir);
    return dir;
  }

  async function refused(objects: string, code: status, details: RegExp): Promise<void> {
    const bad = await target();
    const err = await h.client.mountError(h.request({ objects, targetPath: bad }));
    assert.equal(err.code, code, err.details);
    assert.match(err.details, details);
    assert.deepEqual(await readdir(bad), [], 'nothing is written');
    const good = await target();
    const ok = await h.client.mount(h.request({ objects: GOOD, targetPath: good }));
    const written = h.settings.writeFiles ? await readFile(join(good, 'p'), 'utf8') : ok.files?.[0]?.contents?.toString();
    assert.equal(written, 'pw-123', 'the next mount is served');
  }

  describe('with the default caps', () => {
    beforeEach(async () => h.startProvider({ writeFiles: true }));
    afterEach(async () => h.stopProvider());

    it('class 1: refuses thousands of urlencode arguments naming the object and --max-template-arguments', async () => {
      assert.ok(CLASS_1.length > 11 * 1024 && CLASS_1.length < 13 * 1024);
      await refused(CLASS_1, status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects\[1\] \("url"\): template line 1, column 1: the action has more than 32 arguments \(--max-template-arguments=32\)$/);
    });

    it('class 2: refuses thousands of raw arguments the same way', async () => {
      await refused(CLASS_2, status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects\[1\] \("raw"\): .*\(--max-template-arguments=32\)$/);
    });

    it('class 3: refuses a 128 KiB template (--max-template-bytes) and a 384 KiB one (--max-objects-bytes) before parsing them', async () => {
      await refused(class3(100), status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects\[1\] \("big"\): template is longer than 65536 bytes \(--max-template-bytes=65536\)$/);
      await refused(class3(384), status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects is longer than 131072 bytes \(--max-objects-bytes=131072\)$/);
    });

    it('refuses hostile YAML naming the cap: aliases that expand ("billion laughs"), an alias inside itself, deep nesting, many objects', async () => {
      const laughs = ['- objectName: a', '  secretPath: secret/data/app', '  secretKey: password', '  secretArgs:', '    l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 9; i += 1) laughs.push(`    l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]`);
      await refused(laughs.join('\n'), status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects expands, through its YAML aliases, to more than 16384 YAML nodes \(--max-objects-tokens=16384\)$/);
      await refused('- &o {objectName: a, secretPath: secret/data/app, secretArgs: {x: *o}}', status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects cannot be expanded \(the YAML alias at line 1, column \d+ is inside the node its anchor names\)$/);
      await refused(`- {objectName: a, secretPath: secret/data/app, secretArgs: {x: ${'['.repeat(20_000)}}}`, status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects nests lists and maps more than 32 levels deep at line 1, column \d+ \(--max-objects-depth=32\)$/);
      const list = Array.from({ length: 300 }, (_, i) => `- {objectName: o${i}, secretPath: secret/data/app, secretKey: password}`).join('\n');
      await refused(list, status.INVALID_ARGUMENT, /^INVALID_CONFIG: objects lists 300 objects, more than 256 per mount \(--max-objects-per-mount=256\)$/);
    });
  });

  describe('with the caps raised: the render refuses from its arguments\' sizes, and every step stays linear', () => {
    const raised = { ...DEFAULT_INPUT_LIMITS, objectsBytes: 1024 * 1024, objectsTokens: 1_000_000, templateBytes: 1024 * 1024, templateActions: 1_000_000, templateArguments: 10_000 };
    beforeEach(async () => h.startProvider({ defaults: { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {}, inputLimits: raised } }));
    afterEach(async () => h.stopProvider());

    for (const [name, objects, object] of [
      ['class 1', CLASS_1, 'url'],
      ['class 2', CLASS_2, 'raw'],
    ] as const) {
      it(`${name}: MOUNT_TOO_LARGE naming the object, with nothing built or charged for it`, async () => {
        await refused(objects, status.RESOURCE_EXHAUSTED, new RegExp(`^MOUNT_TOO_LARGE: object "${object}": the rendered template would be larger than 4\\.0 MiB, the room left for it in the mount's answer \\(the driver's 4 MiB message limit\\); nothing was built$`));
        // The responses and the decoded input are all the mount ever held: 12 MiB of arguments were never made.
        assert.ok(h.provider.admission.peakBytesInFlight < 256 * 1024, `${h.provider.admission.peakBytesInFlight} bytes held at the peak`);
      });
    }

    it('mounts 400 files under a 4 KiB objectName of 1,900 components (expand: keys) without a quadratic check', async () => {
      // Checking every directory of every file as a string took over a minute here.
      const name = Array(1900).fill('d').join('/');
      const res = await h.client.mount(h.request({ objects: [{ objectName: name, secretPath: 'secret/data/many', expand: 'keys' }] }));
      assert.equal(res.files?.length, 400);
    });

    it('class 3: parses and renders a 384 KiB template of 28,000 actions in one linear pass', async () => {
      const res = await h.client.mount(h.request({ objects: class3(384) }));
      const out = res.files?.find((f) => f.path === 'big')?.contents?.toString() ?? '';
      assert.equal(out.split('\n').filter((l) => l === 'k=1 and 2').length, Math.ceil((384 * 1024) / 'k={{ @a.x }} and {{ @a.y }}\n'.length));
    });
  });

  describe('the daemon as the image runs it (its NODE_OPTIONS), the caps raised by its flags', () => {
    let daemon: DaemonProcess | undefined;
    afterEach(() => daemon?.kill('SIGKILL'));

    it('classes 1 and 2, eight mounts at once: each MOUNT_TOO_LARGE, no abort, peak RSS under the DaemonSet limit, still serving', async () => {
      // Before, one class 1 mount aborted this process (V8 out of memory) and class 2 took it to 577 MiB.
      const image = join(h.dir, 'image');
      await mkdir(image);
      let socket: string;
      ({ daemon, socket } = await startImageDaemon(image, h.vault.address, ['--max-objects-tokens=1000000', '--max-template-arguments=10000'], { coverage: false }));
      const rss = new RssSampler(daemon.child.pid!);
      rss.start();
      const client = new DriverClient(socket);
      try {
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) => client.mountError(h.request({ objects: i % 2 === 0 ? CLASS_1 : CLASS_2 }))),
        );
        for (const err of answers) {
          assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
          assert.match(err.details, /^MOUNT_TOO_LARGE: object "(url|raw)": the rendered template would be larger than 4\.0 MiB.*nothing was built$/);
        }
        const ok = await client.mount(h.request({ objects: GOOD }));
        assert.equal(ok.files?.[0]?.contents?.toString(), 'pw-123');
        await rss.sample();
        assert.ok(daemon.running, 'the daemon is still running');
        assert.ok(rss.peak < daemonSetMemoryLimit(), `peak RSS ${(rss.peak / 1048576).toFixed(1)} MiB`);
      } finally {
        rss.stop();
        client.close();
      }
    });
  });
});

