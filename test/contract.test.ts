/** The generated contract types must match proto/service.proto: regenerate into a temp dir and compare. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out.sort();
}

describe('contract: generated code', function () {
  this.timeout(30_000);

  it('is what `npm run generate` makes from proto/service.proto', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vcp-gen-'));
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts/generate-proto.mjs'), dir], { stdio: 'pipe' });
      const fresh = await listFiles(dir);
      const committed = await listFiles(join(ROOT, 'src/generated'));
      assert.deepEqual(
        committed.map((f) => relative(join(ROOT, 'src/generated'), f)),
        fresh.map((f) => relative(dir, f)),
        'the generated file list is stale: run `npm run generate`',
      );
      for (const file of fresh) {
        const name = relative(dir, file);
        assert.equal(await readFile(join(ROOT, 'src/generated', name), 'utf8'), await readFile(file, 'utf8'), `${name} is stale: run \`npm run generate\``);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
