/**
 * The OpenBao provider's `-openbao-*` flags and `BAO_*` variables, read as their `-vault-*` / `VAULT_*` counterparts
 * so its DaemonSet starts this provider. Both spellings of one setting stop the start, naming both. Pure.
 */

/** `-openbao-…` flag → our `-vault-…` flag. */
export const OPENBAO_FLAGS: ReadonlyArray<readonly [openbao: string, ours: string]> = [
  ['openbao-addr', 'vault-addr'],
  ['openbao-mount', 'vault-mount'],
  ['openbao-namespace', 'vault-namespace'],
  ['openbao-tls-ca-cert', 'vault-tls-ca-cert'],
  ['openbao-tls-ca-directory', 'vault-tls-ca-directory'],
  ['openbao-tls-server-name', 'vault-tls-server-name'],
  ['openbao-tls-client-cert', 'vault-tls-client-cert'],
  ['openbao-tls-client-key', 'vault-tls-client-key'],
  ['openbao-tls-skip-verify', 'vault-tls-skip-verify'],
];

/** `BAO_…` variable → our `VAULT_…` variable. */
export const OPENBAO_ENV: ReadonlyArray<readonly [openbao: string, ours: string]> = [
  ['BAO_ADDR', 'VAULT_ADDR'],
  ['BAO_NAMESPACE', 'VAULT_NAMESPACE'],
  ['BAO_CACERT', 'VAULT_CACERT'],
  ['BAO_CAPATH', 'VAULT_CAPATH'],
  ['BAO_TLS_SERVER_NAME', 'VAULT_TLS_SERVER_NAME'],
  ['BAO_CLIENT_CERT', 'VAULT_CLIENT_CERT'],
  ['BAO_CLIENT_KEY', 'VAULT_CLIENT_KEY'],
  ['BAO_SKIP_VERIFY', 'VAULT_SKIP_VERIFY'],
];

/** Two spellings of one setting were given; `message` names both. */
export class SpellingConflict extends Error {
  override readonly name = 'SpellingConflict';
}

/** Parsed flags with every `-openbao-…` flag renamed to ours; the same map when none was given. */
export function foldOpenBaoFlags(values: Map<string, string>): Map<string, string> {
  if (!OPENBAO_FLAGS.some(([openbao]) => values.has(openbao))) return values;
  const out = new Map(values);
  for (const [openbao, ours] of OPENBAO_FLAGS) {
    const value = out.get(openbao);
    if (value === undefined) continue;
    if (out.has(ours)) throw new SpellingConflict(`-${ours} and -${openbao} name the same setting: give only one of them`);
    out.delete(openbao);
    out.set(ours, value);
  }
  return out;
}

type Env = Readonly<Record<string, string | undefined>>;

const given = (env: Env, name: string): boolean => env[name] !== undefined && env[name] !== '';

/** The environment with every non-empty `BAO_…` variable also under its `VAULT_…` name; `env` itself when none. */
export function foldOpenBaoEnv(env: Env): Env {
  if (!OPENBAO_ENV.some(([openbao]) => given(env, openbao))) return env;
  const out: Record<string, string | undefined> = { ...env };
  for (const [openbao, ours] of OPENBAO_ENV) {
    if (!given(env, openbao)) continue;
    if (given(env, ours)) throw new SpellingConflict(`${ours} and ${openbao} name the same setting: set only one of them`);
    out[ours] = env[openbao];
  }
  return out;
}
