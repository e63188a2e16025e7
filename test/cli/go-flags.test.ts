/**
 * The one Go-style flag scanner (cli/go-flags.ts): its syntax on its own, and the same spellings accepted and refused
 * with the same messages by both of its callers, the daemon (parseFlags) and the `mount` subcommand.
 */
import assert from 'node:assert/strict';
import { scanGoFlags, UsageError, type FlagKind } from '../../src/cli/go-flags.js';
import { parseFlags } from '../../src/cli/flags.js';
import { MountExitCodes, runMountCommand } from '../../src/cli/mount-command.js';

const KINDS: ReadonlyMap<string, FlagKind> = new Map([
  ['name', 'string'],
  ['on', 'bool'],
]);
const scan = (argv: readonly string[], command?: string): Map<string, string> | 'help' =>
  scanGoFlags(argv, { kindOf: (n) => KINDS.get(n), usage: 'USAGE', ...(command === undefined ? {} : { command }) });

function refusal(argv: readonly string[], command?: string): string {
  try {
    scan(argv, command);
  } catch (err: unknown) {
    assert.ok(err instanceof UsageError);
    assert.equal(err.usage, 'USAGE');
    assert.equal(err.message, `${err.problem}\n\nUSAGE`);
    return err.problem;
  }
  assert.fail(`${argv.join(' ')} was accepted`);
}

describe('cli: the Go-style flag scanner', () => {
  const accepted: ReadonlyArray<readonly [readonly string[], Record<string, string>]> = [
    [['-name', 'a'], { name: 'a' }],
    [['--name', 'a'], { name: 'a' }],
    [['-name=a'], { name: 'a' }],
    [['--name=a=b'], { name: 'a=b' }],
    [['--name', '-x'], { name: '-x' }],
    [['--name='], { name: '' }],
    [['-on'], { on: 'true' }],
    [['--on=false'], { on: 'false' }],
    [['--on=0', '--on'], { on: 'true' }],
    [['--name', 'a', '--name', 'b'], { name: 'b' }],
    [['--name=a', '--'], { name: 'a' }],
    [[], {}],
  ];
  for (const [argv, expected] of accepted) {
    it(`takes ${JSON.stringify(argv)}`, () => {
      const values = scan(argv);
      assert.notEqual(values, 'help');
      assert.deepEqual(Object.fromEntries(values === 'help' ? [] : values), expected);
    });
  }

  const refused: ReadonlyArray<readonly [readonly string[], string]> = [
    [['word'], 'unexpected argument "word"'],
    [['eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'], 'unexpected argument of 41 characters (not shown: it may be a credential)'],
    [['--', 'hvs.CAESIJabcdefghijklmnopqrstuvwxyz'], 'unexpected argument of 36 characters (not shown: it may be a credential)'],
    [['-'], 'unexpected argument "-"'],
    [['--', 'x'], 'unexpected argument "x"'],
    [['--on', 'false'], 'unexpected argument "false"'],
    [['---name=x'], 'bad flag syntax: ---name=x'],
    [['-=x'], 'bad flag syntax: -=x'],
    [['--=x'], 'bad flag syntax: --=x'],
    [['--on=yes'], 'invalid boolean value "yes" for -on'],
    [['--name'], 'flag needs an argument: -name'],
    [['--nope'], 'flag provided but not defined: -nope'],
  ];
  for (const [argv, problem] of refused) {
    it(`refuses ${JSON.stringify(argv)}: ${problem}`, () => {
      assert.equal(refusal(argv), problem);
    });
  }

  it('names a subcommand in the unknown-flag message only', () => {
    assert.equal(refusal(['--nope'], 'mount'), 'flag provided but not defined for mount: -nope');
    assert.equal(refusal(['--name'], 'mount'), 'flag needs an argument: -name');
  });

  it('answers help for -h and -help before a later error, and not after one', () => {
    for (const h of ['-h', '--h', '-help', '--help', '--help=x']) assert.equal(scan([h, '--nope']), 'help');
    assert.equal(refusal(['--nope', '-h']), 'flag provided but not defined: -nope');
  });

  describe('its two callers take the same spellings', () => {
    async function mountProblem(argv: readonly string[]): Promise<string> {
      const err: string[] = [];
      const code = await runMountCommand(argv, { stdout: () => undefined, stderr: (t) => void err.push(t), env: {} });
      assert.equal(code, MountExitCodes.usage, err.join(''));
      const first = err.join('').split('\n')[0] ?? '';
      assert.ok(first.startsWith('vault-csi-provider mount: '), first);
      return first.slice('vault-csi-provider mount: '.length);
    }
    function daemonProblem(argv: readonly string[]): string {
      try {
        parseFlags(argv, {});
      } catch (err: unknown) {
        assert.ok(err instanceof UsageError);
        return err.problem;
      }
      assert.fail(`${argv.join(' ')} was accepted`);
    }

    const cases: ReadonlyArray<readonly string[]> = [
      ['stray'],
      ['-'],
      ['--', 'x'],
      ['---vault-addr=x'],
      ['-=x'],
      ['--vault-tls-skip-verify=yes'],
      ['--vault-tls-skip-verify', 'false'],
      ['--vault-addr'],
    ];
    for (const argv of cases) {
      it(`${JSON.stringify(argv)}`, async () => {
        assert.equal(await mountProblem(argv), daemonProblem(argv));
      });
    }
    it('each with its own unknown-flag message', async () => {
      assert.equal(await mountProblem(['--endpoint', '/x']), 'flag provided but not defined for mount: -endpoint');
      assert.equal(daemonProblem(['--target', '/x']), 'flag provided but not defined: -target');
    });
  });
});
