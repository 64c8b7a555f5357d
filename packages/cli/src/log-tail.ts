import { watch, type FSWatcher, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { GitBridgeError } from '@gitbridge/core/errors';

/**
 * Reading the end of a log file and following it as it grows, like
 * `tail -n N -F`: partial lines wait for their newline, truncation restarts
 * from the top, and rotation (a new file at the same path, as logrotate
 * leaves it before the daemon reopens on SIGHUP) switches to the new file
 * after the rest of the old one has been read. No ink, no React.
 */

const BACK_CHUNK = 64 * 1024;
const READ_CHUNK = 1024 * 1024;
/** A "line" longer than this without a newline is delivered as it is (bounds memory). */
const MAX_LINE = 4 * 1024 * 1024;

/** What a tail reports to its listener. */
export type TailEvent =
  /** Complete lines, oldest first, without newlines (blank lines are skipped). */
  | { readonly type: 'lines'; readonly lines: readonly string[] }
  /** The file does not exist (yet); the tail waits for it. */
  | { readonly type: 'waiting' }
  /**
   * The file is open and being followed (`initial`: it existed when the tail
   * started); sent after the lines it already held were delivered, so that a
   * view never shows an existing log as empty.
   */
  | { readonly type: 'following'; readonly initial: boolean }
  /** A new file replaced the one being read (rotation); reading restarts at its top. */
  | { readonly type: 'rotated' }
  /** The file got shorter (truncated, e.g. copytruncate); reading restarts at its top. */
  | { readonly type: 'truncated' }
  /** The file could not be read; the tail keeps trying. */
  | { readonly type: 'error'; readonly message: string };

/** Options of {@link followFile}. */
export interface TailOptions {
  /** How many of the existing last lines to deliver first (default 200; 0: only new lines). */
  readonly lines?: number;
  /** Interval of the stat poll that backs up fs.watch, in ms (default 250). */
  readonly pollMs?: number;
  /** Also use fs.watch on the directory for prompt updates (default true). */
  readonly watch?: boolean;
  /**
   * Count only these lines towards `lines` (default: all). Every line from
   * the start found on is still delivered: the listener filters.
   */
  readonly keep?: LinePredicate;
}

/** A running tail, from {@link followFile}. */
export interface TailHandle {
  /** Settles once the existing last lines have been delivered, or the missing file reported. */
  readonly ready: Promise<void>;
  /** Stops following and closes the file. */
  close(): Promise<void>;
}

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** One line found by {@link linesBackward}. */
interface BackLine {
  /** Byte offset of the line's first byte. */
  readonly start: number;
  readonly text: string;
  /** False for a last line that has no newline yet. */
  readonly complete: boolean;
}

const decode = (bytes: Buffer): string => bytes.toString('utf8').replace(/\r$/, '');

/**
 * The lines of an open file from the last to the first, read backwards in
 * chunks (so the end of a large file is found without reading all of it).
 * A final line without a newline comes first, marked incomplete.
 */
async function* linesBackward(fh: FileHandle, size: number): AsyncGenerator<BackLine> {
  let pieces: Buffer[] = []; // the current line's bytes, last piece first
  let complete = false;
  let atEnd = true;
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - BACK_CHUNK);
    const chunk = Buffer.alloc(end - start);
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, start);
    if (bytesRead < chunk.length) throw new GitBridgeError('GB_LOG_UNAVAILABLE', { message: 'the log file shrank while being read (rotated or truncated)' });
    let segEnd = chunk.length;
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0x0a) continue;
      pieces.push(chunk.subarray(i + 1, segEnd));
      const bytes = Buffer.concat(pieces.reverse());
      // A file ending with a newline has no incomplete last line.
      if (!(atEnd && bytes.length === 0)) yield { start: start + i + 1, text: decode(bytes), complete };
      atEnd = false;
      complete = true;
      pieces = [];
      segEnd = i;
    }
    pieces.push(chunk.subarray(0, segEnd));
    end = start;
  }
  const bytes = Buffer.concat(pieces.reverse());
  if (bytes.length > 0) yield { start: 0, text: decode(bytes), complete };
}

/** A test on one raw line, for "the last N lines that match". */
export type LinePredicate = (line: string) => boolean;

/**
 * The byte offset where the last `n` complete non-blank lines accepted by
 * `keep` start (a last line without a newline is not counted: it is still
 * being written). With `n` 0: where the line after the last newline starts.
 */
async function lastLinesStart(fh: FileHandle, size: number, n: number, keep: LinePredicate | undefined): Promise<number> {
  let count = 0;
  for await (const line of linesBackward(fh, size)) {
    if (n === 0) return line.complete ? size : line.start;
    if (!line.complete || line.text.trim() === '' || (keep !== undefined && !keep(line.text))) continue;
    if (++count === n) return line.start;
  }
  return n === 0 ? size : 0;
}

/** Splits bytes into complete lines; returns the lines and the bytes after the last newline. */
function splitLines(data: Buffer): { lines: string[]; rest: Buffer } {
  const lines: string[] = [];
  let from = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, from)) {
    pushLine(lines, data.subarray(from, i));
    from = i + 1;
  }
  let rest = data.subarray(from);
  if (rest.length > MAX_LINE) {
    pushLine(lines, rest);
    rest = Buffer.alloc(0);
  }
  return { lines, rest };
}

function pushLine(lines: string[], bytes: Buffer): void {
  // Newline bytes never occur inside a UTF-8 sequence, so each line decodes on its own.
  const text = decode(bytes);
  if (text.trim() !== '') lines.push(text);
}

