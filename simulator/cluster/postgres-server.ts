/**
 * A local PostgreSQL server from the Debian-installed binaries, all its state under one directory:
 * what `provisio cluster up` runs, and what the tests start on a free port. It listens on loopback
 * TCP only (no Unix socket), with a password (SCRAM) for the one role it makes.
 *
 * PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user that the
 * Debian package creates, who then owns the data folder.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);
const ROLE = "provisio";
/** The role's password, in the server's folder (mode 0600). */
const PASSWORD_FILE = "password";

/** The newest PostgreSQL of /usr/lib/postgresql/VERSION/bin. */
function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): install the Debian package `postgresql`",
    );
  return join(root, versions[0], "bin");
}

/** How to run a PostgreSQL command: as the `postgres` user when this process is root. */
function commandLine(command: string, args: string[]): [string, string[]] {
  const path = join(binDir(), command);
  return userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

async function postgresCommand(command: string, args: string[]): Promise<string> {
  const [file, argv] = commandLine(command, args);
  try {
    return (await run(file, argv, { encoding: "utf8" })).stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${command} failed: ${(stderr || stdout || (error as Error).message).trim()}`, { cause: error });
  }
}

function postgresOwns(path: string): void {
  if (userInfo().uid !== 0) return;
  const { uid, gid } = postgresUser();
  chownSync(path, uid, gid);
}

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("running as root, PostgreSQL needs the `postgres` user, which is missing");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export interface PostgresServer {
  /** The server's folder (data, log, password). */
  dir: string;
  port: number;
  /** postgres://provisio:…@127.0.0.1:PORT/DATABASE */
  url(database: string): string;
  /** Makes a database owned by the role; its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the server of `dir` on `port` (unless it runs already), making it first when `dir` holds
 * none (initdb). Resolves once it accepts connections (`started`: by this call); the server runs on
 * after this process ends, until `stop()` or `stopPostgres(dir)`.
 */
export async function startPostgres(dir: string, port: number): Promise<PostgresServer & { started: boolean }> {
  const data = join(dir, "data");
  const passwordFile = join(dir, PASSWORD_FILE);
  mkdirSync(dir, { recursive: true });
  if (userInfo().uid === 0) {
    // The postgres user goes through this folder to its own data folder, and reads nothing else here.
    chmodSync(dir, 0o711);
    await checkPostgresReaches(dir);
  }
  if (!existsSync(join(data, "PG_VERSION"))) {
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { mode: 0o700 });
    postgresOwns(data);
    const password = randomBytes(18).toString("base64url");
    // initdb reads the password from a file the postgres user can read; it is removed after.
    const initPassword = join(data, "..", "init-password");
    writeFileSync(initPassword, password + "\n", { mode: 0o600 });
    postgresOwns(initPassword);
    try {
      await postgresCommand("initdb", [
        "-D",
        data,
        "-U",
        ROLE,
        "--pwfile",
        initPassword,
        "--auth",
        "scram-sha-256",
        "-E",
        "UTF8",
        "--locale",
        "C",
      ]);
    } finally {
      rmSync(initPassword, { force: true });
    }
    writeFileSync(passwordFile, password + "\n", { mode: 0o600 });
  }
  const log = join(dir, "postgres.log");
  if (!existsSync(log)) {
    writeFileSync(log, "");
    postgresOwns(log);
  }
  const settings = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`;
  const running = await postgresCommand("pg_ctl", ["status", "-D", data]).then(
    () => true,
    () => false,
  );
  if (!running)
    await postgresCommand("pg_ctl", ["start", "-w", "-t", "60", "-D", data, "-l", log, "-o", settings]).catch(
      (error: Error) => {
        const tail = readFileSync(log, "utf8").trim().split("\n").slice(-5).join("\n");
        throw new Error(`${error.message}\n${tail}`, { cause: error });
      },
    );
  return { ...runningPostgres(dir, port), started: !running };
}

/**
 * Run as root, PostgreSQL runs as the `postgres` user, who must be able to pass through every
 * folder above its own (a 0700 home or mktemp folder stops it): said before anything starts,
 * rather than as initdb's "Permission denied" on a file it cannot reach.
 */
async function checkPostgresReaches(dir: string): Promise<void> {
  postgresUser();
  const folders = resolve(dir)
    .split("/")
    .map((_, i, parts) => parts.slice(0, i + 1).join("/") || "/");
  const blocked = await run(
    "runuser",
    ["-u", "postgres", "--", "sh", "-c", 'for d; do [ -x "$d" ] || { echo "$d"; exit 0; }; done', "sh", ...folders],
    { encoding: "utf8" },
  ).then(({ stdout }) => stdout.trim());
  if (blocked)
    throw new Error(
      `PostgreSQL runs as the user postgres, who cannot pass through ${blocked} ` +
        `(mode ${(statSync(blocked).mode & 0o777).toString(8).padStart(4, "0")}): ` +
        `let it through with \`chmod o+x ${blocked}\`, or choose a folder under one it can reach (such as /var/tmp)`,
    );
}

/** The server `startPostgres` started in `dir` on `port`, as it runs: no command is run. */
export function runningPostgres(dir: string, port: number): PostgresServer {
  const password = readFileSync(join(dir, PASSWORD_FILE), "utf8").trim();
  const url = (database: string) =>
    `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    dir,
    port,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
        if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop: () => stopPostgres(dir),
  };
}

/** Stops the server of `dir`, if it runs (fast: open sessions are ended, committed work is kept). */
export async function stopPostgres(dir: string): Promise<void> {
  const data = join(dir, "data");
  if (!existsSync(join(data, "postmaster.pid"))) return;
  await postgresCommand("pg_ctl", ["stop", "-w", "-m", "fast", "-D", data]);
}
