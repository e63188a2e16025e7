/** Validated at the boundary; everything else is kept (passthrough), as the whole-response file reproduces it. */
import * as z from 'zod';

const stringOrNull = z.string().nullish();

export const secretResponseSchema = z.looseObject({
  request_id: z.string().nullish(),
  lease_id: stringOrNull,
  lease_duration: z.number().nullish(),
  renewable: z.boolean().nullish(),
  data: z.record(z.string(), z.unknown()).nullish(),
  warnings: z.array(z.string()).nullish(),
  auth: z.unknown().optional(),
  wrap_info: z.unknown().optional(),
  mount_type: z.string().nullish(),
});

export type SecretResponse = z.infer<typeof secretResponseSchema>;

export const loginResponseSchema = z.looseObject({
  auth: z.looseObject({
    client_token: z.string().min(1),
    accessor: z.string().nullish(),
    lease_duration: z.number().nonnegative(),
    renewable: z.boolean().nullish(),
    policies: z.array(z.string()).nullish(),
    entity_id: z.string().nullish(),
    metadata: z.record(z.string(), z.unknown()).nullish(),
  }),
  mount_type: z.string().nullish(),
});

export type LoginResponse = z.infer<typeof loginResponseSchema>;
