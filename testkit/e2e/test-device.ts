/** A DeviceClient on the desktop ports and a file store, with waits for what the tests look at. */
import { eventually } from "../node/eventually";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordingLog } from "../device/recording-log";
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { Clock, RecordStore } from "../../sdk/ports";
import type { OperationDisplay } from "../../sdk/provisioning/provisioner";
import type { RefreshPolicy } from "../../sdk/registration/refresh-policy";
import { devicePorts } from "../../simulator/device/node-ports";
import { FileRecordStore } from "../../targets/node/file-store";

export interface TestDeviceOptions {
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  token: string;
  deviceId?: string;
  /** Reuse a state directory (a restarted device); default: a fresh temporary one. */
  stateDir?: string;
  /** Where the device keeps its record; default: a FileRecordStore in `stateDir`. */
  store?: RecordStore;
  /** When the device refreshes its registration token; default: the SDK's policy. */
  refresh?: RefreshPolicy;
  /** The device's clock; default: the real one. A VirtualClock moves the device through time at once. */
  clock?: Clock;
}

/** State folders made here; a test may boot a device again on one, so they go when its file ends. */
const madeStateDirs: string[] = [];
afterAll(() => {
  for (const dir of madeStateDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function madeStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "provisio-e2e-device-"));
  madeStateDirs.push(dir);
  return dir;
}

export class TestDevice {
  readonly stateDir: string;
  readonly displays: OperationDisplay[] = [];
  readonly states: [DeviceClientState, string | undefined][] = [];
  /** Each failed connect onStateChange reported: the state, the reason, when the next try is. */
  readonly failures: [DeviceClientState, string | undefined, number][] = [];
  /** What the device logged (also printed with PROVISIO_E2E_LOG=1). */
  readonly log = new RecordingLog();
  readonly client: DeviceClient;

  constructor(options: TestDeviceOptions) {
    this.stateDir = options.stateDir ?? madeStateDir();
    const ports = devicePorts(
      { host: options.host ?? "127.0.0.1", port: options.port },
      process.env.PROVISIO_E2E_LOG === "1",
    );
    this.client = new DeviceClient({
      provisioningToken: options.token,
      deviceId: options.deviceId,
      ...ports,
      log: {
        write: (level, event, fields) => {
          this.log.write(level, event, fields);
          ports.log.write(level, event, fields);
        },
      },
      ...(options.clock && { clock: options.clock }),
      store: options.store ?? new FileRecordStore(join(this.stateDir, "record.json")),
      refresh: options.refresh,
      onDisplay: (operation) => this.displays.push(operation),
      onStateChange: (state, detail, retryInMs) =>
        void (retryInMs === undefined
          ? this.states.push([state, detail])
          : this.failures.push([state, detail, retryInMs])),
    });
    this.client.start();
  }

  /** Resolves once `condition` holds; fails the test with `what` after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs = 20000): Promise<void> {
    return eventually(condition, what, { timeoutMs, detail: () => `states: ${JSON.stringify(this.states)}` });
  }

  async displayed(count = 1): Promise<OperationDisplay> {
    await this.until(`display #${count}`, () => this.displays.length >= count);
    return this.displays[count - 1];
  }

  async reaches(state: DeviceClientState, timeoutMs?: number): Promise<string | undefined> {
    await this.until(`state ${state}`, () => this.client.state === state, timeoutMs);
    return this.states[this.states.length - 1][1];
  }

  stop(): void {
    this.client.stop();
  }
}
