/**
 * What a factory writes for one device: its provisioning token and, optionally, its Device ID,
 * in the preferences the firmware reads first (domain "provisio", keys "token" and "deviceId").
 * The file is the CSV Espressif's NVS partition generator takes (`nvs_partition_gen.py generate
 * FILE nvs.bin SIZE`), so the one file a factory makes per device is what `esptool` flashes into
 * the board's NVS partition and what `provisio device --token-file` reads:
 *
 *   key,type,encoding,value
 *   provisio,namespace,,
 *   token,data,string,pt_...
 *   deviceId,data,string,pump-0042
 */
import { isDeviceId } from "../../sdk/identity";

export interface FactoryRecord {
  provisioningToken: string;
  deviceId?: string;
}

/** A factory file that cannot be used: the command line reports it as a usage error. */
export class FactoryFileError extends Error {
  override name = "FactoryFileError";
}

export const factoryNamespace = "provisio";
const maxFileBytes = 16 * 1024;

/** The record in `text` (a file's contents); `where` names the file in errors. */
export function parseFactoryFile(text: string, where: string): FactoryRecord {
  if (text.length > maxFileBytes) throw new FactoryFileError(`${where}: more than ${maxFileBytes} bytes`);
  const values = new Map<string, string>();
  let namespace: string | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const at = `${where}:${index + 1}`;
    if (line.trim() === "" || (index === 0 && line.trim() === "key,type,encoding,value")) return;
    const [key, type, encoding, value, ...rest] = line.split(",");
    if (rest.length > 0 || value === undefined)
      throw new FactoryFileError(`${at}: expected key,type,encoding,value (no commas in values)`);
    if (type === "namespace") namespace = key;
    else if (type !== "data" || encoding !== "string")
      throw new FactoryFileError(`${at}: only string data entries are read, not ${type}/${encoding}`);
    else if (namespace === factoryNamespace) values.set(key, value);
  });
  const provisioningToken = values.get("token");
  if (!provisioningToken)
    throw new FactoryFileError(`${where}: no "token" entry in the "${factoryNamespace}" namespace`);
  const deviceId = values.get("deviceId");
  if (deviceId !== undefined && !isDeviceId(deviceId))
    throw new FactoryFileError(`${where}: deviceId must be 4-90 characters of 0-9 A-Z a-z _ . -`);
  return { provisioningToken, deviceId };
}
