import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import {
  decodeReply,
  EARLY_REQUEST_MAX_BYTES,
  earlyRequestPath,
  encodeRequest,
  REPLY_SLOTS,
  replyLockPath,
  replySlotPath,
  type ShimRequest,
  type ShimResponse,
} from './protocol.js';

/** What a FIFO round trip came to. */
export type FifoOutcome =
  | { readonly kind: 'answer'; readonly response: ShimResponse }
  /** Ask the socket; `sent` when the request already reached the agent's FIFO (same `id`). */
  | { readonly kind: 'socket'; readonly sent: boolean }
  | { readonly kind: 'timeout' };

/**
 * How long to sleep between reads of the reply FIFO: finely while an answer is due (an ADD takes
 * a few milliseconds), coarser later so that many waiting shims do not keep the CPUs busy.
 */
function pollInterval(waitedMs: number): number {
  return waitedMs < 3 ? 0.2 : waitedMs < 20 ? 0.5 : 2;
}

const LIVENESS_EVERY_MS = 100;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sends a request to the agent and waits for its answer through FIFOs only (see `replyDir`):
 * no socket client is loaded, which is most of a shim's start. Synchronous: it polls its reply
 * FIFO (every 0.2 ms at first, see `pollInterval`) and checks every 100 ms that the agent still reads its request FIFO and has not replaced the reply FIFO (a restart). Any
 * missing piece (no free slot, no FIFOs, a frame too large for one atomic write, an agent that
 * stopped reading) answers `socket`, and the caller asks the socket with the same request `id`.
 */
export function fifoRoundTrip(
  socket: string,
  request: ShimRequest & { readonly id: string },
  timeoutMs: number,
): FifoOutcome {
  let slot = -1;
  for (let i = 0; i < REPLY_SLOTS && slot < 0; i++) {
    const k = (process.pid + i) % REPLY_SLOTS;
    try {
      const fd = openSync(replyLockPath(socket, k), 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      slot = k;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return { kind: 'socket', sent: false };
    }
  }
  if (slot < 0) return { kind: 'socket', sent: false };
  let fd = -1;
  try {
    // read-write: reads wait (EAGAIN) instead of seeing end-of-file while the agent has not
    // opened the FIFO yet
    fd = openSync(replySlotPath(socket, slot), constants.O_RDWR | constants.O_NONBLOCK);
    const own = fstatSync(fd);
    if (!own.isFIFO()) return { kind: 'socket', sent: false };
    const buf = Buffer.allocUnsafe(65536);
    while (readOrAgain(fd, buf) > 0) {
      // leftovers of an earlier, abandoned request in this slot
    }
    const frame = Buffer.from(encodeRequest({ ...request, reply: slot }), 'utf8');
    if (frame.length > EARLY_REQUEST_MAX_BYTES || !writeRequest(socket, frame)) {
      return { kind: 'socket', sent: false };
    }
    const started = Date.now();
    const deadline = started + timeoutMs;
    let nextCheck = Date.now() + LIVENESS_EVERY_MS;
    let text = '';
    for (;;) {
      const n = readOrAgain(fd, buf);
      if (n > 0) {
        text += buf.toString('utf8', 0, n);
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
          const answer = decodeReply(text.slice(0, nl), request.id);
          text = text.slice(nl + 1);
          if (answer === 'socket') return { kind: 'socket', sent: true };
          if (answer) return { kind: 'answer', response: answer };
        }
        continue;
      }
      const now = Date.now();
      if (now >= deadline) return { kind: 'timeout' };
      if (now >= nextCheck) {
        // an agent that stopped, or restarted (it makes new reply FIFOs: ours is gone)
        if (!agentReads(socket) || !sameFile(replySlotPath(socket, slot), own.ino)) {
          return { kind: 'socket', sent: true };
        }
        nextCheck = now + LIVENESS_EVERY_MS;
      }
      Atomics.wait(sleeper, 0, 0, pollInterval(now - started));
    }
  } catch {
    return { kind: 'socket', sent: false };
  } finally {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(replyLockPath(socket, slot));
    } catch {
      // the agent swept it
    }
  }
}

function readOrAgain(fd: number, buf: Buffer): number {
  try {
    return readSync(fd, buf, 0, buf.length, null);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw e;
  }
}

function openRequestFifo(socket: string): number | undefined {
  try {
    const fd = openSync(earlyRequestPath(socket), constants.O_WRONLY | constants.O_NONBLOCK);
    if (fstatSync(fd).isFIFO()) return fd;
    closeSync(fd);
  } catch {
    // ENOENT: an agent without FIFOs; ENXIO: no agent reading
  }
  return undefined;
}

/**
 * Writes one frame (at most PIPE_BUF bytes, so in one piece) to the agent's request FIFO, without
 * blocking. False when there is no FIFO, no agent reading it, or the pipe is full.
 */
export function writeRequest(socket: string, frame: Buffer): boolean {
  const fd = openRequestFifo(socket);
  if (fd === undefined) return false;
  try {
    return writeSync(fd, frame) === frame.length;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function sameFile(path: string, ino: number): boolean {
  try {
    return statSync(path).ino === ino;
  } catch {
    return false;
  }
}

function agentReads(socket: string): boolean {
  const fd = openRequestFifo(socket);
  if (fd === undefined) return false;
  closeSync(fd);
  return true;
}
