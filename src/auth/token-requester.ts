/** A pod-bound JWT from the TokenRequest API when the driver sent none (src/kubernetes/). */
import type { PodInfo } from '../config/types.js';

export interface ServiceAccountTokenRequester {
  /** A pod-bound JWT for `audience`, valid for about 15 minutes. Sensitive: never log the result. */
  requestToken(pod: PodInfo, audience: string, signal?: AbortSignal): Promise<string>;
}
