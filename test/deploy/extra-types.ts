/**
 * Types for the documents in deploy/ and examples/ that kubernetes-models does not cover, written from their
 * documentation: the secrets-store CSI driver's SecretProviderClass (v1), the kustomization subset we use, and the
 * parts of two Helm charts' values we set. The manifest check type-checks every document against its type with
 * TypeScript's excess-property check, so a misspelled or misplaced field fails the test.
 */
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import type { IToleration } from 'kubernetes-models/v1/Toleration';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import type { IAffinity } from 'kubernetes-models/v1/Affinity';

type IObjectMeta = NonNullable<IPod['metadata']>;

export interface ISecretProviderClass {
  apiVersion: 'secrets-store.csi.x-k8s.io/v1';
  kind: 'SecretProviderClass';
  metadata: IObjectMeta;
  spec: {
    provider: string;
    parameters?: Record<string, string>;
    secretObjects?: Array<{
      secretName: string;
      type: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      data?: Array<{ objectName: string; key: string }>;
    }>;
  };
}

export interface IKustomization {
  apiVersion?: 'kustomize.config.k8s.io/v1beta1';
  kind?: 'Kustomization';
  namespace?: string;
  resources?: string[];
  patches?: Array<{ path: string } | { patch: string }>;
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
}

interface IProbeSettings {
  failureThreshold?: number;
  initialDelaySeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  timeoutSeconds?: number;
}

/** hashicorp/vault chart (v0.34): the `csi` section and `global.externalVaultAddr`. */
export interface IVaultHelmValues {
  csi: {
    enabled?: boolean;
    image?: { repository?: string; tag?: string; pullPolicy?: string };
    volumes?: IVolume[] | null;
    volumeMounts?: IVolumeMount[] | null;
    resources?: IResourceRequirements;
    hmacSecretName?: string;
    hostNetwork?: boolean;
    daemonSet?: {
      updateStrategy?: { type?: string; maxUnavailable?: string | number };
      annotations?: Record<string, string> | string;
      providersDir?: string;
      kubeletRootDir?: string;
      extraLabels?: Record<string, string>;
      securityContext?: { pod?: IPodSecurityContext; container?: ISecurityContext };
    };
    pod?: {
      annotations?: Record<string, string> | string;
      tolerations?: IToleration[] | string;
      nodeSelector?: Record<string, string> | string;
      affinity?: IAffinity | string;
      extraLabels?: Record<string, string>;
    };
    agent?: {
      enabled?: boolean;
      extraArgs?: string[];
      image?: { repository?: string; tag?: string; pullPolicy?: string };
      logFormat?: string;
      logLevel?: string;
      resources?: IResourceRequirements;
      securityContext?: { container?: ISecurityContext };
    };
    priorityClassName?: string;
    serviceAccount?: { annotations?: Record<string, string> | string; extraLabels?: Record<string, string> };
    readinessProbe?: IProbeSettings;
    livenessProbe?: IProbeSettings;
    logLevel?: string;
    debug?: boolean;
    extraArgs?: string[];
  };
  global?: { externalVaultAddr?: string; enabled?: boolean; tlsDisable?: boolean; namespace?: string };
}

/** kubernetes-sigs/secrets-store-csi-driver chart (v1.6): the settings this provider depends on. */
export interface IDriverHelmValues {
  tokenRequests?: Array<{ audience: string; expirationSeconds?: number }>;
  enableSecretRotation?: boolean;
  rotationPollInterval?: string;
  syncSecret?: { enabled?: boolean };
  providerHealthCheck?: boolean;
  providerHealthCheckInterval?: string;
  linux?: { enabled?: boolean; providersDir?: string; kubeletRootDir?: string; additionalProvidersDirs?: string[] | null };
}

/** A strategic merge patch of T: every field optional at every depth, but still no field T does not have. */
export type PatchOf<T> = T extends ReadonlyArray<infer U> ? Array<PatchOf<U>> : T extends object ? { [K in keyof T]?: PatchOf<T[K]> | null } : T;
