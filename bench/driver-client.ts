// A lean stand-in for the CSI driver's gRPC client, for the benchmark only: unary `Mount` calls over one HTTP/2
// connection on the Unix socket (authority "localhost", as the driver dials), with the protobuf written and read
// by hand. The driver is a Go binary with its own CPU; grpc-js on the client side cost about as much CPU per mount
// as the provider itself, and on two cores that would be charged to the provider. The end-to-end tests keep
// using the full client written from the contract (test/helpers/grpc-client.ts).
import http2 from 'node:http2';
import net from 'node:net';
import type { MountRequest } from '../src/generated/v1alpha1/MountRequest.js';

export interface MountSummary {
  readonly objectVersions: number;
  readonly files: number;
  /** Error.code of the response, '' when none. */
  readonly errorCode: string;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(payload.length), payload]);
}

/** MountRequest: attributes (1), secrets (2), target_path (3), permission (4); current_object_version (5) empty. */
export function encodeMountRequest(request: MountRequest): Buffer {
  const parts: Buffer[] = [];
  const strings: Array<[number, string | undefined]> = [
    [1, request.attributes],
    [2, request.secrets],
    [3, request.target_path],
    [4, request.permission],
  ];
  for (const [n, value] of strings) if (value !== undefined && value !== '') parts.push(field(n, Buffer.from(value, 'utf8')));
  return Buffer.concat(parts);
}

function readVarint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const b = buf[i]!;
    i += 1;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i];
    shift += 7;
  }
}

/** Counts MountResponse's object_version (1) and files (3) and reads error.code (2.1). */
export function summariseMountResponse(buf: Buffer): MountSummary {
  let objectVersions = 0;
  let files = 0;
  let errorCode = '';
  let i = 0;
  while (i < buf.length) {
    const [tag, afterTag] = readVarint(buf, i);
    const wire = tag & 7;
    if (wire !== 2) throw new Error(`unexpected wire type ${wire} in MountResponse`);
    const [length, start] = readVarint(buf, afterTag);
    const end = start + length;
    const number = Math.floor(tag / 8);
    if (number === 1) objectVersions += 1;
    else if (number === 3) files += 1;
    else if (number === 2) {
      const inner = buf.subarray(start, end);
      if (inner.length > 0) {
        const [innerTag, innerAfter] = readVarint(inner, 0);
        const [innerLength, innerStart] = readVarint(inner, innerAfter);
        if (innerTag >>> 3 === 1) errorCode = inner.subarray(innerStart, innerStart + innerLength).toString('utf8');
      }
    }
    i = end;
  }
  return { objectVersions, files, errorCode };
}

export class LeanDriverClient {
  readonly #session: http2.ClientHttp2Session;

  constructor(socketPath: string) {
    this.#session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
    this.#session.on('error', () => undefined);
  }

  mount(request: MountRequest, deadlineMs = 30_000): Promise<MountSummary> {
    return this.#unary('Mount', encodeMountRequest(request), deadlineMs).then(summariseMountResponse);
  }

  /** Version, as the driver asks it when it finds the socket; resolves once the provider answers OK. */
  async version(deadlineMs = 5_000): Promise<void> {
    await this.#unary('Version', field(1, Buffer.from('v1alpha1')), deadlineMs);
  }

  #unary(method: 'Mount' | 'Version', message: Buffer, deadlineMs: number): Promise<Buffer> {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    return new Promise<Buffer>((resolve, reject) => {
      const stream = this.#session.request({
        ':method': 'POST',
        ':path': `/v1alpha1.CSIDriverProvider/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${deadlineMs}m`,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let grpcMessage = '';
      const readStatus = (headers: http2.IncomingHttpHeaders): void => {
        const s = headers['grpc-status'];
        if (typeof s === 'string') status = s;
        const m = headers['grpc-message'];
        if (typeof m === 'string') grpcMessage = decodeURIComponent(m);
      };
      stream.on('response', readStatus);
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => {
        if (status !== '0') {
          reject(new Error(`${method} failed: grpc-status ${status ?? 'missing'} ${grpcMessage}`));
          return;
        }
        const body = Buffer.concat(chunks);
        if (body.length < 5) {
          reject(new Error(`${method} answered no message`));
          return;
        }
        resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
      });
      stream.end(frame);
    });
  }

  close(): void {
    this.#session.close();
  }
}
