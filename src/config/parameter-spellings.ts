/**
 * The OpenBao provider's spellings of the parameters (`bao…`, `openbao…`), renamed to the reference's before anything
 * reads them. Two spellings of one setting are refused even when they agree: the OpenBao provider silently takes the
 * first it finds, and a refusal cannot pick the wrong Vault. The six auth-mount spellings form one group. Pure.
 */
import { ProviderError } from '../errors.js';

/** The prefixes the OpenBao provider accepts, in its order of lookup; `vault` is the reference's own. */
const PREFIXES = ['vault', 'bao', 'openbao'] as const;

/** Settings spelled `<prefix><suffix>` (the reference's is `vault<suffix>`). */
const PREFIXED_SUFFIXES = [
  'Address',
  'Namespace',
  'CACertPath',
  'CADirectory',
  'TLSServerName',
  'TLSClientCertPath',
  'TLSClientKeyPath',
  'SkipTLSVerify',
] as const;

/** One setting: each of its spellings with the name it is renamed to. */
type SpellingGroup = ReadonlyArray<readonly [spelling: string, canonical: string]>;

function prefixed(suffix: string): SpellingGroup {
  return PREFIXES.map((p) => [`${p}${suffix}`, `vault${suffix}`] as const);
}

export const SPELLING_GROUPS: readonly SpellingGroup[] = [
  [['roleName', 'roleName'], ...PREFIXES.map((p) => [`${p}RoleName`, 'roleName'] as const)],
  ...PREFIXED_SUFFIXES.map(prefixed),
  [...prefixed('KubernetesMountPath'), ...prefixed('AuthMountPath')],
];

interface Spelling {
  readonly canonical: string;
  readonly group: number;
}

const SPELLINGS: ReadonlyMap<string, Spelling> = new Map(
  SPELLING_GROUPS.flatMap((group, index) => group.map(([spelling, canonical]) => [spelling, { canonical, group: index }] as const)),
);

export function canonicalParameters(attrs: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  const given = new Map<number, string>();
  let renames = false;
  for (const key of attrs.keys()) {
    const spelling = SPELLINGS.get(key);
    if (spelling === undefined) continue;
    const earlier = given.get(spelling.group);
    if (earlier !== undefined) {
      // Named in the group's order, so the message does not depend on the order of the attributes' JSON.
      const group = SPELLING_GROUPS[spelling.group]!.map(([s]) => s);
      const [first, second] = group.indexOf(earlier) < group.indexOf(key) ? [earlier, key] : [key, earlier];
      throw new ProviderError('INVALID_CONFIG', `set only one of ${first} and ${second} (they name the same setting)`, {
        parameter: second,
      });
    }
    given.set(spelling.group, key);
    if (spelling.canonical !== key) renames = true;
  }
  if (!renames) return attrs;
  const out = new Map<string, string>();
  for (const [key, value] of attrs) out.set(SPELLINGS.get(key)?.canonical ?? key, value);
  return out;
}

/** The key of `attrs` (as the request spelt it) that sets the setting `canonical` names, if any. */
export function givenSpelling(attrs: ReadonlyMap<string, string>, canonical: string): string | undefined {
  for (const key of attrs.keys()) if (SPELLINGS.get(key)?.canonical === canonical) return key;
  return undefined;
}
