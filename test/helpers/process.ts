import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/gitbridged', import.meta.url));

/** A gitbridged child process started from the built binary. */
export interface DaemonProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ResultPromise;
  /** Everything the process wrote to stdout so far. */
  output(): string;
}

/**
 * Spawns `bin/gitbridged serve` with `env` (stdout logging on) and resolves
 * once it logs "gitbridged listening", with the port it bound.
 */
export async function spawnDaemon(env: Record<string, string>, timeoutMs = 15_000): Promise<DaemonProcess> {
  const child = execa('node', [BIN, 'serve'], { env: { ...env, GITBRIDGE_LOG_STDOUT: 'true' }, extendEnv: false, reject: false, buffer: false });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gitbridged did not start:\n${out}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+),"host":"[^"]*","mas".*"msg":"gitbridged listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void child.then((r) => {
      clearTimeout(timer);
      reject(new Error(`gitbridged exited (${String(r.exitCode ?? r.signal)}):\n${out}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, port, child, output: () => out };
}
