/**
 * The Kubernetes API's protobuf encoding, as far as the fake API server needs it: client-go's clientsets send
 * built-in objects as `application/vnd.kubernetes.protobuf` (the reference provider creates its HMAC Secret that
 * way). A body is the magic "k8s\0" and a runtime.Unknown message whose `raw` holds the object; this decodes a
 * v1 Secret into the JSON shape the fake stores. Field numbers are those of k8s.io/api's generated.proto.
 */

export const KUBE_PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

interface Field {
  readonly number: number;
  /** Bytes of a length-delimited field, or the value of a varint. */
  readonly bytes?: Buffer;
  readonly varint?: number;
}

function readVarint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && shift < 64; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  throw new Error('protobuf: truncated varint');
}

/** The fields of one message, in order; fixed-width fields are skipped (a Secret has none). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  while (i < buf.length) {
    const [tag, afterTag] = readVarint(buf, i);
    const number = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0: {
        const [varint, next] = readVarint(buf, afterTag);
        out.push({ number, varint });
        i = next;
        break;
      }
      case 2: {
        const [length, start] = readVarint(buf, afterTag);
        if (start + length > buf.length) throw new Error('protobuf: truncated field');
        out.push({ number, bytes: buf.subarray(start, start + length) });
        i = start + length;
        break;
      }
      case 1:
        i = afterTag + 8;
        break;
      case 5:
        i = afterTag + 4;
        break;
      default:
        throw new Error(`protobuf: wire type ${tag & 7} not supported`);
    }
  }
  return out;
}

const text = (f: Field): string => (f.bytes ?? Buffer.alloc(0)).toString('utf8');

/** A map<string, V> entry: key 1, value 2. */
function mapEntry(f: Field): [string, Buffer] {
  const entry = fields(f.bytes ?? Buffer.alloc(0));
  const key = entry.find((e) => e.number === 1);
  const value = entry.find((e) => e.number === 2);
  return [key === undefined ? '' : text(key), value?.bytes ?? Buffer.alloc(0)];
}

/** The object inside a protobuf body, with its apiVersion and kind; throws on a body that is not one. */
export function unwrapKubeProtobuf(body: Buffer): { apiVersion: string; kind: string; raw: Buffer } {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('protobuf: no k8s magic');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const f of fields(body.subarray(MAGIC.length))) {
    if (f.number === 1) {
      for (const t of fields(f.bytes ?? Buffer.alloc(0))) {
        if (t.number === 1) apiVersion = text(t);
        if (t.number === 2) kind = text(t);
      }
    } else if (f.number === 2) raw = f.bytes ?? raw;
  }
  return { apiVersion, kind, raw };
}

/** A v1 Secret from a protobuf body, as the JSON the API would take: metadata.name/namespace/labels, data (base64), type, immutable. */
export function decodeSecret(body: Buffer): Record<string, unknown> {
  const { apiVersion, kind, raw } = unwrapKubeProtobuf(body);
  if (kind !== 'Secret') throw new Error(`protobuf: expected a Secret, got ${kind || 'no kind'}`);
  const metadata: Record<string, unknown> = {};
  const data: Record<string, string> = {};
  const out: Record<string, unknown> = { apiVersion, kind, metadata };
  for (const f of fields(raw)) {
    if (f.number === 1) {
      const labels: Record<string, string> = {};
      for (const m of fields(f.bytes ?? Buffer.alloc(0))) {
        if (m.number === 1) metadata['name'] = text(m);
        else if (m.number === 2) metadata['generateName'] = text(m);
        else if (m.number === 3) metadata['namespace'] = text(m);
        else if (m.number === 11) {
          const [k, v] = mapEntry(m);
          labels[k] = v.toString('utf8');
        }
      }
      if (Object.keys(labels).length > 0) metadata['labels'] = labels;
    } else if (f.number === 2) {
      const [k, v] = mapEntry(f);
      data[k] = v.toString('base64');
    } else if (f.number === 3) out['type'] = text(f);
    else if (f.number === 4) {
      const [k, v] = mapEntry(f);
      data[k] = v.toString('base64');
    } else if (f.number === 5) out['immutable'] = f.varint === 1;
  }
  if (Object.keys(data).length > 0) out['data'] = data;
  return out;
}

// ---- encoding, for the fake's own tests ----------------------------------------------------------------------

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

const bytesField = (number: number, payload: Buffer): Buffer => Buffer.concat([varint(number * 8 + 2), varint(payload.length), payload]);
const stringField = (number: number, value: string): Buffer => bytesField(number, Buffer.from(value, 'utf8'));
const entry = (number: number, key: string, value: Buffer): Buffer => bytesField(number, Buffer.concat([stringField(1, key), bytesField(2, value)]));

/** A v1 Secret as client-go's protobuf serializer writes one (fields in number order, as gogo-protobuf emits them). */
export function encodeSecret(secret: {
  name: string;
  namespace: string;
  labels?: Readonly<Record<string, string>>;
  data?: Readonly<Record<string, Buffer>>;
  type?: string;
  immutable?: boolean;
}): Buffer {
  const meta = Buffer.concat([
    stringField(1, secret.name),
    stringField(3, secret.namespace),
    ...Object.entries(secret.labels ?? {}).map(([k, v]) => entry(11, k, Buffer.from(v, 'utf8'))),
  ]);
  const raw = Buffer.concat([
    bytesField(1, meta),
    ...Object.entries(secret.data ?? {}).map(([k, v]) => entry(2, k, v)),
    ...(secret.type === undefined ? [] : [stringField(3, secret.type)]),
    ...(secret.immutable === undefined ? [] : [Buffer.from([5 * 8]), varint(secret.immutable ? 1 : 0)]),
  ]);
  const typeMeta = Buffer.concat([stringField(1, 'v1'), stringField(2, 'Secret')]);
  return Buffer.concat([MAGIC, bytesField(1, typeMeta), bytesField(2, raw), stringField(3, ''), stringField(4, '')]);
}
