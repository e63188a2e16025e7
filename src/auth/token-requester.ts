/**
 * Where a ServiceAccount JWT comes from when the driver sent none (no `tokenRequests` in the CSIDriver): the
 * TokenRequest API, asked for a token bound to the requesting pod. Implemented in src/kubernetes/.
 */
import type { PodInfo } from '../config/types.js';

export interface ServiceAccountTokenRequester {
  /** A pod-bound JWT for `audience`, valid for about 15 minutes. Sensitive: never log the result. */
  requestToken(pod: PodInfo, audience: string, signal?: AbortSignal): Promise<string>;
}
