// A throwaway PostgreSQL server for the cluster tests, as .ci/with-postgres
// and internal/pgtest run one: initdb into a new temporary directory, a
// server listening on a unix socket in that directory only (no port, never
// a system-wide cluster), stopped and removed by stop() or when the test
// process exits. Run as root, the server's commands run as the postgres
// user (PostgreSQL refuses root).

import { execFile, execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { appendFile, chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Postgres {
  /** postgres://postgres@/postgres?host=<dir>&sslmode=disable */
  readonly url: string;
  /** Runs one SQL statement with psql and returns its rows, fields separated by "|". */
  query(sql: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/N/bin (Debian's postgresql package). */
function binDir(): string {
  const root = "/usr/lib/postgresql";
  let versions: string[];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v));
  } catch {
    versions = [];
  }
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (newest === undefined) throw new Error(`no PostgreSQL in ${root} (apt-get install postgresql)`);
  return join(root, newest, "bin");
}

const asRoot = process.getuid?.() === 0;

function argv(bin: string, name: string, args: string[]): [string, string[]] {
  const path = join(bin, name);
  return asRoot ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

function run(bin: string, name: string, args: string[]): Promise<void> {
  const [cmd, a] = argv(bin, name, args);
  return new Promise((resolve, reject) => {
    execFile(cmd, a, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} ${args.join(" ")}: ${err.message}\n${stdout}${stderr}`));
      else resolve();
    });
  });
}

const running = new Set<{ bin: string; dir: string }>();
// A server left by a crashed test process is stopped at once and removed.
process.on("exit", () => {
  for (const s of running) {
    try {
      const [cmd, a] = argv(s.bin, "pg_ctl", ["-D", join(s.dir, "data"), "-m", "immediate", "-w", "stop"]);
      execFileSync(cmd, a, { stdio: "ignore", timeout: 10_000 });
    } catch {
      // Already stopped: nothing to do but remove the directory.
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
});

export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), "parley-ha-pg-"));
  const data = join(dir, "data");
  try {
    if (asRoot) {
      await chmod(dir, 0o755);
      execFileSync("chown", ["postgres:", dir]);
    }
    await run(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    await appendFile(
      join(data, "postgresql.conf"),
      `\nlisten_addresses = ''\nunix_socket_directories = '${dir}'\nmax_connections = 100\nfsync = off\n`,
    );
    const server = { bin, dir };
    running.add(server);
    try {
      await run(bin, "pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "start"]);
    } catch (err) {
      running.delete(server);
      const log = await readFile(join(dir, "server.log"), "utf8").catch(() => "");
      throw new Error(`${(err as Error).message}\nserver.log:\n${log}`);
    }
    let stopped = false;
    return {
      url: `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}&sslmode=disable`,
      query(sql) {
        return new Promise((resolve, reject) => {
          execFile(
            join(bin, "psql"),
            ["-h", dir, "-U", "postgres", "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            { timeout: 30_000 },
            (err, stdout, stderr) => {
              if (err) reject(new Error(`psql -c ${sql}: ${err.message}\n${stderr}`));
              else resolve(stdout.split("\n").filter((l) => l !== ""));
            },
          );
        });
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await run(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
        running.delete(server);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