/**
 * Reads the last `n` non-blank lines of a file that `keep` accepts (all when
 * it is not given), oldest first; a final line without a newline counts, as
 * in `tail`. Reads backwards, so a large file costs only its end.
 *
 * @throws the fs error, e.g. ENOENT when the file does not exist
 */
export async function readLastLines(path: string, n: number, keep?: LinePredicate): Promise<string[]> {
  const out: string[] = [];
  if (n <= 0) return out;
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    for await (const line of linesBackward(fh, size)) {
      if (line.text.trim() === '' || (keep !== undefined && !keep(line.text))) continue;
      out.push(line.text);
      if (out.length >= n) break;
    }
  } finally {
    await fh.close();
  }
  return out.reverse();
}

/** The state machine behind {@link followFile}. */
class Tail {
  private fh: FileHandle | undefined;
  private ino = -1;
  private dev = -1;
  private pos = 0;
  private pending: Buffer = Buffer.alloc(0);
  private opened = false;
  private waitingSaid = false;
  private lastError: string | undefined;
  private busy = false;
  private again = false;
  private closed = false;
  private watcher: FSWatcher | undefined;
  private readonly timer: NodeJS.Timeout;
  readonly ready: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly emit: (event: TailEvent) => void,
    private readonly backlog: number,
    pollMs: number,
    private readonly useWatch: boolean,
    private readonly keep: LinePredicate | undefined,
  ) {
    // Ref'd on purpose: a following tail keeps the process alive until closed.
    this.timer = setInterval(() => void this.check(), pollMs);
    this.ready = this.check();
  }

  /** Runs one step, or asks the running one to go again: steps never overlap. */
  async check(): Promise<void> {
    if (this.closed) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        try {
          await this.step();
          this.lastError = undefined;
        } catch (err) {
          const message = (err as Error).message;
          if (message !== this.lastError && !this.closed) this.emit({ type: 'error', message });
          this.lastError = message;
        }
      } while (this.again && !this.closed);
    } finally {
      this.busy = false;
    }
  }

  private startWatch(): void {
    if (!this.useWatch || this.watcher || this.closed) return;
    const name = basename(this.path);
    try {
      // The directory, not the file: renames and re-creations of the file are seen too.
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) void this.check();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined; // no directory yet, or no inotify: the poll carries on
    }
  }

  private async step(): Promise<void> {
    this.startWatch();
    let st: Stats | undefined;
    try {
      st = await stat(this.path);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (this.closed) return;
    if (this.fh === undefined) {
      if (st === undefined) {
        if (!this.waitingSaid) this.emit({ type: 'waiting' });
        this.waitingSaid = true;
        return;
      }
      const initial = !this.opened && !this.waitingSaid;
      const fh = await this.openFile();
      if (fh === undefined) return;
      if (initial) {
        const { size } = await fh.stat();
        this.pos = await lastLinesStart(fh, size, this.backlog, this.keep);
      }
      this.opened = true;
      await this.readNew();
      if (!this.closed) this.emit({ type: 'following', initial });
      return;
    } else if (st === undefined) {
      // Renamed away, no new file yet: the writer may still append to the old one.
      await this.readNew();
      return;
    } else if (st.ino !== this.ino || st.dev !== this.dev) {
      await this.readNew();
      if (this.pending.length > 0) {
        const lines: string[] = [];
        pushLine(lines, this.pending);
        this.pending = Buffer.alloc(0);
        if (lines.length) this.emit({ type: 'lines', lines });
      }
      await this.fh.close().catch(() => undefined);
      this.fh = undefined;
      if ((await this.openFile()) === undefined) return;
      this.emit({ type: 'rotated' });
    }
    await this.readNew();
  }

  /** Opens the file at the path, from its top; undefined when it is gone (or the tail closed). */
  private async openFile(): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined; // gone between stat and open: next step
      throw err;
    }
    if (this.closed) {
      await fh.close();
      return undefined;
    }
    const st = await fh.stat();
    this.fh = fh;
    this.ino = st.ino;
    this.dev = st.dev;
    this.pos = 0;
    this.pending = Buffer.alloc(0);
    this.waitingSaid = false;
    return fh;
  }

  /** Reads what was appended since the last read; restarts at the top when the file shrank. */
  private async readNew(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    const { size } = await fh.stat();
    if (size < this.pos) {
      this.pos = 0;
      this.pending = Buffer.alloc(0);
      this.emit({ type: 'truncated' });
    }
    while (this.pos < size && !this.closed) {
      const buf = Buffer.alloc(Math.min(READ_CHUNK, size - this.pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0 || this.closed) break;
      this.pos += bytesRead;
      const { lines, rest } = splitLines(this.pending.length ? Buffer.concat([this.pending, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead));
      this.pending = Buffer.from(rest);
      if (lines.length) this.emit({ type: 'lines', lines });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    // Let a running step finish with its handle before closing it.
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Follows a log file like `tail -n N -F`: first the last `lines` complete
 * lines, then every line appended, as they arrive (fs.watch on the directory,
 * backed by a stat poll every `pollMs`). A missing file is waited for (and
 * read from its top when it appears); rotation (another inode at the path)
 * finishes the old file then reads the new one from its top; truncation
 * restarts at the top. Events are delivered in order to `onEvent`.
 */
export function followFile(path: string, onEvent: (event: TailEvent) => void, options: TailOptions = {}): TailHandle {
  const tail = new Tail(path, onEvent, Math.max(0, options.lines ?? 200), Math.max(10, options.pollMs ?? 250), options.watch ?? true, options.keep);
  return { ready: tail.ready, close: () => tail.close() };
}
