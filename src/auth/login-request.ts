/**
 * One pure builder per auth method (after the reference's `AuthRequest`): the path, body and node-vault helper of
 * each `auth/<mount>/login`. A LoginRequest holds credentials: built just before it is sent, never logged.
 */
import type { AuthConfig, PodTokenMethod } from '../config/types.js';
import type { LoginRequest } from '../vault/client.js';

export type { LoginRequest };

export function podTokenLogin(method: PodTokenMethod, mount: string, role: string, jwt: string): LoginRequest {
  return {
    path: `auth/${mount}/login`,
    body: { role, jwt },
    helper: { name: method === 'jwt' ? 'jwtLogin' : 'kubernetesLogin', mountPoint: mount },
    describe: `${method} role "${role}"`,
    secrets: [jwt],
  };
}

/** `!'()*` encoded too: node-vault's path templates would HTML-escape a `'`. */
function pathSegment(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Builds the login of a method that takes its credentials from the nodePublishSecretRef. */
export function credentialLogin(auth: Exclude<AuthConfig, { method: PodTokenMethod }>, mount: string, roleName: string): LoginRequest {
  switch (auth.method) {
    case 'approle':
      // The role ID is an AppRole's half-secret name (Vault's docs treat it as sensitive): it is not named.
      return {
        path: `auth/${mount}/login`,
        body: { role_id: auth.roleId.reveal(), secret_id: auth.secretId.reveal() },
        helper: { name: 'approleLogin', mountPoint: mount },
        describe: 'approle',
        secrets: [auth.roleId.reveal(), auth.secretId.reveal()],
      };
    case 'userpass': {
      const username = pathSegment(auth.username);
      return {
        path: `auth/${mount}/login/${username}`,
        body: { password: auth.password.reveal() },
        helper: { name: 'userpassLogin', mountPoint: mount, username },
        describe: `userpass user "${auth.username}"`,
        secrets: [auth.password.reveal()],
      };
    }
    case 'cert':
      return {
        path: `auth/${mount}/login`,
        // Without a name Vault tries every certificate role of the mount.
        body: roleName === '' ? {} : { name: roleName },
        helper: { name: 'write' },
        clientCertificate: { cert: auth.certificate.reveal(), key: auth.key.reveal() },
        describe: roleName === '' ? 'cert' : `cert role "${roleName}"`,
        // The certificate is public; its key is not.
        secrets: [auth.key.reveal()],
      };
  }
}
